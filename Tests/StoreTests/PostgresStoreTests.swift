import Events
import Features
import Foundation
import Store
import Testing
import TestSupport

/// Retry safety on both backends, and what only PostgreSQL has: statement counts, migration races, start-up
/// messages and a server restart in the middle of a commit.
@Suite("Engine store: retries and PostgreSQL", .serialized)
struct PostgresStoreTests {
    static let postgresURL = ProcessInfo.processInfo.environment["STREAMSCORE_TEST_POSTGRES_URL"]
    static let scope = OffsetScope(subscriber: "prediction", topic: "page-views")
    static let counterScope = OffsetScope(subscriber: "counter", topic: "page-views")

    static func pageView(_ id: String, _ ts: String, _ page: String = "/") -> Event {
        Event(eventID: UUID().uuidString, type: "page_view", customerID: id, timestamp: Timestamp.parse(ts)!, page: page)
    }

    static func updates(_ count: Int, prefix: String = "P", score: Double? = 0.5) -> [ProfileUpdate] {
        (0..<count).map { i in
            var profile = Profile(customerID: "\(prefix)\(i)")
            profile.apply(pageView(profile.customerID, "2026-02-01T10:00:00Z", i % 2 == 0 ? "/pricing" : "/"))
            return ProfileUpdate(profile: profile, features: profile.features(), churnScore: score,
                                 modelVersion: score == nil ? nil : "m-1", scoredAt: profile.asOf)
        }
    }

    @Test("counter rows are keyed by bytes: pages and types spelled with U+00E9 or e + U+0301 are separate rows, read back apart",
          arguments: StoreBackends.all)
    func counterKeysAreBytes(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let nfc = "/caf\u{E9}", nfd = "/cafe\u{301}"
        var delta = CounterDelta()
        for page in [nfc, nfd, nfd] { delta.add(Self.pageView("C1", "2026-02-01T10:42:10Z", page)) }
        delta.add(Event(eventID: "t1", type: "r\u{E9}sum\u{E9}", customerID: "C1", timestamp: Timestamp.parse("2026-02-01T10:42:10Z")!, page: nil))
        delta.add(Event(eventID: "t2", type: "re\u{301}sume\u{301}", customerID: "C1", timestamp: Timestamp.parse("2026-02-01T10:42:10Z")!, page: nil))
        #expect(delta.pages == [UTF8Key(nfc): 1, UTF8Key(nfd): 2])
        try await store.commitCounters(delta, offsets: [OffsetAdvance(partition: 0, expected: nil, next: 5)], scope: Self.counterScope)
        try await store.commitCounters(delta, offsets: [OffsetAdvance(partition: 0, expected: 5, next: 10)], scope: Self.counterScope)
        let pages = try await store.pageCounts(top: 5).map { (Array($0.page.utf8), $0.count) }
        #expect(pages.count == 2 && pages[0] == (Array(nfd.utf8), 4) && pages[1] == (Array(nfc.utf8), 2), "\(pages)")
        #expect(try await store.typeCounts() == ["page_view": 6, UTF8Key("r\u{E9}sum\u{E9}"): 2, UTF8Key("re\u{301}sume\u{301}"): 2])
        try await store.close()
    }

    @Test("a retried commit that already went through succeeds and applies nothing twice; a stale one is fenced",
          arguments: StoreBackends.all)
    func retryAfterUnknownOutcome(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        var delta = CounterDelta()
        delta.add(Self.pageView("C1", "2026-02-01T10:42:10Z", "/a"))
        delta.add(Self.pageView("C2", "2026-02-01T10:43:10Z", "/a"))
        let advance = [OffsetAdvance(partition: 0, expected: nil, next: 2), OffsetAdvance(partition: 3, expected: nil, next: 7)]
        try await store.commitCounters(delta, offsets: advance, scope: Self.counterScope)
        // The pipeline retries the same batch when it could not learn the outcome: not an error, not doubled.
        try await store.commitCounters(delta, offsets: advance, scope: Self.counterScope)
        #expect(try await store.typeCounts() == ["page_view": 2])
        #expect(try await store.pageCounts(top: 5).map(\.count) == [2])
        #expect(try await store.minuteCounts(from: nil, to: nil).map(\.count) == [1, 1])

        let next = [OffsetAdvance(partition: 0, expected: 2, next: 4), OffsetAdvance(partition: 3, expected: 7, next: 9)]
        try await store.commitCounters(delta, offsets: next, scope: Self.counterScope)
        try await store.commitCounters(delta, offsets: next, scope: Self.counterScope)
        #expect(try await store.typeCounts() == ["page_view": 4])
        #expect(try await store.offsets(Self.counterScope) == [0: 4, 3: 9])

        // Only one partition at `next`: a real fence, nothing written.
        let error = await #expect(throws: StoreError.self) {
            try await store.commitCounters(delta, offsets: [OffsetAdvance(partition: 0, expected: 1, next: 4), OffsetAdvance(partition: 3, expected: 1, next: 5)],
                                           scope: Self.counterScope)
        }
        #expect(error?.kind == .fenced && error?.isRetriable == false)
        #expect(try await store.typeCounts() == ["page_view": 4])

