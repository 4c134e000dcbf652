import Foundation

/// A process's resident set size now (`VmRSS`) and at its peak (`VmHWM`), from `/proc/PID/status`.
public struct ResidentMemory: Sendable, Equatable {
    /// Resident bytes now; 0 when unreadable.
    public var bytes: Int
    /// Peak resident bytes since the start or the last `resetPeak`; 0 when unreadable.
    public var peakBytes: Int

    /// The memory of process `pid` (nil: this process).
    public init(pid: Int32? = nil) {
        let text = (try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8)) ?? ""
        func kib(_ key: String) -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return (Int(String(line.dropFirst(key.count).filter(\.isNumber))) ?? 0) * 1_024
        }
        bytes = kib("VmRSS:")
        peakBytes = kib("VmHWM:")
    }

    /// Resets the peak of process `pid` (nil: this process) to its resident size now (Linux: `5` written to
    /// `/proc/PID/clear_refs`), so that a later `peakBytes` is the peak of what ran in between.
    ///
    /// - Throws: `ChildProcessError` where the kernel does not allow it.
    public static func resetPeak(pid: Int32? = nil) throws {
        let path = "/proc/\(pid.map(String.init) ?? "self")/clear_refs"
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ChildProcessError("cannot open \(path) to reset the peak resident size")
        }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch {
            throw ChildProcessError("cannot reset the peak resident size through \(path): \(error)")
        }
    }
}
