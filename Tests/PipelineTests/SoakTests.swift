import Foundation
import Store
import Testing
import TestSupport

/// The engine's core promise under faults, as `make soak` runs it (and, scaled down, `make test`):
/// whatever happens — `kill -9` at random moments, a frozen broker, a locked store, a zombie instance,
/// instances joining and leaving — the final state equals an uninterrupted run over the same stream.
///
/// `STREAMSCORE_SOAK=full` selects the full scale (1 M events, 100 k customers, 64 partitions, 20 kills,
/// a two-minute rebalance storm); otherwise a short version runs. Every test prints its figures
/// (`soak:` lines) for docs/reliability.md.
@Suite("Soak: faults against an uninterrupted run", .serialized, .timeLimit(.minutes(20)))
struct SoakTests {
    static let full = ProcessInfo.processInfo.environment["STREAMSCORE_SOAK"] == "full"
    static let events = full ? 1_000_000 : 30_000
    static let customers = full ? 100_000 : 5_000
    static let partitions = full ? 64 : 12

    static func say(_ line: String) {
        FileHandle.standardError.write(Data("soak: \(line)\n".utf8))
    }

    /// Engine arguments shared by every run: both subscribers, SQLite, test group timings.
    static func args(_ broker: BrokerProcess, db: URL, group: String) -> [String] {
        ["--brokers", broker.bootstrap, "--store", "sqlite:\(db.path)", "--model", Shared.model("logreg.pmml").path,
         "--group-prefix", group, "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500",
         "--log-level", "error"]
    }

    /// The state tables of an SQLite store as text, in a canonical order (wall-clock columns left out),
    /// through the `sqlite3` CLI: an independent reader of what a CRM would see.
    static func dump(_ db: URL) throws -> String {
        let queries = [
            """
            SELECT customer_id, tenure_days, plan, printf('%.17g', monthly_charges), printf('%.17g', churn_score), model_version,
                   scored_at, page_views_30d, pricing_views_30d, cancel_views_30d, support_calls_30d, complaints_30d,
                   printf('%.17g', days_since_last_visit), hex(rolling_state) FROM profiles ORDER BY customer_id
            """,
            "SELECT page, count FROM page_counts ORDER BY page",
            "SELECT type, count FROM type_counts ORDER BY type",
            "SELECT minute, count FROM minute_counts ORDER BY minute",
            "SELECT subscriber, topic, partition, next_offset FROM subscriber_offsets ORDER BY subscriber, topic, partition",
        ]
        var text = ""
        for q in queries {
            let result = try runTool("/usr/bin/sqlite3", ["-readonly", db.path, q])
            try #require(result.status == 0, "sqlite3 failed on \(db.path)")
            text += String(decoding: result.stdout, as: UTF8.self) + "--\n"
        }
        return text
    }

    /// Runs an engine until both subscribers have consumed `total` messages with lag 0, then stops it
    /// with SIGTERM (exit 0 expected).
    static func runToCompletion(_ args: [String], total: Int, dir: URL, name: String, timeout: Duration = .seconds(600)) async throws {
        let engine = try EngineProcess(args, logDir: dir, name: name)
        let done = try await eventually(timeout: timeout) {
            let s = engine.status()
            guard let p = s["prediction"], let c = s["counter"] else { return false }
            return p.lag == 0 && c.lag == 0 && p.partitions == partitions && c.partitions == partitions
        }
        #expect(done, "\(name) did not drain; see \(engine.stderrFile.path)")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 40) == 0, "\(name): graceful exit; see \(engine.stderrFile.path)")
    }

    /// A reference store: one uninterrupted run over the whole topic.
    static func reference(_ broker: BrokerProcess, total: Int, dir: URL) async throws -> String {
        let db = dir.appendingPathComponent("reference.db")
        let started = ContinuousClock.now
        try await runToCompletion(args(broker, db: db, group: "ref"), total: total, dir: dir, name: "reference")
        say("reference run: \(total) events in \(ContinuousClock.now - started)")
        return try dump(db)
    }

    /// Stops `engines` gracefully (exit 0 expected), then compares the store with an uninterrupted run
    /// over the same topic.
    static func stopAndCompare(_ engines: [EngineProcess], broker: BrokerProcess, total: Int, dir: URL, db: URL, _ what: String,
                               sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for e in engines {
            e.signal(SIGTERM)
            #expect(e.waitExit(timeout: 40) == 0, "\(what): graceful exit; see \(e.stderrFile.path)", sourceLocation: sourceLocation)
        }
        let expected = try await reference(broker, total: total, dir: dir)
        expectSame(try dump(db), expected, what, sourceLocation: sourceLocation)
    }

