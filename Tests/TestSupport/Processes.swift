import Foundation
import Logging
import ProcessSupport

/// Locates a binary built by `swift build` next to the test bundle.
public func builtProduct(_ name: String) -> URL {
    StreamScoreExecutable.builtProduct(name, besides: URL(fileURLWithPath: CommandLine.arguments[0]))
}

/// Runs a command to completion and returns its stdout.
@discardableResult
public func runTool(_ path: String, _ args: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: Data) {
    let child = try ChildProcess(URL(fileURLWithPath: path), args, stdin: stdin)
    let data = child.readToEnd()
    return (child.wait(), data)
}

/// A `streamscore broker` child process.
public final class BrokerProcess {
    private let child: ChildProcess
    /// The bootstrap address the broker printed.
    public let bootstrap: String

    /// Starts a broker with one topic and waits for its bootstrap address.
    public init(partitions: Int, topic: String) throws {
        (child, bootstrap) = try ChildProcess.startBroker(builtProduct("streamscore"), partitions: partitions, topic: topic)
    }

    /// Stops the broker (SIGTERM) and waits for its exit.
    public func stop() { child.stop() }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is answered — a broker outage as
    /// clients see it when a host hangs.
    public func pause() { child.pause() }

    /// Thaws a paused broker (SIGCONT).
    public func resume() { child.resume() }

    // A broker outlives no test: whatever the test's outcome, the child ends with this object (ChildProcess).
}

/// A `streamscore produce --file … --rate N` child process: a throttled producer, so that an engine
/// started beside it meets the stream mid-way (the real mechanism crash and scale-out tests use to make
/// kills land mid-stream).
public final class ProducerProcess {
    private let child: ChildProcess

    /// Starts publishing `file` (one event per line, keyed by customer_id) at `rate` events/s.
    public convenience init(file: URL, bootstrap: String, topic: String, rate: Int) throws {
        try self.init(["--file", file.path, "--rate", "\(rate)"], bootstrap: bootstrap, topic: topic)
    }

    /// Starts publishing `count` synthetic events of `customers` customers (the generator is seeded, so
    /// the same arguments give the same events), at `rate` events/s or as fast as the broker takes them.
    /// `kafka`: librdkafka properties KEY=VALUE for the producer.
    public convenience init(synthetic count: Int, customers: Int, seed: Int, bootstrap: String, topic: String, rate: Int? = nil,
                            kafka: [String] = []) throws {
        try self.init(["--synthetic", "\(count)", "--customers", "\(customers)", "--seed", "\(seed)"] + (rate.map { ["--rate", "\($0)"] } ?? [])
                      + kafka.flatMap { ["--kafka", $0] },
                      bootstrap: bootstrap, topic: topic)
    }

    init(_ args: [String], bootstrap: String, topic: String) throws {
        child = try ChildProcess.startProducer(builtProduct("streamscore"), bootstrap: bootstrap, topic: topic, args)
    }

    /// Waits for the producer to finish, up to `timeout`; returns its exit status, or nil on time-out.
    public func waitExit(timeout: TimeInterval) -> Int32? { child.waitExit(timeout: timeout) }
}

/// Paths of the oracles (`<repo>/Tests/Fixtures`, copied from the steering repository's `shared/`) and of
/// built products.
public enum Shared {
    public static let repo: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()
    /// `<repo>/Tests/Fixtures`: `reference/` and `models/` (see its README).
    public static let root = repo.appendingPathComponent("Tests/Fixtures")
    public static func reference(_ name: String) -> URL { root.appendingPathComponent("reference/\(name)") }
    public static func model(_ name: String) -> URL { root.appendingPathComponent("models/\(name)") }

