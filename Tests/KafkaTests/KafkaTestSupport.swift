import Foundation
import Kafka
import Logging
import Synchronization

/// Shared helpers for the Kafka tests: unique names, fast group timing for the mock cluster.
enum KafkaTestSupport {
    static let logger: Logger = {
        var logger = Logger(label: "kafka-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == "1" ? .debug : .warning
        return logger
    }()

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

    /// Consumer configuration with the group timing the mock cluster needs (KAFKA-NOTES.md).
    static func consumerConfig(_ bootstrap: String, extra: [(key: String, value: String)] = []) -> KafkaConfig {
        KafkaConfig(bootstrapServers: bootstrap, properties: [
            ("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500"),
        ] + extra)
    }

    static func producer(_ bootstrap: String) throws -> KafkaProducer {
        try KafkaProducer(config: KafkaConfig(bootstrapServers: bootstrap), logger: logger)
    }

    /// Produces `count` messages keyed `k<i % keys>` with value `"<i>"` and one header.
    static func produceNumbered(_ producer: KafkaProducer, topic: String, range: Range<Int>, keys: Int = 1000) async throws {
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(start + 10_000, range.upperBound)
            let messages = (start..<end).map { i in
                ProducerMessage(topic: topic, key: Array("k\(i % keys)".utf8), value: Array("\(i)".utf8),
                                headers: [("seq", Array("\(i)".utf8))])
            }
            try await producer.send(messages)
            start = end
        }
    }

    /// Decodes the numbered payload.
    static func number(_ view: borrowing KafkaMessageView) -> Int {
        guard let payload = view.payload else { return -1 }
        return Int(String(decoding: payload, as: UTF8.self)) ?? -1
    }
}

/// A stand-in for the engine's store in consumer tests: processed values and next offsets change
/// together under one lock, like a store transaction.
final class OffsetStore: Sendable {
    struct State {
        var offsets: [Int32: Int64] = [:]
        var seen: [Int: Int] = [:]
        var processed = 0
    }
    let state = Mutex(State())

    func startOffsets(_ partitions: [Int32]) -> [Int32: Int64] {
        state.withLock { s in s.offsets.filter { partitions.contains($0.key) } }
    }

    /// Applies a batch exactly like a transaction; records belonging to offsets already applied are
    /// not double-applied because the consumer starts from the stored offsets.
    func apply(_ batch: ConsumerBatch<Int>) {
        state.withLock { s in
            for record in batch.records {
                s.seen[record.value, default: 0] += 1
                s.processed += 1
            }
            for (p, o) in batch.nextOffsets { s.offsets[p] = o }
        }
    }

    var processed: Int { state.withLock { $0.processed } }
    var seen: [Int: Int] { state.withLock { $0.seen } }
}

/// Waits for `condition` by polling every 50 ms, up to `timeout`.
func eventually(timeout: Duration = .seconds(60), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
