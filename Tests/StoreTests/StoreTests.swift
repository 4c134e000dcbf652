import Events
import Features
import Foundation
import Store
import Testing
import TestSupport

@Suite("Engine store", .serialized)
struct StoreTests {
    static let scope = OffsetScope(subscriber: "prediction", topic: "page-views")
    /// A prediction scope of a topic no other test uses (its offsets start empty).
    static func freshScope() -> OffsetScope { OffsetScope(subscriber: "prediction", topic: "t-\(UUID().uuidString.prefix(6))") }

    func update(_ id: String, events: [Event] = [], score: Double? = nil) -> ProfileUpdate {
        var profile = Profile(customerID: id)
        for e in events { profile.apply(e) }
        return ProfileUpdate(profile: profile, features: profile.features(), churnScore: score,
                             modelVersion: score == nil ? nil : "m-1", scoredAt: profile.asOf)
    }

    func pageView(_ id: String, _ ts: String, _ page: String = "/") -> Event {
        Event(eventID: UUID().uuidString, type: "page_view", customerID: id, timestamp: Timestamp.parse(ts)!, page: page)
    }

    @Test("migrations create every table of the contract from empty", arguments: StoreBackends.all)
    func migrations(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        if let sqlite = store as? SQLiteStore {
            #expect(try sqlite.appliedMigrations() == ["001_create_tables", "002_score_outbox", "003_model_sets", "004_settings_and_attribute_trigger", "005_drop_churn_score_index"])
        }
        #expect(try await store.profileCount() == 0)
        #expect(try await store.typeCounts().isEmpty)
        #expect(try await store.offsets(Self.scope).isEmpty)
        try await store.close()
    }

