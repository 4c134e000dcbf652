import Foundation

/// Locates the independent oracles in `<repo>/../shared/reference/` (the repo root is the nearest
/// ancestor of this file holding `Package.swift`).
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

    /// The bytes of a reference file.
    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// The lines of a JSONL file as raw bytes (1-based line `n` is element `n - 1`; no newline).
    static func lines(_ name: String) throws -> [[UInt8]] {
        var lines = try data(name).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Array($0) }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    /// A CSV file as header-keyed rows (simple CSV: no quoted commas in these files).
    static func csv(_ name: String) throws -> [[String: String]] {
        let text = String(decoding: try data(name), as: UTF8.self)
        var rows = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard !rows.isEmpty else { return [] }
        let header = rows.removeFirst()
        return rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }
}
