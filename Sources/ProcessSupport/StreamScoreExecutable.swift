import Foundation

/// Where the `streamscore` executable is: it differs between the test suite (a product built beside the
/// test bundle) and `streamscore bench` (the running executable itself).
public enum StreamScoreExecutable {
    /// The executable of this process: `/proc/self/exe`, else `CommandLine.arguments[0]` resolved against
    /// the working directory and `PATH`. What `streamscore bench` starts its `broker` and `produce` with.
    public static func current() -> URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        let argument = CommandLine.arguments[0]
        if argument.contains("/") { return URL(fileURLWithPath: argument).resolvingSymlinksInPath() }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(argument)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.resolvingSymlinksInPath() }
        }
        return URL(fileURLWithPath: argument)
    }

    /// A product built by `swift build` named `name`: looked for in the folder of `binary` (symbolic links
    /// resolved) and then in its ancestors. The tests pass their own bundle's path.
    public static func builtProduct(_ name: String, besides binary: URL) -> URL {
        var dir = binary.resolvingSymlinksInPath().deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent(name)
    }
}
