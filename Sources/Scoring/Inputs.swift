import Foundation

/// One closed/open numeric interval of a DataField.
struct IntervalC: Sendable {
    /// Left margin.
    let left: Double
    /// Right margin.
    let right: Double
    /// Whether the left margin is included.
    let leftClosed: Bool
    /// Whether the right margin is included.
    let rightClosed: Bool

    /// Whether `x` lies in the interval.
    @inline(__always) func contains(_ x: Double) -> Bool {
        (leftClosed ? x >= left : x > left) && (rightClosed ? x <= right : x < right)
    }
}

/// DataDictionary validation plus the top-level MiningField treatments for one input field.
///
/// A class: preparing a row reads every field's spec, and copying this as a struct retained and released
/// its name and four arrays each time (`initializeWithCopy for InputSpec` in `perf` of the prediction
/// bench, 2026-11-30).
final class InputSpec: Sendable {
    /// The field name.
    let name: String
    /// The data type.
    let type: PMMLDataType
    /// The operational type.
    let optype: PMMLOpType
    /// Valid values (encoded).
    let validValues: [Double]
    /// Invalid values (encoded).
    let invalidValues: [Double]
    /// Values meaning missing (encoded).
    let missingValues: [Double]
    /// Valid intervals (continuous fields).
    let intervals: [IntervalC]
    /// `missingValueReplacement`, encoded.
    let missingReplacement: Double?
    /// `missingValueTreatment="returnInvalid"`.
    let missingReturnInvalid: Bool
    /// `invalidValueTreatment`.
    let invalidTreatment: InvalidTreatment
    /// `invalidValueReplacement`, encoded.
    let invalidReplacement: Double?
    /// 0 asIs, 1 asMissingValues, 2 asExtremeValues.
    let outliers: UInt8
    /// `lowValue` for outlier treatment.
    let lowValue: Double?
    /// `highValue` for outlier treatment.
    let highValue: Double?

    init(name: String, type: PMMLDataType, optype: PMMLOpType, validValues: [Double], invalidValues: [Double], missingValues: [Double],
         intervals: [IntervalC], missingReplacement: Double?, missingReturnInvalid: Bool, invalidTreatment: InvalidTreatment,
         invalidReplacement: Double?, outliers: UInt8, lowValue: Double?, highValue: Double?) {
        self.name = name
        self.type = type
        self.optype = optype
        self.validValues = validValues
        self.invalidValues = invalidValues
        self.missingValues = missingValues
        self.intervals = intervals
        self.missingReplacement = missingReplacement
        self.missingReturnInvalid = missingReturnInvalid
        self.invalidTreatment = invalidTreatment
        self.invalidReplacement = invalidReplacement
        self.outliers = outliers
        self.lowValue = lowValue
        self.highValue = highValue
    }
}

/// Converts raw values into prepared rows (interning strings, validating, applying treatments).
struct RowPreparer: Sendable {
    /// One specification per input field.
    let specs: [InputSpec]
    /// Interned string codes.
    let codes: [String: Int]
    /// Input index by field name.
    let indexByName: [String: Int]

    /// Prepares one row: the value of every input field (`raw(field)`, in `specs` order) written to
    /// `values` and `states`; returns the row's first error under `returnInvalid`. Unknown categories are
    /// numbered within the row. Every path that prepares rows (`makeRow`, streamed `scoreBatch`) uses it.
    @inline(__always)
    func prepareRow(_ raw: (Int) -> FieldValue, values: UnsafeMutablePointer<Double>, states: UnsafeMutablePointer<UInt8>) -> ScoringError? {
        var unknown: [String] = []
        var first: ScoringError?
        specs.withUnsafeBufferPointer { specs in
            for field in 0..<specs.count {
                let (v, s, e) = prepare(raw(field), specs[field], &unknown)
                values[field] = v
                states[field] = s
                if first == nil, let e { first = e }
            }
        }
        return first
    }

    /// Prepares one value; returns its encoded value, state, and an error under `returnInvalid`.
    func prepare(_ raw: FieldValue, _ spec: InputSpec, _ unknown: inout [String]) -> (Double, UInt8, ScoringError?) {
        var value = Double.nan
        var state = SlotState.valid
        switch raw {
        case .missing:
            state = SlotState.missing
        case .string(let s):
            if spec.type == .string {
                value = encode(s, &unknown)
            } else if let d = parseTyped(s, spec.type) {
                value = d
                if d.isNaN { state = SlotState.missing }
            } else if s.trimmingCharacters(in: .whitespaces).isEmpty {
                state = SlotState.missing
            } else {
                state = SlotState.invalid
            }
        case .number(let d):
            if spec.type == .string {
                value = encode(canonicalNumberText(d), &unknown)
            } else if d.isNaN {
                state = SlotState.missing
            } else if let c = convertNumber(d, spec.type) {
                value = c
            } else {
                state = SlotState.invalid
            }
        }
        if state == SlotState.valid {
            if spec.missingValues.contains(value) {
                state = SlotState.missing
            } else if spec.invalidValues.contains(value) {
                state = SlotState.invalid
            } else if spec.optype == .continuous {
                if !spec.intervals.isEmpty || !spec.validValues.isEmpty {
                    let ok = spec.intervals.contains { $0.contains(value) } || spec.validValues.contains(value)
                    if !ok { state = SlotState.invalid }
                }
            } else if !spec.validValues.isEmpty && !spec.validValues.contains(value) {
                state = SlotState.invalid
            }
        }
        if state == SlotState.valid && spec.outliers != 0 {
            if let lo = spec.lowValue, value < lo {
                if spec.outliers == 1 { state = SlotState.missing } else { value = lo }
            } else if let hi = spec.highValue, value > hi {
                if spec.outliers == 1 { state = SlotState.missing } else { value = hi }
            }
        }
        if state == SlotState.invalid {
            switch spec.invalidTreatment {
            case .returnInvalid:
                return (.nan, state, ScoringError(kind: .invalidValue, field: spec.name, reason: "invalid value"))
            case .asIs:
                return (value, state, nil)
            case .asMissing:
                state = SlotState.missing
            case .asValue:
                if let r = spec.invalidReplacement { return (r, SlotState.valid, nil) }
                state = SlotState.missing
            }
        }
        if state == SlotState.missing {
            if let r = spec.missingReplacement { return (r, SlotState.valid, nil) }
            if spec.missingReturnInvalid {
                return (.nan, state, ScoringError(kind: .missingValue, field: spec.name, reason: "missing value"))
            }
            return (.nan, state, nil)
        }
        return (value, state, nil)
    }

    @inline(__always) private func encode(_ s: String, _ unknown: inout [String]) -> Double {
        if let c = codes[s] { return Double(c) }
        if let i = unknown.firstIndex(of: s) { return Double(-1 - i) }
        unknown.append(s)
        return Double(-unknown.count)
    }
}
