import Foundation
@testable import Kafka
import Testing

/// Messages built back to back in one buffer (what the engine publishes scores with), the producer's
/// enqueueing of them through a local queue smaller than the batch, and the delivery slots' retains.
@Suite("Outgoing messages and delivery tracking", .serialized, .timeLimit(.minutes(2)))
struct OutgoingMessagesTests {
    /// Message `i` of the mixed batch: null, empty and set keys; headers on every fifth; an explicit
    /// partition on even ones.
    static func expected(_ i: Int, topic: String) -> ProducerMessage {
        let key: [UInt8]? = switch i % 3 {
        case 0: nil
        case 1: []
        default: Array("k\(i)".utf8)
        }
        return ProducerMessage(topic: topic, key: key, value: Array("v\(i)-\(String(repeating: "x", count: i % 7))".utf8),
                               headers: i % 5 == 0 ? [("seq", Array("\(i)".utf8)), ("empty", [])] : [],
                               partition: i % 2 == 0 ? Int32(i % 4) : nil)
    }

    static func build(_ count: Int, topic: String) -> OutgoingMessages {
        var out = OutgoingMessages()
        for i in 0..<count {
            let m = expected(i, topic: topic)
            if m.headers.isEmpty, m.partition == nil, let key = m.key, !key.isEmpty {
                // The engine's path: key from a String, value written into the shared buffer.
                out.append(topic: topic, key: String(decoding: key, as: UTF8.self)) { $0.append(contentsOf: m.value) }
            } else {
                out.append(m)
            }
        }
        return out
    }

    @Test("each message reads back as it was appended: key null, empty or set, headers, partition, value")
    func readBack() {
        let out = Self.build(1_000, topic: "t")
        #expect(out.count == 1_000)
        for i in 0..<1_000 {
            let m = out[i], e = Self.expected(i, topic: "t")
            #expect(m.topic == e.topic && m.key == e.key && m.value == e.value && m.partition == e.partition, "message \(i)")
            #expect(m.headers.map(\.name) == e.headers.map(\.name) && m.headers.map(\.value) == e.headers.map(\.value), "message \(i)")
        }
        let copied = OutgoingMessages((0..<50).map { Self.expected($0, topic: "u") })
        #expect((0..<50).allSatisfy { copied[$0].value == Self.expected($0, topic: "u").value && copied[$0].key == Self.expected($0, topic: "u").key })
    }

    @Test("5,000 messages through a local queue of 100: each delivered once, with its key, headers and partition; reports in order")
    func throughSmallQueue() async throws {
        let log = KafkaTestSupport.logger
        let broker = try EmbeddedBroker(logger: log)
        let topic = KafkaTestSupport.unique("outgoing")
        try broker.createTopic(topic, partitions: 4)
        // A queue far smaller than the batch: enqueueing must wait for deliveries and go on from the
        // message that did not fit, neither skipping nor repeating one.
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: broker.bootstrap,
                                                             properties: [("queue.buffering.max.messages", "100"), ("linger.ms", "1")]),
                                         logger: log)
        let total = 5_000
        let reports = try await producer.send(Self.build(total, topic: topic))
        #expect(reports.count == total)
        for i in stride(from: 0, to: total, by: 2) { #expect(reports[i].partition == Int32(i % 4), "report \(i)") }
        #expect(reports.allSatisfy { $0.offset >= 0 })

        struct Seen: Sendable { let value: [UInt8]; let key: [UInt8]?; let seq: [UInt8]?; let empty: [UInt8]?; let partition: Int32 }
        let consumer = try KafkaConsumer<Seen>(config: KafkaTestSupport.consumerConfig(broker.bootstrap),
                                               settings: KafkaConsumerSettings(topic: topic, groupID: KafkaTestSupport.unique("g")),
                                               logger: log) { view in
            Seen(value: view.payload.map { Array($0) } ?? [], key: view.key.map { Array($0) }, seq: view.header("seq"),
                 empty: view.header("empty"), partition: view.partition)
        }
        var byValue: [[UInt8]: Seen] = [:]
        var duplicates = 0
        for try await batch in consumer.batches {
            for r in batch.records where byValue.updateValue(r.value, forKey: r.value.value) != nil { duplicates += 1 }
            if byValue.count + duplicates >= total { break }
        }
        consumer.shutdown()
        producer.shutdown()
        #expect(duplicates == 0)
        #expect(byValue.count == total)
        for i in 0..<total {
            let e = Self.expected(i, topic: topic)
            guard let seen = byValue[e.value] else {
                Issue.record("message \(i) not delivered")
                continue
            }
            #expect(seen.key == e.key, "message \(i): key \(String(describing: seen.key)) expected \(String(describing: e.key))")
            #expect(seen.seq == (i % 5 == 0 ? Array("\(i)".utf8) : nil) && seen.empty == (i % 5 == 0 ? [] : nil), "message \(i) headers")
            if let p = e.partition { #expect(seen.partition == p, "message \(i) partition") }
            #expect(seen.partition == reports[i].partition, "message \(i): report names another partition")
        }
        broker.shutdown()
    }

    @Test("a delivery slot holds its tracker until its report; a slot given back (not enqueued) releases it")
    func slotRetains() async throws {
        weak var weakTracker: DeliveryTracker?
        let waiter: Task<[DeliveryReport], any Error>
        do {
            let tracker = DeliveryTracker(count: 2)
            weakTracker = tracker
            let first = tracker.opaque(forMessage: 0)
            let refused = tracker.opaque(forMessage: 1)
            DeliveryTracker.abandon(opaque: refused)
            let retried = tracker.opaque(forMessage: 1)
            #expect(retried == refused)
            waiter = Task { try await tracker.wait() }
            // Reports out of order, as librdkafka may give them across partitions.
            DeliveryTracker.report(opaque: retried, .success(DeliveryReport(partition: 3, offset: 7)))
            DeliveryTracker.report(opaque: first, .success(DeliveryReport(partition: 1, offset: 5)))
        }
        let reports = try await waiter.value
        #expect(reports == [DeliveryReport(partition: 1, offset: 5), DeliveryReport(partition: 3, offset: 7)])
        #expect(weakTracker == nil, "every retain a slot took was given back")
    }
}
