import Foundation
import Kafka
import Synchronization
import Testing

@Suite("Kafka clients against the embedded broker", .serialized, .timeLimit(.minutes(3)))
struct KafkaClientTests {
    let log = KafkaTestSupport.logger

    @Test("100,000 keyed messages with headers: each exactly once, order kept per partition")
    func roundTrip() async throws {
        let broker = try EmbeddedBroker(logger: log)
        let topic = KafkaTestSupport.unique("roundtrip")
        try broker.createTopic(topic, partitions: 6)
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        let total = 100_000
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 0..<total)

        struct Seen: Sendable { let n: Int; let header: Int; let key: String }
        var settings = KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g"))
        settings.maxBatchSize = 5_000
        let consumer = try KafkaConsumer<Seen>(config: KafkaTestSupport.consumerConfig(broker.bootstrap),
                                               settings: settings, logger: log) { view in
            let header = view.header("seq").map { Int(String(decoding: $0, as: UTF8.self)) ?? -2 } ?? -1
            let key = view.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
            return Seen(n: KafkaTestSupport.number(view), header: header, key: key)
        }
        var count = 0
        var seen = [Bool](repeating: false, count: total)
        var lastPerPartition: [Int32: (offset: Int64, n: Int)] = [:]
        var keyPartition: [String: Int32] = [:]
        for try await batch in consumer.batches {
            for record in batch.records {
                let v = record.value
                #expect(v.n >= 0 && v.n < total && v.header == v.n)
                guard v.n >= 0 && v.n < total else { continue }
                #expect(!seen[v.n], "message \(v.n) delivered twice")
                seen[v.n] = true
                if let last = lastPerPartition[record.partition] {
                    #expect(record.offset > last.offset && v.n > last.n, "order broken in partition \(record.partition)")
                }
                lastPerPartition[record.partition] = (record.offset, v.n)
                if let p = keyPartition[v.key] { #expect(p == record.partition, "key \(v.key) in two partitions") }
                keyPartition[v.key] = record.partition
                count += 1
            }
            if count >= total { break }
        }
        #expect(count == total)
        #expect(seen.allSatisfy { $0 })
        #expect(lastPerPartition.count == 6)
        consumer.shutdown()
        producer.shutdown()
    }

    @Test("start offsets supplied by the assignment hook are honoured")
    func startOffsetsFromHook() async throws {
        let broker = try EmbeddedBroker(logger: log)
        let topic = KafkaTestSupport.unique("offsets")
        try broker.createTopic(topic, partitions: 2)
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        // 100 messages into each partition, explicitly placed.
        var messages: [ProducerMessage] = []
        for p in Int32(0)..<2 {
            for i in 0..<100 {
                messages.append(ProducerMessage(topic: topic, key: nil, value: Array("\(Int(p) * 1000 + i)".utf8), partition: p))
            }
        }
        try await producer.send(messages)
        let hooks = AssignmentHooks(onAssign: { _ in [0: 40, 1: 95] })
        let consumer = try KafkaConsumer<Int>(config: KafkaTestSupport.consumerConfig(broker.bootstrap),
                                              settings: KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g")),
                                              hooks: hooks, logger: log) { KafkaTestSupport.number($0) }
        var got: [Int32: [Int64]] = [:]
        for try await batch in consumer.batches {
            for r in batch.records { got[r.partition, default: []].append(r.offset) }
            if got.values.reduce(0, { $0 + $1.count }) >= 65 { break }
        }
        #expect(got[0] == Array(40..<100))
        #expect(got[1] == Array(95..<100))
        consumer.shutdown()
        producer.shutdown()
    }

