import Foundation

/// Locates the independent oracles in `<repo>/../shared/reference/` (the repo root is the nearest
/// ancestor of this file holding `Package.swift`). Same resolver as EventsTests' (tiny duplicate:
/// test targets cannot share sources).
enum Reference {
    /// `<repo>/../shared/reference`.
    static let directory: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
            dir = dir.deletingLastPathComponent()
        }
        return dir.deletingLastPathComponent().appendingPathComponent("shared/reference")
    }()

    /// The lines of a JSONL file as raw bytes (1-based line `n` is element `n - 1`).
    static func lines(_ name: String) throws -> [[UInt8]] {
        var lines = try Data(contentsOf: directory.appendingPathComponent(name))
            .split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Array($0) }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// A CSV file as header-keyed rows (no quoted fields in these files).
    static func csv(_ name: String) throws -> [[String: String]] {
        let text = String(decoding: try Data(contentsOf: directory.appendingPathComponent(name)), as: UTF8.self)
        var rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard !rows.isEmpty else { return [] }
        let header = rows.removeFirst()
        return rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }
}
