import Foundation
import Kafka
import Testing

@Suite("Consumer groups and rebalances", .serialized, .timeLimit(.minutes(3)))
struct GroupRebalanceTests {
    let log = KafkaTestSupport.logger

    /// The processing loop an owner runs: admit, apply with offsets (one "transaction"), release.
    func run(_ consumer: KafkaConsumer<Int>, into store: OffsetStore) -> Task<Void, any Error> {
        Task {
            for try await batch in consumer.batches {
                guard consumer.admit(batch) else { continue }
                store.apply(batch)
                consumer.release(batch)
            }
        }
    }

    func makeConsumer(_ bootstrap: String, topic: String, group: String, store: OffsetStore) throws -> KafkaConsumer<Int> {
        var settings = KafkaConsumerSettings(topic: topic, groupID: group)
        settings.maxBatchSize = 200
        let hooks = AssignmentHooks(onAssign: { store.startOffsets($0) })
        return try KafkaConsumer<Int>(config: KafkaTestSupport.consumerConfig(bootstrap), settings: settings,
                                      hooks: hooks, logger: log) { KafkaTestSupport.number($0) }
    }

    @Test("two members split 6 partitions; a third joins; every message is processed exactly once")
    func splitAndJoin() async throws {
        let broker = try EmbeddedBroker(logger: log)
        let topic = KafkaTestSupport.unique("group")
        let group = KafkaTestSupport.unique("g")
        try broker.createTopic(topic, partitions: 6)
        let producer = try KafkaTestSupport.producer(broker.bootstrap)
        let store = OffsetStore()
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 0..<10_000)

        let c1 = try makeConsumer(broker.bootstrap, topic: topic, group: group, store: store)
        let c2 = try makeConsumer(broker.bootstrap, topic: topic, group: group, store: store)
        let t1 = run(c1, into: store), t2 = run(c2, into: store)
        #expect(try await eventually {
            c1.assignedPartitions.count == 3 && c2.assignedPartitions.count == 3
                && Set(c1.assignedPartitions).isDisjoint(with: c2.assignedPartitions)
        })
        // Keep producing while the group changes.
        let producing = Task { try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 10_000..<20_000) }
        let c3 = try makeConsumer(broker.bootstrap, topic: topic, group: group, store: store)
        let t3 = run(c3, into: store)
        #expect(try await eventually {
            let all = c1.assignedPartitions + c2.assignedPartitions + c3.assignedPartitions
            return c3.assignedPartitions.count == 2 && Set(all) == Set(0..<6) && all.count == 6
        })
        try await producing.value
        try await KafkaTestSupport.produceNumbered(producer, topic: topic, range: 20_000..<30_000)
        #expect(try await eventually { store.seen.count == 30_000 })
        let seen = store.seen
        #expect(seen.count == 30_000)
        #expect(seen.values.allSatisfy { $0 == 1 }, "\(seen.values.filter { $0 > 1 }.count) messages processed twice")
        for c in [c1, c2, c3] { c.shutdown() }
        for t in [t1, t2, t3] { _ = try? await t.value }
        producer.shutdown()
    }
}
