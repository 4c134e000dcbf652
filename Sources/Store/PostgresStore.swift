import Events
import Features
import Foundation
import Synchronization
import Logging
import PostgresNIO

/// The shared store for several engine instances: one PostgreSQL database, through postgres-nio's pooled
/// `PostgresClient`.
///
/// Semantics are those of `SQLiteStore`, statement for statement: the same tables (in PostgreSQL's dialect,
/// see `SchemaMigrations`), the same fenced offsets, the same upsert rules and the same text formats and
/// orders. Batches travel as arrays: one `UNNEST` statement per table and commit, never one per row.
///
/// Failures: a lost server surfaces as `StoreError(.unavailable)` and a failed statement as
/// `StoreError(.queryFailed)` (both retriable; the pool reconnects by itself, with backoff); a fence is
/// always `StoreError(.fenced)`, decided inside the transaction, never inferred from a connection error.
/// See `OffsetsAlreadyCommitted` for why retrying a commit whose outcome is unknown is safe.
///
/// - Important: the store owns a task running the client's `run()`; call `close()` to end it.
public final class PostgresStore: EngineStore {
    /// Smaller than SQLite's: at 16 / 60,000 the PostgreSQL bench's peak RSS was 433–492 MiB (102–112 k
    /// events/s), at 12 / 45,000 385–386 MiB (91–103 k/s), 2026-11-30; the 500 MiB bound needs the margin.
    public var groupCommitLimit: GroupCommitLimit { GroupCommitLimit(batches: 12, events: 45_000) }
    /// The server, as `postgres://user:***@host:port/db?sslmode=MODE[&sslrootcert=PATH]` (never the password).
    public let location: String
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger: Logger

    /// Lock id held (transaction-scoped) while migrating, so that instances starting together take turns.
    static let migrationLockKey: Int64 = 0x5353_4D49_4752_4154  // "SSMIGRAT"

    /// Connects, checks the server, the credentials and the database, and applies pending migrations.
    ///
    /// - Parameters:
    ///   - url: must be `.postgres`.
    ///   - schema: a schema to create (if missing) and use as `search_path` instead of the default; lets
    ///     several stores share one database (tests). Letters, digits and `_` only.
    ///   - logger: for the client's background messages (default: warnings and above).
    /// TLS follows the URL's `sslmode` and `sslrootcert` (see `PostgresTLS`); the CA file is read here.
    ///
    /// - Throws: `StoreError.unavailable` with one line naming the server and the fix; `StoreError.badURL`
    ///   when `sslrootcert` cannot be read.
    public init(url: StoreURL, schema: String? = nil, logger: Logger? = nil) async throws {
        let logger = logger ?? {
            var logger = Logger(label: "streamscore.store.postgres")
            logger.logLevel = .warning  // the pool reports each failed reconnect at info
            return logger
        }()
        guard let (host, port, user, password, database, tls) = url.postgresServer else {
            throw StoreError(.badURL, "store URL '\(url)' is not a postgres:// URL")
        }
        // The TLS settings are always shown (the default one too), the password never.
        let location = "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?\(tls)"
        self.location = location
        self.logger = logger
        if let schema, schema.isEmpty || !schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            throw StoreError(.badURL, "postgres store '\(location)': schema '\(schema)' must be letters, digits and _ only")
        }
        // synchronous_commit=off: a server crash can lose the last few committed transactions, but each
        // holds its offsets with its state, so they are lost together and replayed from Kafka: the
        // exactly-once result does not depend on the fsync, only on atomicity (docs/operations.md).
        var startup: [(String, String)] = [("application_name", "streamscore"), ("synchronous_commit", "off")]
        if let schema { startup.append(("search_path", "\"\(schema)\"")) }

