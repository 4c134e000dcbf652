import Foundation

/// A PMML model compiled into flat, immutable structures, ready to score rows.
///
/// Load once, share everywhere: scoring never mutates the model, so one instance may be used from any
/// number of tasks at the same time without locks.
///
/// - Important: rows passed to `score(_:)` must come from this model's `makeRow(_:)`.
public final class CompiledModel: Sendable {
    /// The document name (file name when loaded from a URL).
    public let name: String
    /// `name-<first 12 hex digits of the document's SHA-256>`, e.g. `logreg.pmml-1a2b3c4d5e6f`.
    public let version: String
    /// The hex SHA-256 of the document bytes.
    public let sha256: String
    /// The model's input fields, in the order used by `InputRow`.
    public let inputFields: [InputField]
    /// The category whose probability `score(_:)` reports (classification); nil for regression models.
    public let targetCategory: String?
    /// Whether the model is a classifier (scores are probabilities) or a regression (scores are values).
    public let isClassification: Bool
    /// Per input field with one, the reference value the model's MiningField gives for explanations
    /// (CONTRACT §6): `missingValueReplacement`, else `x-reference`, as written.
    public let referenceValues: [String: String]

    /// The compiled program.
    let program: Program
    /// Converts raw values into prepared rows.
    let preparer: RowPreparer
    /// The document's ModelVerification, if any.
    let verification: Verification?

