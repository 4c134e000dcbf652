import Events
import Foundation
import HTTPAPI
import Kafka
import Pipeline
import Scoring
import Store
import Testing
import TestSupport

/// The faults of issue 10, each reproduced through a real mechanism: another writer moving the stored
/// offsets (a fence), an oversized malformed message, a producer limit that refuses the dead letter,
/// and a graceful shutdown while an output is stalled.
@Suite("Faults: fences, oversized dead letters, stalled outputs, shutdown", .serialized, .timeLimit(.minutes(4)))
struct FaultTests {
    /// Produces `lines` keyed by customer_id and returns how many landed in each partition, and the
    /// partition of each customer.
    func produce(_ lines: ArraySlice<[UInt8]>, bootstrap: String, topic: String) async throws -> (perPartition: [Int32: Int], customers: [String: Int32]) {
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: bootstrap), logger: Shared.logger)
        defer { producer.shutdown() }
        let messages = lines.map { line in
            ProducerMessage(topic: topic, key: EventDecoder.decode(line).event.map { Array($0.customerID.utf8) }, value: line)
        }
        let reports = try await producer.send(Array(messages))
        var perPartition: [Int32: Int] = [:]
        var customers: [String: Int32] = [:]
        for (message, report) in zip(messages, reports) {
            perPartition[report.partition, default: 0] += 1
            if let key = message.key { customers[String(decoding: key, as: UTF8.self)] = report.partition }
        }
        return (perPartition, customers)
    }

    func run(_ services: [@Sendable () async throws -> Void]) -> Task<Void, any Error> {
        Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service() } }
                try await group.waitForAll()
            }
        }
    }

    @Test("another writer moves partition 0's stored offset: the fenced batch's other partitions are replayed, not skipped")
    func fencedCounterBatchLosesNothing() async throws {
        let engine = try await EndToEndTests().makeEngine()
        let lines = try Shared.lines("events_clean.jsonl")
        let first = try await produce(lines[0..<2_500], bootstrap: engine.broker.bootstrap, topic: engine.topic)
        let running = run([{ try await engine.counter.run() }])
        #expect(try await eventually { engine.counter.status.snapshot.processed == 2_500 && engine.counter.status.snapshot.lag == 0 })

        // Another instance (a zombie, an operator) moves partition 0 on by a million.
        let scope = OffsetScope(subscriber: "counter", topic: engine.topic)
        let before = try await engine.store.offsets(scope)
        #expect(before.values.reduce(0, +) == 2_500)
        let p0 = try #require(before[0])
        try await engine.store.commitCounters(CounterDelta(), offsets: [OffsetAdvance(partition: 0, expected: p0, next: p0 + 1_000_000)], scope: scope)

        let second = try await produce(lines[2_500...], bootstrap: engine.broker.bootstrap, topic: engine.topic)
        let expectedCounted = 2_500 + (2_500 - (second.perPartition[0] ?? 0))
        let caughtUp = try await eventually(timeout: .seconds(60)) {
            let total = try await engine.store.typeCounts().values.reduce(0, +)
            return total == expectedCounted && engine.counter.status.snapshot.stalls["partition 0"] != nil
        }
        let total = try await engine.store.typeCounts().values.reduce(0, +)
        #expect(caughtUp, "counted \(total) of \(expectedCounted) events; stalls \(engine.counter.status.snapshot.stalls)")
        let after = try await engine.store.offsets(scope)
        for p: Int32 in 1..<6 {
            #expect(after[p] == (before[p] ?? 0) + Int64(second.perPartition[p] ?? 0), "partition \(p)")
        }
        #expect(after[0] == p0 + 1_000_000, "the moved offset is reported, not overwritten")
        #expect(engine.counter.status.snapshot.fenced >= 1)
        // Counted events and stored offsets agree: nothing counted twice, nothing skipped.
        #expect(total == Int(after.filter { $0.key != 0 }.values.reduce(0, +) + p0))
        _ = first
        running.cancel()
        try? await running.value
        engine.producer.shutdown()
    }

    @Test("a fenced prediction batch: customers of the other partitions still end with the oracle's profiles")
    func fencedPredictionBatchLosesNothing() async throws {
        let engine = try await EndToEndTests().makeEngine(batchSize: 500)
        let lines = try Shared.lines("events_clean.jsonl")
        let first = try await produce(lines[0..<2_500], bootstrap: engine.broker.bootstrap, topic: engine.topic)
        let running = run([{ try await engine.prediction.run() }])
        #expect(try await eventually { engine.prediction.status.snapshot.processed == 2_500 && engine.prediction.status.snapshot.lag == 0 })

        let scope = OffsetScope(subscriber: "prediction", topic: engine.topic)
        let before = try await engine.store.offsets(scope)
        let p0 = try #require(before[0])
        try await engine.store.commitProfiles([], offsets: [OffsetAdvance(partition: 0, expected: p0, next: p0 + 1_000_000)], scope: scope)

        let second = try await produce(lines[2_500...], bootstrap: engine.broker.bootstrap, topic: engine.topic)
        let expectedProcessed = 2_500 + (2_500 - (second.perPartition[0] ?? 0))
        let caughtUp = try await eventually(timeout: .seconds(60)) {
            let s = engine.prediction.status.snapshot
            return s.processed == expectedProcessed && s.stalls["partition 0"] != nil
        }
        #expect(caughtUp, "processed \(engine.prediction.status.snapshot.processed) of \(expectedProcessed)")
        #expect(engine.prediction.status.snapshot.fenced >= 1)
        var customers = first.customers
        customers.merge(second.customers) { $1 }
        let elsewhere = Set(customers.filter { $0.value != 0 }.keys)
        #expect(elsewhere.count > 50)
        try await expectProfilesMatchOracle(engine.store, oracle: "oracle_clean", only: elsewhere)
        running.cancel()
        try? await running.value
        engine.producer.shutdown()
    }

    @Test("a 999,950-byte malformed message is dead-lettered with its first 64 KiB and original_size; the stream goes on")
    func oversizedDeadLetter() async throws {
        let engine = try await EndToEndTests().makeEngine()
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 999_950)
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: engine.broker.bootstrap, properties: [("message.max.bytes", "2000000")]),
                                         logger: Shared.logger)
        try await producer.send(topic: engine.topic, key: Array("c-big".utf8), value: big)
        producer.shutdown()
        let total = try await produceReference("events_clean.jsonl", bootstrap: engine.broker.bootstrap, topic: engine.topic)
        let running = run([{ try await engine.prediction.run() }])
        let done = try await eventually(timeout: .seconds(60)) {
            let s = engine.prediction.status.snapshot
            return s.processed == total && s.malformed == 1 && s.lag == 0
        }
        #expect(done, "stalls: \(engine.prediction.status.snapshot.stalls)")
        let letters = try await EndToEndTests().readTopic(engine.broker.bootstrap, "\(engine.topic).dlq", count: 1)
        #expect(letters.count == 1)
        #expect(letters.first?.value == Array(big.prefix(65_536)))
        #expect(letters.first?.headers["original_size"] == "999950")
        #expect(letters.first?.headers["error"] == "too_large")
        running.cancel()
        try? await running.value
        engine.producer.shutdown()
    }

    @Test("a dead letter the producer refuses for good: /readyz 503 names the stage, nothing past it commits, SIGTERM ends within --shutdown-timeout, non-zero")
    func permanentOutputErrorStallsVisibly() async throws {
        let dir = try Shared.tempDir("stall")
        let broker = try BrokerProcess(partitions: 1, topic: "page-views")
        defer { broker.stop() }
        // The engine's producer takes at most 2,000 bytes: a 10 KiB malformed message cannot be
        // dead-lettered even cut to 64 KiB (librdkafka refuses it locally: message size too large).
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: broker.bootstrap), logger: Shared.logger)
        try await producer.send(topic: "page-views", key: nil, value: [UInt8](repeating: UInt8(ascii: "{"), count: 10_000))
        producer.shutdown()
        _ = try await produceReference("events_clean.jsonl", bootstrap: broker.bootstrap, topic: "page-views")
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--store", "sqlite:\(dir.appendingPathComponent("s.db").path)",
                                        "--model", Shared.model("logreg.pmml").path, "--subscribers", "prediction",
                                        "--kafka", "message.max.bytes=2000", "--kafka", "session.timeout.ms=6000",
                                        "--kafka", "heartbeat.interval.ms=500", "--shutdown-timeout", "3", "--log-level", "error"],
                                       logDir: dir, name: "engine")
        let stalled = try await eventually(timeout: .seconds(60)) {
            let body = String(decoding: try engine.get("/readyz"), as: UTF8.self)
            return body.contains("\"stage\":\"dead-letter\"") && body.contains("too large")
        }
        let readyBody = String(decoding: try engine.get("/readyz"), as: UTF8.self)
        #expect(stalled, "readyz: \(readyBody)")
        let status = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", engine.http + "/readyz"])
        #expect(String(decoding: status.stdout, as: UTF8.self) == "503")
        // The batch holding the refused message is not committed: nothing was processed.
        #expect(engine.status()["prediction"]?.processed == 0)
        let started = Date()
        engine.signal(SIGTERM)
        let exit = engine.waitExit(timeout: 20)
        #expect(exit != nil && exit != 0, "exit \(String(describing: exit)) after \(Date().timeIntervalSince(started)) s")
        #expect(Date().timeIntervalSince(started) < 3 + 8 + 2)
    }
}
