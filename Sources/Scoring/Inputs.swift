import Foundation

/// One closed/open numeric interval of a DataField.
struct IntervalC: Sendable {
    let left: Double
    let right: Double
    let leftClosed: Bool
    let rightClosed: Bool

    @inline(__always) func contains(_ x: Double) -> Bool {
        (leftClosed ? x >= left : x > left) && (rightClosed ? x <= right : x < right)
    }
}

/// DataDictionary validation plus the top-level MiningField treatments for one input field.
struct InputSpec: Sendable {
    let name: String
    let type: PMMLDataType
    let optype: PMMLOpType
    let validValues: [Double]
    let invalidValues: [Double]
    let missingValues: [Double]
    let intervals: [IntervalC]
    let missingReplacement: Double?
    let missingReturnInvalid: Bool
    let invalidTreatment: InvalidTreatment
    let invalidReplacement: Double?
    /// 0 asIs, 1 asMissingValues, 2 asExtremeValues.
    let outliers: UInt8
    let lowValue: Double?
    let highValue: Double?
}

/// Converts raw values into prepared rows (interning strings, validating, applying treatments).
struct RowPreparer: Sendable {
    let specs: [InputSpec]
    let codes: [String: Int]
    let indexByName: [String: Int]

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
