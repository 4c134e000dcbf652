import Foundation
import Kafka
import Testing
import TestSupport

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
