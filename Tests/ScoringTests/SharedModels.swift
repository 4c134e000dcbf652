import Foundation
@testable import Scoring
import TestSupport

/// Locates `Tests/Fixtures/models` from this source file: walk up to the folder holding Package.swift.
enum SharedModels {
    static var directory: URL { Shared.root.appendingPathComponent("models") }

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// One row of NAME.expected.csv.
    struct ExpectedRow {
        let values: [String: FieldValue]
        let pJPMML: Double
    }

    /// Reads NAME.expected.csv (simple CSV without quoting).
    static func expected(_ model: String) throws -> [ExpectedRow] {
        let text = try String(contentsOf: url("\(model).expected.csv"), encoding: .utf8)
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        let header = lines.removeFirst().split(separator: ",").map(String.init)
        let skip: Set<String> = ["row_id", "churn", "p_sklearn", "p_jpmml", "p_pmml4s"]
        guard let pIndex = header.firstIndex(of: "p_jpmml") else { return [] }
        return lines.map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var values: [String: FieldValue] = [:]
            for (i, h) in header.enumerated() where !skip.contains(h) {
                if let d = Double(cells[i]) { values[h] = .number(d) } else { values[h] = .string(cells[i]) }
            }
            return ExpectedRow(values: values, pJPMML: Double(cells[pIndex]) ?? .nan)
        }
    }
}
