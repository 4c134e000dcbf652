import Foundation
import Kafka
import Testing

/// Locates a binary built by `swift build` next to the test bundle.
func builtProduct(_ name: String) -> URL {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent(name)
}

/// Runs a command to completion and returns its stdout.
@discardableResult
func runTool(_ path: String, _ args: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = args
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    let input = Pipe()
    if stdin != nil { process.standardInput = input }
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
}

/// A `streamscore broker` child process.
final class BrokerProcess {
    let process = Process()
    let bootstrap: String

    init(partitions: Int, topic: String) throws {
        process.executableURL = builtProduct("streamscore")
        process.arguments = ["broker", "--partitions", "\(partitions)", "--topic", topic]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line on stdout is `bootstrap: HOST:PORT`.
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("bootstrap: ") else {
            process.terminate()
            throw KafkaError(.broker, "streamscore broker printed '\(text)'")
        }
        bootstrap = String(text.dropFirst("bootstrap: ".count))
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

@Suite("Interop with kcat and a standalone `streamscore broker`", .serialized, .timeLimit(.minutes(2)))
struct KcatInteropTests {
    let kcat = "/usr/bin/kcat"

    @Test("kcat produces, our consumer reads every message; our producer writes, kcat reads them back")
    func kcatRoundTrips() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: kcat), "kcat is not installed (apt-get install kcat)")
        let topic = "interop"
        let broker = try BrokerProcess(partitions: 3, topic: topic)
        defer { broker.stop() }

        // kcat → our consumer.
        let lines = (0..<2_000).map { "k\($0 % 50):\($0)" }.joined(separator: "\n") + "\n"
        let produced = try runTool(kcat, ["-b", broker.bootstrap, "-P", "-t", topic, "-K", ":"], stdin: Data(lines.utf8))
        #expect(produced.status == 0)
        struct Got: Sendable { let key: String; let n: Int }
        let consumer = try KafkaConsumer<Got>(config: KafkaTestSupport.consumerConfig(broker.bootstrap),
                                              settings: KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g")),
                                              logger: KafkaTestSupport.logger) { view in
            Got(key: view.key.map { String(decoding: $0, as: UTF8.self) } ?? "", n: KafkaTestSupport.number(view))
        }
        var got: [Int: String] = [:]
        for try await batch in consumer.batches {
            for r in batch.records { got[r.value.n] = r.value.key }
            if got.count >= 2_000 { break }
        }
        consumer.shutdown()
        #expect(got.count == 2_000)
        #expect((0..<2_000).allSatisfy { got[$0] == "k\($0 % 50)" })

        // Our producer → kcat.
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        let back = "interop-back"
        try await producer.send((0..<1_000).map {
            ProducerMessage(topic: back, key: Array("key\($0)".utf8), value: Array("value-\($0)".utf8), headers: [("h", Array("\($0)".utf8))])
        })
        producer.shutdown()
        let read = try runTool(kcat, ["-b", broker.bootstrap, "-C", "-t", back, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\\n"])
        let rows = Set(String(decoding: read.stdout, as: UTF8.self).split(separator: "\n").map(String.init))
        #expect(rows.count == 1_000)
        #expect(rows == Set((0..<1_000).map { "key\($0)|value-\($0)|h=\($0)" }))
    }
}