    @Test("a slow reader makes the poll thread hold, a stalled one (> 1 s) pauses the partitions; the buffer stays within its bound; nothing is lost")
    func backpressure() async throws {
        let broker = try EmbeddedBroker(logger: log)
        let topic = KafkaTestSupport.unique("slow")
        try broker.createTopic(topic, partitions: 4)
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        let total = 30_000
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 0..<total)
        var settings = KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g"))
        settings.maxBatchSize = 500
        settings.maxBufferedRecords = 2_000
        let consumer = try KafkaConsumer<Int>(config: KafkaTestSupport.consumerConfig(broker.bootstrap),
                                              settings: settings, logger: log) { KafkaTestSupport.number($0) }
        var seen = Set<Int>()
        var duplicates = 0
        var stalled = false
        for try await batch in consumer.batches {
            #expect(batch.records.count <= 500)
            for r in batch.records where !seen.insert(r.value).inserted { duplicates += 1 }
            // A deliberately slow stage: 20 ms per batch of ≤ 500 (≤ 25,000 records/s), and once a stall
            // longer than the consumer's `pauseAfter` (1 s).
            try await Task.sleep(for: .milliseconds(20))
            if !stalled && seen.count >= total / 3 {
                stalled = true
                try await Task.sleep(for: .milliseconds(1_600))
            }
            if seen.count >= total { break }
        }
        #expect(seen.count == total)
        #expect(duplicates == 0)
        #expect(consumer.peakBufferedRecords <= 2_000, "buffered \(consumer.peakBufferedRecords) > bound")
        #expect(consumer.holdCount > 0, "the reader was slower than the fetch, so the poll thread should have held")
        #expect(consumer.pauseCount > 0, "the reader stalled for 1.6 s, so the consumer should have paused")
        consumer.shutdown()
        producer.shutdown()
    }

    @Test("a broker down for 5 s and back: producer and consumer recover, nothing lost")
    func brokerOutage() async throws {
        let broker = try EmbeddedBroker(logger: log)
        let topic = KafkaTestSupport.unique("outage")
        try broker.createTopic(topic, partitions: 3)
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        let consumer = try KafkaConsumer<Int>(config: KafkaTestSupport.consumerConfig(broker.bootstrap),
                                              settings: KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g")),
                                              logger: log) { KafkaTestSupport.number($0) }
        let seen = Mutex(Set<Int>())
        let reader = Task {
            for try await batch in consumer.batches {
                seen.withLock { s in for r in batch.records { s.insert(r.value) } }
                if seen.withLock({ $0.count }) >= 3_000 { break }
            }
        }
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 0..<1_000)
        #expect(try await eventually { seen.withLock { $0.count } == 1_000 })
        try broker.setBrokerDown(1)
        // Produce during the outage: delivery completes once the broker is back.
        let during = Task { try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 1_000..<2_000) }
        try await Task.sleep(for: .seconds(5))
        try broker.setBrokerUp(1)
        try await during.value
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 2_000..<3_000)
        #expect(try await eventually { seen.withLock { $0.count } == 3_000 })
        try await reader.value
        #expect(seen.withLock { $0 } == Set(0..<3_000))
        consumer.shutdown()
        producer.shutdown()
    }

    @Test("an invalid librdkafka property fails with its name and librdkafka's reason")
    func invalidProperty() throws {
        let config = KafkaConfig(bootstrapServers: "127.0.0.1:1", properties: [("no.such.property", "1")])
        let error = #expect(throws: KafkaError.self) { try config.validate() }
        #expect(error?.code == .configuration)
        #expect(error?.description.contains("no.such.property") == true)
        let badValue = KafkaConfig(bootstrapServers: "127.0.0.1:1", properties: [("session.timeout.ms", "soon")])
        let error2 = #expect(throws: KafkaError.self) { try badValue.validate() }
        #expect(error2?.description.contains("session.timeout.ms") == true)
        #expect(throws: KafkaError.self) { try KafkaConfig.parseOverrides(["novalue"]) }
    }
}

/// The byte bound counts what the consumer answers for (buffered batches, admitted ones until
/// released): a reader that only iterates (never admits) must not be starved by it.
@Suite("Consumer byte bound against the embedded broker", .serialized, .timeLimit(.minutes(2)))
struct ConsumerByteBoundTests {
    @Test("a reader that never admits gets every message although they total 100× the byte bound")
    func plainReader() async throws {
        let broker = try EmbeddedBroker(logger: KafkaTestSupport.logger)
        let topic = KafkaTestSupport.unique("bytes")
        try broker.createTopic(topic, partitions: 2)
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        let total = 5_000
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 0..<total)
        var settings = KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g"))
        settings.maxBatchSize = 100
        settings.maxOutstandingBytes = 1_000  // far below the stream's size
        let consumer = try KafkaConsumer<Int>(config: KafkaTestSupport.consumerConfig(broker.bootstrap), settings: settings,
                                              logger: KafkaTestSupport.logger) { KafkaTestSupport.number($0) }
        var seen = Set<Int>()
        for try await batch in consumer.batches {
            for r in batch.records { seen.insert(r.value) }
            if seen.count >= total { break }
        }
        consumer.shutdown()
        #expect(seen.count == total)
        broker.shutdown()
    }
}
