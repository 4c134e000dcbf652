import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Raw loopback TCP clients for the slow-client attacks: blocking connect, sends that never wait, and
/// non-blocking reads to see when the server has closed its end. All of it is synchronous: the attacks
/// run on a thread of their own (`offPool`), so their timing does not depend on the other tests.
enum RawSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A socket connected to 127.0.0.1:`port`.
    static func connectLoopback(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): errno \(e)")
        }
        return fd
    }

    /// Sends all of `bytes` (blocking).
    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += n
        }
    }

    /// Sends `bytes` without waiting; false if the peer has closed or reset the connection.
    static func trickle(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        return n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
    }

    /// Waits up to `timeoutMillis` for any of `fds` to become readable, reads what is there into
    /// `received`, and returns the sockets the peer closed (a read of 0 bytes, or a reset).
    static func drain(_ fds: [Int32], timeoutMillis: Int32, received: inout [Int32: [UInt8]]) -> Set<Int32> {
        var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard poll(&polls, nfds_t(polls.count), timeoutMillis) > 0 else { return [] }
        var closed = Set<Int32>()
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        for p in polls where p.revents != 0 {
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 {
                    received[p.fd, default: []].append(contentsOf: buffer[..<n])
                    continue
                }
                if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { closed.insert(p.fd) }
                break
            }
        }
        return closed
    }

    /// Reads from `fds` until the peer has closed every one or `timeout` has passed; returns the
    /// sockets still open and when each closed one closed (since `start`).
    static func awaitClosed(_ fds: [Int32], start: ContinuousClock.Instant, timeout: Duration, received: inout [Int32: [UInt8]],
                            tick: (Set<Int32>) -> Set<Int32> = { _ in [] }) -> (open: Set<Int32>, closedAt: [Int32: Duration]) {
        var open = Set(fds)
        var closedAt: [Int32: Duration] = [:]
        let deadline = ContinuousClock.now + timeout
        while !open.isEmpty && ContinuousClock.now < deadline {
            for fd in tick(open).union(drain(Array(open), timeoutMillis: 250, received: &received)) {
                closedAt[fd] = ContinuousClock.now - start
                open.remove(fd)
            }
        }
        return (open, closedAt)
    }

    /// The status code of the first response in `bytes` ("none" if nothing arrived).
    static func status(_ bytes: [UInt8]?) -> String {
        let text = String(decoding: bytes ?? [], as: UTF8.self)
        return text.hasPrefix("HTTP/1.1 ") ? String(text.dropFirst(9).prefix(3)) : (text.isEmpty ? "none" : "other")
    }
}

/// Seconds, for reports.
private func secs(_ d: Duration) -> String {
    String(format: "%.2f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}

/// The engine's descriptor count once it stops changing (two equal reads 200 ms apart, up to 10 s).
private func stableFileCount(_ pid: Int32) -> Int {
    var last = openFileCount(pid: pid)
    for _ in 0..<50 {
        usleep(200_000)
        let now = openFileCount(pid: pid)
        if now == last { return now }
        last = now
    }
    return last
}

/// Polls `condition` every 5 ms up to `timeout`; whether it held.
@discardableResult
private func waitUntil(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        usleep(5_000)
    }
    return true
}

/// GET /healthz with curl: status code and curl's total time in seconds.
private func healthz(_ port: UInt16) throws -> (code: String, seconds: Double) {
    let r = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "20",
                                          "http://127.0.0.1:\(port)/healthz"])
    let parts = String(decoding: r.stdout, as: UTF8.self).split(separator: " ")
    return (parts.first.map(String.init) ?? "", parts.last.flatMap { Double($0) } ?? .infinity)
}

/// Opens `count` connections, each sending `payload(i)`, in batches of 50, waiting after each batch
/// (up to 2 s) until the engine holds them (its descriptor count reaches `expected(opened)`): a burst
/// beyond the 256-deep accept backlog would otherwise stall in SYN retries (1 s each).
private func openPaced(_ count: Int, port: UInt16, pid: Int32, into fds: inout [Int32], expected: (Int) -> Int,
                       payload: (Int) -> [UInt8]) throws {
    for start in stride(from: 0, to: count, by: 50) {
        for i in start..<min(start + 50, count) {
            let fd = try RawSocket.connectLoopback(port: port)
            fds.append(fd)
            let bytes = payload(i)
            if !bytes.isEmpty { try RawSocket.send(fd, bytes) }
        }
        let opened = fds.count
        waitUntil(timeout: .seconds(2)) { openFileCount(pid: pid) >= expected(opened) }
    }
}

