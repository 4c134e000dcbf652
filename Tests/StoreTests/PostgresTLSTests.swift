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
        let server = try TLSOnlyPostgres()
        defer { server.destroy() }
        let pw = server.password
        func url(_ query: String, host: String = "localhost") -> String {
            "postgres://\(server.user):\(pw)@\(host):\(server.port)/\(server.database)?\(query)"
        }
        let ca = server.caFile, otherCA = server.otherCAFile

        // (a) verify-full with the CA, host name localhost: a real store round trip, over TLS.
        do {
            let store = try await StoreFactory.open(StoreURL(parsing: url("sslmode=verify-full&sslrootcert=\(ca)")))
            #expect(store.location == "postgres://\(server.user):***@localhost:\(server.port)/\(server.database)?sslmode=verify-full&sslrootcert=\(ca)")
            let customer = CustomerRecord(customerID: "TLS-1", attributes: StaticAttributes(tenureDays: 42, plan: "premium", monthlyCharges: 79.5))
            try await store.importCustomers([customer])
            let row = try #require(try await store.profileRow("TLS-1"))
            #expect(row.tenure_days == 42 && row.plan == "premium" && row.monthly_charges == 79.5)
            #expect(try await store.loadProfiles(["TLS-1"])["TLS-1"]?.attributes.plan == "premium")
            let postgres = try #require(store as? PostgresStore)
            #expect(try await postgres.executeForTesting("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == ["true"])
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
        let postgres = try #require(store as? PostgresStore)
        #expect(try await postgres.executeForTesting("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == ["false"])
        try await store.close()
        for mode in ["require", "verify-full"] {
            let url = try StoreURL(parsing: "\(base)?sslmode=\(mode)")
            let error = await #expect(throws: StoreError.self) { try await StoreFactory.open(url) }
            Self.expectStartupFailure(error, url: url, password: "hunter2", containing: ["does not offer TLS", "sslmode=\(mode) requires", "sslmode=prefer"])
        }
    }

    @Test("an engine (streamscore run) pointed at the TLS-only server with sslmode=verify-full imports, consumes and commits")
    func engineWithVerifyFull() async throws {
        let server = try TLSOnlyPostgres()
        defer { server.destroy() }
        let dir = try Shared.tempDir("streamscore-tls-engine")
        defer { try? FileManager.default.removeItem(at: dir) }
        // The first 300 events of the clean reference stream.
        let events = try Shared.lines("events_clean.jsonl").prefix(300)
        let file = dir.appendingPathComponent("events.jsonl")
        try Data(events.map { Data($0) + Data("\n".utf8) }.joined()).write(to: file)

        let store = "postgres://\(server.user):\(server.password)@localhost:\(server.port)/\(server.database)?sslmode=verify-full&sslrootcert=\(server.caFile)"
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
        #expect(!log.contains(server.password))

        let state = try await StoreFactory.open(StoreURL(parsing: store))
        #expect(try await state.profileCount() == 10_000)  // the --customers import, over TLS
        #expect(try await state.typeCounts().values.reduce(0, +) == 300)
        let scored = try await state.topRisk(limit: 5)
        #expect(!scored.isEmpty && scored.allSatisfy { $0.churn_score != nil })
        try await state.close()
    }

    // MARK: Helpers

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

