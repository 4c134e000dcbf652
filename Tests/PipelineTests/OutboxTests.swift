import Foundation
import Store
import Testing
import TestSupport

/// Publish after commit: the store commit does not wait for the broker, and what was committed but not
/// acknowledged is re-published after a crash.
@Suite("Publish after commit (child processes)", .serialized, .timeLimit(.minutes(5)))
struct OutboxTests {
    static let kcat = "/usr/bin/kcat"

    /// Every churn-scores message, in order, as (key, churn_score, scored_at). The score is read from its
    /// JSON text with `Double(_:)` (Foundation's JSON parser on Linux rounds some doubles).
    func readScores(_ bootstrap: String) throws -> [(key: String, score: Double?, scoredAt: String?)] {
        let out = try runTool(Self.kcat, ["-b", bootstrap, "-C", "-t", "churn-scores", "-e", "-q", "-f", "%k\t%s\n"]).stdout
        return String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let json = String(parts[1])
            func field(_ name: String) -> String? {
                guard let start = json.range(of: "\"\(name)\":") else { return nil }
                let rest = json[start.upperBound...]
                let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
                return String(rest[..<end]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            return (String(parts[0]), field("churn_score").flatMap(Double.init), field("scored_at"))
        }
    }

    @Test("kill -9 between store commit and broker acknowledgement: after a restart every stored score is the last one published")
    func killBetweenCommitAndPublish() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.kcat), "kcat is not installed (apt-get install kcat)")
        let dir = try Shared.tempDir("outbox")
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        let producer = try ProducerProcess(file: Shared.reference("events_clean.jsonl"), bootstrap: broker.bootstrap, topic: "page-views", rate: 100_000)
        #expect(producer.waitExit(timeout: 60) == 0)
        let db = dir.appendingPathComponent("state.db")
        let base = ["--brokers", broker.bootstrap, "--store", "sqlite:\(db.path)", "--model", Shared.model("logreg.pmml").path,
                    "--customers", Shared.reference("customers.csv").path, "--subscribers", "prediction", "--batch-size", "50",
                    "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500", "--log-level", "warning"]
        // A producer that holds its messages for 20 s before sending (a slow broker link, through a real
        // librdkafka setting): the store commits go on, the acknowledgements do not come.
        let slow = try EngineProcess(base + ["--kafka", "linger.ms=20000"], logDir: dir, name: "slow")
        // Deliveries held back, the writer stops once its bounded hand-offs are full (a few hundred events at
        // 50 per batch).
        let progressed = try await eventually(timeout: .seconds(60)) { (slow.status()["prediction"]?.processed ?? 0) >= 300 }
        #expect(progressed, "no progress; see \(slow.stderrFile.path)")
        slow.signal(SIGKILL)
        _ = slow.waitExit(timeout: 10)

        // The kill landed between commit and acknowledgement: committed scores wait in the outbox, and
        // nothing of them reached the topic.
        let killed = try SQLiteStore(path: db.path)
        let pending = try await killed.pendingOutbox(subscriber: "prediction")
        let committed = try await killed.offsets(OffsetScope(subscriber: "prediction", topic: "page-views")).values.reduce(0, +)
        try await killed.close()
        #expect(pending.count >= 3 && committed >= 300, "outbox entries \(pending.count), committed offsets \(committed)")
        #expect(try readScores(broker.bootstrap).isEmpty, "a 20 s linger should have held every score back")

        let engine = try EngineProcess(base, logDir: dir, name: "restart")
        let drained = try await eventually(timeout: .seconds(120)) {
            let s = engine.status()["prediction"]
            return s?.lag == 0 && s?.partitions == 6
        }
        #expect(drained, "engine did not drain; see \(engine.stderrFile.path)")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0)

        let store = try SQLiteStore(path: db.path)
        try await expectProfilesMatchOracle(store, oracle: "oracle_clean")
        #expect(try await store.pendingOutbox(subscriber: "prediction").isEmpty, "delivered entries are deleted")
        var last: [String: (score: Double?, scoredAt: String?)] = [:]
        for m in try readScores(broker.bootstrap) { last[m.key] = (m.score, m.scoredAt) }
        let oracle = try Shared.csv("oracle_clean/final_features.csv")
        var lost: [String] = []
        for row in oracle {
            let id = row["customer_id"]!
            guard let stored = try await store.profileRow(id), let score = stored.churn_score else {
                lost.append("\(id): not scored")
                continue
            }
            guard let message = last[id], message.score == score, message.scoredAt == stored.scored_at else {
                lost.append("\(id): stored \(score) at \(stored.scored_at ?? "-"), last published \(last[id].map { "\($0)" } ?? "none")")
                continue
            }
        }
        try await store.close()
        #expect(lost.isEmpty, "scores lost: \(lost.count) of \(oracle.count), e.g. \(lost.prefix(3))")
    }
}
