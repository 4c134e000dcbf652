import Foundation
import Testing
@testable import Scoring

/// Every row of the shared expected files must match JPMML within 1e-12.
@Suite("Conformance with JPMML on the shared models")
struct ConformanceTests {
    @Test(arguments: ["logreg", "tree", "forest", "gbc"])
    func matchesJPMML(model: String) throws {
        let compiled = try CompiledModel.load(contentsOf: SharedModels.url("\(model).pmml"))
        let rows = try SharedModels.expected(model)
        #expect(rows.count == 2000)
        var worst = 0.0
        var failures = 0
        for (i, r) in rows.enumerated() {
            let p = try compiled.score(compiled.makeRow(r.values))
            let d = abs(p - r.pJPMML)
            worst = max(worst, d)
            if d > 1e-12 {
                failures += 1
                if failures < 5 { Issue.record("\(model) row \(i): \(p) vs \(r.pJPMML)") }
            }
        }
        #expect(failures == 0, "\(model): worst difference \(worst)")
    }

    @Test(arguments: ["logreg", "tree", "forest", "gbc"])
    func batchMatchesSingle(model: String) throws {
        let compiled = try CompiledModel.load(contentsOf: SharedModels.url("\(model).pmml"))
        let rows = try SharedModels.expected(model).prefix(300).map { compiled.makeRow($0.values) }
        let batch = compiled.scoreBatch(Array(rows))
        for (row, result) in zip(rows, batch) {
            #expect(try result.get() == compiled.score(row))
        }
    }

    @Test("rows scored straight from raw values match JPMML and the row-by-row path, errors included", arguments: ["logreg", "tree", "forest", "gbc"])
    func streamedBatchMatches(model: String) throws {
        let compiled = try CompiledModel.load(contentsOf: SharedModels.url("\(model).pmml"))
        var rows = try SharedModels.expected(model).map(\.values)
        let oracle = try SharedModels.expected(model).map(\.pJPMML)
        // Rows that must fail or fall back the same way in both paths: a non-numeric number, a plan outside
        // the field's values (invalid under the default treatment), a number given as text, a missing
        // value and an empty row.
        let names = compiled.inputFields.map(\.name)
        var hostile = rows[0]
        hostile[names[0]] = .string("not a number")
        rows.append(hostile)
        var outside = rows[1]
        outside["plan"] = .string("platinum")
        rows.append(outside)
        var textual = rows[2]
        textual[names[2]] = .string("42.5")
        rows.append(textual)
        var missing = rows[3]
        missing[names[3]] = .missing
        rows.append(missing)
        rows.append([:])
        var streamed: [Double] = []
        var errors: [Int: ScoringError] = [:]
        compiled.scoreBatch(count: rows.count, into: &streamed, value: { row, field in rows[row][names[field]] ?? .missing }) { row, error in
            errors[row] = error
        }
        #expect(streamed.count == rows.count)
        for (i, values) in rows.enumerated() {
            do throws(ScoringError) {
                let single = try compiled.score(compiled.makeRow(values))
                #expect(streamed[i] == single, "row \(i)")
                #expect(errors[i] == nil, "row \(i)")
                if i < oracle.count { #expect(abs(streamed[i] - oracle[i]) <= 1e-12, "row \(i) against JPMML") }
            } catch {
                #expect(streamed[i].isNaN, "row \(i)")
                #expect(errors[i] == error, "row \(i)")
            }
        }
    }

    @Test func versionAndTarget() throws {
        let m = try CompiledModel.load(contentsOf: SharedModels.url("logreg.pmml"))
        #expect(m.version.hasPrefix("logreg.pmml-"))
        #expect(m.version.count == "logreg.pmml-".count + 12)
        #expect(m.targetCategory == "1")
        #expect(m.inputFields.map(\.name) == ["tenure_days", "plan", "monthly_charges", "page_views_30d",
                                               "pricing_views_30d", "cancel_views_30d", "support_calls_30d",
                                               "complaints_30d", "days_since_last_visit"])
        #expect(m.inputFields[1].allowedValues == ["basic", "premium", "standard"])
    }
}

/// Reports how many rows match JPMML bit for bit (informational).
@Suite("Bitwise agreement (informational)")
struct BitwiseReport {
    @Test(arguments: ["logreg", "tree", "forest", "gbc"])
    func report(model: String) throws {
        let compiled = try CompiledModel.load(contentsOf: SharedModels.url("\(model).pmml"))
        let rows = try SharedModels.expected(model)
        var exact = 0
        var worst = 0.0
        for r in rows {
            let p = try compiled.score(compiled.makeRow(r.values))
            if p == r.pJPMML { exact += 1 }
            worst = max(worst, abs(p - r.pJPMML))
        }
        print("BITWISE \(model): \(exact)/\(rows.count) identical, worst |Δ| = \(worst)")
    }
}
