import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Scoring
import Store
import Synchronization
import Testing
import TestSupport

@testable import HTTPAPI

/// The HTTP API's protection (docs/security.md), in process: bearer tokens on every data route, open
/// health routes, a separate metrics token, percent-decoded profile ids, body limits and the read
/// timeout, the in-flight cap.
@Suite("HTTP API security (in process)", .timeLimit(.minutes(2)))
struct HTTPSecurityTests {
    static let token = "tk-0123456789abcdefghijklmnopqrs"  // 32 characters
    static let metricsToken = "mt-ZYXWVUTSRQPONMLKJIHGFEDCBA987"
    static let scoreBody = #"{"tenure_days":10,"plan":"basic","monthly_charges":20,"page_views_30d":3,"pricing_views_30d":1,"cancel_views_30d":2,"support_calls_30d":1,"complaints_30d":0,"days_since_last_visit":3.5}"#

    /// An application over a fresh SQLite store (customers `extra` imported), with `security`.
    func withApp<T: Sendable>(_ security: HTTPSecurity, customers extra: [String] = [],
                              _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let dir = try Shared.tempDir("http-security")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try await StoreFactory.open(.sqlite(path: dir.appendingPathComponent("s.db").path))
        if !extra.isEmpty {
            let csv = "customer_id,tenure_days,plan,monthly_charges\n" + extra.map { "\"\($0)\",10,basic,20\n" }.joined()
            try await store.importCustomers(CustomerCSV.parse(Data(csv.utf8), file: "test.csv"))
        }
        let context = EngineContext(store: store, models: try ModelRegistry(contentsOf: Shared.model("logreg.pmml")),
                                    subscribers: [], prometheus: PrometheusCollectorRegistry())
        let app = Application(router: HTTPAPI.router(context, security: security))
        let result = try await app.test(.router) { client in try await body(client) }
        try await store.close()
        return result
    }

    /// The data routes: method, path, body.
    static let dataRoutes: [(HTTPRequest.Method, String, String?)] = [
        (.get, "/status", nil), (.get, "/profiles/x", nil), (.get, "/counters/pages", nil), (.get, "/counters/types", nil),
        (.get, "/counters/minutes", nil), (.post, "/score", scoreBody), (.get, "/dashboard/summary", nil),
    ]

