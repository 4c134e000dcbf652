import Foundation

/// A compiled `ModelVerification` block.
struct Verification: Sendable {
    /// What a verification column checks.
    enum Check: Sendable {
        case probability(String)
        case predicted
    }

    /// One VerificationField.
    struct Column: Sendable {
        let field: String
        let column: String
        let precision: Double
        let zeroThreshold: Double
        let check: Check?
    }

    /// One verification row.
    struct Record: Sendable {
        let line: Int
        let cells: [String: String]
    }

    /// The document name used in errors.
    let file: String
    /// The verification columns.
    let columns: [Column]
    /// The verification rows.
    let records: [Record]

    /// Compiles the model's ModelVerification, if any.
    static func parse(_ model: XElement, compiler: Compiler) throws(PMMLError) -> Verification? {
        guard let mv = model.child("ModelVerification") else { return nil }
        guard let vf = mv.child("VerificationFields") else { throw compiler.fail(mv, "ModelVerification without VerificationFields") }
        guard let table = mv.child("InlineTable") else { throw compiler.fail(mv, "ModelVerification without InlineTable") }
        // Map output field names of the top-level model to what they check.
        var outputs: [String: Check] = [:]
        var targetName: String?
        if let ms = model.child("MiningSchema") {
            for mf in ms.children(named: "MiningField") where ["target", "predicted"].contains(mf.attr("usageType") ?? "") {
                targetName = mf.attr("name")
            }
        }
        if let t = targetName { outputs[t] = .predicted }
        if let out = model.child("Output") {
            for o in out.children(named: "OutputField") {
                guard let name = o.attr("name") else { continue }
                switch o.attr("feature") ?? "predictedValue" {
                case "probability": if let v = o.attr("value") { outputs[name] = .probability(v) }
                case "predictedValue": outputs[name] = .predicted
                default: continue
                }
            }
        }
        var columns: [Column] = []
        for f in vf.children(named: "VerificationField") {
            let field = try compiler.required(f, "field")
            columns.append(Column(field: field, column: compiler.localName(f.attr("column") ?? field),
                                  precision: try compiler.number(f, "precision") ?? 1e-6,
                                  zeroThreshold: try compiler.number(f, "zeroThreshold") ?? 1e-16,
                                  check: outputs[field]))
        }
        var records: [Record] = []
        for row in table.children(named: "row") {
            var cells: [String: String] = [:]
            for c in row.children { cells[c.name] = c.text }
            records.append(Record(line: row.line, cells: cells))
        }
        return Verification(file: compiler.file, columns: columns, records: records)
    }

    /// Checks every verification record.
    func run(_ model: CompiledModel) throws {
        let inputNames = Set(model.inputFields.map(\.name))
        for record in records {
            var raw: [String: FieldValue] = [:]
            for c in columns where inputNames.contains(c.field) {
                if let text = record.cells[c.column], !text.isEmpty { raw[c.field] = .string(text) }
            }
            let row = model.makeRow(raw)
            let result: (value: Double?, category: String?, probabilities: [String: Double])
            do {
                result = try model.predict(row)
            } catch {
                throw PMMLError(file: file, line: record.line, element: "row", message: "verification failed: \(error)")
            }
            for c in columns {
                guard let check = c.check, let text = record.cells[c.column] else { continue }
                let expected = text.trimmingCharacters(in: .whitespacesAndNewlines)
                switch check {
                case .probability(let category):
                    let key = canonicalCategory(category, model.program.root.header.targetType)
                    guard let e = parseDouble(expected), let a = result.probabilities[key] else {
                        throw PMMLError(file: file, line: record.line, element: "row",
                                        message: "verification failed for \(c.field): no probability computed")
                    }
                    try compare(e, a, c, record)
                case .predicted:
                    if let a = result.value {
                        guard let e = parseDouble(expected) else { continue }
                        try compare(e, a, c, record)
                    } else if let a = result.category {
                        let e = canonicalCategory(expected, model.program.root.header.targetType)
                        if e != a {
                            throw PMMLError(file: file, line: record.line, element: "row",
                                            message: "verification failed for \(c.field): expected \(e), computed \(a)")
                        }
                    }
                }
            }
        }
    }

    private func compare(_ e: Double, _ a: Double, _ c: Column, _ record: Record) throws {
        let ok: Bool
        if abs(e) <= c.zeroThreshold {
            ok = abs(a) <= c.zeroThreshold
        } else {
            ok = abs(a - e) <= c.precision * abs(e)
        }
        if !ok {
            throw PMMLError(file: file, line: record.line, element: "row",
                            message: "verification failed for \(c.field): expected \(e), computed \(a)")
        }
    }
}