    /// Lines of a JSONL file as bytes, 1-based line numbers preserved by index + 1.
    public static func lines(_ name: String) throws -> [[UInt8]] {
        let data = try Data(contentsOf: reference(name))
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// A CSV with a header as dictionaries (the oracle files have no quoted fields).
    public static func csv(_ name: String) throws -> [[String: String]] {
        let text = try String(contentsOf: reference(name), encoding: .utf8)
        var rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows.removeFirst()
        return rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }

    /// The built `streamscore` executable next to the test bundle.
    public static var streamscore: URL { builtProduct("streamscore") }

    public static func tempDir(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    public static let logger: Logger = {
        var l = Logger(label: "pipeline-tests")
        l.logLevel = ProcessInfo.processInfo.environment["TEST_LOG"] == "1" ? .debug : .warning
        return l
    }()
}


/// A `streamscore run` child process, with its HTTP address (from the `http:` line it prints).
public final class EngineProcess: @unchecked Sendable {
    // @unchecked: `child` is only read, signalled and waited on (ChildProcess is Sendable); `http` is set
    // once in `init`.
    private let child: ChildProcess
    /// The running process: its id, whether it runs.
    public var process: Process { child.process }
    /// The HTTP base address, `http://HOST:PORT` without a final slash.
    public private(set) var http = ""
    /// The engine's standard error.
    public let stderrFile: URL

    /// Starts `streamscore run ARGS --http 127.0.0.1:0` and waits for its HTTP line.
    public init(_ args: [String], logDir: URL, name: String) throws {
        stderrFile = logDir.appendingPathComponent("\(name).stderr")
        child = try ChildProcess(builtProduct("streamscore"), ["run", "--http", "127.0.0.1:0"] + args, stderr: .file(stderrFile))
        do {
            http = try child.readLine(prefix: "http: ", timeout: .seconds(60)).trimmingCharacters(in: .whitespaces)
        } catch {
            child.kill()
            let err = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            throw EngineProcessError(message: "engine did not print its HTTP address (\(error)): \(err.suffix(800))")
        }
        if http.hasSuffix("/") { http.removeLast() }
    }

    /// GET a path and return the body.
    public func get(_ path: String) throws -> Data {
        let result = try runTool("/usr/bin/curl", ["-s", "--max-time", "5", http + path])
        return result.stdout
    }

    /// The `/status` subscribers as name → (processed, malformed, lag, partitions).
    public func status() -> [String: (processed: Int, malformed: Int, lag: Int, partitions: Int)] {
        guard let data = try? get("/status"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let subs = object["subscribers"] as? [[String: Any]] else { return [:] }
        var result: [String: (processed: Int, malformed: Int, lag: Int, partitions: Int)] = [:]
        for s in subs {
            guard let name = s["name"] as? String else { continue }
            result[name] = ((s["processed"] as? Int) ?? 0, (s["malformed"] as? Int) ?? 0, (s["lag"] as? Int) ?? -1,
                            (s["assigned_partitions"] as? [Any])?.count ?? 0)
        }
        return result
    }

    /// Sends a signal.
    public func signal(_ sig: Int32) { child.signal(sig) }

    /// The resident set size now and at its peak (VmRSS, VmHWM of /proc/PID/status), in bytes.
    public var memory: (rss: Int, peak: Int) {
        let memory = child.memory
        return (memory.bytes, memory.peakBytes)
    }

    /// Waits for the exit, up to `timeout`; returns the exit status, or nil on time-out.
    public func waitExit(timeout: TimeInterval) -> Int32? { child.waitExit(timeout: timeout) }

    // An engine outlives no test: whatever the test's outcome, the child ends with this object (ChildProcess).
}

/// An engine child process misbehaved.
public struct EngineProcessError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// What a child process left: its exit status (nil: killed at the time limit), stdout and stderr.
public struct CapturedRun: Sendable {
    public let status: Int32?
    public let stdout: String
    public let stderr: String
}

/// Runs a command with `environment` (nil: this process's), kills it (SIGKILL) if it is still running
/// after `timeout`, and returns what it printed. Output goes through files, so neither pipe can fill.
public func runCapturing(_ path: String, _ args: [String], environment: [String: String]? = nil,
                         timeout: TimeInterval = 30) throws -> CapturedRun {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capture-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
    let child = try ChildProcess(URL(fileURLWithPath: path), args, environment: environment,
                                 stdout: .file(outURL), stderr: .file(errURL))
    let status = child.waitExit(timeout: timeout)
    if status == nil { child.kill() }
    return CapturedRun(status: status,
                       stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}

/// How many file descriptors process `pid` has open (entries of /proc/PID/fd; -1 if unreadable).
public func openFileCount(pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// The resident set size of process `pid` in bytes (VmRSS of /proc/PID/status; 0 if unreadable).
public func residentBytes(pid: Int32) -> Int { ResidentMemory(pid: pid).bytes }

/// Runs blocking work (a child process, a socket loop with its own timing) on a thread of its own, not
/// on Swift concurrency's cooperative pool: on a 2-core machine the pool has 2 threads, so blocking work
/// there stalls every other test's timers and continuations, and theirs would skew this work's timing.
/// Record expectations after it returns (`#expect` needs the test's task).
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
