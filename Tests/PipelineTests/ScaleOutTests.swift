import Foundation
import Store
import Testing
import TestSupport

/// Scale-out: several `streamscore run` processes in the same consumer groups against a standalone
/// `streamscore broker` (6 partitions) and one PostgreSQL. `.ci/run` starts PostgreSQL and sets
/// STREAMSCORE_TEST_POSTGRES_URL; without it these tests cannot run and say so.
@Suite("Scale-out across engine instances (PostgreSQL)", .serialized, .timeLimit(.minutes(5)))
struct ScaleOutTests {
    static let adminURL = ProcessInfo.processInfo.environment["STREAMSCORE_TEST_POSTGRES_URL"]

    /// A fresh database on the test server, as a store URL.
    func freshDatabase() throws -> String {
        let admin = try #require(Self.adminURL, "STREAMSCORE_TEST_POSTGRES_URL is not set: run the tests through `make test` (it starts PostgreSQL)")
        let name = "ss_scale_\(UUID().uuidString.prefix(8).lowercased())"
        let created = try runTool("/usr/bin/psql", [admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", "CREATE DATABASE \(name)"])
        #expect(created.status == 0, "CREATE DATABASE failed (the role needs CREATEDB; .ci/postgres.sh grants it)")
        guard let slash = admin.lastIndex(of: "/") else { return admin }
        return String(admin[...slash]) + name
    }

    func args(_ broker: BrokerProcess, store: String) -> [String] {
        ["--brokers", broker.bootstrap, "--store", store, "--model", Shared.model("logreg.pmml").path,
         "--customers", Shared.reference("customers.csv").path, "--batch-size", "50", "--counter-batch-size", "100",
         "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500",
         "--log-level", "warning"]
    }

    /// The partitions each engine owns per subscriber, and whether together they own all 6 with lag 0.
    func drained(_ engines: [EngineProcess]) -> Bool {
        for name in ["prediction", "counter"] {
            let statuses = engines.compactMap { $0.status()[name] }
            guard statuses.count == engines.count else { return false }
            if statuses.reduce(0, { $0 + $1.partitions }) != 6 { return false }
            if statuses.contains(where: { $0.lag != 0 }) { return false }
        }
        return true
    }

    func progress(_ engines: [EngineProcess]) -> Int {
        engines.compactMap { $0.status()["prediction"] }.reduce(0) { $0 + $1.processed + $1.malformed }
    }

    @Test("two instances split the partitions, a third joins, one is killed: state equals the oracle",
          .enabled(if: adminURL != nil, "needs PostgreSQL: STREAMSCORE_TEST_POSTGRES_URL"))
    func splitJoinKill() async throws {
        let dir = try Shared.tempDir("scale")
        let store = try freshDatabase()
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        // A throttled producer (~25 s for the stream), so that the join and the kill land mid-stream.
        let producer = try ProducerProcess(file: Shared.reference("events_dirty.jsonl"), bootstrap: broker.bootstrap, topic: "page-views", rate: 200)

        let a = try EngineProcess(args(broker, store: store), logDir: dir, name: "a")
        let b = try EngineProcess(args(broker, store: store), logDir: dir, name: "b")
        defer { for e in [a, b] where e.process.isRunning { e.signal(SIGKILL) } }
        // Both members own partitions of both groups.
        #expect(try await eventually(timeout: .seconds(60)) {
            [a, b].allSatisfy { e in let s = e.status(); return (s["prediction"]?.partitions ?? 0) > 0 && (s["counter"]?.partitions ?? 0) > 0 }
        }, "see \(dir.path)")
        #expect(try await eventually(timeout: .seconds(60)) { progress([a, b]) >= 800 })

        // A third instance joins mid-stream.
        let c = try EngineProcess(args(broker, store: store), logDir: dir, name: "c")
        defer { if c.process.isRunning { c.signal(SIGKILL) } }
        #expect(try await eventually(timeout: .seconds(60)) { (c.status()["prediction"]?.partitions ?? 0) > 0 })
        #expect(try await eventually(timeout: .seconds(60)) { progress([a, b, c]) >= 1_200 })

        // One is killed: the others take over its partitions.
        b.signal(SIGKILL)
        _ = b.waitExit(timeout: 10)
        #expect(producer.waitExit(timeout: 60) == 0)
        #expect(try await eventually(timeout: .seconds(120)) { drained([a, c]) }, "a and c never drained the stream; see \(dir.path)")
        for e in [a, c] {
            e.signal(SIGTERM)
            #expect(e.waitExit(timeout: 10) == 0)
        }
        let state = try await StoreFactory.open(StoreURL(parsing: store))
        try await expectProfilesMatchOracle(state, oracle: "oracle_dirty")
        try await expectCountersMatchOracle(state, oracle: "oracle_dirty")
        try await state.close()
    }
}
