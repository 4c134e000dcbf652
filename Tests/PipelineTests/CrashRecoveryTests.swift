import Foundation
import Store
import Testing
import TestSupport

/// `streamscore run` as a child process against a standalone `streamscore broker`: killed with SIGKILL
/// at three points, or stopped with SIGTERM, then restarted; the final state must equal the oracle.
@Suite("Crash and shutdown recovery (child processes)", .serialized, .timeLimit(.minutes(5)))
struct CrashRecoveryTests {
    /// Small batches, so that a kill lands between many commits; the stream itself arrives through a
    /// throttled producer (`ProducerProcess`), so "mid-stream" lasts long enough.
    func engineArgs(broker: BrokerProcess, db: URL) -> [String] {
        ["--brokers", broker.bootstrap, "--store", "sqlite:\(db.path)", "--model", Shared.model("logreg.pmml").path,
         "--customers", Shared.reference("customers.csv").path, "--batch-size", "50", "--counter-batch-size", "100",
         "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500",
         "--log-level", "warning"]
    }

    /// Runs the engine until both subscribers report lag 0 on all partitions, then SIGTERM.
    func runToCompletion(_ args: [String], dir: URL, name: String) async throws {
        let engine = try EngineProcess(args, logDir: dir, name: name)
        let drained = try await eventually(timeout: .seconds(120)) {
            let s = engine.status()
            return s["prediction"]?.lag == 0 && s["counter"]?.lag == 0 && s["prediction"]?.partitions == 6 && s["counter"]?.partitions == 6
        }
        #expect(drained, "engine did not drain; see \(engine.stderrFile.path)")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 10) == 0, "graceful shutdown must exit 0 within 10 s")
    }

    /// Waits until the prediction subscriber has handled at least `count` messages in this process.
    func waitForProgress(_ engine: EngineProcess, atLeast count: Int) async throws -> Bool {
        try await eventually(timeout: .seconds(90)) {
            guard let p = engine.status()["prediction"] else { return false }
            return p.processed + p.malformed >= count
        }
    }

    @Test("SIGKILL at three points of the stream, restart each time: state equals the oracle")
    func killNineThreeTimes() async throws {
        let dir = try Shared.tempDir("crash")
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        let total = try Shared.lines("events_dirty.jsonl").count
        // 120 events/s: the stream (42 s) outlasts the three runs (each joins the group in ~3 s), so the
        // last kill still lands before the end (at 200/s it sometimes did not).
        let producer = try ProducerProcess(file: Shared.reference("events_dirty.jsonl"), bootstrap: broker.bootstrap, topic: "page-views", rate: 120)
        let db = dir.appendingPathComponent("state.db")
        let args = engineArgs(broker: broker, db: db)
        // Each run starts where the store says; kill after a few hundred more messages.
        for (i, progress) in [400, 300, 500].enumerated() {
            let engine = try EngineProcess(args, logDir: dir, name: "kill\(i)")
            #expect(try await waitForProgress(engine, atLeast: progress), "no progress; see \(engine.stderrFile.path)")
            engine.signal(SIGKILL)
            _ = engine.waitExit(timeout: 10)
        }
        // The store must not already hold everything (the kills were mid-stream).
        let partial = try SQLiteStore(path: db.path)
        let stored = try await partial.offsets(OffsetScope(subscriber: "prediction", topic: "page-views")).values.reduce(0, +)
        #expect(stored > 0 && stored < Int64(total), "kills should land mid-stream (stored offsets sum \(stored) of \(total))")
        try await partial.close()
        #expect(producer.waitExit(timeout: 60) == 0)

        try await runToCompletion(args, dir: dir, name: "final")
        let store = try SQLiteStore(path: db.path)
        try await expectProfilesMatchOracle(store, oracle: "oracle_dirty")
        try await expectCountersMatchOracle(store, oracle: "oracle_dirty")
        try await store.close()
    }

    @Test("SIGTERM mid-stream: exits 0 within 10 s; a restart finishes with the oracle's state")
    func gracefulShutdownAndRestart() async throws {
        let dir = try Shared.tempDir("sigterm")
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        let producer = try ProducerProcess(file: Shared.reference("events_dirty.jsonl"), bootstrap: broker.bootstrap, topic: "page-views", rate: 300)
        let db = dir.appendingPathComponent("state.db")
        let args = engineArgs(broker: broker, db: db)
        let engine = try EngineProcess(args, logDir: dir, name: "first")
        #expect(try await waitForProgress(engine, atLeast: 1_000))
        let started = Date()
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 10) == 0, "exit status after SIGTERM; see \(engine.stderrFile.path)")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(producer.waitExit(timeout: 60) == 0)
        try await runToCompletion(args, dir: dir, name: "second")
        let store = try SQLiteStore(path: db.path)
        try await expectProfilesMatchOracle(store, oracle: "oracle_dirty")
        try await expectCountersMatchOracle(store, oracle: "oracle_dirty")
        try await store.close()
    }
}