    @Test("with a token, every data route answers 401 to a missing, wrong, prefix, extended or Basic credential, and serves the right one")
    func dataRoutesNeedTheToken() async throws {
        var security = HTTPSecurity()
        security.apiToken = Self.token
        try await withApp(security) { client async throws in
            let basic = Data("user:\(Self.token)".utf8).base64EncodedString()
            let wrong: [(String, String?)] = [
                ("no header", nil),
                ("wrong token", "Bearer tk-0123456789abcdefghijklmnopqrX"),
                ("prefix of the token", "Bearer " + Self.token.dropLast()),
                ("token plus a byte", "Bearer " + Self.token + "s"),
                ("empty bearer", "Bearer "),
                ("the token without a scheme", Self.token),
                ("Basic", "Basic \(basic)"),
                ("Basic with the token", "Basic \(Self.token)"),
            ]
            for (method, path, body) in Self.dataRoutes {
                for (what, authorization) in wrong {
                    var headers: HTTPFields = [:]
                    if let authorization { headers[.authorization] = authorization }
                    let response = try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                    #expect(response.status == .unauthorized, "\(method) \(path) with \(what): \(response.status)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(method) \(path) with \(what)")
                }
                let response = try await client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(Self.token)"],
                                                        body: body.map { ByteBuffer(string: $0) })
                let expected: HTTPResponse.Status = path == "/profiles/x" ? .notFound : .ok
                #expect(response.status == expected, "\(method) \(path) with the token: \(response.status) \(String(buffer: response.body))")
            }
            // The open routes need nothing.
            let healthz = try await client.execute(uri: "/healthz", method: .get)
            #expect(healthz.status == .ok && String(buffer: healthz.body) == "ok")
            let readyz = try await client.execute(uri: "/readyz", method: .get)
            #expect(readyz.status == .ok && String(buffer: readyz.body) == "ready", "no subscribers: nothing can stall, so ready")
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok && page.headers[.contentType]?.hasPrefix("text/html") == true)
        }
    }

    @Test("a metrics token guards /metrics alone: the API token does not open it, nor it the data routes")
    func metricsToken() async throws {
        var security = HTTPSecurity()
        security.apiToken = Self.token
        security.metricsToken = Self.metricsToken
        try await withApp(security) { client async throws in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.token)"]).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.metricsToken)"]).status == .ok)
            #expect(try await client.execute(uri: "/status", method: .get, headers: [.authorization: "Bearer \(Self.metricsToken)"]).status == .unauthorized)
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
        // Without any token (loopback mode) the data routes are open.
        try await withApp(HTTPSecurity()) { client async throws in
            #expect(try await client.execute(uri: "/status", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
        }
    }

    @Test("/profiles/{id} percent-decodes the id exactly once: a b, a/b, 100%, ü")
    func percentDecodedProfileIDs() async throws {
        var security = HTTPSecurity()
        security.apiToken = Self.token
        try await withApp(security, customers: ["a b", "a/b", "100%", "ü", "a%20b"]) { client async throws in
            let auth: HTTPFields = [.authorization: "Bearer \(Self.token)"]
            for (path, id) in [("a%20b", "a b"), ("a%2Fb", "a/b"), ("100%25", "100%"), ("%C3%BC", "ü"), ("a%2520b", "a%20b")] {
                let response = try await client.execute(uri: "/profiles/\(path)", method: .get, headers: auth)
                #expect(response.status == .ok, "/profiles/\(path): \(response.status)")
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(object?["customer_id"] as? String == id, "/profiles/\(path)")
            }
            let raw = try await client.execute(uri: "/profiles/a%20b", method: .get, headers: auth)
            #expect(String(buffer: raw.body).contains(#""customer_id":"a b""#))
            #expect(try await client.execute(uri: "/profiles/%ZZ", method: .get, headers: auth).status == .badRequest)
            #expect(try await client.execute(uri: "/profiles/nobody", method: .get, headers: auth).status == .notFound)
        }
    }

    @Test("POST /score: a declared Content-Length over the limit is 413 before any body; a 20 KiB body is 413; a body at the limit is read")
    func bodyLimits() async throws {
        var security = HTTPSecurity()
        security.apiToken = Self.token
        try await withApp(security) { client async throws in
            // The router test client sends no body and does not overwrite a declared length: the handler
            // sees Content-Length: 1000000 and must refuse on the declaration alone.
            let declared = try await client.execute(uri: "/score", method: .post,
                                                    headers: [.authorization: "Bearer \(Self.token)", .contentLength: "1000000"])
            #expect(declared.status == .contentTooLarge, "\(declared.status)")
            let big = ByteBuffer(string: "{\"pad\":\"" + String(repeating: "x", count: 20 << 10) + "\"}")
            let tooBig = try await client.execute(uri: "/score", method: .post, headers: [.authorization: "Bearer \(Self.token)"], body: big)
            #expect(tooBig.status == .contentTooLarge, "\(tooBig.status)")
            // Exactly 16 KiB of valid JSON (the score body padded with spaces) is within the limit.
            let padded = Self.scoreBody + String(repeating: " ", count: (16 << 10) - Self.scoreBody.utf8.count)
            let atLimit = try await client.execute(uri: "/score", method: .post, headers: [.authorization: "Bearer \(Self.token)"],
                                                   body: ByteBuffer(string: padded))
            #expect(atLimit.status == .ok, "\(atLimit.status) \(String(buffer: atLimit.body))")
            let object = try JSONSerialization.jsonObject(with: Data(buffer: atLimit.body)) as? [String: Any]
            #expect((object?["probability"] as? Double).map { (0...1).contains($0) } == true)
        }
    }

    @Test("readBody: a body that stops arriving ends the request with 408 at the read timeout")
    func readTimeout() async throws {
        let (body, source) = RequestBody.makeStream()
        await source.yield(ByteBuffer(string: "{\"tenure_days\":"))
        let request = Request(head: .init(method: .post, scheme: "http", authority: "localhost", path: "/score"), body: body)
        let start = ContinuousClock.now
        // Fallback only: if readBody ignored its timeout, finishing the stream after 30 s ends the test
        // instead of hanging it, and readBody then returns the partial body instead of throwing 408.
        let fallback = Task {
            try await Task.sleep(for: .seconds(30))
            source.finish()
        }
        defer { fallback.cancel() }
        await #expect(throws: HTTPError.self) {
            do {
                _ = try await HTTPAPI.readBody(request, limit: 16 << 10, timeout: .milliseconds(300))
            } catch let error as HTTPError {
                #expect(error.status == .requestTimeout, "\(error)")
                throw error
            }
        }
        // Loose: on a busy 2-core machine other tests' blocking work can delay this task's timers.
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(20), "readBody returned after \(elapsed); the timeout was 300 ms")
    }

    @Test("InFlightLimit: past the limit a request gets 429 with Retry-After without running; a freed slot serves again")
    func inFlightLimit() async throws {
        let limit = InFlightLimit(limit: 2)
        let (entered, enteredSignal) = AsyncStream.makeStream(of: Int.self)
        var releases: [AsyncStream<Void>.Continuation] = []
        try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
            for i in 0..<2 {
                let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
                releases.append(releaseSignal)
                group.addTask {
                    try await limit.run {
                        enteredSignal.yield(i)
                        for await _ in release {}
                        return Response(status: .ok)
                    }.status
                }
            }
            var iterator = entered.makeAsyncIterator()
            _ = await iterator.next()
            _ = await iterator.next()
            let ran = Mutex(false)
            let refused = try await limit.run {
                ran.withLock { $0 = true }
                return Response(status: .ok)
            }
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(!ran.withLock { $0 })
            for release in releases { release.finish() }
            for try await status in group { #expect(status == .ok) }
        }
        #expect(try await limit.run { Response(status: .ok) }.status == .ok)
    }
}

