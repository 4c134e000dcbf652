import Foundation

/// A child process — usually a `streamscore` sub-command — started, read, signalled and stopped by the
/// test suite and by `streamscore bench`: the one process runner of both.
///
/// - Important: a `ChildProcess` outlives nothing: when the object goes, a child still running is killed
///   (SIGKILL) and reaped. `readLine(prefix:timeout:)` and `readToEnd()` read from one thread at a time.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is only started, signalled and waited on (Foundation's `Process` is thread-safe
    // for that); `pending` is used by the reading methods, which the documentation limits to one thread at
    // a time.

    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        /// A pipe this object reads (`readLine(prefix:timeout:)`, `readToEnd()`): standard output only.
        case pipe
        /// `/dev/null`.
        case discard
        /// This process's own stream.
        case inherit
        /// A file, created or truncated.
        case file(URL)
    }

    /// The running process: its id, whether it runs, its exit status.
    public let process = Process()
    /// The executable's name and first argument, for messages (`streamscore broker`).
    public let name: String
    private let stdoutPipe: Pipe?
    private var pending: [UInt8] = []

    /// Starts `executable` with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: the child's environment (nil: this process's).
    ///   - stdin: bytes written to the child's standard input, which is then closed (nil: `/dev/null`).
    ///   - stdout: `.pipe` (the default) to read it with `readLine(prefix:timeout:)` or `readToEnd()`.
    ///     A piped child that prints much more than it is read blocks once the pipe is full.
    ///   - stderr: anything but `.pipe`.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil, stdin: Data? = nil,
                stdout: Output = .pipe, stderr: Output = .discard) throws {
        name = ([executable.lastPathComponent] + arguments.prefix(1)).joined(separator: " ")
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if case .pipe = stderr {
            throw ChildProcessError("\(name): standard error cannot be a pipe here; give .file(URL) to keep it")
        }
        if case .pipe = stdout {
            let pipe = Pipe()
            process.standardOutput = pipe
            stdoutPipe = pipe
        } else {
            process.standardOutput = try Self.handle(stdout, inherited: FileHandle.standardOutput)
            stdoutPipe = nil
        }
        process.standardError = try Self.handle(stderr, inherited: FileHandle.standardError)
        let input = stdin.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice
        try process.run()
        if let stdin, let input {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
    }

    private static func handle(_ output: Output, inherited: FileHandle) throws -> FileHandle {
        switch output {
        case .pipe, .discard: return FileHandle.nullDevice
        case .inherit: return inherited
        case .file(let url):
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            return try FileHandle(forWritingTo: url)
        }
    }

    /// The child's process id.
    public var pid: Int32 { process.processIdentifier }

    /// Whether the child has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// Reads standard output line by line until a line starts with `prefix`, and returns the rest of that
    /// line (`bootstrap: 127.0.0.1:39321` with prefix `bootstrap: ` gives `127.0.0.1:39321`). Lines before
    /// it are skipped.
    ///
    /// - Throws: `ChildProcessError` when the output ends first, or after `timeout` without such a line.
    public func readLine(prefix: String, timeout: Duration) throws -> String {
        guard let stdoutPipe else { throw ChildProcessError("\(name): standard output is not piped") }
        let fd = stdoutPipe.fileHandleForReading.fileDescriptor
        let deadline = ContinuousClock.now + timeout
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasPrefix(prefix) { return String(line.dropFirst(prefix.count)) }
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw ChildProcessError("\(name): no line starting with '\(prefix)' within \(timeout)")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let millis = left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000
            let ready = poll(&poller, 1, Int32(clamping: max(1, millis)))
            if ready < 0 && errno != EINTR { throw ChildProcessError("\(name): poll failed (errno \(errno))") }
            guard ready > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw ChildProcessError("\(name): read failed (errno \(errno))")
            }
            if count == 0 {
                throw ChildProcessError("\(name) closed its output before a line starting with '\(prefix)'")
            }
            pending.append(contentsOf: chunk[..<count])
        }
    }

    /// Reads standard output to its end (the child's exit, usually) and returns what was not read yet.
    public func readToEnd() -> Data {
        guard let stdoutPipe else { return Data() }
        let rest = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        defer { pending.removeAll() }
        return Data(pending) + rest
    }

    /// Waits for the exit and returns the exit status (or the signal's number, when a signal ended it).
    @discardableResult
    public func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits for the exit without holding a thread, and returns the exit status: for tasks whose process runs
    /// other work meanwhile. (`wait()` blocks its thread until the exit; on one of Swift's cooperative threads
    /// that is one of the pool's two on a 2-core machine, taken from everything else the process runs.)
    public func exitStatus() async -> Int32 {
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    /// Waits for the exit, up to `timeout`; returns the exit status, or nil on time-out.
    public func waitExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Sends a signal.
    public func signal(_ sig: Int32) {
        guard process.isRunning else { return }
        deliver(sig, to: process.processIdentifier)
    }

    /// Freezes the child (SIGSTOP): its connections stay open and nothing is answered — a hung host as
    /// its peers see it.
    public func pause() { signal(SIGSTOP) }

    /// Thaws a paused child (SIGCONT).
    public func resume() { signal(SIGCONT) }

    /// Asks the child to stop (SIGTERM; SIGCONT too, so that a paused child gets it) and waits for the
    /// exit; after `grace` it is killed (SIGKILL). Returns the exit status.
    @discardableResult
    public func stop(grace: TimeInterval = 30) -> Int32 {
        if process.isRunning {
            signal(SIGTERM)
            signal(SIGCONT)
            if waitExit(timeout: grace) == nil { signal(SIGKILL) }
        }
        return wait()
    }

    /// Kills the child (SIGKILL) and reaps it.
    public func kill() {
        signal(SIGKILL)
        process.waitUntilExit()
    }

    /// The child's resident memory now and at its peak.
    public var memory: ResidentMemory { ResidentMemory(pid: process.processIdentifier) }

    deinit {
        if process.isRunning {
            deliver(SIGKILL, to: process.processIdentifier)
            process.waitUntilExit()
        }
    }
}

/// `kill(2)`: a free function, because `ChildProcess.kill()` hides the C one inside the class.
private func deliver(_ sig: Int32, to pid: Int32) { _ = kill(pid, sig) }

/// A child process could not be started, read or did not answer in time.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the child.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

extension ChildProcess {
    /// Starts `streamscore broker` (an embedded mock cluster with one topic) and waits for its
    /// `bootstrap: HOST:PORT` line.
    ///
    /// - Parameter streamscore: the executable (see `StreamScoreExecutable`).
    public static func startBroker(_ streamscore: URL, partitions: Int, topic: String,
                                   timeout: Duration = .seconds(60)) throws -> (process: ChildProcess, bootstrap: String) {
        let child = try ChildProcess(streamscore, ["broker", "--partitions", "\(partitions)", "--topic", topic])
        do {
            return (child, try child.readLine(prefix: "bootstrap: ", timeout: timeout))
        } catch {
            child.kill()
            throw error
        }
    }

    /// Starts `streamscore produce --brokers BOOTSTRAP --topic TOPIC ARGUMENTS` (`--file PATH` or
    /// `--synthetic N …`, `--rate R`); its output is discarded.
    public static func startProducer(_ streamscore: URL, bootstrap: String, topic: String,
                                     _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(streamscore, ["produce", "--brokers", bootstrap, "--topic", topic] + arguments, stdout: .discard)
    }
}