/// The slow-client attacks of the issue, scaled to tests: hundreds of connections that send a request
/// head (and a little of a large body) or nothing at all, then stall; or that trickle a byte now and
/// then. The engine must stay responsive and small, and close every such connection by itself at its
/// read and idle timeouts (2 s each here).
///
/// Measured on the 2-core test machine (debug build), 300 stalled bodies + 300 silent connections: the
/// bodies are answered 413 on their declared length and closed at once, the silent ones held until the
/// idle timeout; /healthz 1–3 ms each; RSS 52 → 66 MiB; every connection closed by the engine within
/// 2.5 s of the first connect. At a cap of 512 a new client waits in the accept
/// backlog until the idle timeout frees a slot (/healthz 1.7–1.9 s). Trickled requests: closed at 4.1 s
/// (read timeout + 2 s) after 401, 404, 413, 200; at 2.1 s after 408 and for a head that never ends.
@Suite("Slow clients (child process)", .serialized, .timeLimit(.minutes(3)))
struct SlowClientTests {
    static let token = "slowclient-token-0123456789abcdef"

    /// An engine (embedded broker, counter subscriber, token) with 2 s read and idle timeouts.
    func engine(_ dir: URL, _ extra: [String] = []) async throws -> EngineProcess {
        let tokenFile = dir.appendingPathComponent("token")
        try Self.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let args = ["--store", "sqlite:\(dir.path)/s.db", "--subscribers", "counter", "--api-token-file", tokenFile.path,
                    "--http-read-timeout", "2", "--http-idle-timeout", "2", "--log-level", "warning"] + extra
        return try await offPool { try EngineProcess(args, logDir: dir, name: "engine") }
    }

    func port(_ engine: EngineProcess) throws -> UInt16 {
        try #require(engine.http.split(separator: ":").last.flatMap { UInt16($0) }, "\(engine.http)")
    }

    static func scoreHead(contentLength: Int, token: Bool = true) -> String {
        "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (token ? "Authorization: Bearer \(Self.token)\r\n" : "")
            + "Content-Type: application/json\r\nContent-Length: \(contentLength)\r\n\r\n"
    }

    struct StalledFigures: Sendable {
        var baselineFDs = 0, heldFDs = 0, peakFDs = 0, afterFDs = 0
        var baselineRSS = 0, heldRSS = 0, afterRSS = 0
        var latencies: [Double] = [], codes: [String] = []
        var openTime = Duration.zero, measuredAt = Duration.zero, allClosedAt = Duration.zero
        var stillOpen = 0, bodyAnswers: [String: Int] = [:], silentAnswered = 0
    }