        // Profiles: the retry neither fails nor rewrites.
        let batch = Self.updates(3)
        try await store.commitProfiles(batch, offsets: [OffsetAdvance(partition: 1, expected: nil, next: 3)], scope: Self.scope)
        let before = try #require(try await store.profileRow("P0"))
        try await store.commitProfiles(batch, offsets: [OffsetAdvance(partition: 1, expected: nil, next: 3)], scope: Self.scope)
        #expect(try await store.profileRow("P0") == before)
        await #expect(throws: StoreError.self) {
            try await store.commitProfiles(batch, offsets: [OffsetAdvance(partition: 1, expected: 0, next: 4)], scope: Self.scope)
        }
        #expect(try await store.offsets(Self.scope) == [1: 3])
        try await store.close()
    }

    @Test("postgres: migrations are recorded, and stores opening together on an empty schema do not race",
          .enabled(if: postgresURL != nil))
    func migrationsRace() async throws {
        let url = try StoreURL(parsing: Self.postgresURL!)
        let schema = "sstest_\(Int(Date().timeIntervalSince1970))_\(UUID().uuidString.prefix(8).lowercased())"
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresStore(url: url, schema: schema) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 4)
        for store in stores {
            #expect(try await store.appliedMigrations() == ["001_create_tables", "002_score_outbox", "003_model_sets", "004_settings_and_attribute_trigger", "005_drop_churn_score_index"])
            #expect(try await store.profileCount() == 0)
            try await store.close()
        }
    }

    @Test("postgres: 5,000 profiles are upserted by ONE statement (server-side statement trigger)", .enabled(if: postgresURL != nil))
    func upsertIsOneStatement() async throws {
        let url = try #require(Self.postgresURL)
        let schema = "sstest_\(Int(Date().timeIntervalSince1970))_\(UUID().uuidString.prefix(8).lowercased())"
        let store = try await PostgresStore(url: StoreURL(parsing: url), schema: schema)
        _ = try psql(url, "CREATE TABLE statement_log (op TEXT NOT NULL, tbl TEXT NOT NULL)", schema: schema)
        _ = try psql(url, """
            CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO statement_log VALUES (TG_OP, TG_TABLE_NAME); RETURN NULL; END $$
            """, schema: schema)
        for table in ["profiles", "subscriber_offsets"] {
            _ = try psql(url, "CREATE TRIGGER log_\(table) AFTER INSERT OR UPDATE ON \(table) FOR EACH STATEMENT EXECUTE FUNCTION log_statement()", schema: schema)
        }
        func statements(_ table: String) throws -> Int {
            Int(try psql(url, "SELECT count(*) FROM statement_log WHERE tbl = '\(table)' AND op = 'INSERT'", schema: schema).first ?? "") ?? -1
        }
        try await store.commitProfiles(Self.updates(5_000), offsets: [OffsetAdvance(partition: 0, expected: nil, next: 5_000)], scope: Self.scope)
        #expect(try statements("profiles") == 1)
        #expect(try await store.profileCount() == 5_000)
        // Every row conflicts the second time: still one statement (INSERT … ON CONFLICT DO UPDATE).
        try await store.commitProfiles(Self.updates(5_000, score: nil), offsets: [OffsetAdvance(partition: 0, expected: 5_000, next: 10_000)], scope: Self.scope)
        #expect(try statements("profiles") == 2)
        #expect(try psql(url, "SELECT count(*) FROM statement_log WHERE tbl = 'subscriber_offsets'", schema: schema) == ["2"])
        let row = try #require(try await store.profileRow("P4998"))
        #expect(row.churn_score == 0.5 && row.model_version == "m-1" && row.pricing_views_30d == 1)  // kept: the update had no score
        #expect(try await store.offsets(Self.scope) == [0: 10_000])
        try await store.close()
    }

    @Test("postgres: start-up failures are one line naming the server (no password) and the fix", .enabled(if: postgresURL != nil))
    func startupFailures() async throws {
        guard case .postgres(let host, let port, let user, _, let db, _) = try StoreURL(parsing: Self.postgresURL!) else { return }
        let cases: [(StoreURL, String)] = [
            (.postgres(host: host, port: port, user: user, password: "wrong-secret", database: db), "authentication failed"),
            (.postgres(host: host, port: port, user: "nobody_\(UUID().uuidString.prefix(6))", password: "wrong-secret", database: db), "authentication failed"),
            (.postgres(host: host, port: port, user: user, password: "streamscore", database: "missing_db_x"), "does not exist"),
            (.postgres(host: "127.0.0.1", port: 1, user: user, password: "wrong-secret", database: db), "unreachable"),
        ]
        for (url, fix) in cases {
            let error = await #expect(throws: StoreError.self) { try await StoreFactory.open(url) }
            let text = error?.description ?? ""
            #expect(text.contains(url.description) && text.contains(":***@"), "\(text)")
            #expect(text.contains(fix), "\(text)")
            #expect(!text.contains("wrong-secret") && !text.contains("\n"), "\(text)")
            #expect(error?.kind == .unavailable)
        }
    }

    @Test("postgres: a server restart in the middle of a commit gives a retriable error, then the retry succeeds; nothing lost or doubled",
          .enabled(if: postgresURL != nil && PrivatePostgres.binaries != nil), .timeLimit(.minutes(3)))
    func serverRestart() async throws {
        let server = try PrivatePostgres()
        defer { server.destroy() }
        let store = try await PostgresStore(url: .postgres(host: "127.0.0.1", port: server.port, user: "streamscore", password: nil, database: "postgres"))

        var d1 = CounterDelta()
        for i in 0..<10 { d1.add(Self.pageView("C\(i)", "2026-02-01T10:00:00Z", "/p\(i % 3)")) }
        try await store.commitCounters(d1, offsets: [OffsetAdvance(partition: 0, expected: nil, next: 10)], scope: Self.counterScope)
        try await store.commitProfiles(Self.updates(100), offsets: [OffsetAdvance(partition: 0, expected: nil, next: 100)], scope: Self.scope)

        // The next counter commit is held inside its transaction (a statement trigger sleeps) while the server restarts.
        let admin = server.url()
        _ = try psql(admin, "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$")
        _ = try psql(admin, "CREATE TRIGGER hold_pages BEFORE INSERT ON page_counts FOR EACH STATEMENT EXECUTE FUNCTION hold()")
        let d2 = { var d = CounterDelta(); for i in 0..<7 { d.add(Self.pageView("C\(i)", "2026-02-01T10:01:00Z", "/p\(i % 3)")) }; return d }()
        let advance = [OffsetAdvance(partition: 0, expected: 10, next: 17)]
        let inFlight = Task { try await store.commitCounters(d2, offsets: advance, scope: Self.counterScope) }
        try await Self.eventually("the commit reaches the server") {
            try psql(admin, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") == ["1"]
        }
        try server.restart()
        let failure = await #expect(throws: StoreError.self) { try await inFlight.value }
        #expect(failure?.isRetriable == true && failure?.kind != .fenced, "\(String(describing: failure))")
        #expect(failure?.description.contains("postgres://streamscore@127.0.0.1:\(server.port)/postgres") == true, "\(String(describing: failure))")

        // The pool reconnects by itself; retry like the pipeline does.
        try await Self.retrying { _ = try psql(admin, "DROP TRIGGER hold_pages ON page_counts") }
        try await Self.retrying { try await store.commitCounters(d2, offsets: advance, scope: Self.counterScope) }
        // A second retry (as after an unknown COMMIT outcome) is a no-op success.
        try await store.commitCounters(d2, offsets: advance, scope: Self.counterScope)

        // Server down while a commit is issued: the commit waits for the pool to reconnect, or fails retriably.
        try server.stop()
        let p2 = Self.updates(50, prefix: "Q")
        let whileDown = Task { try await Self.retrying { try await store.commitProfiles(p2, offsets: [OffsetAdvance(partition: 0, expected: 100, next: 150)], scope: Self.scope) } }
        try server.start()
        try await whileDown.value

        var expected = d1.pages
        for (page, n) in d2.pages { expected[page, default: 0] += n }
        let pages = try await store.pageCounts(top: 10)
        #expect(Dictionary(uniqueKeysWithValues: pages.map { (UTF8Key($0.page), $0.count) }) == expected)
        #expect(try await store.typeCounts() == ["page_view": 17])
        #expect(try await store.offsets(Self.counterScope) == [0: 17])
        #expect(try await store.offsets(Self.scope) == [0: 150])
        #expect(try await store.profileCount() == 150)
        try await store.close()
    }

    /// Retries retriable store errors with a short backoff, like the pipeline (bounded).
    static func retrying(_ body: @Sendable () async throws -> Void) async throws {
        var attempt = 0
        while true {
            do { return try await body() } catch let error as StoreError where error.isRetriable && attempt < 60 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Polls a condition on the server until it holds (bounded).
    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)")
    }
}