/// The engine's start-up refusals and HTTPS, as a user meets them (child processes).
@Suite("Security of streamscore run (child processes)", .serialized, .timeLimit(.minutes(3)))
struct SecurityCLITests {
    /// This process's environment without an API token (one set in the caller's shell must not leak in).
    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["STREAMSCORE_API_TOKEN"] = nil
        return env
    }

    func tokenFile(_ dir: URL, _ token: String = "abcdefghijklmnopqrstuvwxyz012345") throws -> URL {
        let url = dir.appendingPathComponent("token")
        try (token + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("a non-loopback --http without a token refuses to start, with one line naming --api-token-file; with a token file it serves")
    func nonLoopbackNeedsAToken() async throws {
        let dir = try Shared.tempDir("nonloopback")
        let started = ContinuousClock.now
        let env = environment
        let refused = try await offPool {
            try runCapturing(Shared.streamscore.path, ["run", "--http", "0.0.0.0:0", "--store", "sqlite:\(dir.path)/a.db"], environment: env, timeout: 20)
        }
        let took = ContinuousClock.now - started
        #expect(refused.status != nil && refused.status != 0, "status \(String(describing: refused.status)) after \(took)")
        #expect(took < .seconds(10), "took \(took)")
        let lines = refused.stderr.split(separator: "\n")
        #expect(lines.count == 1 && refused.stderr.contains("--api-token-file"), "stderr: \(refused.stderr)")
        #expect(!refused.stdout.contains("http:"), "it must not have bound: \(refused.stdout)")
        // Nothing was created: it refused before opening the store.
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/a.db"))

        // A short token is refused too, without printing it.
        let short = try tokenFile(dir, "Short-Secret-1")
        let tooShort = try await offPool {
            try runCapturing(Shared.streamscore.path, ["run", "--http", "0.0.0.0:0", "--store", "sqlite:\(dir.path)/b.db", "--api-token-file", short.path],
                             environment: env, timeout: 20)
        }
        #expect(tooShort.status != nil && tooShort.status != 0)
        #expect(tooShort.stderr.contains("at least 16") && !(tooShort.stdout + tooShort.stderr).contains("Short-Secret-1"), "\(tooShort.stderr)")

        // With a 32-character token file it starts (EngineProcess's own --http comes first; the last one wins).
        let token = "abcdefghijklmnopqrstuvwxyz012345"
        let args = ["--http", "0.0.0.0:0", "--api-token-file", try tokenFile(dir, token).path,
                    "--store", "sqlite:\(dir.path)/c.db", "--subscribers", "counter", "--log-level", "warning"]
        let engine = try await offPool { try EngineProcess(args, logDir: dir, name: "engine") }
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 15)
        }
        #expect(engine.http.hasPrefix("http://0.0.0.0:"), "\(engine.http)")
        let local = engine.http.replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1")
        func status(_ path: String, _ extra: [String] = []) throws -> String {
            String(decoding: try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"] + extra + [local + path]).stdout, as: UTF8.self)
        }
        #expect(try status("/healthz") == "200")
        #expect(try status("/status") == "401")
        #expect(try status("/status", ["-H", "Authorization: Bearer \(token)"]) == "200")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0)
    }

    @Test("--kafka: a mistyped or rejected secret property never shows its value; a bad ordinary value is shown")
    func kafkaSecretsNeverPrinted() async throws {
        let dir = try Shared.tempDir("kafka-secrets")
        let env = environment
        // --brokers 127.0.0.1:1: no embedded broker; the properties are validated before any connection.
        func run(_ kafka: [String], _ name: String) async throws -> CapturedRun {
            let args = ["run", "--http", "127.0.0.1:0", "--brokers", "127.0.0.1:1", "--store", "sqlite:\(dir.path)/\(name).db"]
                + kafka.flatMap { ["--kafka", $0] }
            return try await offPool { try runCapturing(Shared.streamscore.path, args, environment: env, timeout: 30) }
        }
        let secret = "Hunter2-SECRET"
        let cases: [(properties: [String], names: String)] = [
            (["sasl.pasword=\(secret)"], "sasl.pasword"),                       // unknown name: maybe a mistyped secret one
            (["sasl.oauthbearer.method=\(secret)"], "sasl.oauthbearer.method"), // a secret-looking known name this librdkafka build rejects
            (["ssl.key.password=\(secret)", "session.timeout.ms=abc"], "session.timeout.ms"), // a valid secret beside a bad value
            (["ssl.key.password=\(secret)"], "127.0.0.1:1"),                   // valid, then the broker is unreachable
        ]
        for (i, c) in cases.enumerated() {
            let r = try await run(c.properties, "k\(i)")
            let all = r.stdout + r.stderr
            #expect(r.status != nil && r.status != 0, "\(c.properties): status \(String(describing: r.status))")
            #expect(!all.contains(secret), "\(c.properties) printed the secret: \(all)")
            #expect(!all.contains("Hunter2"), "\(c.properties) printed part of the secret: \(all)")
            #expect(r.stderr.contains(c.names), "\(c.properties): stderr does not name \(c.names): \(r.stderr)")
        }
        // A non-secret property's bad value is shown, so the user can see what was wrong.
        let plain = try await run(["session.timeout.ms=abc"], "plain")
        #expect(plain.status != nil && plain.status != 0)
        #expect(plain.stderr.contains("session.timeout.ms") && plain.stderr.contains("abc"), "\(plain.stderr)")
    }

    @Test("--tls-cert/--tls-key: HTTPS with a self-signed certificate for 127.0.0.1; curl trusts it only with --cacert")
    func https() async throws {
        let dir = try Shared.tempDir("https")
        let cert = dir.appendingPathComponent("cert.pem"), key = dir.appendingPathComponent("key.pem")
        let made = try await offPool { try runCapturing("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                         "-keyout", key.path, "-out", cert.path, "-days", "2", "-subj", "/CN=127.0.0.1",
                                                         "-addext", "subjectAltName=IP:127.0.0.1"], timeout: 30) }
        try #require(made.status == 0, "openssl: \(made.stderr)")
        let token = "abcdefghijklmnopqrstuvwxyz012345"
        let args = ["--tls-cert", cert.path, "--tls-key", key.path, "--api-token-file", try tokenFile(dir, token).path,
                    "--store", "sqlite:\(dir.path)/s.db", "--subscribers", "counter", "--log-level", "warning"]
        let engine = try await offPool { try EngineProcess(args, logDir: dir, name: "engine") }
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 15)
        }
        #expect(engine.http.hasPrefix("https://127.0.0.1:"), "\(engine.http)")
        let healthz = try runCapturing("/usr/bin/curl", ["-sS", "--max-time", "5", "--cacert", cert.path, engine.http + "/healthz"])
        #expect(healthz.status == 0 && healthz.stdout == "ok", "curl: \(healthz.stderr)")
        let status = try runCapturing("/usr/bin/curl", ["-sS", "--max-time", "5", "--cacert", cert.path, "-H", "Authorization: Bearer \(token)",
                                                        "-o", "/dev/null", "-w", "%{http_code}", engine.http + "/status"])
        #expect(status.stdout == "200", "curl: \(status.stderr)")
        // Without the CA the certificate is not trusted (curl exit 60): it really is the self-signed one.
        let untrusted = try runCapturing("/usr/bin/curl", ["-sS", "--max-time", "5", engine.http + "/healthz"])
        #expect(untrusted.status == 60, "curl without --cacert: \(String(describing: untrusted.status)) \(untrusted.stderr)")
        // Plain HTTP to the TLS port gets no answer.
        let plain = try runCapturing("/usr/bin/curl", ["-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                                       engine.http.replacingOccurrences(of: "https://", with: "http://") + "/healthz"])
        #expect(plain.stdout != "200", "plain HTTP was served on the TLS port")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0)
    }
}