        // 1. One plain connection first: fails fast and clearly (the pool would queue requests for a minute),
        //    then creates the schema and migrates while holding the migration lock.
        let tlsConfiguration = try Self.tlsConfiguration(tls, location: location)
        var connectionTLS = PostgresConnection.Configuration.TLS.disable
        if let tlsConfiguration {
            let context: NIOSSLContext
            do {
                context = try NIOSSLContext(configuration: tlsConfiguration)
            } catch {
                throw StoreError(.badURL, "postgres store '\(location)': cannot set up TLS (\(String(describing: error).prefix(160))); check sslrootcert, or use sslmode=disable")
            }
            connectionTLS = tls.mode == .prefer ? .prefer(context) : .require(context)
        }
        var connectionConfig = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                                database: database, tls: connectionTLS)
        connectionConfig.options.connectTimeout = .seconds(10)
        connectionConfig.options.additionalStartupParameters = startup
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(on: PostgresClient.defaultEventLoopGroup.any(),
                                                              configuration: connectionConfig, id: 0, logger: logger).get()
        } catch {
            throw StoreError(.unavailable, Self.startupFailure(error, location: location, user: user, database: database, host: host, tls: tls))
        }
        do {
            try await Self.migrate(connection, schema: schema, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            if let error = error as? StoreError { throw error }
            throw StoreError(.unavailable, "postgres store '\(location)' cannot be migrated: \(Self.reason(error)); check that the user may create tables in the database and that it is a StreamScore database")
        }

        // 2. The pool the store runs on.
        var config = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database,
            tls: tlsConfiguration.map { tls.mode == .prefer ? PostgresClient.Configuration.TLS.prefer($0) : .require($0) } ?? .disable)
        config.options.connectTimeout = .seconds(10)
        config.options.additionalStartupParameters = startup
        config.options.maximumConnections = 8
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.client = client
        // Wait until the task is running (the client warns about leases made before its `run()` started).
        let (started, signal) = AsyncStream<Void>.makeStream()
        runTask = Task {
            signal.finish()
            await client.run()
        }
        for await _ in started {}
    }

    /// The TLS configuration `tls` asks for; nil for `sslmode=disable`.
    /// - Throws: `StoreError.badURL` naming `sslrootcert` when its file is missing, unreadable or holds no certificate.
    static func tlsConfiguration(_ tls: PostgresTLS, location: String) throws -> TLSConfiguration? {
        guard tls.mode != .disable else { return nil }
        var config = TLSConfiguration.makeClientConfiguration()
        if let path = tls.rootCertificate, path != "system" {
            func unusable(_ why: String) -> StoreError {
                StoreError(.badURL, "postgres store '\(location)': sslrootcert '\(path)' \(why); give the PEM file of the CA that signed the server's certificate, or sslrootcert=system for the system's CAs")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw unusable("does not exist") }
            guard !isDirectory.boolValue else { throw unusable("is a directory") }
            guard FileManager.default.isReadableFile(atPath: path) else { throw unusable("is not readable by this user") }
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw unusable("is not a PEM certificate file (\(String(describing: error).prefix(120)))")
            }
            guard !certificates.isEmpty else { throw unusable("holds no PEM certificate") }
            config.trustRoots = .certificates(certificates)
        }
        switch tls.mode {
        case .disable:
            return nil
        case .prefer, .require:
            // libpq: no check without a root certificate; with one, the chain (as verify-ca).
            config.certificateVerification = tls.rootCertificate == nil ? .none : .noHostnameVerification
        case .verifyCA:
            config.certificateVerification = .noHostnameVerification
        case .verifyFull:
            config.certificateVerification = .fullVerification
        }
        return config
    }

    /// Names of the migrations applied, in order.
    public func appliedMigrations() async throws -> [String] {
        try await read("read migrations") { client, logger in
            var names: [String] = []
            for try await name in try await client.query("SELECT name FROM streamscore_migrations ORDER BY name", logger: logger).decode(String.self) {
                names.append(name)
            }
            return names
        }
    }

    /// Applies the migrations not yet recorded in `streamscore_migrations`, in one transaction holding a
    /// transaction-scoped advisory lock (instances starting together take turns; the second sees the first's
    /// work and has nothing left to do).
    static func migrate(_ connection: PostgresConnection, schema: String?, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
            if let schema {  // validated by init: letters, digits and _
                try await conn.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: logger)
            }
            try await conn.query("CREATE TABLE IF NOT EXISTS streamscore_migrations (name TEXT PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL)", logger: logger)
            var applied = Set<String>()
            for try await name in try await conn.query("SELECT name FROM streamscore_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
            for migration in SchemaMigrations.all where !applied.contains(migration.name) {
                for statement in migration.postgres {
                    try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await conn.query("INSERT INTO streamscore_migrations (name, applied_at) VALUES (\(migration.name), \(now))", logger: logger)
            }
        }
    }

    // MARK: Reads

    public func loadProfiles(_ ids: [String]) async throws -> [CustomerID: Profile] {
        guard !ids.isEmpty else { return [:] }
        return try await read("load profiles") { client, logger in
            var result: [CustomerID: Profile] = [:]
            result.reserveCapacity(ids.count)
            let rows = try await client.query(
                "SELECT customer_id, tenure_days, plan, monthly_charges, rolling_state FROM profiles WHERE customer_id = ANY(\(ids)::text[])",
                logger: logger)
            for try await (id, tenure, plan, charges, blob) in rows.decode((String, Int, String, Double, ByteBuffer?).self) {
                let state = try blob.map { try RollingState(decoding: $0.readableBytesView) } ?? RollingState()
                result[CustomerID(id)] = Profile(customerID: id, attributes: StaticAttributes(tenureDays: tenure, plan: plan, monthlyCharges: charges), state: state)
            }
            return result
        }
    }

    public func offsets(_ scope: OffsetScope) async throws -> [Int32: Int64] {
        try await read("read offsets") { client, logger in
            var result: [Int32: Int64] = [:]
            let rows = try await client.query(
                "SELECT partition, next_offset FROM subscriber_offsets WHERE subscriber = \(scope.subscriber) AND topic = \(scope.topic)", logger: logger)
            for try await (partition, next) in rows.decode((Int32, Int64).self) { result[partition] = next }
            return result
        }
    }

    public func profileRow(_ customerID: String) async throws -> ProfileRow? {
        try await read("read profile") { client, logger in
            let rows = try await client.query("SELECT \(unescaped: SchemaMigrations.profileColumns) FROM profiles WHERE customer_id = \(customerID)", logger: logger)
            var result: ProfileRow?
            for try await row in rows { result = try Self.profileRow(row) }
            return result
        }
    }

    public func pendingOutbox(subscriber: String) async throws -> [OutboxEntry] {
        try await read("read outbox") { client, logger in
            var result: [OutboxEntry] = []
            let rows = try await client.query("SELECT id, customer_ids FROM score_outbox WHERE subscriber = \(subscriber) ORDER BY created_at, id", logger: logger)
            for try await (id, blob) in rows.decode((String, ByteBuffer).self) {
                result.append(OutboxEntry(id: id, subscriber: subscriber, customerIDs: try OutboxEntry.decodeCustomers(Array(blob.readableBytesView))))
            }
            return result
        }
    }

    public func deleteOutbox(_ ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await read("delete outbox entries") { client, logger -> Void in
            _ = try await client.query("DELETE FROM score_outbox WHERE id = ANY(\(ids)::text[])", logger: logger)
        }
    }

    public func profileRows(_ ids: [String]) async throws -> [ProfileRow] {
        guard !ids.isEmpty else { return [] }
        return try await read("read profiles") { client, logger in
            let rows = try await client.query("SELECT \(unescaped: SchemaMigrations.profileColumns) FROM profiles WHERE customer_id = ANY(\(ids)::text[])", logger: logger)
            var result: [ProfileRow] = []
            for try await row in rows { result.append(try Self.profileRow(row)) }
            return result
        }
    }

    public func profilePage(after: String?, limit: Int) async throws -> [StoredProfileRow] {
        try await read("read profiles") { client, logger in
            let rows = try await client.query("""
                SELECT \(unescaped: SchemaMigrations.profileColumns), rolling_state FROM profiles WHERE customer_id > \(after ?? "")
                ORDER BY customer_id LIMIT \(limit)
                """, logger: logger)
            var result: [StoredProfileRow] = []
            for try await r in rows {
                let row = try Self.profileRow(r)
                let blob = try r.makeRandomAccess()[18].decode(ByteBuffer?.self)
                let state = try blob.map { try RollingState(decoding: $0.readableBytesView) } ?? RollingState()
                let attributes = StaticAttributes(tenureDays: row.tenure_days, plan: row.plan, monthlyCharges: row.monthly_charges)
                result.append(StoredProfileRow(row: row, profile: Profile(customerID: row.customer_id, attributes: attributes, state: state)))
            }
            return result
        }
    }

    public func attributeReferences() async throws -> AttributeReferences? {
        try await read("read attribute references") { client, logger in
            var n = 0
            for try await c in try await client.query("SELECT COUNT(*) FROM profiles", logger: logger).decode(Int.self) { n = c }
            guard n > 0 else { return nil }
            func median(_ column: String) async throws -> Double {
                var middle: [Double] = []
                let rows = try await client.query("SELECT \(unescaped: column)::float8 FROM profiles ORDER BY \(unescaped: column) LIMIT \(2 - n % 2) OFFSET \((n - 1) / 2)", logger: logger)
                for try await v in rows.decode(Double.self) { middle.append(v) }
                return middle.reduce(0, +) / Double(max(1, middle.count))
            }
            var plan = "basic"
            for try await p in try await client.query("SELECT plan FROM profiles GROUP BY plan ORDER BY COUNT(*) DESC, plan ASC LIMIT 1", logger: logger).decode(String.self) { plan = p }
            return AttributeReferences(tenureDays: try await median("tenure_days"), plan: plan, monthlyCharges: try await median("monthly_charges"))
        }
    }

    public func rewriteScores(_ rewrites: [ScoreRewrite]) async throws -> [String] {
        guard !rewrites.isEmpty else { return [] }
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        return try await transaction("rewrite scores") { conn, logger in
            var done: [String] = []
            for r in rewrites {
                let e = r.expected
                let f = r.features
                let rows = try await conn.query("""
                    UPDATE profiles SET churn_score = \(r.churnScore), model_version = \(r.modelVersion), model_name = \(r.modelName),
                        arm = \(r.arm), updated_at = \(now), reasons = \(r.reasons),
                        page_views_30d = COALESCE(\(f?.pageViews30d), page_views_30d),
                        pricing_views_30d = COALESCE(\(f?.pricingViews30d), pricing_views_30d),
                        cancel_views_30d = COALESCE(\(f?.cancelViews30d), cancel_views_30d),
                        support_calls_30d = COALESCE(\(f?.supportCalls30d), support_calls_30d),
                        complaints_30d = COALESCE(\(f?.complaints30d), complaints_30d),
                        days_since_last_visit = COALESCE(\(f?.daysSinceLastVisit), days_since_last_visit),
                        features_as_of = COALESCE(\(r.featuresAsOf.map { Timestamp.format(millis: $0) }), features_as_of)
                    WHERE customer_id = \(r.customerID) AND updated_at IS NOT DISTINCT FROM \(e.updatedAt)
                      AND churn_score IS NOT DISTINCT FROM \(e.churnScore) AND model_version IS NOT DISTINCT FROM \(e.modelVersion)
                      AND features_as_of IS NOT DISTINCT FROM \(e.featuresAsOf)
                    RETURNING customer_id
                    """, logger: logger)
                for try await id in rows.decode(String.self) { done.append(id) }
            }
            return done
        }
    }

    /// SQLite reads a negative LIMIT as "no limit"; PostgreSQL's equivalent is LIMIT NULL.
    static func limit(_ n: Int) -> Int? { n < 0 ? nil : n }

    static func profileRow(_ row: PostgresRow) throws -> ProfileRow {
        let r = row.makeRandomAccess()
        return ProfileRow(customer_id: try r[0].decode(String.self), tenure_days: try r[1].decode(Int.self), plan: try r[2].decode(String.self),
                          monthly_charges: try r[3].decode(Double.self), churn_score: try r[4].decode(Double?.self),
                          model_version: try r[5].decode(String?.self), scored_at: try r[6].decode(String?.self),
                          updated_at: try r[7].decode(String?.self), page_views_30d: try r[8].decode(Int.self),
                          pricing_views_30d: try r[9].decode(Int.self), cancel_views_30d: try r[10].decode(Int.self),
                          support_calls_30d: try r[11].decode(Int.self), complaints_30d: try r[12].decode(Int.self),
                          days_since_last_visit: try r[13].decode(Double.self), model_name: try r[14].decode(String?.self),
                          arm: try r[15].decode(String?.self), features_as_of: try r[16].decode(String?.self),
                          reasons: try r[17].decode(String?.self))
    }

    public func pageCounts(top: Int) async throws -> [(page: String, count: Int)] {
        try await read("read page counts") { client, logger in
            var result: [(page: String, count: Int)] = []
            let rows = try await client.query("SELECT page, count FROM page_counts ORDER BY count DESC, page ASC LIMIT \(Self.limit(top))", logger: logger)
            for try await (page, count) in rows.decode((String, Int).self) { result.append((page, count)) }
            return result
        }
    }

    public func typeCounts() async throws -> [UTF8Key: Int] {
        try await read("read type counts") { client, logger in
            var result: [UTF8Key: Int] = [:]
            for try await (type, count) in try await client.query("SELECT type, count FROM type_counts", logger: logger).decode((String, Int).self) {
                result[UTF8Key(type)] = count
            }
            return result
        }
    }

    public func minuteCounts(from: Int64?, to: Int64?) async throws -> [(minute: Int64, count: Int)] {
        // Minutes are fixed-width RFC 3339 text in a "C"-collated column, so text order is time order.
        let lower = from.map { Timestamp.format(millis: Timestamp.minuteFloor($0) == $0 ? $0 : Timestamp.minuteFloor($0) + Timestamp.millisPerMinute) } ?? ""
        let upper = to.map { Timestamp.format(millis: $0) }
        return try await read("read minute counts") { client, logger in
            let query: PostgresQuery = upper.map { "SELECT minute, count FROM minute_counts WHERE minute >= \(lower) AND minute < \($0) ORDER BY minute ASC" }
                ?? "SELECT minute, count FROM minute_counts WHERE minute >= \(lower) ORDER BY minute ASC"
            var result: [(minute: Int64, count: Int)] = []
            for try await (minute, count) in try await client.query(query, logger: logger).decode((String, Int).self) {
                if let millis = Timestamp.parse(minute) { result.append((millis, count)) }
            }
            return result
        }
    }

    public func topRisk(limit: Int) async throws -> [ProfileRow] {
        try await read("read top risk") { client, logger in
            var result: [ProfileRow] = []
            let rows = try await client.query(
                "SELECT \(unescaped: SchemaMigrations.profileColumns) FROM profiles WHERE churn_score IS NOT NULL ORDER BY churn_score DESC, customer_id ASC LIMIT \(Self.limit(limit))",
                logger: logger)
            for try await row in rows { result.append(try Self.profileRow(row)) }
            return result
        }
    }

    public func scoreHistogram(bins: Int) async throws -> [Int] {
        guard bins > 0 else { return [] }
        return try await read("read score histogram") { client, logger in
            var result = [Int](repeating: 0, count: bins)
            // trunc: SQLite's CAST(x AS INTEGER) truncates toward zero (PostgreSQL's ::bigint would round).
            let rows = try await client.query(
                "SELECT LEAST(trunc(churn_score * \(Double(bins)))::bigint, \(bins - 1)) AS bin, COUNT(*) FROM profiles WHERE churn_score IS NOT NULL GROUP BY bin",
                logger: logger)
            for try await (bin, count) in rows.decode((Int, Int).self) where bin >= 0 && bin < bins { result[bin] = count }
            return result
        }
    }

    public func profileCount() async throws -> Int {
        try await read("count profiles") { client, logger in
            var count = 0
            for try await n in try await client.query("SELECT COUNT(*) FROM profiles", logger: logger).decode(Int.self) { count = n }
            return count
        }
    }

    // MARK: Writes

    public func commitProfiles(_ updates: ProfileUpdates, offsets: [OffsetAdvance], scope: OffsetScope,
                               outbox: OutboxEntry?, acknowledged: [String]) async throws {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        // In `ProfileUpdates`' order, by id: concurrent writers lock rows in one order.
        do {
            try await transaction("commit profiles") { conn, logger in
                try await Self.advance(conn, offsets, scope, now: now, logger: logger)
                if !acknowledged.isEmpty {
                    try await conn.query("DELETE FROM score_outbox WHERE id = ANY(\(acknowledged)::text[])", logger: logger)
                }
                if let outbox {
                    try await conn.query(
                        "INSERT INTO score_outbox (id, subscriber, customer_ids, created_at) VALUES (\(outbox.id), \(outbox.subscriber), \(ByteBuffer(bytes: outbox.encodedCustomers)), \(now))",
                        logger: logger)
                }
                // The rules of `SchemaMigrations.profileUpsertOnConflict`, as on SQLite. In statements of at most
                // `upsertChunkRows` rows, so that a large group's columns and encoded arrays are not all held at once.
                // Each statement's columns after the first are encoded while the server runs the one before: encoded
                // one after the other, the engine and the server took turns (probe of 2026-12-01: 45–60 ms to
                // encode 10,000 rows, then 150–260 ms for the server to run them, 18 % of the machine idle).
                let chunks = stride(from: 0, to: updates.count, by: Self.upsertChunkRows).map { $0..<min($0 + Self.upsertChunkRows, updates.count) }
                var next = chunks.first.map { Self.upsertQuery(ProfileColumns(updates, $0), now: now) }
                var chunk = 0
                while let query = next {
                    chunk += 1
                    async let ran = conn.query(query, logger: logger)
                    next = chunk < chunks.count ? Self.upsertQuery(ProfileColumns(updates, chunks[chunk]), now: now) : nil
                    _ = try await ran
                }
            }
        } catch is OffsetsAlreadyCommitted {
            return
        }
    }

    /// Most profile rows in one upsert statement: a group of 60,000 events as one statement peaked at
    /// 464–492 MiB of engine RSS in the PostgreSQL bench, in statements of 10,000 rows at 433–442
    /// (2026-11-30).
    static let upsertChunkRows = 10_000

    /// The upsert of one chunk's columns (bound and encoded when built). The arrays are unnested in the select
    /// list, where PostgreSQL (10 and later) steps the `unnest` calls in lockstep, one row at a time: unnested in
    /// `FROM` (`UNNEST(a, b, …) AS u(…)`), each of the 18 arrays went through a tuplestore first (storing and
    /// reading it back: ~25 % of the server's samples in the PostgreSQL bench, `perf record -a`, 2026-12-01), and
    /// 10,000-row upserts of the bench's table took 105–183 ms that way against 77–145 ms this way (psql, six of
    /// each, alternating).
    private static func upsertQuery(_ columns: ProfileColumns, now: String) -> PostgresQuery {
        """
        INSERT INTO profiles (customer_id, tenure_days, plan, monthly_charges, churn_score, model_version, scored_at,
        updated_at, page_views_30d, pricing_views_30d, cancel_views_30d, support_calls_30d, complaints_30d,
        days_since_last_visit, rolling_state, model_name, arm, features_as_of, reasons)
        SELECT unnest(\(columns.ids)::text[]), unnest(\(columns.tenure)::bigint[]), unnest(\(columns.plan)::text[]),
               unnest(\(columns.charges)::float8[]), unnest(\(columns.score)::float8[]), unnest(\(columns.model)::text[]),
               unnest(\(columns.scoredAt)::text[]), \(now), unnest(\(columns.pageViews)::bigint[]), unnest(\(columns.pricingViews)::bigint[]),
               unnest(\(columns.cancelViews)::bigint[]), unnest(\(columns.supportCalls)::bigint[]), unnest(\(columns.complaints)::bigint[]),
               unnest(\(columns.daysSinceLastVisit)::float8[]), unnest(\(columns.state)::bytea[]), unnest(\(columns.modelName)::text[]),
               unnest(\(columns.arm)::text[]), unnest(\(columns.featuresAsOf)::text[]), unnest(\(columns.reasons)::text[])
        \(unescaped: SchemaMigrations.profileUpsertOnConflict)
        """
    }

    public func commitCounters(_ delta: CounterDelta, offsets: [OffsetAdvance], scope: OffsetScope) async throws {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        // Keys in the table's order (bytes, `COLLATE "C"`): two instances adding to the same rows lock them in
        // the same order (no deadlock).
        let pages = delta.pages.map { (key: $0.key.string, value: $0.value) }.sorted { UTF8Key.compareBytes($0.key, $1.key) < 0 }
        let types = delta.types.map { (key: $0.key.string, value: $0.value) }.sorted { UTF8Key.compareBytes($0.key, $1.key) < 0 }
        let minutes = delta.minutes.sorted { $0.key < $1.key }
        do {
            try await transaction("commit counters") { conn, logger in
                try await Self.advance(conn, offsets, scope, now: now, logger: logger)
                if !pages.isEmpty {
                    try await conn.query("""
                        INSERT INTO page_counts (page, count) SELECT * FROM UNNEST(\(pages.map(\.key))::text[], \(pages.map(\.value))::bigint[])
                        ON CONFLICT (page) DO UPDATE SET count = page_counts.count + excluded.count
                        """, logger: logger)
                }
                if !types.isEmpty {
                    try await conn.query("""
                        INSERT INTO type_counts (type, count) SELECT * FROM UNNEST(\(types.map(\.key))::text[], \(types.map(\.value))::bigint[])
                        ON CONFLICT (type) DO UPDATE SET count = type_counts.count + excluded.count
                        """, logger: logger)
                }
                if !minutes.isEmpty {
                    let keys = minutes.map { Timestamp.format(millis: $0.key) }
                    try await conn.query("""
                        INSERT INTO minute_counts (minute, count) SELECT * FROM UNNEST(\(keys)::text[], \(minutes.map(\.value))::bigint[])
                        ON CONFLICT (minute) DO UPDATE SET count = minute_counts.count + excluded.count
                        """, logger: logger)
                }
            }
        } catch is OffsetsAlreadyCommitted {
            return
        }
    }

    /// Advances the offsets (at most two statements whatever the number of partitions), or throws
    /// `StoreError.fenced` — or `OffsetsAlreadyCommitted` when this very commit is already stored.
    private static func advance(_ conn: PostgresConnection, _ offsets: [OffsetAdvance], _ scope: OffsetScope, now: String, logger: Logger) async throws {
        guard !offsets.isEmpty else { return }
        var moved = Set<Int32>()
        let updates = offsets.filter { $0.expected != nil }
        if !updates.isEmpty {
            let rows = try await conn.query("""
                UPDATE subscriber_offsets AS o SET next_offset = u.next, updated_at = \(now)
                FROM UNNEST(\(updates.map(\.partition))::integer[], \(updates.map { $0.expected! })::bigint[], \(updates.map(\.next))::bigint[])
                     AS u(partition, expected, next)
                WHERE o.subscriber = \(scope.subscriber) AND o.topic = \(scope.topic) AND o.partition = u.partition AND o.next_offset = u.expected
                RETURNING o.partition
                """, logger: logger)
            for try await partition in rows.decode(Int32.self) { moved.insert(partition) }
        }
        let inserts = offsets.filter { $0.expected == nil }
        if !inserts.isEmpty {
            let rows = try await conn.query("""
                INSERT INTO subscriber_offsets (subscriber, topic, partition, next_offset, updated_at)
                SELECT \(scope.subscriber), \(scope.topic), u.partition, u.next, \(now)
                FROM UNNEST(\(inserts.map(\.partition))::integer[], \(inserts.map(\.next))::bigint[]) AS u(partition, next)
                ON CONFLICT DO NOTHING RETURNING partition
                """, logger: logger)
            for try await partition in rows.decode(Int32.self) { moved.insert(partition) }
        }
        guard let stale = offsets.first(where: { !moved.contains($0.partition) }) else { return }
        // Before calling it a fence: is this a retry of a commit that did go through? (OffsetsAlreadyCommitted)
        var stored: [Int32: Int64] = [:]
        let rows = try await conn.query("""
            SELECT partition, next_offset FROM subscriber_offsets
            WHERE subscriber = \(scope.subscriber) AND topic = \(scope.topic) AND partition = ANY(\(offsets.map(\.partition))::integer[])
            """, logger: logger)
        for try await (partition, next) in rows.decode((Int32, Int64).self) { stored[partition] = next }
        if OffsetAdvance.alreadyApplied(offsets, stored: stored) { throw OffsetsAlreadyCommitted() }
        throw StoreError(.fenced, "offsets of \(scope.subscriber) on \(scope.topic)[\(stale.partition)] moved since they were read (expected \(stale.expected.map(String.init) ?? "none")): another instance owns the partition")
    }

    /// - Returns: the ids of scored profiles whose static attributes changed (the trigger also tells the
    /// running engines).
    @discardableResult
    public func importCustomers(_ customers: [CustomerRecord]) async throws -> [String] {
        guard !customers.isEmpty else { return [] }
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        // As with SQLite's row-by-row upsert, the last row of an id wins.
        var last: [CustomerID: Int] = [:]
        for (i, c) in customers.enumerated() { last[CustomerID(c.customerID)] = i }
        let rows = customers.indices.filter { last[CustomerID(customers[$0].customerID)] == $0 }.map { customers[$0] }
        return try await transaction("import customers") { conn, logger in
            var start = 0
            var changed: [String] = []
            while start < rows.count {
                let chunk = rows[start..<min(rows.count, start + 50_000)]
                start += chunk.count
                let result = try await conn.query("""
                    INSERT INTO profiles AS p (customer_id, tenure_days, plan, monthly_charges, updated_at)
                    SELECT u.id, u.tenure, u.plan, u.charges, \(now)
                    FROM UNNEST(\(chunk.map(\.customerID))::text[], \(chunk.map(\.attributes.tenureDays))::bigint[],
                                \(chunk.map(\.attributes.plan))::text[], \(chunk.map(\.attributes.monthlyCharges))::float8[]) AS u(id, tenure, plan, charges)
                    ON CONFLICT (customer_id) DO UPDATE SET tenure_days = excluded.tenure_days, plan = excluded.plan,
                    monthly_charges = excluded.monthly_charges, updated_at = excluded.updated_at
                    WHERE p.tenure_days IS DISTINCT FROM excluded.tenure_days OR p.plan IS DISTINCT FROM excluded.plan
                       OR p.monthly_charges IS DISTINCT FROM excluded.monthly_charges
                    RETURNING p.customer_id, p.churn_score IS NOT NULL
                    """, logger: logger)
                for try await (id, scored) in result.decode((String, Bool).self) where scored { changed.append(id) }
            }
            return changed
        }
    }

    public func setting(_ key: String) async throws -> String? {
        try await read("read setting") { client, logger in
            var value: String?
            for try await v in try await client.query("SELECT value FROM engine_settings WHERE key = \(key)", logger: logger).decode(String.self) { value = v }
            return value
        }
    }

    public func setSetting(_ key: String, _ value: String) async throws {
        let now = Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000))
        try await read("write setting") { client, logger -> Void in
            _ = try await client.query("""
                INSERT INTO engine_settings (key, value, updated_at) VALUES (\(key), \(value), \(now))
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """, logger: logger)
        }
    }

    /// Runs until cancelled: calls `onChange` with the ids of customers whose static attributes changed
    /// (the `profiles_attributes_changed` trigger's notifications, gathered for up to 100 ms), listening
    /// again after a lost connection.
    public func watchAttributeChanges(_ onChange: @escaping @Sendable ([String]) async -> Void) async {
        let pending = PendingIDs()
        let logger = self.logger
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    let ids = pending.take()
                    if !ids.isEmpty { await onChange(Array(Set(ids))) }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await self.client.withConnection { conn in
                            try await conn.listen(on: "streamscore_attributes") { notifications in
                                for try await n in notifications { pending.add(n.payload) }
                            }
                        }
                    } catch {
                        if Task.isCancelled { break }
                        logger.warning("listening for attribute changes failed; retrying in 1 s", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    public func pruneMinutes(before: Int64) async throws -> Int {
        let bound = Timestamp.format(millis: before)
        return try await transaction("prune minutes") { conn, logger in
            var removed = 0
            for try await _ in try await conn.query("DELETE FROM minute_counts WHERE minute < \(bound) RETURNING 1", logger: logger) { removed += 1 }
            return removed
        }
    }

    public func close() async throws {
        runTask.cancel()
        await runTask.value
    }

    // MARK: Plumbing


    /// How long one transaction may go without finishing before its connection is closed.
    static let transactionDeadline: Duration = .seconds(15)

    /// Runs `body` in one transaction on a pooled connection; maps failures to `StoreError`.
    ///
    /// Not `PostgresClient.withTransaction`: after a lost connection that one still sends `ROLLBACK` on it, and
    /// in postgres-nio 1.33.2 a query sent on a connection the server has just closed can wait forever (seen
    /// here when the server restarts during a transaction). A lost connection needs no `ROLLBACK`: the server
    /// has already discarded the transaction.
    private func transaction<T: Sendable>(_ operation: String,
                                          _ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await client.withConnection { conn in
                // A transaction that gets no answer for `transactionDeadline` (a server restarted under it:
                // postgres-nio 1.33.2 can wait forever for a reply on such a connection, seen in the soak
                // suite's PostgreSQL outage) closes its connection, which fails the pending query: the
                // caller retries, and the offset fence makes the retry safe whatever the outcome was.
                let deadline = Self.transactionDeadline
                let watchdog = Task {
                    try await Task.sleep(for: deadline)
                    logger.warning("postgres transaction without an answer; closing its connection", metadata: ["seconds": "\(deadline)"])
                    try? await conn.close()
                }
                defer { watchdog.cancel() }
                try await conn.query("BEGIN", logger: logger)
                let value: T
                do {
                    value = try await body(conn, logger)
                } catch {
                    if !Self.isConnectionLoss(error) {
                        do {
                            try await conn.query("ROLLBACK", logger: logger)
                        } catch {
                            // Never hand a connection in an aborted transaction back to the pool.
                            try? await conn.close()
                        }
                    }
                    throw error
                }
                do {
                    try await conn.query("COMMIT", logger: logger)
                } catch {
                    throw CommitOutcomeUnknown(underlying: error)
                }
                return value
            }
        } catch {
            throw map(error, operation)
        }
    }

    /// Runs a read on the pool; maps failures to `StoreError`.
    private func read<T: Sendable>(_ operation: String, _ body: (PostgresClient, Logger) async throws -> T) async throws -> T {
        do {
            return try await body(client, logger)
        } catch {
            throw map(error, operation)
        }
    }

    /// A `StoreError` (retriable unless fenced) for any failure; `OffsetsAlreadyCommitted` and cancellation
    /// pass through untouched.
    private func map(_ error: any Error, _ operation: String) -> any Error {
        switch error {
        case let error as StoreError: return error
        case let error as OffsetsAlreadyCommitted: return error
        case let error as CancellationError: return error
        case let error as CommitOutcomeUnknown:
            // The retry either commits or finds its own offsets stored (OffsetsAlreadyCommitted).
            return StoreError(.unavailable, "postgres store '\(location)': \(operation): outcome of COMMIT unknown (\(Self.reason(error.underlying))); safe to retry")
        case let error as PostgresTransactionError:
            if let closure = error.closureError {
                // The rollback (or the dropped connection) has discarded the transaction: a fence stays a fence.
                if closure is StoreError || closure is OffsetsAlreadyCommitted || closure is CancellationError { return closure }
                return map(closure, operation)
            }
            if let commit = error.commitError {
                // Outcome unknown: the retry either commits or finds its own offsets stored (OffsetsAlreadyCommitted).
                return StoreError(.unavailable, "postgres store '\(location)': \(operation): outcome of COMMIT unknown (\(Self.reason(commit))); safe to retry")
            }
            if let begin = error.beginError { return map(begin, operation) }
            return StoreError(.queryFailed, "postgres store '\(location)': \(operation) failed")
        default:
            return StoreError(Self.isConnectionLoss(error) ? .unavailable : .queryFailed,
                              "postgres store '\(location)': \(operation) failed: \(Self.reason(error))")
        }
    }

    /// `ConnectionPoolError` lives in postgres-nio's `_ConnectionPoolModule`, which this target does not
    /// import (its product is underscored); recognise it by name.
    static func isPoolError(_ error: any Error) -> Bool {
        String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError")
    }

    static func isConnectionLoss(_ error: any Error) -> Bool {
        if isPoolError(error) { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .sslUnsupported, .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest, .messageDecodingFailure,
             .unexpectedBackendMessage:
            return true
        case .server:
            // Class 08: connection exception; 57P01–57P03: the server is shutting down or starting.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P")
        default:
            return false
        }
    }

    /// A short reason without SQL text or bound values: the SQLSTATE and the server's primary message, or the
    /// kind of connection failure.
    static func reason(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError, let inner = error.beginError ?? error.closureError ?? error.commitError {
            return reason(inner)
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let state = error.serverInfo?[.sqlState] ?? "?"
                let message = error.serverInfo?[.message] ?? "server error"
                return "\(message.prefix(200)) (SQLSTATE \(state))"
            case .connectionError:
                let text = error.underlying.map { String(describing: $0) } ?? ""
                if text.contains("CERTIFICATE_VERIFY_FAILED") { return "the server's TLS certificate is not trusted (check sslrootcert)" }
                if text.contains("failedToValidateHostname") { return "the server's TLS certificate does not name the host" }
                if text.contains("refused") { return "connection refused" }
                if text.localizedCaseInsensitiveContains("timeout") || text.contains("timed out") { return "connection timed out" }
                if text.contains("resolve") || text.contains("NXDOMAIN") || text.contains("getaddrinfo") { return "host name not found" }
                return text.isEmpty ? "cannot connect" : "cannot connect (\(text.prefix(160)))"
            case .serverClosedConnection: return "the server closed the connection"
            case .clientClosedConnection, .poolClosed: return "the store is closed"
            case .uncleanShutdown: return "the connection was cut"
            case .queryCancelled: return "the query was cancelled"
            default: return "\(error.code)"
            }
        }
        if isPoolError(error) {
            let text = String(describing: error)
            if text.contains("CircuitBreaker") { return "no connection to the server could be made for a minute" }
            if text.contains("poolShutdown") { return "the store is closed" }
            return "connection pool: \(text.prefix(120))"
        }
        if let error = error as? RollingStateDecodingError { return "stored rolling_state is invalid: \(error)" }
        return String(describing: error).prefix(200).description
    }

    /// One line naming the TLS failure and the fix, when `error` is one.
    static func tlsFailure(_ error: any Error, location: String, host: String, tls: PostgresTLS) -> String? {
        let underlying = (error as? PSQLError)?.underlying ?? error
        if let error = error as? PSQLError, error.code == .sslUnsupported {
            return "postgres store '\(location)': the server does not offer TLS, which sslmode=\(tls.mode.rawValue) requires; enable ssl on the server (ssl = on), or use sslmode=prefer or sslmode=disable"
        }
        if let extra = underlying as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "postgres store '\(location)': the server's TLS certificate does not name host name '\(host)' (sslmode=verify-full checks it); connect by a name or address the certificate holds, or use sslmode=verify-ca"
        }
        guard case .handshakeFailed(let ssl)? = underlying as? NIOSSLError else { return nil }
        let text = String(describing: ssl)
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            let roots = tls.rootCertificate.map { $0 == "system" ? "the system's CAs" : "sslrootcert '\($0)'" } ?? "the system's CAs (no sslrootcert)"
            return "postgres store '\(location)': the server's TLS certificate is not signed by a CA in \(roots); set sslrootcert to the PEM file of the CA that signed the server's certificate"
        }
        let detail = text.range(of: "OPENSSL_internal:").map { text[$0.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" } } ?? text.prefix(120)
        return "postgres store '\(location)': the TLS handshake failed (\(detail)); check the server's ssl settings and sslmode/sslrootcert in --store"
    }

    /// One line naming the server and the fix.
    static func startupFailure(_ error: any Error, location: String, user: String, database: String,
                               host: String = "", tls: PostgresTLS = .default) -> String {
        if let failure = tlsFailure(error, location: location, host: host, tls: tls) { return failure }
        if let error = error as? PSQLError, error.code == .server {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "28000" where (error.serverInfo?[.message] ?? "").contains("no encryption"):
                // pg_hba.conf has only `hostssl` lines for this client.
                return "postgres store '\(location)': the server requires TLS from this client (\(reason(error))); use sslmode=verify-full with sslrootcert=CA.pem (or sslmode=require) in --store"
            case "28P01", "28000":
                return "postgres store '\(location)': authentication failed for user '\(user)'; check the user and password in --store (and pg_hba.conf)"
            case "3D000":
                return "postgres store '\(location)': database '\(database)' does not exist; create it (createdb -O \(user) \(database)) or name another in --store"
            case let s where s.hasPrefix("57P"):
                return "postgres store '\(location)': the server is starting up or shutting down (\(reason(error))); retry when it is up"
            default:
                return "postgres store '\(location)' refused the connection: \(reason(error)); check --store and the server's settings"
            }
        }
        if let error = error as? PSQLError, [.authMechanismRequiresPassword, .unsupportedAuthMechanism, .saslError].contains(error.code) {
            return "postgres store '\(location)': authentication failed for user '\(user)' (\(error.code)); put the password in --store as postgres://user:PASSWORD@host:port/db"
        }
        return "postgres store '\(location)' is unreachable: \(reason(error)); start the server or fix host and port in --store"
    }
}