/// A throw-away PostgreSQL cluster that accepts TCP connections only over TLS (`hostssl`, scram-sha-256) from a
/// role with a password, with a CA and a `localhost`/`127.0.0.1` server certificate made by `openssl`, and a
/// second CA unrelated to it. Listens on 127.0.0.1 and 127.0.0.2 on a free port. `destroy()` (or deinit) stops
/// it and deletes everything.
final class TLSOnlyPostgres: @unchecked Sendable {
    // @unchecked: immutable after init; the methods only run child processes.
    let dir: String
    private(set) var port = 0
    let user = "sstls"
    let database = "sstls"
    /// A fresh random password (tests check that no message contains it).
    let password = "pw" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20)
    var caFile: String { "\(dir)/ca.pem" }
    var otherCAFile: String { "\(dir)/other-ca.pem" }
    private let bin: String
    private var destroyed = false

    static let binaries: String? = {
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") else { return nil }
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let bin = "/usr/lib/postgresql/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(bin)/pg_ctl") && FileManager.default.isExecutableFile(atPath: "\(bin)/initdb") {
                return bin
            }
        }
        return nil
    }()

    init() throws {
        guard let bin = Self.binaries else {
            throw StoreError(.unavailable, "PostgreSQL server binaries not found (/usr/lib/postgresql/VERSION/bin/initdb and pg_ctl): install the postgresql package (apt-get install postgresql) to run the TLS tests")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw StoreError(.unavailable, "/usr/bin/openssl not found: install the openssl package to run the TLS tests")
        }
        self.bin = bin
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-pgtls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            try makeCertificates()
            if getuid() == 0 { try Self.run("/bin/chown", ["-R", "postgres:postgres", dir], log: nil) }
            try Self.run("/bin/chmod", ["0600", "\(dir)/server.key"], log: nil)
            try asOwner("initdb", ["-D", "\(dir)/data", "-U", "postgres", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-sync"])
            // TCP only over TLS, with a password; the Unix socket (in `dir`) for setting up.
            try """
            local   all all                trust
            hostssl all all 127.0.0.0/8    scram-sha-256
            hostssl all all ::1/128        scram-sha-256

            """.write(toFile: "\(dir)/data/pg_hba.conf", atomically: false, encoding: .utf8)
            try """

            listen_addresses = '127.0.0.1,127.0.0.2'
            unix_socket_directories = '\(dir)'
            fsync = off
            ssl = on
            ssl_cert_file = '\(dir)/server.pem'
            ssl_key_file = '\(dir)/server.key'

            """.appendLine(toFile: "\(dir)/data/postgresql.conf")
            var attempt = 0
            while true {
                port = Int.random(in: 20_000..<32_000)
                do {
                    try asOwner("pg_ctl", ["-D", "\(dir)/data", "-l", "\(dir)/server.log", "-w", "-t", "60", "-o", "-p \(port)", "start"])
                    break
                } catch where attempt < 5 {
                    attempt += 1
                }
            }
            // The password goes through a file, not the command line (which error messages show).
            let setup = "\(dir)/setup.sql"
            try "CREATE ROLE \(user) LOGIN PASSWORD '\(password)';\nCREATE DATABASE \(database) OWNER \(user);\n"
                .write(toFile: setup, atomically: false, encoding: .utf8)
            if getuid() == 0 { try Self.run("/bin/chown", ["postgres:postgres", setup], log: nil) }
            try asOwner("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", dir, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-f", setup])
            try? FileManager.default.removeItem(atPath: setup)
        } catch {
            destroy()
            throw error
        }
    }

    deinit { destroy() }

    /// Stops the server (immediately) and deletes its directory; idempotent.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        if FileManager.default.fileExists(atPath: "\(dir)/data/postmaster.pid") {
            try? asOwner("pg_ctl", ["-D", "\(dir)/data", "-w", "-t", "30", "-m", "immediate", "stop"])
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A CA, a server certificate it signs (CN and SAN localhost, SAN IP 127.0.0.1), and an unrelated CA.
    private func makeCertificates() throws {
        let openssl = "/usr/bin/openssl"
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, cn) in [("ca", "StreamScore test CA"), ("other-ca", "Unrelated test CA")] {
            try Self.run(openssl, ["req", "-x509"] + ec + ["-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem", "-days", "2",
                                    "-subj", "/CN=\(cn)", "-addext", "basicConstraints=critical,CA:TRUE",
                                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], log: "\(dir)/openssl.log")
        }
        try Self.run(openssl, ["req"] + ec + ["-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=localhost"],
                     log: "\(dir)/openssl.log")
        try """
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature, keyEncipherment
        extendedKeyUsage = serverAuth
        subjectAltName = DNS:localhost, IP:127.0.0.1

        """.write(toFile: "\(dir)/server.ext", atomically: false, encoding: .utf8)
        try Self.run(openssl, ["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key",
                               "-CAcreateserial", "-out", "\(dir)/server.pem", "-days", "2", "-extfile", "\(dir)/server.ext"],
                     log: "\(dir)/openssl.log")
    }

    private func asOwner(_ tool: String, _ args: [String]) throws {
        let path = "\(bin)/\(tool)"
        let log = "\(dir)/\(tool).log"
        if getuid() == 0 { try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + args, log: log) } else { try Self.run(path, args, log: log) }
    }

    /// Runs a tool to completion, its output appended to `log` (posix_spawn + waitpid: Foundation's `Process`
    /// waits forever for `pg_ctl start`, whose server child keeps inherited descriptors open).
    private static func run(_ path: String, _ args: [String], log: String?) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The server outlives the tool: it must not keep this process's pipes and sockets open.
        let inherited = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init).filter { $0 > 2 }
        for fd in inherited where fcntl(fd, F_GETFD) >= 0 { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else {
            throw StoreError(.unavailable, "cannot run \(path)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            let output = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
            throw StoreError(.unavailable, "\(path) \(args.joined(separator: " ")) exited with status \(status): \(output.suffix(600))")
        }
    }
}

private extension String {
    func appendLine(toFile path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(utf8))
    }
}
