import ArgumentParser
import Foundation
import Kafka
import Logging
import Metrics
import Prometheus

/// `streamscore bench`: throughput and latency figures (docs/benchmarks.md). Every figure that a
/// performance goal refers to is measured here, beside the raw librdkafka consume rate of the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Print throughput and latency figures (see docs/benchmarks.md)."
    )

    @Option(help: "Messages preloaded for the consume benchmarks.")
    var messages = 1_000_000

    @Option(help: "Partitions of the benchmark topic (the mock broker keeps only ~5 MiB per partition).")
    var partitions = 64

    @Option(help: "Repetitions of each consume measurement (medians are reported).")
    var runs = 3

    @Option(name: .customLong("c-consumer"), help: "Path of the minimal C consumer built by `make bench`.")
    var cConsumer = "bench/c_consumer"

    @Option(help: "Sections to run, comma-separated: kafka, core, scoring, prediction, counter.")
    var only = "kafka,core,scoring,prediction,counter"

    @Option(name: .customLong("models-dir"), help: "Folder with the reference models (NAME.pmml, NAME.expected.csv).")
    var modelsDir = "Tests/Fixtures/models"

    @Option(name: .customLong("e2e-messages"), help: "Synthetic events for the end-to-end sections.")
    var e2eMessages = 1_000_000

    @Option(help: "Distinct customers in the end-to-end sections.")
    var customers = 100_000

    @Option(name: .customLong("latency-rate"), help: "Events/s of the fixed-rate latency measurement.")
    var latencyRate = 20_000.0

    @Option(name: .customLong("latency-seconds"), help: "Duration of the latency measurement (0 = skip).")
    var latencySeconds = 15

    @Option(help: "Store URL for the end-to-end sections (default: a fresh SQLite file).")
    var store: String?

    func run() async throws {
        var logger = Logger(label: "streamscore.bench")
        logger.logLevel = .error
        let sections = Set(only.split(separator: ",").map(String.init))
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        BenchReport.metrics = prometheus
        let report = BenchReport()
        report.header()
        if sections.contains("kafka") {
            try await KafkaBench(messages: messages, partitions: partitions, runs: runs,
                                 cConsumer: cConsumer, logger: logger).run(report)
        }
        if sections.contains("produce") {
            report.section("Producer round trip")
            try await ProducerBench(logger: logger).run(report, properties: [], label: "defaults")
            try await ProducerBench(logger: logger).run(report, properties: [("enable.idempotence", "false")], label: "no idempotence")
            try await ProducerBench(logger: logger).run(report, properties: [("linger.ms", "0"), ("enable.idempotence", "false"), ("acks", "1")], label: "linger 0, acks 1")
        }
        if sections.contains("core") || sections.contains("sqlite") {
            try await CoreBench(events: 1_000_000, sections: sections).run(report)
        }
        if sections.contains("scoring") {
            try ScoringBench(modelsDir: modelsDir).run(report)
        }
        for subscriber in ["prediction", "counter"] where sections.contains(subscriber) {
            try await EndToEndBench(messages: e2eMessages, customers: customers, partitions: partitions, cConsumer: cConsumer,
                                    logger: logger, subscriber: subscriber, latencyRate: latencyRate,
                                    latencySeconds: latencySeconds, store: store).run(report)
        }
        report.footer()
    }
}

/// Collects and prints benchmark lines.
final class BenchReport: @unchecked Sendable {
    // @unchecked: used from the bench command's single task.
    private(set) var figures: [(String, String)] = []
    nonisolated(unsafe) static var metrics: PrometheusCollectorRegistry?

    /// Mean time per call of each stage timer, from the Prometheus registry.
    func stageMeans() {
        guard let text = Self.metrics?.emitToString() else { return }
        var sums: [String: Double] = [:], counts: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            let name = String(parts[0])
            if name.contains("_seconds_sum") { sums[name.replacingOccurrences(of: "_seconds_sum", with: "")] = value }
            if name.contains("_seconds_count") { counts[name.replacingOccurrences(of: "_seconds_count", with: "")] = value }
        }
        for key in sums.keys.sorted() where (counts[key] ?? 0) > 0 {
            add("mean \(key)", String(format: "%.2f ms over %.0f batches", sums[key]! / counts[key]! * 1000, counts[key]!))
        }
    }

    func header() {
        let host = ProcessInfo.processInfo.hostName
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let mem = ProcessInfo.processInfo.physicalMemory / (1 << 30)
        printLine("streamscore bench — \(ISO8601DateFormatter().string(from: Date())) — host \(host), \(cpus) cores, \(mem) GiB")
    }

    func add(_ name: String, _ value: String) {
        figures.append((name, value))
        printLine(String(format: "  %-58@ %@", name as NSString, value as NSString))
    }

    func section(_ title: String) { printLine("\n== \(title)") }

    func footer() {
        printLine("\n| figure | value |\n|---|---|")
        for (name, value) in figures { printLine("| \(name) | \(value) |") }
    }
}

