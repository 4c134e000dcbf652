import Events
import Features
import Foundation
import GRDB
import GRDBSQLite

/// The embedded default store: one SQLite file in WAL mode, through GRDB.
///
/// - Important: one writer at a time (SQLite); readers run concurrently with it. Use PostgreSQL for
///   several engine instances.
public final class SQLiteStore: EngineStore {
    /// Larger transactions rewrite each touched page once for more rows (the C probe: 184 k rows/s at 30,000
    /// rows per transaction, 246 k at 300,000). Prediction bench, 2026-11-30 (interleaved runs and `make
    /// bench`): 8 / 30,000 gave 135–143 k events/s (10.4–11.1 µs CPU per event, peak RSS 324–328 MiB),
    /// 12 / 45,000 144–173 k/s (9.3–10.5 µs, 345–375 MiB), 16 / 60,000 158–176 k/s (8.9–10.1 µs, 366–415 MiB).
    /// On a slower machine of the same kind (session 11, four interleaved pairs): 24 / 90,000 151–171 k/s
    /// (9.6–10.8 µs, 433–441 MiB) against 16 / 60,000 133–143 k/s (10.8–11.9 µs, 388–391 MiB).
    public var groupCommitLimit: GroupCommitLimit { GroupCommitLimit(batches: 24, events: 90_000) }
    private let pool: DatabasePool
    private let checkpointer: WALCheckpointer
    /// How long a connection waits for a lock before it fails (seconds).
    static let busyTimeout = 10
    /// The file path.
    public let location: String

