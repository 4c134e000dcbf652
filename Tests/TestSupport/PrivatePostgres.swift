import Foundation
import Synchronization

/// A throw-away PostgreSQL cluster of the test's own, so that stopping or restarting it disturbs no other test:
/// `initdb` in a temporary directory, a login role owning the test's database, listening on loopback addresses on
/// a free port, and optionally accepting TCP connections only over TLS with a certificate made here by `openssl`.
///
/// It runs the PostgreSQL server binaries of the Debian packages (`/usr/lib/postgresql/VERSION/bin`, see
/// ``binaries``), as the `postgres` OS user when the tests run as root. `stop()` then `start()` (or `restart()`)
/// keep the data directory and the port, so a test can take the server away under a client and bring it back.
/// `destroy()`, or deinit whatever the test's outcome, stops the server and deletes its directory.
public final class PrivatePostgres: Sendable {
    // Sendable without `@unchecked`: every stored property is an immutable Sendable value set in init, except
    // `destroyed`, which lives in a `Mutex`; that mutex is also held around every `pg_ctl` call, so concurrent
    // start/stop/restart/destroy calls never race on the data directory.

    /// TLS for the server: `ssl = on` with a server certificate signed by a CA made for this server, and TCP
    /// connections accepted only over TLS (`hostssl` lines alone in `pg_hba.conf`). ``caFile`` is that CA;
    /// ``otherCAFile`` is an unrelated CA, for tests of a certificate that does not verify.
    public struct TLSSetup: Sendable {
        /// The subject's common name of the server certificate.
        public var commonName: String
        /// The certificate's `subjectAltName` entries (`openssl` syntax: `DNS:name`, `IP:address`).
        public var subjectAltNames: [String]

        /// A certificate for `localhost` (CN and DNS SAN) and `127.0.0.1` (IP SAN).
        public init(commonName: String = "localhost", subjectAltNames: [String] = ["DNS:localhost", "IP:127.0.0.1"]) {
            self.commonName = commonName
            self.subjectAltNames = subjectAltNames
        }
    }

    /// How the server is stopped (`pg_ctl -m`).
    public enum StopMode: String, Sendable {
        /// Waits for the clients to disconnect.
        case smart
        /// Disconnects the clients, rolling their transactions back, and shuts down cleanly.
        case fast
        /// Quits at once, like a crash: the next start recovers from the WAL.
        case immediate
    }