/// Seconds of a duration as a Double.
func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func formatRate(_ perSecond: Double) -> String {
    perSecond >= 1_000_000 ? String(format: "%.2f M/s", perSecond / 1e6) : String(format: "%.0f k/s", perSecond / 1e3)
}

/// Preloads a topic on the embedded broker and measures the raw C consume rate and the Swift
/// `KafkaConsumer` rate on it, alternating, same broker, same run.
struct KafkaBench {
    let messages: Int
    let partitions: Int
    let runs: Int
    let cConsumer: String
    let logger: Logger

    func run(_ report: BenchReport) async throws {
        report.section("Kafka consume: \(messages) × ~200 B on the embedded broker, \(partitions) partitions")
        let broker = try EmbeddedBroker(logger: logger)
        let topic = "bench-raw"
        try broker.createTopic(topic, partitions: partitions)
        try await preload(broker: broker, topic: topic)
        guard FileManager.default.isExecutableFile(atPath: cConsumer) else {
            throw ValidationError("C consumer '\(cConsumer)' not found: run `make bench` (it builds bench/c_consumer)")
        }
        var cRates: [Double] = [], swiftRates: [Double] = []
        for i in 0..<runs {
            let c = try cRate(bootstrap: broker.bootstrap, topic: topic, group: "bench-c-\(i)")
            let s = try await swiftRate(bootstrap: broker.bootstrap, topic: topic, group: "bench-swift-\(i)")
            printLine(String(format: "  run %d: C %.0f msgs/s, Swift %.0f msgs/s", i + 1, c, s))
            cRates.append(c)
            swiftRates.append(s)
        }
        let c = median(cRates), s = median(swiftRates)
        report.add("raw C consume (rd_kafka_consumer_poll loop), median", formatRate(c))
        report.add("Swift KafkaConsumer batches, median", formatRate(s))
        report.add("Swift / C", String(format: "%.2f", s / c))
        broker.shutdown()
    }

    private func preload(broker: EmbeddedBroker, topic: String) async throws {
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: broker.bootstrap), logger: logger)
        var traffic = SyntheticTraffic(customers: 100_000, seed: 7, startMillis: 1_767_225_600_000, meanGapMillis: 50)
        var sent = 0
        var inFlight: [PendingDeliveries] = []
        let started = ContinuousClock.now
        while sent < messages {
            let n = min(20_000, messages - sent)
            let chunk = (0..<n).map { _ -> ProducerMessage in
                let e = traffic.next()
                return ProducerMessage(topic: topic, key: Array(e.customerID.utf8), value: e.json)
            }
            inFlight.append(try await producer.enqueue(chunk))
            if inFlight.count >= 4 { _ = try await inFlight.removeFirst().delivered() }
            sent += n
        }
        for p in inFlight { _ = try await p.delivered() }
        producer.shutdown()
        printLine(String(format: "  preloaded %d messages in %.2f s", messages, seconds(ContinuousClock.now - started)))
    }

    func cRate(bootstrap: String, topic: String, group: String) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cConsumer)
        process.arguments = [bootstrap, topic, group, "\(messages)"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, let rate = text.split(separator: "=").last.flatMap({ Double($0.split(separator: " ").first ?? "") }) else {
            throw ValidationError("C consumer failed: \(text)")
        }
        return rate
    }

    private func swiftRate(bootstrap: String, topic: String, group: String) async throws -> Double {
        var settings = KafkaConsumerSettings(topic: topic, groupID: group)
        settings.maxBatchSize = 5_000
        settings.maxBufferedRecords = 50_000
        let consumer = try KafkaConsumer<Int>(config: KafkaConfig(bootstrapServers: bootstrap), settings: settings,
                                              logger: logger) { $0.payload?.count ?? 0 }
        var count = 0, bytes = 0
        var started: ContinuousClock.Instant?
        for try await batch in consumer.batches {
            if started == nil { started = .now }
            for r in batch.records { bytes += r.value }
            count += batch.records.count
            if count >= messages { break }
        }
        let elapsed = seconds(ContinuousClock.now - (started ?? .now))
        consumer.shutdown()
        return Double(count) / elapsed
    }
}