/// Customer ids notified and not yet handled.
private final class PendingIDs: Sendable {
    private let ids = Mutex<[String]>([])
    func add(_ id: String) { ids.withLock { $0.append(id) } }
    func take() -> [String] {
        ids.withLock { p in
            defer { p.removeAll() }
            return p
        }
    }
}

/// `COMMIT` failed: the transaction may or may not have been applied.
private struct CommitOutcomeUnknown: Error {
    let underlying: any Error
}

/// The columns of a chunk of profile updates as PostgreSQL binary arrays, written in one pass over the
/// updates: no per-row String for timestamps, no per-row buffer for the rolling state. Built as Swift arrays
/// of the values first (and those encoded by postgres-nio), 10,000 rows took 45–60 ms (probe, 2026-12-01).
private struct ProfileColumns: Sendable {
    var ids = BinaryArray<String>(), tenure = BinaryArray<Int>(), plan = BinaryArray<String>(), charges = BinaryArray<Double>()
    var score = BinaryArray<Double>(), model = BinaryArray<String>(), scoredAt = BinaryArray<String>()
    var pageViews = BinaryArray<Int>(), pricingViews = BinaryArray<Int>(), cancelViews = BinaryArray<Int>()
    var supportCalls = BinaryArray<Int>(), complaints = BinaryArray<Int>(), daysSinceLastVisit = BinaryArray<Double>()
    var state = BinaryArray<ByteBuffer>()
    var modelName = BinaryArray<String>(), arm = BinaryArray<String>(), featuresAsOf = BinaryArray<String>(), reasons = BinaryArray<String>()