    /// The `bin` directory of the newest installed PostgreSQL server (with `initdb` and `pg_ctl`), or nil if there
    /// is none (tests that need a private server are then disabled, or fail naming the package to install).
    public static let binaries: String? = {
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") else { return nil }
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let bin = "/usr/lib/postgresql/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(bin)/pg_ctl") && FileManager.default.isExecutableFile(atPath: "\(bin)/initdb") {
                return bin
            }
        }
        return nil
    }()

    /// The temporary directory holding everything: the data directory, the Unix socket, certificates and logs.
    public let directory: String
    /// The TCP port, the same across `stop()`/`start()`/`restart()`.
    public let port: Int
    /// The login role for the test (not a superuser; it owns ``database``).
    public let user: String
    /// The database for the test.
    public let database: String
    /// The role's password; nil: TCP connections are trusted (no password asked).
    public let password: String?
    /// The TLS set-up; nil: the server has TLS off.
    public let tls: TLSSetup?
    /// The addresses the server listens on.
    public let addresses: [String]
    /// The PEM file of the CA that signed the server's certificate (nil without TLS).
    public var caFile: String? { tls == nil ? nil : "\(directory)/ca.pem" }
    /// The PEM file of a CA unrelated to the server's certificate (nil without TLS).
    public var otherCAFile: String? { tls == nil ? nil : "\(directory)/other-ca.pem" }
    /// The server's own log (`pg_ctl -l`).
    public var logFile: String { "\(directory)/server.log" }

    private let bin: String
    /// Whether `destroy()` ran; held while any `pg_ctl` runs.
    private let destroyed = Mutex(false)

    /// Creates the cluster and starts it on a random port below the kernel's ephemeral range (so that no client
    /// socket of a concurrent test holds it), trying another port if that one is taken.
    ///
    /// - Parameters:
    ///   - tls: certificates made with `openssl`, `ssl = on`, TCP only over TLS; nil: plain TCP only.
    ///   - user: the login role made for the test (the bootstrap superuser `postgres` is reachable only through the
    ///     Unix socket in ``directory``).
    ///   - database: the role's database, created for it (`postgres`: the existing one, handed to the role).
    ///   - password: with a password, TCP connections authenticate with it (scram-sha-256); nil: trust.
    ///   - addresses: loopback addresses to listen on (e.g. `127.0.0.2` as one the certificate does not name).
    public init(tls: TLSSetup? = nil, user: String = "streamscore", database: String = "postgres", password: String? = nil,
                addresses: [String] = ["127.0.0.1"]) throws {
        guard let bin = Self.binaries else {
            throw PrivatePostgresError(message: "PostgreSQL server binaries not found (/usr/lib/postgresql/VERSION/bin/initdb and pg_ctl): install the postgresql package (apt-get install postgresql) to run this test")
        }
        if tls != nil && !FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") {
            throw PrivatePostgresError(message: "/usr/bin/openssl not found: install the openssl package to run the TLS tests")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-pg-\(UUID().uuidString.prefix(8))").path
        (self.bin, self.directory, self.tls, self.user, self.database, self.password, self.addresses) = (bin, dir, tls, user, database, password, addresses)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            if let tls { try Self.makeCertificates(tls, in: dir) }
            if getuid() == 0 { try Self.run("/bin/chown", ["-R", "postgres:postgres", dir], log: nil) }
            try Self.asOwner(bin, dir, "initdb", ["-D", "\(dir)/data", "-U", "postgres", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-sync"])
            // TCP (over TLS only, with TLS) from any role, with the password if there is one; the Unix socket for setting up.
            let host = tls == nil ? "host   " : "hostssl"
            let method = password == nil ? "trust" : "scram-sha-256"
            try """
            local   all all                trust
            \(host) all all 127.0.0.0/8    \(method)
            \(host) all all ::1/128        \(method)

            """.write(toFile: "\(dir)/data/pg_hba.conf", atomically: false, encoding: .utf8)
            var settings = """

            listen_addresses = '\(addresses.joined(separator: ","))'
            unix_socket_directories = '\(dir)'
            fsync = off

            """
            if tls != nil { settings += "ssl = on\nssl_cert_file = '\(dir)/server.pem'\nssl_key_file = '\(dir)/server.key'\n" }
            let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/data/postgresql.conf"))
            defer { try? conf.close() }
            try conf.seekToEnd()
            try conf.write(contentsOf: Data(settings.utf8))

            var attempt = 0
            var port = 0
            while true {
                port = Int.random(in: 20_000..<32_000)
                do { try Self.pgCtl(bin, dir, Self.startArguments(dir, port)); break } catch where attempt < 5 { attempt += 1 }
            }
            // The password goes through a file, not the command line (which error messages show).
            let setup = "\(dir)/setup.sql"
            try Self.setupSQL(user: user, database: database, password: password).write(toFile: setup, atomically: false, encoding: .utf8)
            if getuid() == 0 { try Self.run("/bin/chown", ["postgres:postgres", setup], log: nil) }
            try Self.asOwner(bin, dir, "psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", dir, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-f", setup])
            try? FileManager.default.removeItem(atPath: setup)
            self.port = port
        } catch {
            Self.teardown(bin, dir)
            throw error
        }
    }

    /// Stops the server (immediately) and deletes its directory, whatever the test's outcome.
    deinit { destroy() }

    /// `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE[?QUERY]`, with the password in clear (for the client under test).
    public func url(host: String = "127.0.0.1", query: String? = nil) -> String {
        let secret = password.map { ":\($0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? $0)" } ?? ""
        return "postgres://\(user)\(secret)@\(host):\(port)/\(database)" + (query.map { "?\($0)" } ?? "")
    }

    /// Starts the stopped server again, on the same data directory and port (waits until it accepts connections).
    public func start() throws {
        try control(Self.startArguments(directory, port))
    }

    /// Stops the server (waits until it is down); `start()` brings it back with its data.
    public func stop(mode: StopMode = .fast) throws {
        try control(["-w", "-t", "60", "-m", mode.rawValue, "stop"])
    }

    /// Stops and starts the server, on the same data directory and port.
    public func restart(mode: StopMode = .fast) throws {
        try control(["-l", logFile, "-w", "-t", "60", "-m", mode.rawValue, "-o", "-p \(port)", "restart"])
    }

    /// Stops the server (immediately) and deletes its directory; idempotent. Later `start()` calls throw.
    public func destroy() {
        destroyed.withLock { destroyed in
            guard !destroyed else { return }
            destroyed = true
            Self.teardown(bin, directory)
        }
    }

    private func control(_ args: [String]) throws {
        try destroyed.withLock { destroyed in
            guard !destroyed else { throw PrivatePostgresError(message: "the private PostgreSQL server in \(directory) was destroyed") }
            try Self.pgCtl(bin, directory, args)
        }
    }

    private static func startArguments(_ dir: String, _ port: Int) -> [String] {
        ["-l", "\(dir)/server.log", "-w", "-t", "60", "-o", "-p \(port)", "start"]
    }

    private static func setupSQL(user: String, database: String, password: String?) -> String {
        func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        let secret = password.map { " PASSWORD '" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? ""
        var sql = user == "postgres" ? "ALTER ROLE postgres\(secret);\n" : "CREATE ROLE \(identifier(user)) LOGIN\(secret);\n"
        sql += database == "postgres" ? "ALTER DATABASE postgres OWNER TO \(identifier(user));\n"
                                      : "CREATE DATABASE \(identifier(database)) OWNER \(identifier(user));\n"
        return sql
    }

    private static func teardown(_ bin: String, _ dir: String) {
        if FileManager.default.fileExists(atPath: "\(dir)/data/postmaster.pid") {
            try? pgCtl(bin, dir, ["-w", "-t", "30", "-m", "immediate", "stop"])
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A CA, a server certificate it signs (with the set-up's CN and SANs), and an unrelated CA.
    private static func makeCertificates(_ tls: TLSSetup, in dir: String) throws {
        let openssl = "/usr/bin/openssl", log = "\(dir)/openssl.log"
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, cn) in [("ca", "StreamScore test CA"), ("other-ca", "Unrelated test CA")] {
            try run(openssl, ["req", "-x509"] + ec + ["-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem", "-days", "2",
                                                     "-subj", "/CN=\(cn)", "-addext", "basicConstraints=critical,CA:TRUE",
                                                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"], log: log)
        }
        try run(openssl, ["req"] + ec + ["-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=\(tls.commonName)"], log: log)
        try """
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature, keyEncipherment
        extendedKeyUsage = serverAuth
        subjectAltName = \(tls.subjectAltNames.joined(separator: ", "))

        """.write(toFile: "\(dir)/server.ext", atomically: false, encoding: .utf8)
        try run(openssl, ["x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key",
                          "-CAcreateserial", "-out", "\(dir)/server.pem", "-days", "2", "-extfile", "\(dir)/server.ext"], log: log)
        // The server refuses a key that others can read.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(dir)/server.key")
    }

    private static func pgCtl(_ bin: String, _ dir: String, _ args: [String]) throws {
        try asOwner(bin, dir, "pg_ctl", ["-D", "\(dir)/data"] + args)
    }

    /// Runs a server tool as the owner of the cluster (`postgres` when the tests run as root), its output in `DIR/TOOL.log`.
    private static func asOwner(_ bin: String, _ dir: String, _ tool: String, _ args: [String]) throws {
        let path = "\(bin)/\(tool)", log = "\(dir)/\(tool).log"
        if getuid() == 0 { try run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + args, log: log) } else { try run(path, args, log: log) }
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
            throw PrivatePostgresError(message: "cannot run \(path)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            let output = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
            throw PrivatePostgresError(message: "\(path) \(args.joined(separator: " ")) exited with status \(status): \(output.suffix(600))")
        }
    }
}

/// A private PostgreSQL server could not be set up or controlled; the message names the tool and ends with its output.
public struct PrivatePostgresError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