    @Test("300 stalled POST /score bodies and 300 silent connections: /healthz stays fast, RSS small, all closed by the timeouts")
    func stalledClients() async throws {
        let bodies = 300, silent = 300
        let dir = try Shared.tempDir("slow-clients")
        // A cap above the attack's 600 connections: this test measures what held connections cost; what
        // the cap does when they exceed it is the next test.
        let engine = try await engine(dir, ["--http-max-connections", "1024"])
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 15)
        }
        let pid = engine.process.processIdentifier
        let port = try port(engine)
        let f = try await offPool { () throws -> StalledFigures in
            var f = StalledFigures()
            _ = try healthz(port)
            f.baselineFDs = stableFileCount(pid)
            f.baselineRSS = residentBytes(pid: pid)
            // Body connections: head with the token and Content-Length: 1000000, then 1–8 KiB of it.
            var bodyFDs: [Int32] = [], silentFDs: [Int32] = []
            defer { for fd in bodyFDs + silentFDs { close(fd) } }
            let opened = ContinuousClock.now
            let base = f.baselineFDs
            // The engine answers each 413 on its declared length and closes it: nothing to wait for.
            try openPaced(bodies, port: port, pid: pid, into: &bodyFDs, expected: { _ in 0 }) { i in
                Array(Self.scoreHead(contentLength: 1_000_000).utf8) + Array("{\"pad\":\"".utf8)
                    + [UInt8](repeating: UInt8(ascii: " "), count: 1024 + (i * 7919) % (7 << 10))
            }
            try openPaced(silent, port: port, pid: pid, into: &silentFDs, expected: { base + $0 - 5 }) { _ in [] }
            f.openTime = ContinuousClock.now - opened
            // While they are held: /healthz latency, RSS, the engine's descriptors.
            f.heldFDs = openFileCount(pid: pid)
            for _ in 0..<5 {
                let (code, seconds) = try healthz(port)
                f.codes.append(code)
                f.latencies.append(seconds)
            }
            f.heldRSS = residentBytes(pid: pid)
            f.measuredAt = ContinuousClock.now - opened
            // Every connection is closed by the engine (read returns 0 or a reset), although the test keeps
            // its ends open and sends nothing more.
            var received: [Int32: [UInt8]] = [:]
            var peak = f.heldFDs
            let (open, _) = RawSocket.awaitClosed(bodyFDs + silentFDs, start: opened, timeout: .seconds(60), received: &received) { _ in
                peak = max(peak, openFileCount(pid: pid))
                return []
            }
            f.peakFDs = peak
            f.allClosedAt = ContinuousClock.now - opened
            f.stillOpen = open.count
            f.afterRSS = residentBytes(pid: pid)
            // ... and its descriptor table is back near the baseline while the test still holds its ends.
            waitUntil(timeout: .seconds(20)) { openFileCount(pid: pid) <= base + 5 }
            f.afterFDs = openFileCount(pid: pid)
            f.bodyAnswers = Dictionary(bodyFDs.map { (RawSocket.status(received[$0]), 1) }, uniquingKeysWith: +)
            f.silentAnswered = silentFDs.filter { !(received[$0] ?? []).isEmpty }.count
            f.codes.append(try healthz(port).code)
            return f
        }
        let mib = { (b: Int) in String(format: "%.1f MiB", Double(b) / 1_048_576) }
        let report = """
            opened \(bodies)+\(silent) in \(secs(f.openTime)); /healthz \(f.latencies.map { String(format: "%.3f s", $0) }) \
            (done \(secs(f.measuredAt)) after the first connect); fds baseline \(f.baselineFDs), held \(f.heldFDs), peak \(f.peakFDs), \
            after \(f.afterFDs); RSS baseline \(mib(f.baselineRSS)), held \(mib(f.heldRSS)), after \(mib(f.afterRSS)); \
            all closed by the engine \(secs(f.allClosedAt)) after the first connect (\(f.stillOpen) still open); \
            body answers \(f.bodyAnswers); silent connections answered: \(f.silentAnswered)
            """
        print("slow clients: " + report)
        // The silent connections are held until the idle timeout; the body connections are answered 413 on
        // their declared length and closed at once (a response before the body ended closes the connection).
        #expect(f.heldFDs >= f.baselineFDs + silent - 10, "the engine did not hold the silent connections when /healthz was measured: \(report)")
        #expect(f.heldFDs <= f.baselineFDs + silent + 50, "the engine kept the refused body connections open: \(report)")
        #expect(f.codes.allSatisfy { $0 == "200" }, "/healthz answers \(f.codes): \(report)")
        #expect(f.latencies.allSatisfy { $0 < 0.5 }, "/healthz slower than 500 ms under the attack: \(report)")
        #expect(f.latencies.sorted()[f.latencies.count / 2] < 0.1, "median /healthz over 100 ms: \(report)")
        #expect(f.heldRSS < 300 << 20 && f.afterRSS < 300 << 20, "RSS over 300 MiB: \(report)")
        #expect(f.stillOpen == 0, "connections still open after 60 s: \(report)")
        #expect(f.afterFDs <= f.baselineFDs + 50, "the engine's descriptors did not return to the baseline: \(report)")
        // Each body connection was refused on its declared length (413) before its body arrived.
        #expect(f.bodyAnswers == ["413": bodies], "\(report)")
        #expect(f.silentAnswered == 0, "a silent connection got bytes: \(report)")
    }

    @Test("at the connection cap (512 here) silent connections delay a new client only until the idle timeout frees a slot")
    func connectionCap() async throws {
        let dir = try Shared.tempDir("slow-cap")
        let engine = try await engine(dir, ["--http-max-connections", "512"])
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 15)
        }
        let pid = engine.process.processIdentifier
        let port = try port(engine)
        let (held, heldAt, code, seconds, stillOpen) = try await offPool { () throws -> (Int, Duration, String, Double, Int) in
            let base = stableFileCount(pid)
            var fds: [Int32] = []
            defer { for fd in fds { close(fd) } }
            let opened = ContinuousClock.now
            // 550: 512 accepted, 38 in the accept backlog.
            try openPaced(550, port: port, pid: pid, into: &fds, expected: { base + min($0, 512) - 5 }) { _ in [] }
            let held = openFileCount(pid: pid) - base
            let heldAt = ContinuousClock.now - opened
            let (code, seconds) = try healthz(port)
            var received: [Int32: [UInt8]] = [:]
            let (open, _) = RawSocket.awaitClosed(fds, start: opened, timeout: .seconds(30), received: &received)
            return (held, heldAt, code, seconds, open.count)
        }
        let report = "held \(held) connections \(secs(heldAt)) after the first connect; /healthz \(code) in \(String(format: "%.3f s", seconds))"
        print("connection cap: " + report)
        #expect(held >= 505 && held <= 515, "the cap did not hold at 512: \(report)")
        #expect(code == "200", "\(report)")
        #expect(seconds < 2 + 2, "a new client waited longer than the idle timeout (2 s) plus 2 s: \(report)")
        #expect(stillOpen == 0, "\(stillOpen) silent connections still open after 30 s")
    }

    @Test("trickled requests (a byte every 250 ms) on any route are closed at the read deadline, not kept alive by each byte")
    func trickledClients() async throws {
        let perKind = 20
        let dir = try Shared.tempDir("slow-trickle")
        let engine = try await engine(dir)
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 15)
        }
        let pid = engine.process.processIdentifier
        let port = try port(engine)
        // (what, request head, bytes sent at each tick, the answer expected before the close)
        let kinds: [(String, String, String, String)] = [
            ("413: declared 1 MB, with the token", Self.scoreHead(contentLength: 1_000_000), " ", "413"),
            ("401: declared 1 MB, no token", Self.scoreHead(contentLength: 1_000_000, token: false), " ", "401"),
            ("404: a body to an unknown route", "POST /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n", " ", "404"),
            ("200: a body to /healthz", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n", " ", "200"),
            ("408: under the limit, trickled", Self.scoreHead(contentLength: 12_000), " ", "408"),
            ("408: chunked, trickled", "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(Self.token)\r\nTransfer-Encoding: chunked\r\n\r\n",
             "1\r\n \r\n", "408"),
            ("none: a head that never ends", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", "a", "none"),
        ]
        let (lines, failures, baseline, after) = try await offPool { () throws -> ([String], [String], Int, Int) in
            let base = stableFileCount(pid)
            var fds: [Int32] = []
            var kindOf: [Int32: Int] = [:]
            defer { for fd in fds { close(fd) } }
            let started = ContinuousClock.now
            for (k, kind) in kinds.enumerated() {
                for _ in 0..<perKind {
                    let fd = try RawSocket.connectLoopback(port: port)
                    fds.append(fd)
                    kindOf[fd] = k
                    try RawSocket.send(fd, Array(kind.1.utf8))
                }
            }
            // Trickle (each tick: one send per open connection, then up to 250 ms of reading) until the
            // engine has closed every connection or 20 s have passed.
            var received: [Int32: [UInt8]] = [:]
            let (_, closedAt) = RawSocket.awaitClosed(fds, start: started, timeout: .seconds(20), received: &received) { open in
                Set(open.filter { !RawSocket.trickle($0, Array(kinds[kindOf[$0]!].2.utf8)) })
            }
            // A connection answered 408 is half-closed at once (the client sees its end) and fully closed by the
            // idle timeout: let those settle.
            waitUntil(timeout: .seconds(10)) { openFileCount(pid: pid) <= base + 5 }
            var lines: [String] = [], failures: [String] = []
            for (k, kind) in kinds.enumerated() {
                let mine = fds.filter { kindOf[$0] == k }
                let answers = Dictionary(mine.map { (RawSocket.status(received[$0]), 1) }, uniquingKeysWith: +)
                let latest = mine.map { closedAt[$0] ?? .seconds(999) }.max() ?? .zero
                let line = "\(kind.0): answers \(answers), closed \(mine.filter { closedAt[$0] != nil }.count)/\(perKind), latest at \(secs(latest))"
                lines.append(line)
                // Read timeout 2 s + the 2 s grace of the connection's read deadline, plus scheduling slack.
                if answers != [kind.3: perKind] || latest >= .seconds(7) { failures.append(line) }
            }
            return (lines, failures, base, openFileCount(pid: pid))
        }
        print("trickled clients: " + lines.joined(separator: "; ") + "; fds baseline \(baseline), after \(after)")
        #expect(failures.isEmpty, "wrong answer, or not closed within 7 s: \(failures)")
        #expect(after <= baseline + 10, "descriptors baseline \(baseline), after \(after)")
        #expect(try await offPool { try healthz(port).code } == "200")
    }
}