    /// Opens (creating if needed) and migrates the database at `path`.
    /// - Throws: `StoreError.unavailable` naming the path and the fix.
    public init(path: String) throws {
        location = path
        // Created first: the writer's connection refers to it (its log bound, `install(onWriter:)`).
        let checkpointer = WALCheckpointer(path: path)
        var config = Configuration()
        config.busyMode = .timeout(TimeInterval(Self.busyTimeout))
        config.prepareDatabase { db in
            // WAL + NORMAL: a committed transaction survives a process crash (kill -9); only an OS
            // crash or power loss can lose the last few, which Kafka then replays (offsets live here).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // A 128 MiB page cache keeps a few hundred thousand profiles' B-tree pages in memory.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -16384" : "PRAGMA cache_size = -131072")
            // Checkpoints run on their own connection and thread (WALCheckpointer); the writer's own only
            // bound the log when that thread falls behind, and a log reset after it is cut back to 64 MiB.
            if !db.configuration.readonly, let writer = db.sqliteConnection {
                checkpointer.install(onWriter: writer, busyTimeout: Int32(Self.busyTimeout * 1_000))
            }
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        do {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
                throw StoreError(.unavailable, "sqlite store '\(path)': directory '\(dir)' does not exist; create it or choose another --store path")
            }
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
            self.checkpointer = checkpointer
            try checkpointer.start()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "sqlite store '\(path)' cannot be opened: \(Self.reason(error)); check the path, its permissions, and that it is a StreamScore database")
        }
    }

    static func reason(_ error: any Error) -> String {
        if let db = error as? DatabaseError { return db.message ?? "SQLite error \(db.resultCode)" }
        return "\(error)"
    }

    /// Named, forward-only migrations.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in SchemaMigrations.all {
            migrator.registerMigration(migration.name) { db in
                for statement in migration.sqlite { try db.execute(sql: statement) }
            }
        }
        return migrator
    }

    /// Names of the migrations applied, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }

    private func run<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as StoreError {
            throw error
        } catch let error as OffsetsAlreadyCommitted {
            throw error
        } catch {
            throw StoreError(.queryFailed, "sqlite store '\(location)': \(operation) failed: \(Self.reason(error))")
        }
    }

    private func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw StoreError(.queryFailed, "sqlite store '\(location)': \(operation) failed: \(Self.reason(error))")
        }
    }

    public func loadProfiles(_ ids: [String]) async throws -> [CustomerID: Profile] {
        guard !ids.isEmpty else { return [:] }
        return try await read("load profiles") { db in
            var result: [CustomerID: Profile] = [:]
            result.reserveCapacity(ids.count)
            var start = 0
            while start < ids.count {
                let chunk = ids[start..<min(ids.count, start + 5_000)]
                start += chunk.count
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchCursor(db, sql: "SELECT customer_id, tenure_days, plan, monthly_charges, rolling_state FROM profiles WHERE customer_id IN (\(placeholders))",
                                               arguments: StatementArguments(Array(chunk)))
                while let row = try rows.next() {
                    let id: String = row[0]
                    let attributes = StaticAttributes(tenureDays: row[1], plan: row[2], monthlyCharges: row[3])
                    let blob: Data? = row[4]
                    let state = try blob.map { try RollingState(decoding: $0) } ?? RollingState()
                    result[CustomerID(id)] = Profile(customerID: id, attributes: attributes, state: state)
                }
            }
            return result
        }
    }

    private static func advance(_ db: Database, _ offsets: [OffsetAdvance], _ scope: OffsetScope, now: String) throws {
        // Prepared once per connection: a commit advances up to one offset per partition (64 in the bench).
        let update = try db.cachedStatement(sql: "UPDATE subscriber_offsets SET next_offset = ?, updated_at = ? WHERE subscriber = ? AND topic = ? AND partition = ? AND next_offset = ?")
        let insert = try db.cachedStatement(sql: "INSERT INTO subscriber_offsets (subscriber, topic, partition, next_offset, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        for a in offsets {
            if let expected = a.expected {
                try update.execute(arguments: [a.next, now, scope.subscriber, scope.topic, a.partition, expected])
            } else {
                try insert.execute(arguments: [scope.subscriber, scope.topic, a.partition, a.next, now])
            }
            if db.changesCount != 1 {
                // A retry of a commit that did go through is not a fence (see OffsetsAlreadyCommitted).
                var stored: [Int32: Int64] = [:]
                for b in offsets {
                    stored[b.partition] = try Int64.fetchOne(db, sql: "SELECT next_offset FROM subscriber_offsets WHERE subscriber = ? AND topic = ? AND partition = ?",
                                                             arguments: [scope.subscriber, scope.topic, b.partition])
                }
                if OffsetAdvance.alreadyApplied(offsets, stored: stored) { throw OffsetsAlreadyCommitted() }
                throw StoreError(.fenced, "offsets of \(scope.subscriber) on \(scope.topic)[\(a.partition)] moved since they were read (expected \(a.expected.map(String.init) ?? "none")): another instance owns the partition")
            }
        }
    }

    public func commitProfiles(_ updates: ProfileUpdates, offsets: [OffsetAdvance], scope: OffsetScope,
                               outbox: OutboxEntry?, acknowledged: [String]) async throws {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        do {
            try await commitProfilesOnce(updates, offsets: offsets, scope: scope, outbox: outbox, acknowledged: acknowledged, now: now)
        } catch is OffsetsAlreadyCommitted {}
    }

    private func commitProfilesOnce(_ updates: ProfileUpdates, offsets: [OffsetAdvance], scope: OffsetScope,
                                    outbox: OutboxEntry?, acknowledged: [String], now: String) async throws {
        // In key order (`ProfileUpdates`' order): consecutive upserts then land on the same or the next B-tree
        // pages, which SQLite finds from where its cursor is (`bench/sqlite_upsert 30000 0 4096 1`, 2026-11-30:
        // 5.50 → 4.75 µs/row with the commit, 30,000 skewed rows of 100,000 per transaction).
        try await run("commit profiles") { db in
            try Self.advance(db, offsets, scope, now: now)
            if !acknowledged.isEmpty {
                let delete = try db.cachedStatement(sql: "DELETE FROM score_outbox WHERE id = ?")
                for id in acknowledged { try delete.execute(arguments: [id]) }
            }
            if let outbox {
                try db.cachedStatement(sql: "INSERT INTO score_outbox (id, subscriber, customer_ids, created_at) VALUES (?, ?, ?, ?)").execute(
                               arguments: [outbox.id, outbox.subscriber, Data(outbox.encodedCustomers), now])
            }
            // The hot path: bind straight through the C API on GRDB's cached statement (no per-row
            // argument boxing), one step per row, all in this transaction.
            let statement = try db.cachedStatement(sql: SchemaMigrations.profileUpsertSQLite)
            let h = statement.sqliteStatement
            // No allocation per row: timestamps from a stack buffer, the rolling state into one reused buffer.
            var blob: [UInt8] = []
            blob.reserveCapacity(512)
            // Through a pointer each field is read in place: `updates[i].field` called the array's getter,
            // which copied the whole update (its strings and rolling state retained and released) per
            // access — 2.5 % of the engine's CPU in the prediction bench (`perf`, 2026-11-30).
            try updates.forEach { (u) throws(StoreError) in
                sqlite3_reset(h)
                bindText(h, 1, u.pointee.profile.customerID)
                sqlite3_bind_int64(h, 2, Int64(u.pointee.profile.attributes.tenureDays))
                bindText(h, 3, u.pointee.profile.attributes.plan)
                sqlite3_bind_double(h, 4, u.pointee.profile.attributes.monthlyCharges)
                if let score = u.pointee.churnScore { sqlite3_bind_double(h, 5, score) } else { sqlite3_bind_null(h, 5) }
                if let version = u.pointee.modelVersion { bindText(h, 6, version) } else { sqlite3_bind_null(h, 6) }
                if let at = u.pointee.scoredAt { bindTimestamp(h, 7, at) } else { sqlite3_bind_null(h, 7) }
                bindText(h, 8, now)
                sqlite3_bind_int64(h, 9, Int64(u.pointee.features.pageViews30d))
                sqlite3_bind_int64(h, 10, Int64(u.pointee.features.pricingViews30d))
                sqlite3_bind_int64(h, 11, Int64(u.pointee.features.cancelViews30d))
                sqlite3_bind_int64(h, 12, Int64(u.pointee.features.supportCalls30d))
                sqlite3_bind_int64(h, 13, Int64(u.pointee.features.complaints30d))
                sqlite3_bind_double(h, 14, u.pointee.features.daysSinceLastVisit)
                u.pointee.profile.state.encode(into: &blob)
                blob.withUnsafeBytes { _ = sqlite3_bind_blob(h, 15, $0.baseAddress, Int32($0.count), sqliteTransient) }
                if let name = u.pointee.modelName { bindText(h, 16, name) } else { sqlite3_bind_null(h, 16) }
                if let arm = u.pointee.arm { bindText(h, 17, arm) } else { sqlite3_bind_null(h, 17) }
                if let asOf = u.pointee.featuresAsOf { bindTimestamp(h, 18, asOf) } else { sqlite3_bind_null(h, 18) }
                if let reasons = u.pointee.reasons { bindText(h, 19, reasons) } else { sqlite3_bind_null(h, 19) }
                let rc = sqlite3_step(h)
                guard rc == SQLITE_DONE else {
                    throw StoreError(.queryFailed, "sqlite store: profile upsert failed: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
                }
            }
            sqlite3_reset(h)
            sqlite3_clear_bindings(h)
        }
        checkpointer.noteCommit(rows: updates.count)
    }

    public func commitCounters(_ delta: CounterDelta, offsets: [OffsetAdvance], scope: OffsetScope) async throws {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        do {
            try await commitCountersOnce(delta, offsets: offsets, scope: scope, now: now)
        } catch is OffsetsAlreadyCommitted {}
    }

    private func commitCountersOnce(_ delta: CounterDelta, offsets: [OffsetAdvance], scope: OffsetScope, now: String) async throws {
        try await run("commit counters") { db in
            try Self.advance(db, offsets, scope, now: now)
            let pages = try db.cachedStatement(sql: "INSERT INTO page_counts (page, count) VALUES (?, ?) ON CONFLICT (page) DO UPDATE SET count = page_counts.count + excluded.count")
            for (page, n) in delta.pages { try pages.execute(arguments: [page.string, n]) }
            let types = try db.cachedStatement(sql: "INSERT INTO type_counts (type, count) VALUES (?, ?) ON CONFLICT (type) DO UPDATE SET count = type_counts.count + excluded.count")
            for (type, n) in delta.types { try types.execute(arguments: [type.string, n]) }
            let minutes = try db.cachedStatement(sql: "INSERT INTO minute_counts (minute, count) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET count = minute_counts.count + excluded.count")
            for (minute, n) in delta.minutes { try minutes.execute(arguments: [Timestamp.format(millis: minute), n]) }
        }
    }

    public func offsets(_ scope: OffsetScope) async throws -> [Int32: Int64] {
        try await read("read offsets") { db in
            var result: [Int32: Int64] = [:]
            let rows = try Row.fetchAll(db, sql: "SELECT partition, next_offset FROM subscriber_offsets WHERE subscriber = ? AND topic = ?",
                                        arguments: [scope.subscriber, scope.topic])
            for row in rows { result[row[0]] = row[1] }
            return result
        }
    }

    /// - Returns: the ids of scored profiles whose static attributes changed.
    @discardableResult
    public func importCustomers(_ customers: [CustomerRecord]) async throws -> [String] {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        return try await run("import customers") { db in
            let statement = try db.cachedStatement(sql: SchemaMigrations.importUpsertSQLite)
            var changed: [String] = []
            for c in customers {
                let rows = try Row.fetchAll(statement, arguments: [c.customerID, c.attributes.tenureDays, c.attributes.plan, c.attributes.monthlyCharges, now])
                for row in rows where row[1] as Bool { changed.append(row[0]) }
            }
            return changed
        }
    }

    public func setting(_ key: String) async throws -> String? {
        try await read("read setting") { db in try String.fetchOne(db, sql: "SELECT value FROM engine_settings WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) async throws {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        try await run("write setting") { db in
            try db.execute(sql: "INSERT INTO engine_settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                           arguments: [key, value, now])
        }
    }

    public func pendingOutbox(subscriber: String) async throws -> [OutboxEntry] {
        try await read("read outbox") { db in
            try Row.fetchAll(db, sql: "SELECT id, customer_ids FROM score_outbox WHERE subscriber = ? ORDER BY created_at, id", arguments: [subscriber]).map { row in
                let blob: Data = row[1]
                return OutboxEntry(id: row[0], subscriber: subscriber, customerIDs: try OutboxEntry.decodeCustomers([UInt8](blob)))
            }
        }
    }

    public func deleteOutbox(_ ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await run("delete outbox entries") { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM score_outbox WHERE id = ?")
            for id in ids { try delete.execute(arguments: [id]) }
        }
    }

    public func profileRows(_ ids: [String]) async throws -> [ProfileRow] {
        guard !ids.isEmpty else { return [] }
        return try await read("read profiles") { db in
            var rows: [ProfileRow] = []
            var start = 0
            while start < ids.count {
                let chunk = ids[start..<min(ids.count, start + 5_000)]
                start += chunk.count
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                rows += try Row.fetchAll(db, sql: "SELECT \(SchemaMigrations.profileColumns) FROM profiles WHERE customer_id IN (\(placeholders))",
                                         arguments: StatementArguments(Array(chunk))).map(Self.profileRow)
            }
            return rows
        }
    }

    public func profilePage(after: String?, limit: Int) async throws -> [StoredProfileRow] {
        try await read("read profiles") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT \(SchemaMigrations.profileColumns), rolling_state FROM profiles WHERE customer_id > ? ORDER BY customer_id LIMIT ?",
                                        arguments: [after ?? "", limit])
            return try rows.map { r in
                let row = try Self.profileRow(r)
                let blob: Data? = try Self.column(r, "rolling_state", of: "profiles")
                let state = try blob.map { try RollingState(decoding: $0) } ?? RollingState()
                let attributes = StaticAttributes(tenureDays: row.tenure_days, plan: row.plan, monthlyCharges: row.monthly_charges)
                return StoredProfileRow(row: row, profile: Profile(customerID: row.customer_id, attributes: attributes, state: state))
            }
        }
    }

    public func attributeReferences() async throws -> AttributeReferences? {
        try await read("read attribute references") { db in
            let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM profiles") ?? 0
            guard n > 0 else { return nil }
            func median(_ column: String) throws -> Double {
                let middle = try Double.fetchAll(db, sql: "SELECT \(column) FROM profiles ORDER BY \(column) LIMIT ? OFFSET ?", arguments: [2 - n % 2, (n - 1) / 2])
                return middle.reduce(0, +) / Double(max(1, middle.count))
            }
            let plan = try String.fetchOne(db, sql: "SELECT plan FROM profiles GROUP BY plan ORDER BY COUNT(*) DESC, plan ASC LIMIT 1") ?? "basic"
            return AttributeReferences(tenureDays: try median("tenure_days"), plan: plan, monthlyCharges: try median("monthly_charges"))
        }
    }

    public func rewriteScores(_ rewrites: [ScoreRewrite]) async throws -> [String] {
        guard !rewrites.isEmpty else { return [] }
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        return try await run("rewrite scores") { db in
            var done: [String] = []
            for r in rewrites {
                let e = r.expected
                var sets = "churn_score = ?, model_version = ?, model_name = ?, arm = ?, updated_at = ?, reasons = ?"
                var arguments: StatementArguments = [r.churnScore, r.modelVersion, r.modelName, r.arm, now, r.reasons]
                if let f = r.features {
                    sets += ", page_views_30d = ?, pricing_views_30d = ?, cancel_views_30d = ?, support_calls_30d = ?, complaints_30d = ?, days_since_last_visit = ?, features_as_of = ?"
                    arguments += [f.pageViews30d, f.pricingViews30d, f.cancelViews30d, f.supportCalls30d, f.complaints30d, f.daysSinceLastVisit,
                                  r.featuresAsOf.map { Timestamp.format(millis: $0) }]
                }
                arguments += [r.customerID, e.updatedAt, e.churnScore, e.modelVersion, e.featuresAsOf]
                try db.execute(sql: "UPDATE profiles SET \(sets) WHERE customer_id = ? AND updated_at IS ? AND churn_score IS ? AND model_version IS ? AND features_as_of IS ?",
                               arguments: arguments)
                if db.changesCount == 1 { done.append(r.customerID) }
            }
            return done
        }
    }

    public func profileRow(_ customerID: String) async throws -> ProfileRow? {
        try await read("read profile") { db in
            try Row.fetchOne(db, sql: "SELECT \(SchemaMigrations.profileColumns) FROM profiles WHERE customer_id = ?", arguments: [customerID]).map(Self.profileRow)
        }
    }

    /// A `profiles` row. Each column is decoded with an error that names it (never its value): a value of
    /// another type — text written into a number column by hand or by another program, which SQLite's type
    /// affinity lets through — made GRDB's subscript trap (`try!`), and a single such row crashed the engine
    /// on `GET /profiles/{id}`, the dashboard's top risks and every rescore.
    static func profileRow(_ row: Row) throws -> ProfileRow {
        func column<T: DatabaseValueConvertible>(_ name: String) throws -> T { try Self.column(row, name, of: "profiles") }
        return ProfileRow(customer_id: try column("customer_id"), tenure_days: try column("tenure_days"), plan: try column("plan"),
                          monthly_charges: try column("monthly_charges"), churn_score: try column("churn_score"),
                          model_version: try column("model_version"), scored_at: try column("scored_at"), updated_at: try column("updated_at"),
                          page_views_30d: try column("page_views_30d"), pricing_views_30d: try column("pricing_views_30d"),
                          cancel_views_30d: try column("cancel_views_30d"), support_calls_30d: try column("support_calls_30d"),
                          complaints_30d: try column("complaints_30d"), days_since_last_visit: try column("days_since_last_visit"),
                          model_name: try column("model_name"), arm: try column("arm"), features_as_of: try column("features_as_of"),
                          reasons: try column("reasons"))
    }

    /// Column `name` of a `table` row as `T`, or an error naming the table and column (see `profileRow`).
    static func column<T: DatabaseValueConvertible>(_ row: Row, _ name: String, of table: String) throws -> T {
        do {
            return try row.decode(forColumn: name)
        } catch {
            throw StoreError(.queryFailed, "a row of \(table) holds a value in \(name) that is not \(T.self) (written outside the engine?); correct or delete that row")
        }
    }

    public func pageCounts(top: Int) async throws -> [(page: String, count: Int)] {
        let rows = try await read("read page counts") { db in
            try Row.fetchAll(db, sql: "SELECT page, count FROM page_counts ORDER BY count DESC, page ASC LIMIT ?", arguments: [top])
                .map { PageCount(page: try Self.column($0, "page", of: "page_counts"), count: try Self.column($0, "count", of: "page_counts")) }
        }
        return rows.map { ($0.page, $0.count) }
    }

    public func typeCounts() async throws -> [UTF8Key: Int] {
        try await read("read type counts") { db in
            var result: [UTF8Key: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT type, count FROM type_counts") {
                result[UTF8Key(try Self.column(row, "type", of: "type_counts"))] = try Self.column(row, "count", of: "type_counts") as Int
            }
            return result
        }
    }

    public func minuteCounts(from: Int64?, to: Int64?) async throws -> [(minute: Int64, count: Int)] {
        // Minutes are stored as fixed-width RFC 3339 text, so text order is time order.
        let lower = from.map { Timestamp.format(millis: Timestamp.minuteFloor($0) == $0 ? $0 : Timestamp.minuteFloor($0) + Timestamp.millisPerMinute) } ?? ""
        let upper = to.map { Timestamp.format(millis: $0) }
        let rows = try await read("read minute counts") { db in
            var sql = "SELECT minute, count FROM minute_counts WHERE minute >= ?"
            var args: [any DatabaseValueConvertible] = [lower]
            if let upper {
                sql += " AND minute < ?"
                args.append(upper)
            }
            sql += " ORDER BY minute ASC"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map {
                MinuteCount(minute: try Self.column($0, "minute", of: "minute_counts"), count: try Self.column($0, "count", of: "minute_counts"))
            }
        }
        return rows.compactMap { row in Timestamp.parse(row.minute).map { ($0, row.count) } }
    }

    public func topRisk(limit: Int) async throws -> [ProfileRow] {
        try await read("read top risk") { db in
            try Row.fetchAll(db, sql: "SELECT \(SchemaMigrations.profileColumns) FROM profiles WHERE churn_score IS NOT NULL ORDER BY churn_score DESC, customer_id ASC LIMIT ?",
                             arguments: [limit]).map(Self.profileRow)
        }
    }

    public func scoreHistogram(bins: Int) async throws -> [Int] {
        try await read("read score histogram") { db in
            var result = [Int](repeating: 0, count: bins)
            let rows = try Row.fetchAll(db, sql: "SELECT MIN(CAST(churn_score * ? AS INTEGER), ?) AS bin, COUNT(*) FROM profiles WHERE churn_score IS NOT NULL GROUP BY bin",
                                        arguments: [bins, bins - 1])
            for row in rows {
                let bin: Int = row[0]
                if bin >= 0 && bin < bins { result[bin] = row[1] }
            }
            return result
        }
    }

    public func profileCount() async throws -> Int {
        try await read("count profiles") { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM profiles") ?? 0 }
    }

    public func pruneMinutes(before: Int64) async throws -> Int {
        let bound = Timestamp.format(millis: before)
        return try await run("prune minutes") { db in
            try db.execute(sql: "DELETE FROM minute_counts WHERE minute < ?", arguments: [bound])
            return db.changesCount
        }
    }

    public func close() async throws {
        checkpointer.shutdown()
        try pool.close()
    }

    deinit { checkpointer.shutdown() }
}

/// SQLite copies bound text/blobs (SQLITE_TRANSIENT).
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

@inline(__always)
private func bindTimestamp(_ h: OpaquePointer, _ index: Int32, _ millis: Int64) {
    Timestamp.withFormatted(millis: millis) { text in
        text.withMemoryRebound(to: CChar.self) { _ = sqlite3_bind_text(h, index, $0.baseAddress, Int32($0.count), sqliteTransient) }
    }
}

@inline(__always)
private func bindText(_ h: OpaquePointer, _ index: Int32, _ text: String) {
    var text = text
    text.withUTF8 { utf8 in
        guard let base = utf8.baseAddress, utf8.count > 0 else {
            _ = sqlite3_bind_text(h, index, "", 0, sqliteTransient)
            return
        }
        _ = sqlite3_bind_text(h, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(utf8.count), sqliteTransient)
    }
}

private struct PageCount: Sendable { let page: String; let count: Int }
private struct MinuteCount: Sendable { let minute: String; let count: Int }
