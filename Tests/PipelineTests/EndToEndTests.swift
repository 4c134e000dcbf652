import Events
import Foundation
import Kafka
import Pipeline
import Scoring
import Store
import Synchronization
import Testing
import TestSupport

/// Both subscribers in-process against the embedded broker, fed the dirty reference stream.
@Suite("Subscribers end to end (in-process)", .serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    struct Engine {
        let broker: EmbeddedBroker
        let store: any EngineStore
        let producer: KafkaProducer
        let prediction: PredictionSubscriber
        let counter: CounterSubscriber
        let topic: String
    }

    func makeEngine(maxBuffered: Int = 20_000, batchSize: Int = 1_000, producerProperties: [(String, String)] = []) async throws -> Engine {
        let broker = try EmbeddedBroker(logger: Shared.logger)
        let topic = "feed-\(UUID().uuidString.prefix(6))"
        try broker.createTopic(topic, partitions: 6)
        let dir = try Shared.tempDir("e2e")
        let store = try await StoreFactory.open(.sqlite(path: dir.appendingPathComponent("s.db").path))
        try await store.importCustomers(CustomerCSV.parse(Data(contentsOf: Shared.reference("customers.csv")), file: "customers.csv"))
        let kafka = KafkaConfig(bootstrapServers: broker.bootstrap, properties: [("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500")] + producerProperties.map { (key: $0.0, value: $0.1) })
        let producer = try KafkaProducer(config: kafka, logger: Shared.logger)
        var settings = SubscriberSettings(kafka: kafka)
        settings.topic = topic
        settings.groupPrefix = "g-\(UUID().uuidString.prefix(6))"
        settings.maxBufferedRecords = maxBuffered
        settings.batchSize = batchSize
        let registry = try ModelRegistry(contentsOf: Shared.model("logreg.pmml"))
        let prediction = try PredictionSubscriber(settings: settings, store: store, registry: registry, producer: producer, logger: Shared.logger)
        let counter = try CounterSubscriber(settings: settings, store: store, logger: Shared.logger)
        return Engine(broker: broker, store: store, producer: producer, prediction: prediction, counter: counter, topic: topic)
    }

    /// Reads a whole topic with a fresh group until `count` records or `timeout`.
    func readTopic(_ bootstrap: String, _ topic: String, count: Int) async throws -> [(key: String?, value: [UInt8], headers: [String: String])] {
        struct Rec: Sendable { let key: String?; let value: [UInt8]; let headers: [String: String] }
        let consumer = try KafkaConsumer<Rec>(config: KafkaConfig(bootstrapServers: bootstrap, properties: [("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500")]),
                                              settings: KafkaConsumerSettings(topic: topic, groupID: "reader-\(UUID().uuidString.prefix(6))"),
                                              logger: Shared.logger) { view in
            var headers: [String: String] = [:]
            for name in ["error", "source_partition", "source_offset", "original_size"] {
                if let h = view.header(name) { headers[name] = String(decoding: h, as: UTF8.self) }
            }
            return Rec(key: view.key.map { String(decoding: $0, as: UTF8.self) }, value: view.payload.map(Array.init) ?? [], headers: headers)
        }
        var out: [(key: String?, value: [UInt8], headers: [String: String])] = []
        let reader = Task { () -> [(key: String?, value: [UInt8], headers: [String: String])] in
            var got: [(key: String?, value: [UInt8], headers: [String: String])] = []
            for try await batch in consumer.batches {
                for r in batch.records { got.append((r.value.key, r.value.value, r.value.headers)) }
                if got.count >= count { break }
            }
            return got
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(30))
            consumer.requestStop()
        }
        out = try await reader.value
        timeout.cancel()
        consumer.shutdown()
        return out
    }

    /// Runs the prediction subscriber until all `total` messages of its topic are processed or malformed and
    /// nothing is left to read, then stops it.
    func runPrediction(_ engine: Engine, total: Int, timeout: Duration = .seconds(90)) async throws {
        let running = Task { try await engine.prediction.run() }
        let done = try await eventually(timeout: timeout) {
            let p = engine.prediction.status.snapshot
            return p.processed + p.malformed == total && p.lag == 0
        }
        #expect(done)
        running.cancel()
        try await running.value
    }

    /// Sends `lines` (keyless) twice — the first pass numbers the names, the second counts them by number —
    /// and runs the counter subscriber until it has counted them all, then stops it.
    func countTwice(_ engine: Engine, _ lines: [String]) async throws {
        let messages = (lines + lines).map { ProducerMessage(topic: engine.topic, key: nil, value: Array($0.utf8)) }
        try await engine.producer.send(messages)
        let running = Task { try await engine.counter.run() }
        let done = try await eventually { engine.counter.status.snapshot.processed + engine.counter.status.snapshot.malformed == messages.count }
        running.cancel()
        try? await running.value
        #expect(done)
        #expect(engine.counter.status.snapshot.malformed == 0)
    }

    @Test("dirty stream: profiles = oracle, 51 dead letters byte for byte, churn-scores match, counters = oracle")
    func dirtyStream() async throws {
        let engine = try await makeEngine()
        let total = try await produceReference("events_dirty.jsonl", bootstrap: engine.broker.bootstrap, topic: engine.topic)
        #expect(total == 5_051)
        let running = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.prediction.run() }
                group.addTask { try await engine.counter.run() }
                try await group.waitForAll()
            }
        }
        let done = try await eventually {
            let p = engine.prediction.status.snapshot, c = engine.counter.status.snapshot
            return p.processed + p.malformed == total && c.processed + c.malformed == total && p.lag == 0 && c.lag == 0
        }
        #expect(done)
        // The engine keeps running until its churn-scores are read: they are published after the store
        // commit, so a cancellation right after the last commit may leave some for the next start.
        defer { running.cancel() }
        let p = engine.prediction.status.snapshot, c = engine.counter.status.snapshot
        #expect(p.processed == 5_000 && p.malformed == 51)
        #expect(c.processed == 5_000 && c.malformed == 51)

        try await expectProfilesMatchOracle(engine.store, oracle: "oracle_dirty")
        try await expectCountersMatchOracle(engine.store, oracle: "oracle_dirty")

        // Dead letters: exactly the malformed lines, byte for byte, with their reason and source.
        let lines = try Shared.lines("events_dirty.jsonl")
        let manifest = try String(contentsOf: Shared.reference("events_dirty.jsonl.malformed.tsv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: "\t")[0]) }
        #expect(manifest.count == 51)
        let dlq = try await readTopic(engine.broker.bootstrap, "\(engine.topic).dlq", count: 51)
        #expect(dlq.count == 51)
        #expect(Set(dlq.map(\.value)) == Set(manifest.map { lines[$0 - 1] }))
        for letter in dlq {
            let expected = EventDecoder.decode(letter.value).malformedReason?.description
            #expect(letter.headers["error"] == expected && expected != nil)
            #expect(letter.headers["source_partition"].flatMap { Int($0) } != nil)
            #expect(letter.headers["source_offset"].flatMap { Int($0) } != nil)
        }

        // churn-scores: at least one message per scored customer; the last one per key matches the profile.
        let oracle = try Shared.csv("oracle_dirty/final_features.csv")
        let scores = try await readTopic(engine.broker.bootstrap, "churn-scores", count: engine.prediction.status.snapshot.scored)
        var last: [String: [String: Any]] = [:]
        var lastScoreText: [String: String] = [:]
        for s in scores {
            let object = try JSONSerialization.jsonObject(with: Data(s.value)) as? [String: Any]
            #expect(object?["customer_id"] as? String == s.key)
            if let key = s.key, let object { last[key] = object }
            // Foundation's JSON parser on Linux is not correctly rounded; read the number's text.
            let text = String(decoding: s.value, as: UTF8.self)
            if let key = s.key, let r = text.range(of: "\"churn_score\":") {
                lastScoreText[key] = String(text[r.upperBound...].prefix { $0 != "," && $0 != "}" })
            }
        }
        #expect(last.count == oracle.count)
        for row in oracle {
            let id = row["customer_id"]!
            let stored = try await engine.store.profileRow(id)
            #expect(lastScoreText[id].flatMap(Double.init) == stored?.churn_score)
            #expect((last[id]?["scored_at"] as? String) == row["as_of_ts"])
        }
        running.cancel()
        try await running.value
        engine.producer.shutdown()
    }

    @Test("the counter counts a type word by its unescaped text (an escaped type counts with the plain one; other casing is another type), before and after its number is cached")
    func counterTypeWords() async throws {
        let engine = try await makeEngine()
        let spellings: [(type: String, page: Bool)] = [
            ("page_view", true), (#"page\u005fview"#, true), ("PAGE_VIEW", false), (#"log\u0069n"#, false), ("login", false),
            ("Login", false), (#"\u0070age_view"#, true), ("page_view", true), (#"support\u005Fcall"#, false), ("support_call", false),
        ]
        let lines = spellings.enumerated().map { i, s in
            #"{"event_id":"e\#(i)","type":"\#(s.type)","customer_id":"C\#(i % 3)","ts":"2026-02-01T10:0\#(i):00Z""#
                + (s.page ? #","page":"/p\#(i % 2)"}"# : "}")
        }
        // Twice: the first pass numbers the words, the second finds them by kind.
        try await countTwice(engine, lines)
        let types = try await engine.store.typeCounts()
        #expect(types == ["page_view": 8, "PAGE_VIEW": 2, "login": 4, "Login": 2, "support_call": 4])
        let pages = try await engine.store.pageCounts(top: 10)
        #expect(Dictionary(uniqueKeysWithValues: pages.map { ($0.page, $0.count) }) == ["/p0": 4, "/p1": 4])
        engine.producer.shutdown()
    }

    @Test("the counter tells pages and types apart by their bytes: canonically equivalent spellings (é as U+00E9 or e + U+0301) are two counters")
    func counterKeysAreBytes() async throws {
        let engine = try await makeEngine()
        let nfcPage = "/caf\u{E9}", nfdPage = "/cafe\u{301}", nfcType = "r\u{E9}sum\u{E9}", nfdType = "re\u{301}sume\u{301}"
        #expect(nfcPage == nfdPage && nfcType == nfdType, "the premise: Swift's == calls them equal")
        let events: [(type: String, page: String?)] = [
            ("page_view", nfcPage), ("page_view", nfdPage), ("page_view", nfdPage), ("page_view", nfcPage), ("page_view", nfdPage),
            (nfcType, nil), (nfdType, nil), (nfdType, nil),
        ]
        let lines = events.enumerated().map { i, e in
            #"{"event_id":"b\#(i)","type":"\#(e.type)","customer_id":"C\#(i % 3)","ts":"2026-02-01T10:0\#(i):00Z""#
                + (e.page.map { #","page":"\#($0)"}"# } ?? "}")
        }
        try await countTwice(engine, lines)
        let pages = try await engine.store.pageCounts(top: 10).map { (Array($0.page.utf8), $0.count) }
        #expect(pages.count == 2)
        #expect(pages.first { $0.0 == Array(nfcPage.utf8) }?.1 == 4 && pages.first { $0.0 == Array(nfdPage.utf8) }?.1 == 6, "\(pages)")
        let types = try await engine.store.typeCounts().map { (Array("\($0.key)".utf8), $0.value) }
        #expect(types.count == 3, "\(types)")
        #expect(types.first { $0.0 == Array(nfcType.utf8) }?.1 == 2 && types.first { $0.0 == Array(nfdType.utf8) }?.1 == 4, "\(types)")
        engine.producer.shutdown()
    }

    @Test("batches of 5,000 events for 4,500 distinct customers (messages built in several buffers per batch): one churn-scores and one prediction-log message per customer, each with its stored score")
    func largeBatchesPublishEveryScore() async throws {
        let engine = try await makeEngine(batchSize: 5_000)
        let customers = 4_500
        // Preloaded, so that the engine's batches are full: 5,000 events, 4,500 customers in the first.
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: engine.broker.bootstrap), logger: Shared.logger)
        var messages: [ProducerMessage] = []
        for i in 0..<(customers + 500) {
            let id = "L\(i % customers)"
            let line = #"{"event_id":"e-\#(i)","type":"page_view","customer_id":"\#(id)","ts":"2026-01-05T10:\#(String(format: "%02d", i / 1_000)):00.\#(String(format: "%03d", i % 1_000))Z","page":"/pricing"}"#
            messages.append(ProducerMessage(topic: engine.topic, key: Array(id.utf8), value: Array(line.utf8), partition: 0))
        }
        try await producer.send(messages)
        producer.shutdown()
        let running = Task { try await engine.prediction.run() }
        let done = try await eventually { engine.prediction.status.snapshot.processed == customers + 500 }
        #expect(done)
        let scored = engine.prediction.status.snapshot.scored
        #expect(scored >= customers)
        let scores = try await readTopic(engine.broker.bootstrap, "churn-scores", count: scored)
        let log = try await readTopic(engine.broker.bootstrap, "predictions", count: scored)
        running.cancel()
        _ = try? await running.value
        engine.producer.shutdown()
        #expect(scores.count == scored && log.count == scored)
        var lastScore: [String: Double] = [:]
        for s in scores {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(s.value)) as? [String: Any])
            #expect(object["customer_id"] as? String == s.key)
            if let key = s.key { lastScore[key] = object["churn_score"] as? Double }
        }
        #expect(lastScore.count == customers)
        #expect(Set(log.compactMap(\.key)).count == customers)
        for i in stride(from: 0, to: customers, by: 97) {
            let stored = try #require(try await engine.store.profileRow("L\(i)")?.churn_score)
            #expect(abs((lastScore["L\(i)"] ?? -1) - stored) < 1e-12, "L\(i)")
        }
    }

    @Test("a pipeline slower than its consumer (a store commit per 100 events): the poll thread holds, the buffer stays within its bound, nothing is lost")
    func backpressure() async throws {
        let engine = try await makeEngine(maxBuffered: 400, batchSize: 100)
        let total = try await produceReference("events_clean.jsonl", bootstrap: engine.broker.bootstrap, topic: engine.topic)
        try await runPrediction(engine, total: total, timeout: .seconds(120))
        #expect(engine.prediction.peakBufferedRecords <= 400)
        #expect(engine.prediction.holdCount + engine.prediction.pauseCount > 0, "backpressure should have stopped the polling")
        try await expectProfilesMatchOracle(engine.store, oracle: "oracle_clean")
        engine.producer.shutdown()
    }

    @Test("the commit hook: every relevant event's time reported once, every call at the same stack depth")
    func commitHook() async throws {
        let engine = try await makeEngine(batchSize: 100)
        let total = try await produceReference("events_clean.jsonl", bootstrap: engine.broker.bootstrap, topic: engine.topic)
        // Per call: the event times it reported and the depth of the stack it ran on. A hook kept as a bare
        // closure in a Mutex gained two reabstraction thunks per read, so each call ran deeper than the last.
        let calls = Mutex<[(times: Int, depth: Int)]>([])
        engine.prediction.onCommit { times in
            let depth = Thread.callStackReturnAddresses.count
            calls.withLock { $0.append((times.count, depth)) }
        }
        try await runPrediction(engine, total: total)
        let seen = calls.withLock { $0 }
        // The oracle's per-event file has a row per relevant event.
        let relevant = try Shared.csv("oracle_clean/per_event_features.csv").count
        #expect(seen.reduce(0) { $0 + $1.times } == relevant)
        #expect(seen.count >= 20, "batches of 100 events: at least 20 commits of the 5,000")
        #expect(Set(seen.map(\.depth)).count == 1, "stack depths of the calls: \(Set(seen.map(\.depth)).sorted())")
        engine.producer.shutdown()
    }
}