    /// The columns of the updates at positions `range` of `updates`, in their order.
    init(_ updates: ProfileUpdates, _ range: Range<Int>) {
        var blob: [UInt8] = []
        blob.reserveCapacity(512)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.maxFormattedLength) { stamp in
            let text = stamp.baseAddress!
            func timestamp(_ millis: Int64?, _ column: inout BinaryArray<String>) {
                guard let millis else { return column.appendNull() }
                column.append(UnsafeBufferPointer(start: text, count: Timestamp.write(millis: millis, into: text)))
            }
            updates.forEach(in: range) { p in
                let u = p.pointee, a = u.profile.attributes, f = u.features
                ids.append(u.profile.customerID); tenure.append(a.tenureDays); plan.append(a.plan); charges.append(a.monthlyCharges)
                score.append(u.churnScore); model.append(u.modelVersion); timestamp(u.scoredAt, &scoredAt)
                pageViews.append(f.pageViews30d); pricingViews.append(f.pricingViews30d); cancelViews.append(f.cancelViews30d)
                supportCalls.append(f.supportCalls30d); complaints.append(f.complaints30d); daysSinceLastVisit.append(f.daysSinceLastVisit)
                u.profile.state.encode(into: &blob)
                blob.withUnsafeBufferPointer { state.append($0) }
                modelName.append(u.modelName); arm.append(u.arm); reasons.append(u.reasons)
                timestamp(u.featuresAsOf, &featuresAsOf)
            }
        }
    }
}

