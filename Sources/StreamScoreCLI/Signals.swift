import Foundation
import Synchronization

/// Waits until the process receives SIGTERM or SIGINT.
func waitForTerminationSignal() async {
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    let queue = DispatchQueue(label: "signals")
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let once = OnceFlag()
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if once.set() { continuation.resume() }
            }
            source.resume()
            sources.append(source)
        }
        // The sources live as long as the process waits.
        SignalSources.keep(sources)
    }
}

/// Keeps dispatch signal sources alive. `@unchecked Sendable`: written once under the lock.
final class SignalSources: @unchecked Sendable {
    nonisolated(unsafe) private static var kept: [any DispatchSourceSignal] = []
    private static let lock = NSLock()
    static func keep(_ sources: [any DispatchSourceSignal]) {
        lock.lock(); defer { lock.unlock() }
        kept.append(contentsOf: sources)
    }
}

/// A flag that can be set once, from any thread.
final class OnceFlag: Sendable {
    private let flag = Mutex(false)
    /// Sets the flag; returns true for the first caller only.
    func set() -> Bool { flag.withLock { f in defer { f = true }; return !f } }
}

/// Writes a line to stderr.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes a line to stdout immediately (unbuffered, so a parent process sees it at once).
func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