    /// Compares two dumps and describes the first difference.
    static func expectSame(_ got: String, _ expected: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard got != expected else { return }
        let a = got.split(separator: "\n"), b = expected.split(separator: "\n")
        let first = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        let left = first < a.count ? String(a[first]) : "<end>"
        let right = first < b.count ? String(b[first]) : "<end>"
        Issue.record("\(what): state differs from the uninterrupted run at line \(first): got \(left) expected \(right) (\(a.count) vs \(b.count) lines)",
                     sourceLocation: sourceLocation)
    }

    @Test("kill -9 at random moments over the stream, both subscribers: the final state equals an uninterrupted run")
    func killNine() async throws {
        let kills = Self.full ? 20 : 4
        let dir = try Shared.tempDir("soak-kill")
        let broker = try BrokerProcess(partitions: Self.partitions, topic: "page-views")
        defer { broker.stop() }
        // The stream arrives while the kills happen (an engine life is 4–6 s: start, group join, a random
        // moment), so that every kill lands mid-stream. At full scale in message sets of ~200 ms of traffic:
        // the mock broker answers a fetch with one message set per partition, found by a linear scan of the
        // partition's sets, so paced sets of one or two events (5 ms linger, 5,000 events/s over 64
        // partitions) made the final run drain ~800 events/s per subscriber with the broker at 99 % CPU,
        // 98 % of it in that scan (`perf record` of the broker, 2026-12-01), past the 600 s drain limit;
        // with them the whole test took 370 s. The short version (750 events/s, 12 partitions) drains fast.
        let producer = try ProducerProcess(synthetic: Self.events, customers: Self.customers, seed: 7, bootstrap: broker.bootstrap,
                                           topic: "page-views", rate: Self.events / (kills * 10), kafka: Self.full ? ["linger.ms=200"] : [])

        let db = dir.appendingPathComponent("killed.db")
        let args = Self.args(broker, db: db, group: "kill")
        var generator = SystemRandomNumberGenerator()
        var landed = 0
        var afterFirstKill = ""
        let started = ContinuousClock.now
        for i in 0..<kills {
            let engine = try EngineProcess(args, logDir: dir, name: "kill\(i)")
            // A random moment once the engine has joined (the first join alone takes ~3 s on the mock).
            _ = try await eventually(timeout: .seconds(30)) { (engine.status()["prediction"]?.partitions ?? 0) > 0 }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...1_500, using: &generator)))
            let before = engine.status()["prediction"].map { $0.lag } ?? -1
            engine.signal(SIGKILL)
            _ = engine.waitExit(timeout: 10)
            if before != 0 { landed += 1 }
            if i == 0 { afterFirstKill = try Self.dump(db) }
        }
        #expect(producer.waitExit(timeout: 600) == 0)
        try await Self.runToCompletion(args, total: Self.events, dir: dir, name: "final")
        let expected = try await Self.reference(broker, total: Self.events, dir: dir)
        Self.say("\(kills) kills (\(landed) while the engine had lag), then a final run; \(Self.events) events, \(Self.partitions) partitions, \(ContinuousClock.now - started)")
        #expect(afterFirstKill != expected, "the kills must land before the end of the stream")
        Self.expectSame(try Self.dump(db), expected, "after \(kills) kill -9")
    }

    @Test("the broker frozen 10 s and the SQLite store locked 10 s under load: nothing lost, nothing doubled, lag recovers without a restart")
    func brokerAndStoreOutages() async throws {
        let dir = try Shared.tempDir("soak-outage")
        let broker = try BrokerProcess(partitions: Self.partitions, topic: "page-views")
        defer { broker.stop() }
        let total = Self.full ? 200_000 : 40_000
        let rate = Self.full ? 5_000 : 2_000
        let db = dir.appendingPathComponent("outage.db")
        let engine = try EngineProcess(Self.args(broker, db: db, group: "outage"), logDir: dir, name: "engine")
        let producer = try ProducerProcess(synthetic: total, customers: Self.customers, seed: 11, bootstrap: broker.bootstrap, topic: "page-views", rate: rate)
        #expect(try await eventually(timeout: .seconds(60)) { (engine.status()["prediction"]?.processed ?? 0) > rate })

        // The broker hangs for 10 s (SIGSTOP), under load.
        broker.pause()
        try await Task.sleep(for: .seconds(10))
        broker.resume()
        #expect(try await eventually(timeout: .seconds(60)) { (engine.status()["counter"]?.lag ?? -1) >= 0 })

        // The store is locked for 10 s by another process holding an exclusive transaction.
        let lock = Process()
        lock.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        lock.arguments = [db.path]
        let input = Pipe()
        lock.standardInput = input
        lock.standardOutput = FileHandle.nullDevice
        lock.standardError = FileHandle.nullDevice
        try lock.run()
        input.fileHandleForWriting.write(Data("PRAGMA busy_timeout=20000;\nBEGIN EXCLUSIVE;\nSELECT 1;\n".utf8))
        let locked = ContinuousClock.now
        // The lock lasts at least 10 s and until /readyz has reported it (a rebalance after the frozen
        // broker can delay the next commit by a few seconds; a commit is reported after 5 s without answer).
        let stalled = try await eventually(timeout: .seconds(30)) {
            String(decoding: try engine.get("/readyz"), as: UTF8.self).contains("\"ready\":false")
        }
        try await Task.sleep(until: max(locked + .seconds(10), ContinuousClock.now + .seconds(2)), clock: .continuous)
        input.fileHandleForWriting.write(Data("COMMIT;\n.quit\n".utf8))
        try input.fileHandleForWriting.close()
        lock.waitUntilExit()
        #expect(stalled, "/readyz must report the locked store")

        #expect(producer.waitExit(timeout: 300) == 0)
        let drained = try await eventually(timeout: .seconds(300)) {
            let s = engine.status()
            return s["prediction"]?.lag == 0 && s["counter"]?.lag == 0
                && (s["prediction"]?.processed ?? 0) + (s["prediction"]?.malformed ?? 0) == total
                && (s["counter"]?.processed ?? 0) + (s["counter"]?.malformed ?? 0) == total
        }
        #expect(drained, "lag must recover without a restart; see \(engine.stderrFile.path)")
        let ready = String(decoding: try engine.get("/readyz"), as: UTF8.self)
        #expect(ready == "ready", "readyz after recovery: \(ready)")
        try await Self.stopAndCompare([engine], broker: broker, total: total, dir: dir, db: db, "after a frozen broker and a locked store")
        Self.say("broker frozen 10 s, store locked 10 s, \(total) events at \(rate)/s: state equals the uninterrupted run")
    }

    /// The state tables of a PostgreSQL store as text, canonical order (through `psql`).
    static func dump(_ server: PrivatePostgres) throws -> String {
        let queries = [
            """
            SELECT customer_id, tenure_days, plan, monthly_charges::text, churn_score::text, model_version, scored_at,
                   page_views_30d, pricing_views_30d, cancel_views_30d, support_calls_30d, complaints_30d,
                   days_since_last_visit::text, encode(rolling_state, 'hex') FROM profiles ORDER BY customer_id
            """,
            "SELECT page, count FROM page_counts ORDER BY page",
            "SELECT type, count FROM type_counts ORDER BY type",
            "SELECT minute, count FROM minute_counts ORDER BY minute",
            "SELECT subscriber, topic, partition, next_offset FROM subscriber_offsets ORDER BY subscriber, topic, partition",
        ]
        var text = ""
        for q in queries {
            let result = try runTool("/usr/bin/psql", ["-X", "-At", "-h", "127.0.0.1", "-p", "\(server.port)", "-U", server.user, "-d", server.database, "-c", q])
            try #require(result.status == 0, "psql failed on port \(server.port)")
            text += String(decoding: result.stdout, as: UTF8.self) + "--\n"
        }
        return text
    }

    @Test("PostgreSQL stopped 10 s under load, an instance crashing meanwhile (a rebalance against a dead store): no process ends, nothing lost or doubled")
    func postgresOutage() async throws {
        let dir = try Shared.tempDir("soak-pg")
        let server = try PrivatePostgres()
        let referenceServer = try PrivatePostgres()
        let broker = try BrokerProcess(partitions: Self.partitions, topic: "page-views")
        defer { broker.stop() }
        let total = Self.full ? 200_000 : 30_000
        let rate = Self.full ? 5_000 : 1_500
        func args(_ store: PrivatePostgres, group: String) -> [String] {
            ["--brokers", broker.bootstrap, "--store", store.url(query: "sslmode=disable"), "--model", Shared.model("logreg.pmml").path,
             "--group-prefix", group, "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500", "--log-level", "error"]
        }
        let producer = try ProducerProcess(synthetic: total, customers: Self.customers, seed: 23, bootstrap: broker.bootstrap, topic: "page-views", rate: rate)
        let a = try EngineProcess(args(server, group: "pg"), logDir: dir, name: "a")
        let b = try EngineProcess(args(server, group: "pg"), logDir: dir, name: "b")
        #expect(try await eventually(timeout: .seconds(60)) {
            [a, b].allSatisfy { ($0.status()["prediction"]?.partitions ?? 0) > 0 } && (a.status()["prediction"]?.processed ?? 0) > 0
        })

        try server.stop(mode: .fast)
        let outage = ContinuousClock.now
        let stalled = try await eventually(timeout: .seconds(10)) {
            String(decoding: try a.get("/readyz"), as: UTF8.self).contains("\"ready\":false")
        }
        // B crashes while the store is down: A is assigned B's partitions and must read their stored
        // offsets from a store that does not answer — it waits (reported at /readyz), it does not exit.
        b.signal(SIGKILL)
        _ = b.waitExit(timeout: 10)
        try await Task.sleep(until: outage + .seconds(10), clock: .continuous)
        #expect(a.process.isRunning, "a store outage during a rebalance must not end the process; see \(a.stderrFile.path)")
        try server.start()
        #expect(stalled, "/readyz must report the stopped store")

        #expect(producer.waitExit(timeout: 300) == 0)
        let drained = try await eventually(timeout: .seconds(300)) {
            let s = a.status()
            return s["prediction"]?.partitions == Self.partitions && s["counter"]?.partitions == Self.partitions
                && s["prediction"]?.lag == 0 && s["counter"]?.lag == 0
        }
        #expect(drained, "see \(dir.path)")
        let ready = String(decoding: try a.get("/readyz"), as: UTF8.self)
        #expect(ready == "ready", "readyz after recovery: \(ready)")
        a.signal(SIGTERM)
        #expect(a.waitExit(timeout: 40) == 0)
        try await Self.runToCompletion(args(referenceServer, group: "ref"), total: total, dir: dir, name: "reference")
        Self.expectSame(try Self.dump(server), try Self.dump(referenceServer), "after a PostgreSQL outage")
        Self.say("PostgreSQL stopped 10 s with a rebalance meanwhile, \(total) events at \(rate)/s: state equals the uninterrupted run")
    }

    @Test("a zombie: an instance frozen past its session timeout while another takes over, then thawed — its late commits are fenced; exact state")
    func zombieInstance() async throws {
        let dir = try Shared.tempDir("soak-zombie")
        let broker = try BrokerProcess(partitions: Self.partitions, topic: "page-views")
        defer { broker.stop() }
        let total = Self.full ? 200_000 : 30_000
        let rate = Self.full ? 5_000 : 1_500
        let db = dir.appendingPathComponent("zombie.db")
        let args = Self.args(broker, db: db, group: "zombie")
        let producer = try ProducerProcess(synthetic: total, customers: Self.customers, seed: 13, bootstrap: broker.bootstrap, topic: "page-views", rate: rate)
        let a = try EngineProcess(args, logDir: dir, name: "a")
        let b = try EngineProcess(args, logDir: dir, name: "b")
        #expect(try await eventually(timeout: .seconds(60)) {
            [a, b].allSatisfy { ($0.status()["prediction"]?.partitions ?? 0) > 0 }
        })
        // Freeze A with its batches in flight, past session.timeout.ms (6 s): B takes its partitions.
        a.signal(SIGSTOP)
        let tookOver = try await eventually(timeout: .seconds(60)) { (b.status()["prediction"]?.partitions ?? 0) == Self.partitions }
        #expect(tookOver)
        try await Task.sleep(for: .seconds(3))
        a.signal(SIGCONT)
        #expect(producer.waitExit(timeout: 300) == 0)
        let drained = try await eventually(timeout: .seconds(300)) {
            let sa = a.status(), sb = b.status()
            for name in ["prediction", "counter"] {
                guard let x = sa[name], let y = sb[name], x.partitions + y.partitions == Self.partitions, x.lag == 0, y.lag == 0 else { return false }
            }
            return true
        }
        #expect(drained, "see \(dir.path)")
        try await Self.stopAndCompare([a, b], broker: broker, total: total, dir: dir, db: db, "after a zombie instance")
        Self.say("zombie frozen past its session, \(total) events: state equals the uninterrupted run")
    }

    @Test("a rebalance storm: an instance joins or leaves every 5 s while the stream flows; exact state")
    func rebalanceStorm() async throws {
        let seconds = Self.full ? 120 : 30
        let dir = try Shared.tempDir("soak-storm")
        let broker = try BrokerProcess(partitions: Self.partitions, topic: "page-views")
        defer { broker.stop() }
        let rate = Self.full ? 3_000 : 1_000
        let total = rate * (seconds + 10)
        let db = dir.appendingPathComponent("storm.db")
        let args = Self.args(broker, db: db, group: "storm")
        let producer = try ProducerProcess(synthetic: total, customers: Self.customers, seed: 17, bootstrap: broker.bootstrap, topic: "page-views", rate: rate)
        let steady = try EngineProcess(args, logDir: dir, name: "steady")
        var visitor: EngineProcess?
        var changes = 0
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {
            try await Task.sleep(for: .seconds(5))
            if let v = visitor {
                v.signal(changes % 4 == 1 ? SIGKILL : SIGTERM)  // every other leave is a crash
                _ = v.waitExit(timeout: 40)
                visitor = nil
            } else {
                visitor = try EngineProcess(args, logDir: dir, name: "visitor\(changes)")
            }
            changes += 1
        }
        if let v = visitor {
            v.signal(SIGTERM)
            _ = v.waitExit(timeout: 40)
        }
        #expect(producer.waitExit(timeout: 300) == 0)
        let drained = try await eventually(timeout: .seconds(300)) {
            let s = steady.status()
            return s["prediction"]?.lag == 0 && s["counter"]?.lag == 0 && s["prediction"]?.partitions == Self.partitions
                && s["counter"]?.partitions == Self.partitions
        }
        #expect(drained, "see \(dir.path)")
        try await Self.stopAndCompare([steady], broker: broker, total: total, dir: dir, db: db, "after a rebalance storm")
        Self.say("rebalance storm: \(changes) joins/leaves in \(seconds) s, \(total) events: state equals the uninterrupted run")
    }

    @Test("a burst of 64 KiB events at 10× the rate: the engine's RSS stays under its configured bound")
    func burstOfLargeEvents() async throws {
        let dir = try Shared.tempDir("soak-burst")
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        let bufferedMiB = 32
        let prefetchKiB = 16_384
        let engine = try EngineProcess(Self.args(broker, db: dir.appendingPathComponent("burst.db"), group: "burst")
                                       + ["--max-buffered-mib", "\(bufferedMiB)", "--kafka", "queued.max.messages.kbytes=\(prefetchKiB)"],
                                       logDir: dir, name: "engine")
        #expect(try await eventually(timeout: .seconds(60)) { (engine.status()["prediction"]?.partitions ?? 0) == 6 })
        // Steady small events, then a burst of large ones (a 60 KiB property blob each).
        let small = try ProducerProcess(synthetic: 20_000, customers: 1_000, seed: 19, bootstrap: broker.bootstrap, topic: "page-views", rate: 2_000)
        #expect(small.waitExit(timeout: 120) == 0)
        let baseline = engine.memory.rss
        let count = Self.full ? 20_000 : 4_000
        let file = dir.appendingPathComponent("large.jsonl")
        let blob = String(repeating: "x", count: 60_000)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var text = ""
        for i in 0..<count {
            let ts = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(now - Int64(count - i)) / 1000))
            text += "{\"event_id\":\"big-\(i)\",\"type\":\"page_view\",\"customer_id\":\"c-\(i % 500)\",\"ts\":\"\(ts)\",\"page\":\"/big\",\"properties\":{\"blob\":\"\(blob)\"}}\n"
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
        let burst = try ProducerProcess(file: file, bootstrap: broker.bootstrap, topic: "page-views", rate: 20_000)
        var peak = 0
        while burst.waitExit(timeout: 0.2) == nil { peak = max(peak, engine.memory.rss) }
        _ = try await eventually(timeout: .seconds(120)) {
            peak = max(peak, engine.memory.rss)
            return engine.status()["prediction"]?.lag == 0 && engine.status()["counter"]?.lag == 0
        }
        peak = max(peak, engine.memory.peak)
        // The configured bound: the engine's own baseline, plus per subscriber the polled-not-committed
        // bytes (--max-buffered-mib) and librdkafka's prefetch queue (queued.max.messages.kbytes, one
        // queue per group consumer), plus 32 MiB of allocator slack.
        let bound = baseline + 2 * (bufferedMiB << 20) + 2 * (prefetchKiB << 10) + (32 << 20)
        Self.say("burst of \(count) × 60 KiB events: RSS baseline \(baseline >> 20) MiB, peak \(peak >> 20) MiB, bound \(bound >> 20) MiB (\(bound) bytes)")
        #expect(peak <= bound, "peak RSS \(peak) bytes over the bound \(bound)")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 40) == 0)
    }
}
