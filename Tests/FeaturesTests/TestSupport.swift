import Foundation
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
}
