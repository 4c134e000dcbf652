import Foundation

/// A raw input value for one model field, as received from a CSV cell or a JSON body.
public enum FieldValue: Sendable, Hashable {
    /// A number.
    case number(Double)
    /// A string (categorical values, or numbers still in text form).
    case string(String)
    /// No value.
    case missing
}

/// A PMML `dataType` supported by the scoring engine.
public enum PMMLDataType: String, Sendable, Hashable {
    /// `string`
    case string
    /// `integer`
    case integer
    /// `float` (IEEE 754 binary32 semantics, values are rounded to float)
    case float
    /// `double`
    case double
    /// `boolean`
    case boolean

    /// Whether values of this type are held as numbers (everything but `string`).
    var isNumeric: Bool { self != .string }

    /// The common type of an arithmetic result, per PMML type promotion.
    static func common(_ a: PMMLDataType, _ b: PMMLDataType) -> PMMLDataType {
        if a == .double || b == .double { return .double }
        if a == .float || b == .float { return .float }
        if a == .string || b == .string { return .string }
        return .integer
    }
}

/// A PMML `optype`.
public enum PMMLOpType: String, Sendable, Hashable {
    /// `categorical`
    case categorical
    /// `ordinal`
    case ordinal
    /// `continuous`
    case continuous
}

/// One input field of a compiled model, in the order used by `InputRow`.
public struct InputField: Sendable, Hashable {
    /// The field name as written in the PMML DataDictionary.
    public let name: String
    /// The declared data type.
    public let dataType: PMMLDataType
    /// The declared operational type.
    public let optype: PMMLOpType
    /// The valid values of a categorical/ordinal field, in document order; empty when any value is accepted.
    public let allowedValues: [String]
}

/// One prepared input row: values already validated, converted (float rounding, categorical strings
/// interned to integer codes) and treated per the MiningSchema, ordered like `CompiledModel.inputFields`.
///
/// Build it with `CompiledModel.makeRow(_:)`; a row belongs to the model that made it.
public struct InputRow: Sendable {
    /// Prepared values (NaN for missing).
    @usableFromInline var values: [Double]
    /// Per-value state: 0 valid, 1 missing, 2 invalid kept as is.
    @usableFromInline var states: [UInt8]
    /// The first input error to report when the row is scored (`returnInvalid` treatments).
    @usableFromInline var error: ScoringError?
    /// Whether `error` is set (checked on the hot path without copying the error).
    @usableFromInline var hasError: Bool
    /// An identity of the model that prepared the row, so a row cannot be scored by another model.
    @usableFromInline var modelID: ObjectIdentifier?
}

// MARK: - Internal value helpers

/// Slot states used in the per-row working buffers.
enum SlotState {
    /// Valid values as written.
    static let valid: UInt8 = 0
    /// Values that mean missing, as written.
    static let missing: UInt8 = 1
    /// Invalid values as written.
    static let invalid: UInt8 = 2
    /// Derived, not yet computed for this row.
    static let pending: UInt8 = 3
}

/// An evaluated value: a number (or string code) plus its state.
struct Val {
    /// The number (or string code).
    var v: Double
    /// The state (see `SlotState`).
    var s: UInt8

    /// Values that mean missing, as written.
    static let missing = Val(v: .nan, s: SlotState.missing)
    /// A valid value.
    @inline(__always) static func valid(_ v: Double) -> Val { Val(v: v, s: SlotState.valid) }
    @inline(__always) var isMissing: Bool { s == SlotState.missing }
}

/// Rounds a double to the nearest binary32 value (JPMML `float` semantics).
@inline(__always) func f32(_ x: Double) -> Double { Double(Float(x)) }

/// Parses a PMML number attribute (accepts Java spellings such as `INF`, `-Infinity`, `NaN`).
func parseDouble(_ text: String) -> Double? {
    let s = text.trimmingCharacters(in: .whitespacesAndNewlines)
    if s.isEmpty { return nil }
    if let d = Double(s) { return d }
    switch s.lowercased() {
    case "inf", "+inf", "infinity", "+infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan": return .nan
    default: return nil
    }
}

/// Parses `text` as a value of numeric type `type` (float values are rounded from the decimal text).
func parseTyped(_ text: String, _ type: PMMLDataType) -> Double? {
    let s = text.trimmingCharacters(in: .whitespacesAndNewlines)
    switch type {
    case .string:
        return nil
    case .double:
        return parseDouble(s)
    case .float:
        if let f = Float(s) { return Double(f) }
        return parseDouble(s).map(f32)
    case .integer:
        if let i = Int64(s) { return Double(i) }
        if let d = parseDouble(s), d.isFinite, d == d.rounded(.towardZero) { return d }
        return nil
    case .boolean:
        switch s.lowercased() {
        case "true", "1", "1.0": return 1
        case "false", "0", "0.0": return 0
        default: return nil
        }
    }
}

/// Converts an already numeric value to type `type` (float rounding; integer values must be integral).
func convertNumber(_ d: Double, _ type: PMMLDataType) -> Double? {
    switch type {
    case .string: return nil
    case .double: return d
    case .float: return f32(d)
    case .integer: return (d.isFinite && d == d.rounded(.towardZero)) ? d : nil
    case .boolean: return d == 0 ? 0 : (d == 1 ? 1 : nil)
    }
}

/// The canonical text of a number (integral values without a fraction), used for category labels.
func canonicalNumberText(_ d: Double) -> String {
    if d.isFinite, d == d.rounded(.towardZero), abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
}

/// The canonical text of a category label for a field of type `type` (`"1.0"` → `"1"` for numbers).
func canonicalCategory(_ text: String, _ type: PMMLDataType) -> String {
    if type.isNumeric, let d = parseTyped(text, type == .boolean ? .boolean : .double) {
        if type == .boolean { return d == 1 ? "true" : "false" }
        return canonicalNumberText(d)
    }
    return text
}
