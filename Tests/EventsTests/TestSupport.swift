import Foundation
import Testing
import TestSupport

/// The independent oracles in `<repo>/Tests/Fixtures/reference/` (resolved once, in the TestSupport target).
enum Reference {
    /// `<repo>/Tests/Fixtures/reference`.
    static var directory: URL { Shared.root.appendingPathComponent("reference") }

    /// The bytes of a reference file.
    static func data(_ name: String) throws -> Data { try Data(contentsOf: Shared.reference(name)) }

    /// The lines of a JSONL file as raw bytes (1-based line `n` is element `n - 1`; no newline).
    static func lines(_ name: String) throws -> [[UInt8]] { try Shared.lines(name) }

    /// A CSV file as header-keyed rows (no quoted fields in these files).
    static func csv(_ name: String) throws -> [[String: String]] { try Shared.csv(name) }

    /// An oracle's counts table (`count` per `key` column), e.g. `oracle_clean/counts_by_type.csv`.
    static func counts(_ oracle: String, _ name: String, key: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for row in try csv("\(oracle)/\(name)") { result[row[key] ?? ""] = Int(row["count"] ?? "") }
        return result
    }

    /// Checks counts by type, by page and page views per minute (as `Timestamp.format` strings) against
    /// the oracle's three tables.
    static func expectCounts(_ oracle: String, types: [String: Int], pages: [String: Int], minutes: [String: Int]) throws {
        #expect(types == (try counts(oracle, "counts_by_type.csv", key: "type")))
        #expect(pages == (try counts(oracle, "counts_by_page.csv", key: "page")))
        #expect(minutes == (try counts(oracle, "pageviews_per_minute.csv", key: "minute_start")))
    }
}
