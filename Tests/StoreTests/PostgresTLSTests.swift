import Features
import Foundation
import Store
import Testing
import TestSupport

/// `sslmode` and `sslrootcert` in the PostgreSQL store URL: parsing, and connections to a throw-away PostgreSQL
/// server that accepts only TLS (a CA and a server certificate for `localhost` made here with `openssl`).
@Suite("PostgreSQL TLS: sslmode and sslrootcert", .serialized, .timeLimit(.minutes(4)))
struct PostgresTLSTests {
    // MARK: URL parsing (no server)

    @Test("sslmode and sslrootcert are parsed; the default is prefer; postgresql:// is accepted")
    func parsing() throws {
        let plain = try StoreURL(parsing: "postgres://u:secret@db.local:5433/ss")
        #expect(plain == .postgres(host: "db.local", port: 5433, user: "u", password: "secret", database: "ss"))
        #expect(plain.postgresServer?.tls == .default && PostgresTLS.default.mode == .prefer && PostgresTLS.default.rootCertificate == nil)

        let full = try StoreURL(parsing: "postgresql://u:secret@db.local/ss?sslmode=verify-full&sslrootcert=/etc/pg/ca.pem")
        #expect(full == .postgres(host: "db.local", port: 5432, user: "u", password: "secret", database: "ss",
                                     tls: PostgresTLS(mode: .verifyFull, rootCertificate: "/etc/pg/ca.pem")))
        #expect(full.description == "postgres://u:***@db.local:5432/ss?sslmode=verify-full&sslrootcert=/etc/pg/ca.pem")

        let modes: [(String, PostgresTLS.Mode)] = [("disable", .disable), ("prefer", .prefer), ("require", .require),
                                                   ("verify-ca", .verifyCA), ("verify-full", .verifyFull)]
        for (text, mode) in modes {
            let url = try StoreURL(parsing: "postgres://u@h/db?sslmode=\(text)")
            #expect(url.postgresServer?.tls == PostgresTLS(mode: mode))
            #expect(url.description == (mode == .prefer ? "postgres://u@h:5432/db" : "postgres://u@h:5432/db?sslmode=\(text)"))
        }
        // An explicit default is the default; the order of the parameters does not matter; values are percent-decoded.
        #expect(try StoreURL(parsing: "postgres://u:pw@h/db?sslmode=prefer") == StoreURL(parsing: "postgres://u:pw@h/db"))
        #expect(try StoreURL(parsing: "postgres://u@h/db?sslrootcert=/a%20b/ca.pem&sslmode=require").postgresServer?.tls
                == PostgresTLS(mode: .require, rootCertificate: "/a b/ca.pem"))
        #expect(try StoreURL(parsing: "postgres://u@h/db?sslrootcert=system").postgresServer?.tls == PostgresTLS(mode: .prefer, rootCertificate: "system"))
        // The default TLS settings are the omitted ones.
        #expect(StoreURL.postgres(host: "h", port: 1, user: "u", password: nil, database: "d", tls: .default)
                == .postgres(host: "h", port: 1, user: "u", password: nil, database: "d"))
        #expect(StoreURL.postgres(host: "h", port: 1, user: "u", password: nil, database: "d", tls: PostgresTLS(mode: .disable))
                != .postgres(host: "h", port: 1, user: "u", password: nil, database: "d"))
    }

    @Test("bad TLS parameters fail parsing with one line naming the parameter and the fix, never the password")
    func badParameters() {
        let cases: [(String, [String])] = [
            ("postgres://u:hunter2@h/db?sslmode=bogus", ["sslmode 'bogus'", "verify-full"]),
            ("postgres://u:hunter2@h/db?sslmode=", ["sslmode ''", "verify-full"]),
            ("postgres://u:hunter2@h/db?sslmode=allow", ["sslmode 'allow'", "prefer"]),
            ("postgres://u:hunter2@h/db?sslrootcert=", ["sslrootcert is empty", "sslrootcert=/path/ca.pem"]),
            ("postgres://u:hunter2@h/db?sslmode=require&sslmode=disable", ["'sslmode' is given twice"]),
            ("postgres://u:hunter2@h/db?sslmod=verify-full", ["parameter 'sslmod' is not supported", "sslmode="]),
            ("postgres://u@h/db?password=hunter2", ["parameter 'password' is not supported"]),
        ]
        for (text, needles) in cases {
            let error = #expect(throws: StoreError.self) { try StoreURL(parsing: text) }
            let message = error?.description ?? ""
            #expect(error?.kind == .badURL)
            for needle in needles { #expect(message.contains(needle), "\(message)") }
            #expect(!message.contains("hunter2") && !message.contains("\n"), "\(message)")
        }
        // A malformed URL with a query: the query is not echoed either (it may hold a password).
        let error = #expect(throws: StoreError.self) { try StoreURL(parsing: "postgres://h/db?password=hunter2") }
        #expect(error?.description.contains("hunter2") == false, "\(String(describing: error))")
    }

    @Test("an sslrootcert that cannot be read fails start-up naming sslrootcert and the fix (before connecting)")
    func unreadableRootCertificate() async throws {
        let dir = try Shared.tempDir("streamscore-tls-unit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let garbage = dir.appendingPathComponent("garbage.pem")
        try Data("not a certificate\n".utf8).write(to: garbage)
        let cases: [(String, String)] = [
            ("\(dir.path)/missing.pem", "does not exist"),
            (dir.path, "is a directory"),
            (garbage.path, "is not a PEM certificate file"),
        ]
        for (path, why) in cases {
            // Port 1: nothing listens, so a message about the file proves it was checked first.
            let url = try StoreURL(parsing: "postgres://u:hunter2@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=\(path)")
            let error = await #expect(throws: StoreError.self) { try await StoreFactory.open(url) }
            let message = error?.description ?? ""
            #expect(error?.kind == .badURL)
            #expect(message.contains("sslrootcert '\(path)' \(why)") && message.contains("PEM file of the CA"), "\(message)")
            #expect(message.contains("postgres://u:***@127.0.0.1:1/db?sslmode=verify-full"), "\(message)")
            #expect(!message.contains("hunter2") && !message.contains("\n"), "\(message)")
        }
        // With sslmode=disable the file is not used (as in libpq), so it is not read.
        let disabled = try StoreURL(parsing: "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&sslrootcert=\(dir.path)/missing.pem")
        let error = await #expect(throws: StoreError.self) { try await StoreFactory.open(disabled) }
        #expect(error?.kind == .unavailable && error?.description.contains("unreachable") == true, "\(String(describing: error))")
    }

    // MARK: Against a TLS-only server

    @Test("a TLS-only server: verify-full/verify-ca/require/prefer connect and round-trip; disable, a wrong CA and a wrong host fail clearly")
    func tlsOnlyServer() async throws {
        let server = try Self.tlsOnlyServer()
        defer { server.destroy() }
        let pw = try #require(server.password)
        func url(_ query: String, host: String = "localhost") -> String {
            "postgres://\(server.user):\(pw)@\(host):\(server.port)/\(server.database)?\(query)"
        }
        let ca = try #require(server.caFile), otherCA = try #require(server.otherCAFile)

        // (a) verify-full with the CA, host name localhost: a real store round trip, over TLS.
        do {
            let store = try await StoreFactory.open(StoreURL(parsing: url("sslmode=verify-full&sslrootcert=\(ca)")))
            #expect(store.location == "postgres://\(server.user):***@localhost:\(server.port)/\(server.database)?sslmode=verify-full&sslrootcert=\(ca)")
            let customer = CustomerRecord(customerID: "TLS-1", attributes: StaticAttributes(tenureDays: 42, plan: "premium", monthlyCharges: 79.5))
            try await store.importCustomers([customer])
            let row = try #require(try await store.profileRow("TLS-1"))
            #expect(row.tenure_days == 42 && row.plan == "premium" && row.monthly_charges == 79.5)
            #expect(try await store.loadProfiles(["TLS-1"])["TLS-1"]?.attributes.plan == "premium")
            // The store's own sessions (application_name streamscore), seen from a separate psql session.
            #expect(try psql(server.url(query: "sslmode=require"), "SELECT ssl::text FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'streamscore' LIMIT 1") == ["true"])
            try await store.close()
        }
        // verify-full against the IP address: the certificate's IP SAN matches.
        try await Self.roundTrip(url("sslmode=verify-full&sslrootcert=\(ca)", host: "127.0.0.1"))
        // (d) require (and the default, prefer) connect without a CA, like libpq; verify-ca checks the chain only.
        try await Self.roundTrip(url("sslmode=require"))
        try await Self.roundTrip("postgres://\(server.user):\(pw)@localhost:\(server.port)/\(server.database)")
        try await Self.roundTrip(url("sslmode=verify-ca&sslrootcert=\(ca)", host: "127.0.0.2"))

        // (b) disable: the server refuses a connection without TLS; the message names the server and the fix.
        let disabled = try StoreURL(parsing: url("sslmode=disable"))
        let plain = await #expect(throws: StoreError.self) { try await StoreFactory.open(disabled) }
        Self.expectStartupFailure(plain, url: disabled, password: pw, containing: ["requires TLS", "sslmode=verify-full"])

        // (c) verify-full with a CA that did not sign the server's certificate: a certificate error.
        let wrongCA = try StoreURL(parsing: url("sslmode=verify-full&sslrootcert=\(otherCA)"))
        let untrusted = await #expect(throws: StoreError.self) { try await StoreFactory.open(wrongCA) }
        Self.expectStartupFailure(untrusted, url: wrongCA, password: pw, containing: ["certificate", "sslrootcert"])
        // require with a root certificate checks the chain (libpq: as verify-ca), so the wrong CA fails too.
        let requireWrongCA = try StoreURL(parsing: url("sslmode=require&sslrootcert=\(otherCA)"))
        let requireUntrusted = await #expect(throws: StoreError.self) { try await StoreFactory.open(requireWrongCA) }
        Self.expectStartupFailure(requireUntrusted, url: requireWrongCA, password: pw, containing: ["certificate"])
        // verify-full without sslrootcert: the system's CAs do not know the test CA.
        let systemCAs = try StoreURL(parsing: url("sslmode=verify-full"))
        let unknown = await #expect(throws: StoreError.self) { try await StoreFactory.open(systemCAs) }
        Self.expectStartupFailure(unknown, url: systemCAs, password: pw, containing: ["certificate"])
        // verify-full to an address the certificate does not name (127.0.0.2 reaches the same server).
        let wrongHost = try StoreURL(parsing: url("sslmode=verify-full&sslrootcert=\(ca)", host: "127.0.0.2"))
        let mismatch = await #expect(throws: StoreError.self) { try await StoreFactory.open(wrongHost) }
        Self.expectStartupFailure(mismatch, url: wrongHost, password: pw, containing: ["host name", "127.0.0.2"])

        // (e) a bogus sslmode fails before any connection, naming sslmode.
        let bogus = #expect(throws: StoreError.self) { try StoreURL(parsing: url("sslmode=bogus")) }
        #expect(bogus?.kind == .badURL && bogus?.description.contains("sslmode 'bogus'") == true, "\(String(describing: bogus))")
        #expect(bogus?.description.contains(pw) == false)
    }

    @Test("a server without TLS: prefer (the default) falls back to plain; require fails naming sslmode and the fix")
    func serverWithoutTLS() async throws {
        guard PrivatePostgres.binaries != nil else {
            Issue.record("PostgreSQL server binaries not found under /usr/lib/postgresql/VERSION/bin: install the postgresql package")
            return
        }
        let server = try PrivatePostgres()  // ssl = off (initdb's default), trust authentication
        defer { server.destroy() }
        let base = "postgres://streamscore@127.0.0.1:\(server.port)/postgres"
        let store = try await StoreFactory.open(StoreURL(parsing: base))
        #expect(store.location == "\(base)?sslmode=prefer")
        _ = try await store.profileCount()  // a pooled session of the store exists now
        #expect(try psql(server.url(query: "sslmode=disable"), "SELECT ssl::text FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'streamscore' LIMIT 1") == ["false"])
        try await store.close()
        for mode in ["require", "verify-full"] {
            let url = try StoreURL(parsing: "\(base)?sslmode=\(mode)")
            let error = await #expect(throws: StoreError.self) { try await StoreFactory.open(url) }
            Self.expectStartupFailure(error, url: url, password: "hunter2", containing: ["does not offer TLS", "sslmode=\(mode) requires", "sslmode=prefer"])
        }
    }

    @Test("an engine (streamscore run) pointed at the TLS-only server with sslmode=verify-full imports, consumes and commits")
    func engineWithVerifyFull() async throws {
        let server = try Self.tlsOnlyServer()
        defer { server.destroy() }
        let (password, ca) = (try #require(server.password), try #require(server.caFile))
        let dir = try Shared.tempDir("streamscore-tls-engine")
        defer { try? FileManager.default.removeItem(at: dir) }
        // The first 300 events of the clean reference stream.
        let events = try Shared.lines("events_clean.jsonl").prefix(300)
        let file = dir.appendingPathComponent("events.jsonl")
        try Data(events.map { Data($0) + Data("\n".utf8) }.joined()).write(to: file)

        let store = "postgres://\(server.user):\(password)@localhost:\(server.port)/\(server.database)?sslmode=verify-full&sslrootcert=\(ca)"
        let broker = try BrokerProcess(partitions: 2, topic: "page-views")
        defer { broker.stop() }
        let producer = try ProducerProcess(file: file, bootstrap: broker.bootstrap, topic: "page-views", rate: 5_000)
        #expect(producer.waitExit(timeout: 60) == 0)
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--store", store, "--model", Shared.model("logreg.pmml").path,
                                        "--customers", Shared.reference("customers.csv").path,
                                        "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500", "--log-level", "warning"],
                                       logDir: dir, name: "engine")
        defer { if engine.process.isRunning { engine.signal(SIGKILL) } }
        var drained = false
        for _ in 0..<600 where !drained {
            let s = engine.status()
            drained = s["prediction"].map { $0.processed + $0.malformed } == 300 && s["counter"].map { $0.processed + $0.malformed } == 300
                && s["prediction"]?.lag == 0 && s["counter"]?.lag == 0
            if !drained { try await Task.sleep(for: .milliseconds(100)) }
        }
        let log = (try? String(contentsOf: engine.stderrFile, encoding: .utf8)) ?? ""
        #expect(drained, "engine did not drain 300 events: \(log.suffix(1500))")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0, "\(log.suffix(1500))")
        #expect(!log.contains(password))

        let state = try await StoreFactory.open(StoreURL(parsing: store))
        #expect(try await state.profileCount() == 10_000)  // the --customers import, over TLS
        #expect(try await state.typeCounts().values.reduce(0, +) == 300)
        let scored = try await state.topRisk(limit: 5)
        #expect(!scored.isEmpty && scored.allSatisfy { $0.churn_score != nil })
        try await state.close()
    }

    // MARK: Helpers

    /// A throw-away PostgreSQL cluster that accepts TCP connections only over TLS (`hostssl`, scram-sha-256) from
    /// the role `sstls` with a fresh random password (tests check that no message contains it), with a CA and a
    /// `localhost`/`127.0.0.1` server certificate made by `openssl`, and a second CA unrelated to it. Listens on
    /// 127.0.0.1 and 127.0.0.2 (which the certificate does not name).
    static func tlsOnlyServer() throws -> PrivatePostgres {
        try PrivatePostgres(tls: PrivatePostgres.TLSSetup(), user: "sstls", database: "sstls",
                            password: "pw" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20),
                            addresses: ["127.0.0.1", "127.0.0.2"])
    }

    /// Opens the store, writes and reads a customer back, closes it.
    static func roundTrip(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let store = try await StoreFactory.open(StoreURL(parsing: text))
        let id = "TLS-\(UUID().uuidString.prefix(8))"
        try await store.importCustomers([CustomerRecord(customerID: id, attributes: StaticAttributes(tenureDays: 7, plan: "basic", monthlyCharges: 10))])
        #expect(try await store.profileRow(id)?.plan == "basic", sourceLocation: sourceLocation)
        try await store.close()
    }

    /// A start-up failure is one line, names the server (password redacted) and says what to do.
    static func expectStartupFailure(_ error: StoreError?, url: StoreURL, password: String, containing needles: [String],
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        let message = error?.description ?? "no error"
        guard let server = url.postgresServer else { return }
        #expect(error?.kind == .unavailable, "\(message)", sourceLocation: sourceLocation)
        #expect(message.contains("postgres://\(server.user)\(server.password == nil ? "" : ":***")@\(server.host):\(server.port)/\(server.database)?\(server.tls)"), "\(message)",
                sourceLocation: sourceLocation)
        for needle in needles { #expect(message.contains(needle), "\(message)", sourceLocation: sourceLocation) }
        #expect(!message.contains(password) && !message.contains("\n"), "\(message)", sourceLocation: sourceLocation)
    }
}