    /// Loads, compiles and verifies (when the document has `ModelVerification`) the PMML file at `url`.
    ///
    /// - Throws: `PMMLError` naming the file, line and element for malformed or unsupported documents, and
    ///   any error from reading the file.
    public static func load(contentsOf url: URL) throws -> CompiledModel {
        // Refuse an oversized file before reading it into memory.
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size > XMLLimits.maxBytes {
            throw PMMLError(file: url.path, line: nil, element: nil,
                            message: "the file has \(size) bytes; a model file may have at most \(XMLLimits.maxBytes)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PMMLError(file: url.path, line: nil, element: nil, message: "cannot read file: \(error.localizedDescription)")
        }
        return try CompiledModel(pmml: data, name: url.lastPathComponent)
    }

    /// Compiles and verifies a PMML document held in memory; `name` is used in errors and in `version`.
    public init(pmml data: Data, name: String) throws {
        let sha = SHA256.hex(data)
        let root = try parseXMLTree(data: data, file: name)
        let compiler = Compiler(file: name)
        let (program, model, modelElement) = try compiler.compile(root)
        self.name = name
        self.sha256 = sha
        self.version = name + "-" + String(sha.prefix(12))
        self.program = program
        self.inputFields = compiler.inputFields
        var references: [String: String] = [:]
        for f in compiler.inputFields {
            if let mf = compiler.topMiningFields[f.name], let r = mf.attr("missingValueReplacement") ?? mf.attr("x-reference") { references[f.name] = r }
        }
        self.referenceValues = references
        self.isClassification = model.header.function == .classification
        self.targetCategory = isClassification ? model.header.categories[program.reportedCategory] : nil
        var index: [String: Int] = [:]
        for (i, f) in compiler.inputFields.enumerated() { index[f.name] = i }
        self.preparer = RowPreparer(specs: compiler.inputs, codes: compiler.stringCodes, indexByName: index)
        self.verification = try Verification.parse(modelElement, compiler: compiler)
        try verify()
    }

    // MARK: Rows

    /// Prepares a row from raw values keyed by field name (absent keys are missing; unknown keys ignored).
    public func makeRow(_ values: [String: FieldValue]) -> InputRow {
        makeRow { values[preparer.specs[$0].name] ?? .missing }
    }

    /// Prepares a row from raw values ordered like `inputFields` (extra values are ignored, absent ones missing).
    public func makeRow(values: [FieldValue]) -> InputRow {
        makeRow { $0 < values.count ? values[$0] : .missing }
    }

    private func makeRow(_ raw: (Int) -> FieldValue) -> InputRow {
        var row = InputRow(values: [Double](repeating: .nan, count: inputFields.count),
                           states: [UInt8](repeating: SlotState.missing, count: inputFields.count),
                           error: nil, hasError: false, modelID: ObjectIdentifier(self))
        let error = row.values.withUnsafeMutableBufferPointer { values in
            row.states.withUnsafeMutableBufferPointer { states in
                preparer.prepareRow(raw, values: values.baseAddress!, states: states.baseAddress!)
            }
        }
        row.error = error
        row.hasError = error != nil
        return row
    }

    // MARK: Scoring

    /// Scores one row: the probability of `targetCategory` (classification) or the predicted value (regression).
    ///
    /// - Throws: `ScoringError` for invalid/missing inputs under `returnInvalid`, or when the model yields no
    ///   prediction for the row.
    public func score(_ row: InputRow) throws(ScoringError) -> Double {
        let ctx = RowContext(program: program)
        return try score(row, ctx)
    }

    /// Scores many rows in one call, reusing one working context; results are in row order.
    public func scoreBatch(_ rows: [InputRow]) -> [Result<Double, ScoringError>] {
        let ctx = RowContext(program: program)
        var out: [Result<Double, ScoringError>] = []
        out.reserveCapacity(rows.count)
        rows.withUnsafeBufferPointer { buffer in
            for i in 0..<buffer.count {
                do throws(ScoringError) {
                    out.append(.success(try score(buffer[i], ctx)))
                } catch {
                    out.append(.failure(error))
                }
            }
        }
        return out
    }

    /// Scores many rows into `results` (cleared first); failed rows yield NaN and are reported to `onError`
    /// with their index. This variant allocates nothing per call once `results` has capacity.
    public func scoreBatch(_ rows: [InputRow], into results: inout [Double],
                           onError: (Int, ScoringError) -> Void = { _, _ in }) {
        let ctx = RowContext(program: program)
        results.removeAll(keepingCapacity: true)
        rows.withUnsafeBufferPointer { buffer in
            for i in 0..<buffer.count {
                do throws(ScoringError) {
                    results.append(try score(buffer[i], ctx))
                } catch {
                    results.append(.nan)
                    onError(i, error)
                }
            }
        }
    }

    /// Scores `count` rows straight from their raw values, `value(row, field)` giving the value of
    /// `inputFields[field]` for `row`: each row is prepared into the working context and scored there,
    /// with the results of `makeRow(values:)` then `score(_:)` but no row arrays. Results go into `results`
    /// (cleared first); a failed row yields NaN and is reported to `onError` with its index.
    /// (`perf` of the prediction bench, 2026-11-30: preparing rows through `InputRow` — two arrays per row
    /// and the caller's value arrays — took ~6 % of the engine's CPU, the model itself 0.7 %.)
    public func scoreBatch(count: Int, into results: inout [Double], value: (_ row: Int, _ field: Int) -> FieldValue,
                           onError: (Int, ScoringError) -> Void = { _, _ in }) {
        let ctx = RowContext(program: program)
        results.removeAll(keepingCapacity: true)
        results.reserveCapacity(count)
        for row in 0..<count {
            let rowError = preparer.prepareRow({ value(row, $0) }, values: ctx.values, states: ctx.states)
            ctx.resetDerived()
            do throws(ScoringError) {
                if let rowError { throw rowError }
                results.append(try prediction(ctx))
            } catch {
                results.append(.nan)
                onError(row, error)
            }
        }
    }

    /// Scores one prepared row with a reusable context.
    @inline(__always) func score(_ row: borrowing InputRow, _ ctx: RowContext) throws(ScoringError) -> Double {
        guard row.modelID == ObjectIdentifier(self), row.values.count == program.inputCount else {
            throw ScoringError(kind: .evaluation, field: nil, reason: "the row was prepared by another model")
        }
        if row.hasError, let e = row.error { throw e }
        ctx.load(row)
        return try prediction(ctx)
    }

    /// The reported prediction of the row loaded in `ctx`.
    /// - Throws: also when a predicted value is not finite (e.g. `exp` normalisation of a large sum): no
    ///   score, message or stored column can carry it.
    @inline(__always) private func prediction(_ ctx: RowContext) throws(ScoringError) -> Double {
        let p = try ctx.evaluate(program.root)
        switch p.status {
        case 1:
            guard p.value.isFinite else {
                throw ScoringError(kind: .evaluation, field: nil, reason: "the model's predicted value is not finite (\(p.value))")
            }
            return p.value
        case 2:
            return ctx.probs[program.root.header.probOffset + program.reportedCategory]
        default:
            throw ScoringError(kind: .noPrediction, field: nil, reason: "the model yields no prediction for this row")
        }
    }

    /// Full prediction for verification: the predicted value/category and every category probability.
    func predict(_ row: InputRow) throws(ScoringError) -> (value: Double?, category: String?, probabilities: [String: Double]) {
        if let e = row.error { throw e }
        let ctx = RowContext(program: program)
        ctx.load(row)
        let p = try ctx.evaluate(program.root)
        let h = program.root.header
        switch p.status {
        case 1:
            return (p.value, nil, [:])
        case 2:
            var probs: [String: Double] = [:]
            for (i, c) in h.categories.enumerated() { probs[c] = ctx.probs[h.probOffset + i] }
            return (nil, h.categories[Int(p.value)], probs)
        default:
            return (nil, nil, [:])
        }
    }

    /// Runs the document's `ModelVerification` records (if any) and throws on the first mismatch.
    ///
    /// Called on load; a model that fails its own verification is never served.
    public func verify() throws {
        try verification?.run(self)
    }
}