    @Test("profiles and offsets commit together; a fenced commit writes neither", arguments: StoreBackends.all)
    func atomicCommit(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let e = pageView("C1", "2026-02-01T10:00:00Z", "/pricing")
        try await store.commitProfiles([update("C1", events: [e], score: 0.25)],
                                       offsets: [OffsetAdvance(partition: 0, expected: nil, next: 10)], scope: Self.scope)
        #expect(try await store.offsets(Self.scope) == [0: 10])
        let row = try #require(try await store.profileRow("C1"))
        #expect(row.churn_score == 0.25 && row.pricing_views_30d == 1 && row.page_views_30d == 1)
        #expect(row.scored_at == "2026-02-01T10:00:00.000Z")

        // A stale owner (believes offset 5) must not write anything.
        let stale = update("C2", events: [pageView("C2", "2026-02-01T10:00:00Z")], score: 0.9)
        await #expect(throws: StoreError.self) {
            try await store.commitProfiles([stale], offsets: [OffsetAdvance(partition: 0, expected: 5, next: 20)], scope: Self.scope)
        }
        // Nor a second "first" commit of the same partition.
        await #expect(throws: StoreError.self) {
            try await store.commitProfiles([stale], offsets: [OffsetAdvance(partition: 0, expected: nil, next: 20)], scope: Self.scope)
        }
        #expect(try await store.profileRow("C2") == nil)
        #expect(try await store.offsets(Self.scope) == [0: 10])
        // The rightful owner continues.
        try await store.commitProfiles([stale], offsets: [OffsetAdvance(partition: 0, expected: 10, next: 20)], scope: Self.scope)
        #expect(try await store.profileRow("C2")?.churn_score == 0.9)
        #expect(try await store.offsets(Self.scope) == [0: 20])
        // Counters follow the same rule.
        var delta = CounterDelta()
        delta.add(e)
        let counterScope = OffsetScope(subscriber: "counter", topic: "page-views")
        await #expect(throws: StoreError.self) {
            try await store.commitCounters(delta, offsets: [OffsetAdvance(partition: 1, expected: 3, next: 4)], scope: counterScope)
        }
        #expect(try await store.typeCounts().isEmpty)
        try await store.close()
    }

    @Test("a stored profile's update keeps its attributes, and without a score keeps its score, model, arm and reasons; new customers are inserted in the same transaction",
          arguments: StoreBackends.all)
    func updateOfStoredProfile(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let scope = Self.freshScope()
        var profile = Profile(customerID: "X1", attributes: StaticAttributes(tenureDays: 10, plan: "premium", monthlyCharges: 50))
        profile.apply(pageView("X1", "2026-02-01T10:00:00Z", "/pricing"))
        let first = ProfileUpdate(profile: profile, features: profile.features(), churnScore: 0.7, modelVersion: "v-1", scoredAt: profile.asOf,
                                  modelName: "m1", arm: "champion", reasons: #"[{"feature":"plan"}]"#)
        try await store.commitProfiles([first], offsets: [OffsetAdvance(partition: 0, expected: nil, next: 1)], scope: scope)

        // Unscored, with other attributes (the pipeline's defaults for a customer it did not load): only
        // the counters, state and times change. Beside it, a customer not stored yet.
        var later = Profile(customerID: "X1", attributes: StaticAttributes(tenureDays: 99, plan: "basic", monthlyCharges: 1), state: profile.state)
        later.apply(pageView("X1", "2026-02-02T10:00:00Z", "/account/cancel"))
        let unscored = ProfileUpdate(profile: later, features: later.features(), churnScore: nil, modelVersion: nil, scoredAt: nil)
        try await store.commitProfiles([unscored, update("X2", events: [pageView("X2", "2026-02-02T11:00:00Z")], score: 0.3)],
                                       offsets: [OffsetAdvance(partition: 0, expected: 1, next: 2)], scope: scope)
        let row = try #require(try await store.profileRow("X1"))
        #expect(row.tenure_days == 10 && row.plan == "premium" && row.monthly_charges == 50, "attributes kept")
        #expect(row.churn_score == 0.7 && row.model_version == "v-1" && row.model_name == "m1" && row.arm == "champion")
        #expect(row.reasons == #"[{"feature":"plan"}]"# && row.scored_at == "2026-02-01T10:00:00.000Z")
        #expect(row.page_views_30d == 2 && row.cancel_views_30d == 1 && row.features_as_of == "2026-02-02T10:00:00.000Z")
        #expect(try await store.loadProfiles(["X1"])["X1"]?.state == later.state)
        #expect(try await store.profileRow("X2")?.churn_score == 0.3)

        // Scored again by another arm, without reasons: the score's labels replace the old ones.
        var third = later
        third.apply(pageView("X1", "2026-02-03T10:00:00Z"))
        try await store.commitProfiles([ProfileUpdate(profile: third, features: third.features(), churnScore: 0.2, modelVersion: "v-2",
                                                      scoredAt: third.asOf, modelName: "m2", arm: "challenger")],
                                       offsets: [OffsetAdvance(partition: 0, expected: 2, next: 3)], scope: scope)
        let rescored = try #require(try await store.profileRow("X1"))
        #expect(rescored.churn_score == 0.2 && rescored.model_version == "v-2" && rescored.model_name == "m2" && rescored.arm == "challenger")
        #expect(rescored.reasons == nil && rescored.scored_at == "2026-02-03T10:00:00.000Z" && rescored.tenure_days == 10)
        #expect(try await store.profileCount() == 2)
        try await store.close()
    }

    @Test("every column reads back as written: non-ASCII text, empty text apart from NULL, 64-bit counts, doubles to the last bit",
          arguments: StoreBackends.all)
    func columnsRoundTrip(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let scope = Self.freshScope()
        // Rows in one commit, so that PostgreSQL's arrays hold NULL and non-NULL elements side by side.
        var rich = Profile(customerID: "é-客户-🙂", attributes: StaticAttributes(tenureDays: 3_000_000_000, plan: "Prämie", monthlyCharges: 1234.5678901234567))
        rich.apply(pageView("é-客户-🙂", "2026-02-01T10:00:00.123Z", "/pricing"))
        rich.apply(pageView("é-客户-🙂", "2026-02-03T23:59:59.999Z", "/account/cancel"))
        var empty = Profile(customerID: "E", attributes: StaticAttributes(tenureDays: -1, plan: "", monthlyCharges: .leastNonzeroMagnitude))
        empty.apply(pageView("E", "2026-02-02T00:00:00Z"))
        let plain = Profile(customerID: "N", attributes: StaticAttributes(tenureDays: 0, plan: "basic", monthlyCharges: 1e300))
        let updates = [
            ProfileUpdate(profile: rich, features: rich.features(), churnScore: 0.1 + 0.2, modelVersion: "ß-1", scoredAt: rich.asOf,
                          modelName: "модель", arm: "challenger", reasons: #"[{"feature":"plan","value":"Prämie ✓"}]"#),
            ProfileUpdate(profile: empty, features: empty.features(), churnScore: 0, modelVersion: "", scoredAt: empty.asOf,
                          modelName: "", arm: "", reasons: ""),
            ProfileUpdate(profile: plain, features: plain.features(), churnScore: nil, modelVersion: nil, scoredAt: nil),
        ]
        try await store.commitProfiles(updates, offsets: [OffsetAdvance(partition: 0, expected: nil, next: 1)], scope: scope)
        for u in updates {
            let row = try #require(try await store.profileRow(u.profile.customerID), "\(u.profile.customerID)")
            let a = u.profile.attributes, f = u.features
            #expect(row.customer_id == u.profile.customerID && row.tenure_days == a.tenureDays && row.plan == a.plan)
            #expect(row.monthly_charges.bitPattern == a.monthlyCharges.bitPattern, "\(row.monthly_charges) against \(a.monthlyCharges)")
            #expect(row.churn_score?.bitPattern == u.churnScore?.bitPattern && row.model_version == u.modelVersion)
            #expect(row.scored_at == u.scoredAt.map { Timestamp.format(millis: $0) })
            #expect(row.features_as_of == u.featuresAsOf.map { Timestamp.format(millis: $0) })
            #expect(row.model_name == u.modelName && row.arm == u.arm && row.reasons == u.reasons)
            #expect(row.page_views_30d == f.pageViews30d && row.pricing_views_30d == f.pricingViews30d && row.cancel_views_30d == f.cancelViews30d)
            #expect(row.support_calls_30d == f.supportCalls30d && row.complaints_30d == f.complaints30d)
            #expect(row.days_since_last_visit.bitPattern == f.daysSinceLastVisit.bitPattern)
        }
        let stored = try await store.loadProfiles(updates.map(\.profile.customerID))
        for u in updates { #expect(stored[CustomerID(u.profile.customerID)]?.state == u.profile.state, "\(u.profile.customerID): rolling state") }
        try await store.close()
    }

    @Test("one commit of more rows than one upsert statement takes (PostgreSQL: 10,000) stores each customer's last update, in one transaction",
          arguments: StoreBackends.all)
    func commitAcrossStatements(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let scope = Self.freshScope()
        let n = 25_001
        func id(_ i: Int) -> String { "K" + String(repeating: "0", count: 5 - String(i).count) + String(i) }
        // Unsorted ids, and 500 customers updated twice (the second update, with its score, must win).
        var updates = (0..<n).reversed().map { i in update(id(i), events: [pageView(id(i), "2026-02-01T10:00:00Z")], score: Double(i) / Double(n)) }
        updates += (0..<500).map { i in
            update(id(i * 50), events: [pageView(id(i * 50), "2026-02-01T10:00:00Z"), pageView(id(i * 50), "2026-02-02T10:00:00Z")], score: 0.999)
        }
        try await store.commitProfiles(updates, offsets: [OffsetAdvance(partition: 0, expected: nil, next: 1)], scope: scope)
        #expect(try await store.profileCount() == n)
        // Ids sort as text: the statements' edges are K09999 | K10000 and K19999 | K20000.
        for i in [0, 1, 9_999, 10_000, 10_001, 19_999, 20_000, 24_999, 25_000] {
            let row = try #require(try await store.profileRow(id(i)))
            if i % 50 == 0 && i < 25_000 {
                #expect(row.churn_score == 0.999 && row.page_views_30d == 2, "\(id(i)): the later update")
            } else {
                #expect(row.churn_score == Double(i) / Double(n) && row.page_views_30d == 1, "\(id(i))")
            }
        }
        if backend == "postgres" {
            // A row PostgreSQL refuses (text cannot hold NUL) in the last statement: the statements before it
            // must not stay committed, nor the offsets.
            var more = (0..<n).map { i in update("L" + id(i), events: [pageView("L" + id(i), "2026-02-01T10:00:00Z")], score: 0.5) }
            more.append(update("Z\u{0}", events: [pageView("Z\u{0}", "2026-02-01T10:00:00Z")], score: 0.5))
            await #expect(throws: (any Error).self) {
                try await store.commitProfiles(more, offsets: [OffsetAdvance(partition: 0, expected: 1, next: 2)], scope: scope)
            }
            #expect(try await store.profileCount() == n)
            #expect(try await store.profileRow("L" + id(0)) == nil)
            #expect(try await store.offsets(scope) == [0: 1])
        }
        try await store.close()
    }

    /// Random batches of one customer set: updates scored or not (with names, arms, reasons), each with
    /// attributes and events of its own. `sorted`: each batch's updates in customer order, each customer at
    /// most once per batch (what the pipeline's scorer hands the writer); otherwise in any order, with repeats.
    func randomBatches(seed: UInt64, sorted: Bool) -> [[ProfileUpdate]] {
        var random = SplitMix64(seed: seed)
        var profiles: [String: Profile] = [:]
        return (0..<6).map { b in
            var ids = (0..<Int.random(in: 5...40, using: &random)).map { _ in "R\(Int.random(in: 0..<60, using: &random))" }
            if sorted { ids = Array(Set(ids)).sorted() }
            return ids.map { id in
                var profile = profiles[id] ?? Profile(customerID: id)
                profile.attributes = StaticAttributes(tenureDays: Int.random(in: 0...900, using: &random), plan: ["basic", "premium"].randomElement(using: &random)!,
                                                      monthlyCharges: Double(Int.random(in: 0...9_000, using: &random)) / 100)
                profile.apply(pageView(id, "2026-02-\(10 + b)T10:\(10 + Int.random(in: 0...49, using: &random)):00Z",
                                       ["/", "/pricing", "/account/cancel"].randomElement(using: &random)!))
                profiles[id] = profile
                let scored = Int.random(in: 0..<4, using: &random) != 0
                return ProfileUpdate(profile: profile, features: profile.features(), churnScore: scored ? Double.random(in: 0...1, using: &random) : nil,
                                     modelVersion: scored ? "v-\(b)" : nil, scoredAt: scored ? profile.asOf : nil,
                                     modelName: scored ? "m\(b % 2)" : nil, arm: scored ? ["champion", "challenger"][b % 2] : nil,
                                     reasons: scored && b % 3 == 0 ? #"[{"feature":"plan"}]"# : nil)
            }
        }
    }

    @Test("a group's plan: each id once, in UTF-8 byte order (the stores' key order), canonically equal but different ids kept apart")
    func planOrder() {
        // Byte order: "Z" 5A < "a" 61 < "e\u{301}" 65 CC 81 < "ä" C3 A4 < "é" C3 A9; Swift's String order differs (it
        // treats "é" and "e\u{301}" as equal), SQLite's BINARY and PostgreSQL's "C" collations do not.
        let runs = [[update("é", score: 0.1), update("a", score: 0.2), update("customer-000000002"), update("customer-000000001")],
                    [update("e\u{301}", score: 0.3), update("Z"), update("ä"), update("a", score: nil), update("customer-000000001", score: 0.4)]]
        let expected = ["Z", "a", "customer-000000001", "customer-000000002", "e\u{301}", "ä", "é"]
        for orders in [[], runs.map(ProfileUpdates.customerOrder)] {
            let plan = ProfileUpdates(runs: runs, orders: orders)
            var ids: [[UInt8]] = [], scores: [Double?] = []
            plan.forEach { ids.append(Array($0.pointee.profile.customerID.utf8)); scores.append($0.pointee.churnScore) }
            #expect(ids == expected.map { Array($0.utf8) })
            #expect(scores == [nil, 0.2, 0.4, nil, 0.3, nil, 0.1], "a's later unscored update keeps its score")
            #expect(plan.scoredCustomerIDs.map { Array($0.utf8) } == ["a", "customer-000000001", "e\u{301}", "é"].map { Array($0.utf8) })
        }
        #expect(ProfileUpdates.customerOrder(runs[1]).map(\.index) == [1, 3, 4, 0, 2])
    }

    @Test("a group's plan orders any ids as their UTF-8 bytes do, however long and whatever their first 8 bytes share (oracle: byte-wise sort)")
    func planOrderOfAnyIDs() {
        var random = SplitMix64(seed: 7)
        let pieces = ["A", "B", "\u{0}", "é", "ABCDEFGH"]
        for _ in 0..<20 {
            let runs = (0..<Int.random(in: 1...5, using: &random)).map { _ in
                (0..<Int.random(in: 0...30, using: &random)).map { _ in
                    update((0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
                }
            }
            let expected = Set(runs.joined().map { Array($0.profile.customerID.utf8) }).sorted { $0.lexicographicallyPrecedes($1) }
            for orders in [[], runs.map(ProfileUpdates.customerOrder)] {
                var ids: [[UInt8]] = []
                ProfileUpdates(runs: runs, orders: orders).forEach { ids.append(Array($0.pointee.profile.customerID.utf8)) }
                #expect(ids == expected)
            }
        }
    }

    @Test("a group of batches, in customer order or not, leaves every row exactly as committing its updates one by one does",
          arguments: StoreBackends.all)
    func groupEqualsOneByOne(backend: String) async throws {
        for (seed, sorted) in [(UInt64(1), true), (2, true), (3, false), (4, false)] {
            let batches = randomBatches(seed: seed, sorted: sorted)
            let (oneByOne, _) = try await StoreBackends.make(backend)
            let (grouped, _) = try await StoreBackends.make(backend)
            let scope = Self.freshScope()
            var next: Int64 = 0
            for u in batches.joined() {
                try await oneByOne.commitProfiles([u], offsets: [OffsetAdvance(partition: 0, expected: next == 0 ? nil : next, next: next + 1)], scope: scope)
                next += 1
            }
            // The scorer stage's orders for sorted batches (the pipeline's path), none for the others.
            let group = ProfileUpdates(runs: batches, orders: sorted ? batches.map(ProfileUpdates.customerOrder) : [])
            try await grouped.commitProfiles(group, offsets: [OffsetAdvance(partition: 0, expected: nil, next: next)], scope: scope, outbox: nil, acknowledged: [])
            let ids = Array(Set(batches.joined().map(\.profile.customerID))).sorted()
            #expect(group.count == ids.count)
            var order: [String] = []
            group.forEach { order.append($0.pointee.profile.customerID) }
            #expect(order == ids, "each customer once, in ascending order (seed \(seed))")
            func rows(_ store: any EngineStore) async throws -> [ProfileRow] {
                try await store.profileRows(ids).map { var r = $0; r.updated_at = nil; return r }.sorted { $0.customer_id < $1.customer_id }
            }
            let expected = try await rows(oneByOne)
            #expect(expected.count == ids.count)
            #expect(try await rows(grouped) == expected, "seed \(seed), \(sorted ? "sorted" : "unsorted") batches")
            #expect(try await grouped.loadProfiles(ids) == oneByOne.loadProfiles(ids))
            try await oneByOne.close()
            try await grouped.close()
        }
    }

    @Test("SQLite: a row holding a value of another type (written outside the engine) fails its read with an error naming the column, not a trap")
    func wrongTypedValues() async throws {
        let dir = try Shared.tempDir("streamscore-typed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.db").path
        let store = try SQLiteStore(path: path)
        let scope = Self.freshScope()
        try await store.commitProfiles([update("A", events: [pageView("A", "2026-02-01T10:00:00Z")], score: 0.9),
                                        update("B", events: [pageView("B", "2026-02-01T10:00:00Z")], score: 0.1)],
                                       offsets: [OffsetAdvance(partition: 0, expected: nil, next: 1)], scope: scope)
        var counts = CounterDelta()
        counts.add(pageView("A", "2026-02-01T10:00:00Z", "/pricing"))
        try await store.commitCounters(counts, offsets: [], scope: OffsetScope(subscriber: "counter", topic: "page-views"))
        // What a CRM's hand-written UPDATE can leave: SQLite keeps text that does not look like a number as text.
        let sql = "UPDATE profiles SET monthly_charges = 'n/a-secret' WHERE customer_id = 'A'; UPDATE page_counts SET count = 'many'"
        #expect(try runTool("/usr/bin/sqlite3", [path, sql]).status == 0)
        func expectColumnError(_ column: String, _ read: () async throws -> Void) async {
            do {
                try await read()
                Issue.record("expected an error naming \(column)")
            } catch {
                #expect("\(error)".contains(column) && !"\(error)".contains("secret") && !"\(error)".contains("many"), "\(error)")
            }
        }
        await expectColumnError("monthly_charges") { _ = try await store.profileRow("A") }
        await expectColumnError("monthly_charges") { _ = try await store.profileRows(["B", "A"]) }
        await expectColumnError("monthly_charges") { _ = try await store.topRisk(limit: 10) }
        await expectColumnError("monthly_charges") { _ = try await store.profilePage(after: nil, limit: 10) }
        await expectColumnError("count") { _ = try await store.pageCounts(top: 10) }
        // The other rows read as before.
        #expect(try await store.profileRow("B")?.churn_score == 0.1)
        #expect(try await store.typeCounts() == ["page_view": 1])
        try await store.close()
    }

    @Test("bulk read returns exactly the known profiles with their state", arguments: StoreBackends.all)
    func bulkRead(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let updates = (0..<2_500).map { i in update("C\(i)", events: [pageView("C\(i)", "2026-02-01T10:00:00Z")], score: Double(i) / 2_500) }
        try await store.commitProfiles(updates, offsets: [], scope: Self.scope)
        let ids = (0..<3_000).filter { $0 % 3 == 0 }.map { "C\($0)" } + ["nobody"]
        let loaded = try await store.loadProfiles(ids)
        #expect(loaded.count == (0..<2_500).filter { $0 % 3 == 0 }.count)
        for (id, profile) in loaded {
            #expect(CustomerID(profile.customerID) == id)
            #expect(profile.features().pageViews30d == 1)
            #expect(profile.asOf == Timestamp.parse("2026-02-01T10:00:00Z"))
        }
        #expect(try await store.topRisk(limit: 3).map(\.customer_id) == ["C2499", "C2498", "C2497"])
        #expect(try await store.scoreHistogram(bins: 10).reduce(0, +) == 2_500)
        try await store.close()
    }

    @Test("persisted rolling state continues exactly after reopening (oracle: events_clean)", arguments: StoreBackends.all)
    func persistedStateMatchesOracle(backend: String) async throws {
        let (first, reopen) = try await StoreBackends.make(backend)
        let events = try Shared.lines("events_clean.jsonl").compactMap { EventDecoder.decode($0).event }
        let half = events.count / 2

        /// Applies events through the store, one batch of 500 at a time, like the pipeline does.
        func replay(_ store: any EngineStore, _ slice: ArraySlice<Event>) async throws {
            var start = slice.startIndex
            while start < slice.endIndex {
                let batch = slice[start..<min(slice.endIndex, start + 500)]
                start += batch.count
                let ids = Array(Set(batch.map(\.customerID)))
                var profiles = try await store.loadProfiles(ids)
                for e in batch where e.isRelevantForPrediction {
                    profiles[CustomerID(e.customerID), default: Profile(customerID: e.customerID)].apply(e)
                }
                let updates = profiles.values.filter { $0.asOf != nil }.map { ProfileUpdate(profile: $0, features: $0.features(), churnScore: nil, modelVersion: nil, scoredAt: $0.asOf) }
                try await store.commitProfiles(updates, offsets: [], scope: Self.scope)
            }
        }
        try await replay(first, events[..<half])
        try await first.close()
        let second = try await reopen()
        try await replay(second, events[half...])

        let oracle = try Shared.csv("oracle_clean/final_features.csv")
        #expect(oracle.count == 99)
        for row in oracle {
            let stored = try #require(try await second.profileRow(row["customer_id"]!))
            #expect(stored.page_views_30d == Int(row["page_views_30d"]!))
            #expect(stored.pricing_views_30d == Int(row["pricing_views_30d"]!))
            #expect(stored.cancel_views_30d == Int(row["cancel_views_30d"]!))
            #expect(stored.support_calls_30d == Int(row["support_calls_30d"]!))
            #expect(stored.complaints_30d == Int(row["complaints_30d"]!))
            #expect(abs(stored.days_since_last_visit - Double(row["days_since_last_visit"]!)!) <= 1e-9)
            #expect(stored.scored_at == row["as_of_ts"])
        }
        try await second.close()
    }

    @Test("counters add up and answer the dashboard's queries", arguments: StoreBackends.all)
    func counters(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let scope = OffsetScope(subscriber: "counter", topic: "page-views")
        var d1 = CounterDelta()
        d1.add(pageView("C1", "2026-02-01T10:42:10.5Z", "/a"))
        d1.add(pageView("C1", "2026-02-01T10:42:59.999Z", "/b"))
        d1.add(Event(eventID: "x", type: "login", customerID: "C1", timestamp: Timestamp.parse("2026-02-01T10:43:00Z")!, page: nil))
        try await store.commitCounters(d1, offsets: [OffsetAdvance(partition: 0, expected: nil, next: 3)], scope: scope)
        var d2 = CounterDelta()
        d2.add(pageView("C2", "2026-02-01T10:44:00Z", "/a"))
        try await store.commitCounters(d2, offsets: [OffsetAdvance(partition: 0, expected: 3, next: 4)], scope: scope)
        #expect(try await store.typeCounts() == ["page_view": 3, "login": 1])
        let pages = try await store.pageCounts(top: 10)
        #expect(pages.map(\.page) == ["/a", "/b"] && pages.map(\.count) == [2, 1])
        let minute = Timestamp.parse("2026-02-01T10:42:00Z")!
        let all = try await store.minuteCounts(from: nil, to: nil)
        #expect(all.map(\.minute) == [minute, minute + 120_000] && all.map(\.count) == [2, 1])
        #expect(try await store.minuteCounts(from: minute + 1, to: nil).map(\.count) == [1])
        #expect(try await store.minuteCounts(from: minute, to: minute + 120_000).map(\.count) == [2])
        #expect(try await store.pruneMinutes(before: minute + 60_000) == 1)
        #expect(try await store.offsets(scope) == [0: 4])
        try await store.close()
    }

    @Test("import: ids equal as Swift Strings but not as bytes are two customers; the last row of one id wins", arguments: StoreBackends.all)
    func importByBytes(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let records = [CustomerRecord(customerID: "caf\u{E9}", attributes: StaticAttributes(tenureDays: 1, plan: "basic", monthlyCharges: 1)),
                       CustomerRecord(customerID: "cafe\u{301}", attributes: StaticAttributes(tenureDays: 2, plan: "premium", monthlyCharges: 2)),
                       CustomerRecord(customerID: "caf\u{E9}", attributes: StaticAttributes(tenureDays: 3, plan: "basic", monthlyCharges: 3))]
        try await store.importCustomers(records)
        #expect(try await store.profileCount() == 2)
        let rows = try await store.profileRows(["caf\u{E9}", "cafe\u{301}"])
        #expect(Set(rows.map { [UInt8]($0.customer_id.utf8) }) == [[UInt8]("caf\u{E9}".utf8), [UInt8]("cafe\u{301}".utf8)])
        #expect(rows.first { $0.customer_id.utf8.elementsEqual("caf\u{E9}".utf8) }?.tenure_days == 3)
        #expect(rows.first { $0.customer_id.utf8.elementsEqual("cafe\u{301}".utf8) }?.tenure_days == 2)
        try await store.close()
    }

    @Test("import: good file, bad row names line and column, re-import keeps counters", arguments: StoreBackends.all)
    func importCustomers(backend: String) async throws {
        let (store, _) = try await StoreBackends.make(backend)
        let good = try CustomerCSV.parse(Data(contentsOf: Shared.reference("customers.csv")), file: "customers.csv")
        #expect(good.count == 10_000)
        try await store.importCustomers(good)
        #expect(try await store.profileCount() == 10_000)
        let c1 = try #require(try await store.profileRow("C000001"))
        #expect(c1.tenure_days == 296 && c1.plan == "standard" && c1.monthly_charges == 59.13 && c1.churn_score == nil)

        // Events move counters; a re-import changes attributes only.
        var profile = try #require(try await store.loadProfiles(["C000001"])["C000001"])
        profile.apply(pageView("C000001", "2026-02-01T10:00:00Z", "/pricing"))
        try await store.commitProfiles([ProfileUpdate(profile: profile, features: profile.features(), churnScore: 0.5, modelVersion: "m", scoredAt: profile.asOf)],
                                       offsets: [], scope: Self.scope)
        let changed = try CustomerCSV.parse(Data("customer_id,plan,tenure_days,monthly_charges\nC000001,premium,300,\"99.5\"\n".utf8), file: "update.csv")
        try await store.importCustomers(changed)
        let after = try #require(try await store.profileRow("C000001"))
        #expect(after.tenure_days == 300 && after.plan == "premium" && after.monthly_charges == 99.5)
        #expect(after.pricing_views_30d == 1 && after.churn_score == 0.5)
        #expect(try await store.loadProfiles(["C000001"])["C000001"]?.features().pricingViews30d == 1)

        let bad = "customer_id,tenure_days,plan,monthly_charges\nA,1,basic,1\nB,2,gold,3\n"
        let error = #expect(throws: StoreError.self) { try CustomerCSV.parse(Data(bad.utf8), file: "bad.csv") }
        #expect(error?.description.contains("bad.csv line 3") == true)
        #expect(error?.description.contains("'plan'") == true)
        let badNumber = "customer_id,tenure_days,plan,monthly_charges\n\"A\nB\",1,basic,1\nC,x,basic,1\n"
        let error2 = #expect(throws: StoreError.self) { try CustomerCSV.parse(Data(badNumber.utf8), file: "b.csv") }
        #expect(error2?.description.contains("b.csv line 4, column 'tenure_days'") == true)
        #expect(throws: StoreError.self) { try CustomerCSV.parse(Data("id,plan\n".utf8), file: "h.csv") }
        // U+0000 in an id: SQLite's text binding ended at it, so the row of `A` was imported as `A`.
        let nul = #expect(throws: StoreError.self) {
            try CustomerCSV.parse(Data("customer_id,tenure_days,plan,monthly_charges\nA\u{0}B,1,basic,1\n".utf8), file: "n.csv")
        }
        #expect(nul?.description.contains("n.csv line 2, column 'customer_id': must not contain U+0000") == true)
        // Ids are their bytes: both forms of "café" are two customers, not a duplicate.
        let forms = try CustomerCSV.parse(Data("customer_id,tenure_days,plan,monthly_charges\ncaf\u{E9},1,basic,1\ncafe\u{301},2,basic,2\n".utf8),
                                          file: "f.csv")
        #expect(forms.count == 2)
        try await store.close()
    }

    @Test("store URLs: sqlite and postgres forms parse; others fail naming the URL; passwords are redacted")
    func urls() throws {
        #expect(try StoreURL(parsing: "sqlite:streamscore.db") == .sqlite(path: "streamscore.db"))
        #expect(try StoreURL(parsing: "postgres://u:secret@db.local:5433/ss") == .postgres(host: "db.local", port: 5433, user: "u", password: "secret", database: "ss"))
        #expect(try StoreURL(parsing: "postgres://u:secret@h/ss").description == "postgres://u:***@h:5432/ss")
        let error = #expect(throws: StoreError.self) { try StoreURL(parsing: "mysql://u:pw@h/db") }
        #expect(error?.description.contains("mysql://u:***@h/db") == true)
        #expect(throws: StoreError.self) { try StoreURL(parsing: "sqlite:") }
        // An `@` before the `://` (this sliced a reversed range and trapped), and a password without a scheme.
        for text in ["x@y://z", "u:pw@h://db", "u:pw@h", "u:pw@h://db@x"] {
            let error = #expect(throws: StoreError.self) { try StoreURL(parsing: text) }
            #expect(error?.kind == .badURL && error?.description.contains("pw") == false, "\(String(describing: error))")
        }
    }

    @Test("a store at an unusable path fails with a message naming it")
    func unusablePath() async throws {
        let error = await #expect(throws: StoreError.self) { try await StoreFactory.open(.sqlite(path: "/nonexistent-dir/x.db")) }
        #expect(error?.description.contains("/nonexistent-dir/x.db") == true)
        let notADB = FileManager.default.temporaryDirectory.appendingPathComponent("notadb-\(UUID().uuidString).db")
        try Data("this is not sqlite".utf8).write(to: notADB)
        let error2 = await #expect(throws: StoreError.self) { try await StoreFactory.open(.sqlite(path: notADB.path)) }
        #expect(error2?.description.contains(notADB.path) == true)
    }
}
