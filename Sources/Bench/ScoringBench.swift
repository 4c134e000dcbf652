import Foundation
import Scoring

/// Rows/s per shared model for batches of 1,000 on one core, and single-row latency.
struct ScoringBench {
    /// Folder with NAME.pmml and NAME.expected.csv of the shared models.
    let modelsDir: String

    /// µs per row of a batch of 1,000 on one core: a third of the shared models' scikit-learn times (docs/benchmarks.md).
    static let batchGoals: [String: Double] = ["logreg": 0.087, "tree": 0.153, "forest": 0.733, "gbc": 0.42]

    /// Runs the section and adds its figures and goals to `report`.
    func run(_ report: BenchReport) throws {
        report.section("PMML scoring: one core, batches of 1,000 rows, rows from NAME.expected.csv")
        for name in ["logreg", "tree", "forest", "gbc"] {
            let modelURL = URL(fileURLWithPath: modelsDir).appendingPathComponent("\(name).pmml")
            let csvURL = URL(fileURLWithPath: modelsDir).appendingPathComponent("\(name).expected.csv")
            guard FileManager.default.fileExists(atPath: modelURL.path) else {
                printLine("  \(name): \(modelURL.path) not found, skipped (use --models-dir)")
                continue
            }
            let model = try CompiledModel.load(contentsOf: modelURL)
            let text = try String(contentsOf: csvURL, encoding: .utf8)
            var lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let header = lines.removeFirst()
            let raw = lines.map { cells -> [String: FieldValue] in
                var values: [String: FieldValue] = [:]
                for (i, h) in header.enumerated() where i < cells.count {
                    values[h] = Double(cells[i]).map(FieldValue.number) ?? (cells[i].isEmpty ? .missing : .string(cells[i]))
                }
                return values
            }
            let rows = raw.map { model.makeRow($0) }
            var batch: [InputRow] = []
            while batch.count < 1_000 { batch.append(contentsOf: rows.prefix(1_000 - batch.count)) }
            var results: [Double] = []
            results.reserveCapacity(1_000)
            let repeats = 200
            let timed = bestOf(3) {
                for _ in 0..<repeats { model.scoreBatch(batch, into: &results) }
                return results.count
            }
            let perRow = timed.seconds / Double(repeats * batch.count)
            report.add("\(name): batch of 1,000, µs/row (rows/s)", String(format: "%.3f µs (%@)", perRow * 1e6, formatRate(1 / perRow)))
            if let limit = Self.batchGoals[name] {
                report.goal("PMML \(name), batch of 1,000, one core, µs/row", value: perRow * 1e6, String(format: "%.3f µs", perRow * 1e6),
                            .atMost(limit), target: String(format: "≤ %.3f µs (sklearn ÷ 3)", limit))
            }
            // The engine's path: each row prepared from raw values inside the batch call (the figure above
            // scores rows prepared beforehand, as scikit-learn's timing scores encoded arrays).
            let names = model.inputFields.map(\.name)
            var ordered: [[FieldValue]] = []
            while ordered.count < 1_000 {
                ordered += raw.prefix(1_000 - ordered.count).map { values in names.map { values[$0] ?? .missing } }
            }
            let streamed = bestOf(3) {
                for _ in 0..<repeats {
                    model.scoreBatch(count: ordered.count, into: &results, value: { row, field in ordered[row][field] })
                }
                return results.count
            }
            let streamedPerRow = streamed.seconds / Double(repeats * ordered.count)
            report.add("\(name): batch of 1,000 prepared from raw values (the engine's path), µs/row",
                       String(format: "%.3f µs", streamedPerRow * 1e6))
            let single = bestOf(3) {
                var ok = 0
                for i in 0..<20_000 where (try? model.score(rows[i % rows.count])) != nil { ok += 1 }
                return ok
            }
            let singleMicros = single.seconds / 20_000 * 1e6
            report.add("\(name): single row, µs", String(format: "%.3f µs", singleMicros))
            if name == "gbc" {
                report.goal("PMML gbc, single row, µs", value: singleMicros, String(format: "%.3f µs", singleMicros), .atMost(2), target: "< 2 µs")
            }
        }
    }
}
