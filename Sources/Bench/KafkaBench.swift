import Foundation
import Kafka
import Logging
import ProcessSupport

/// Preloads a topic on the embedded broker and measures the raw C consume rate and the Swift
/// `KafkaConsumer` rate on it, alternating, same broker, same run.
struct KafkaBench {
    /// Messages preloaded and read by each consumer.
    let messages: Int
    /// Partitions of the topic.
    let partitions: Int
    /// Measurements of each consumer (medians reported).
    let runs: Int
    /// Path of the C consumer.
    let cConsumer: String
    /// The consumers' logger.
    let logger: Logger

    /// Runs the section and adds its figures and goal to `report`.
    func run(_ report: BenchReport) async throws {
        report.section("Kafka consume: \(messages) × ~200 B on the embedded broker, \(partitions) partitions")
        try Self.checkCConsumer(cConsumer)
        let broker = try EmbeddedBroker(logger: logger)
        defer { broker.shutdown() }
        let topic = "bench-raw"
        try broker.createTopic(topic, partitions: partitions)
        try await preload(broker: broker, topic: topic)
        var cRates: [Double] = [], swiftRates: [Double] = []
        for i in 0..<runs {
            let c = try Self.cRun(cConsumer: cConsumer, bootstrap: broker.bootstrap, topic: topic, group: "bench-c-\(i)", messages: messages).rate
            let s = try await swiftRate(bootstrap: broker.bootstrap, topic: topic, group: "bench-swift-\(i)")
            printLine(String(format: "  run %d: C %.0f msgs/s, Swift %.0f msgs/s", i + 1, c, s))
            cRates.append(c)
            swiftRates.append(s)
        }
        let c = median(cRates), s = median(swiftRates)
        report.add("raw C consume (rd_kafka_consumer_poll loop), median", formatRate(c))
        report.add("Swift KafkaConsumer batches, median", formatRate(s))
        report.add("Swift / C", String(format: "%.2f", s / c))
        report.goal("Swift KafkaConsumer / raw C consume, same topic, median of \(runs)", value: s / c, String(format: "%.2f", s / c),
                    .atLeast(0.9), target: "≥ 0.90", note: messages == 1_000_000 ? nil : "run at \(formatCount(messages)) messages")
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

    /// One run of the minimal C consumer.
    struct CRun {
        /// Messages per second, from its first message to its last.
        let rate: Double
        /// Its user + system CPU seconds over its whole life (start, group join and close included).
        let cpuSeconds: Double
    }

    /// The minimal C consumer reading `messages` messages of `topic` as group `group`.
    static func cRun(cConsumer: String, bootstrap: String, topic: String, group: String, messages: Int) throws -> CRun {
        try checkCConsumer(cConsumer)
        let cpuBefore = ProcessCPU.children()
        let child = try ChildProcess(URL(fileURLWithPath: cConsumer), [bootstrap, topic, group, "\(messages)"], stderr: .inherit)
        let text = String(decoding: child.readToEnd(), as: UTF8.self)
        // `c_consumer: N msgs in S s = R msgs/s (B bytes)`
        guard child.wait() == 0, let rate = text.split(separator: "=").last.flatMap({ Double($0.split(separator: " ").first ?? "") }) else {
            throw BenchError("C consumer failed: \(text)")
        }
        // Once it has been waited for, its CPU time counts in this process's children's.
        return CRun(rate: rate, cpuSeconds: ProcessCPU.children() - cpuBefore)
    }

    /// Fails unless the C consumer is there.
    static func checkCConsumer(_ path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchError("C consumer '\(path)' not found: run `make bench` (it builds bench/c_consumer) or give --c-consumer PATH")
        }
    }

    private func swiftRate(bootstrap: String, topic: String, group: String) async throws -> Double {
        var settings = KafkaConsumerSettings(topic: topic, groupID: group)
        settings.maxBatchSize = 5_000
        settings.maxBufferedRecords = 50_000
        // The same prefetch as the C consumer: this compares the clients, not their queue sizes.
        settings.prefetchKiB = 262_144
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

/// Delivery round trip of a 1,000-message send on the embedded broker (what the writer waits for).
struct ProducerBench {
    /// The producer's logger.
    let logger: Logger

    /// Measures with the producer `properties` and adds the figure, named with `label`, to `report`.
    func run(_ report: BenchReport, properties: [(key: String, value: String)], label: String) async throws {
        let broker = try EmbeddedBroker(logger: logger)
        try broker.createTopic("bench-produce", partitions: 4)
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: broker.bootstrap, properties: properties), logger: logger)
        var traffic = SyntheticTraffic(customers: 10_000, seed: 3, startMillis: 1_767_225_600_000, meanGapMillis: 50)
        let batches = (0..<50).map { _ in (0..<1_000).map { _ -> ProducerMessage in
            let e = traffic.next()
            return ProducerMessage(topic: "bench-produce", key: Array(e.customerID.utf8), value: e.json)
        } }
        try await producer.send(batches[0])
        let start = ContinuousClock.now
        for batch in batches.dropFirst() { try await producer.send(batch) }
        report.add("send 1,000 and await delivery (\(label)), ms", String(format: "%.2f ms", seconds(ContinuousClock.now - start) / 49 * 1000))
        producer.shutdown()
        broker.shutdown()
    }
}