/// A one-dimensional PostgreSQL array in the binary format, its elements written as they are appended; they
/// may be NULL (postgres-nio's `Array` encoding has none). Format: ndim, has-null flag, element type, then
/// (length, lower bound) per dimension, then each element as a length (-1 for NULL) and its bytes, numbers
/// big-endian.
struct BinaryArray<Element: PostgresArrayEncodable>: PostgresNonThrowingEncodable, Sendable {
    private var elements = ByteBuffer()
    private(set) var count = 0
    private var hasNull = false

    static var psqlType: PostgresDataType { Element.psqlArrayType }
    static var psqlFormat: PostgresFormat { .binary }

    mutating func appendNull() {
        elements.writeInteger(-1, as: Int32.self)
        count += 1
        hasNull = true
    }

    /// An element's bytes as they are (text as UTF-8, bytea as is).
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        elements.writeInteger(Int32(bytes.count))
        elements.writeBytes(bytes)
        count += 1
    }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(count == 0 ? 0 : 1, as: Int32.self)
        buffer.writeInteger(hasNull ? 1 : 0, as: Int32.self)
        buffer.writeInteger(Element.psqlType.rawValue)
        guard count > 0 else { return }
        buffer.writeInteger(Int32(count))
        buffer.writeInteger(1, as: Int32.self)
        buffer.writeImmutableBuffer(elements)
    }
}

extension BinaryArray where Element == String {
    mutating func append(_ value: String?) {
        guard let value else { return appendNull() }
        let lengthIndex = elements.writerIndex
        elements.writeInteger(0, as: Int32.self)
        elements.setInteger(Int32(elements.writeString(value)), at: lengthIndex)
        count += 1
    }
}

extension BinaryArray where Element == Int {
    /// A bigint.
    mutating func append(_ value: Int) {
        elements.writeInteger(8, as: Int32.self)
        elements.writeInteger(Int64(value))
        count += 1
    }
}

extension BinaryArray where Element == Double {
    /// A float8: its IEEE 754 bits, big-endian.
    mutating func append(_ value: Double?) {
        guard let value else { return appendNull() }
        elements.writeInteger(8, as: Int32.self)
        elements.writeInteger(value.bitPattern)
        count += 1
    }
}

