import Foundation

/// Built-in PMML functions supported by `Apply` (names without and with the `x-` prefix).
enum Builtin: UInt8, Sendable {
    case add, subtract, multiply, divide, modulo, pow, threshold, hypot, atan2
    case min, max, sum, avg, median, product
    case log10, ln, ln1p, exp, expm1, sqrt, abs, floor, ceil, round, rint
    case sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, erf, stdNormalCDF, stdNormalPDF
    case normalCDF, normalPDF
    case isMissing, isNotMissing, isValid, isNotValid
    case equal, notEqual, lessThan, lessOrEqual, greaterThan, greaterOrEqual
    case and, or, not, isIn, isNotIn, ifThenElse

    /// Looks a function name up (accepting the `x-` prefix some exporters use).
    static func named(_ name: String) -> Builtin? {
        var n = name
        if n.hasPrefix("x-") { n.removeFirst(2) }
        switch n {
        case "+": return .add
        case "-": return .subtract
        case "*": return .multiply
        case "/": return .divide
        case "modulo": return .modulo
        case "pow": return .pow
        case "threshold": return .threshold
        case "hypot": return .hypot
        case "atan2": return .atan2
        case "min": return .min
        case "max": return .max
        case "sum": return .sum
        case "avg": return .avg
        case "median": return .median
        case "product": return .product
        case "log10": return .log10
        case "ln": return .ln
        case "ln1p": return .ln1p
        case "exp": return .exp
        case "expm1": return .expm1
        case "sqrt": return .sqrt
        case "abs": return .abs
        case "floor": return .floor
        case "ceil": return .ceil
        case "round": return .round
        case "rint": return .rint
        case "sin": return .sin
        case "cos": return .cos
        case "tan": return .tan
        case "asin": return .asin
        case "acos": return .acos
        case "atan": return .atan
        case "sinh": return .sinh
        case "cosh": return .cosh
        case "tanh": return .tanh
        case "erf": return .erf
        case "stdNormalCDF": return .stdNormalCDF
        case "stdNormalPDF": return .stdNormalPDF
        case "normalCDF": return .normalCDF
        case "normalPDF": return .normalPDF
        case "isMissing": return .isMissing
        case "isNotMissing": return .isNotMissing
        case "isValid": return .isValid
        case "isNotValid": return .isNotValid
        case "equal": return .equal
        case "notEqual": return .notEqual
        case "lessThan": return .lessThan
        case "lessOrEqual": return .lessOrEqual
        case "greaterThan": return .greaterThan
        case "greaterOrEqual": return .greaterOrEqual
        case "and": return .and
        case "or": return .or
        case "not": return .not
        case "isIn": return .isIn
        case "isNotIn": return .isNotIn
        case "if": return .ifThenElse
        default: return nil
        }
    }

    /// Allowed argument counts (`max == nil` for variadic).
    var arity: (min: Int, max: Int?) {
        switch self {
        case .add, .subtract, .multiply, .divide, .modulo, .pow, .threshold, .hypot, .atan2,
             .equal, .notEqual, .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual:
            return (2, 2)
        case .min, .max, .sum, .avg, .median, .product: return (1, nil)
        case .and, .or: return (2, nil)
        case .isIn, .isNotIn: return (2, nil)
        case .ifThenElse: return (2, 3)
        case .normalCDF, .normalPDF: return (3, 3)
        default: return (1, 1)
        }
    }
}

/// What `Apply` does with an invalid (NaN or infinite) function result.
enum InvalidTreatment: UInt8, Sendable {
    case returnInvalid, asIs, asMissing, asValue
}

/// Attributes of one compiled `Apply`.
struct ApplyInfo: Sendable {
    /// Classification or regression.
    let function: Builtin
    /// The field name.
    let name: String
    /// `mapMissingTo`, encoded.
    let mapMissingTo: Double?
    /// `defaultValue`, encoded.
    let defaultValue: Double?
    /// `invalidValueTreatment`.
    let invalidTreatment: InvalidTreatment
    /// Type of the result; `float` results are rounded to binary32.
    let resultType: PMMLDataType
    /// Whether the function's result is numeric (and thus subject to the NaN/infinity validity check).
    let numericResult: Bool
}

/// A compiled `NormContinuous`.
struct NormContinuousSpec: Sendable {
    /// Original values (ascending).
    let orig: [Double]
    /// Normalised values.
    let norm: [Double]
    /// 0 asIs, 1 asMissingValues, 2 asExtremeValues.
    let outliers: UInt8
    /// `mapMissingTo`, encoded.
    let mapMissingTo: Double?
}

/// One `DiscretizeBin`.
struct DiscretizeBin: Sendable {
    /// Left margin.
    let left: Double
    /// Right margin.
    let right: Double
    /// Whether the left margin is included.
    let leftClosed: Bool
    /// Whether the right margin is included.
    let rightClosed: Bool
    /// The value.
    let value: Double
}

/// A compiled `Discretize`.
struct DiscretizeSpec: Sendable {
    /// The bins in document order.
    let bins: [DiscretizeBin]
    /// `mapMissingTo`, encoded.
    let mapMissingTo: Double?
    /// `defaultValue`, encoded.
    let defaultValue: Double?
}

/// A compiled `MapValues` lookup table (cells pre-converted to the input fields' value encoding).
struct MapValuesSpec: Sendable {
    /// rows[r][c] is the value of input column c in row r.
    let rows: [[Double]]
    /// Output fields written after the prediction.
    let outputs: [Double]
    /// `mapMissingTo`, encoded.
    let mapMissingTo: Double?
    /// `defaultValue`, encoded.
    let defaultValue: Double?
}

/// A compiled PMML expression. Strings are represented by interned integer codes.
indirect enum Expr: Sendable {
    case constant(Double, missing: Bool)
    case field(Int)
    case cast(Expr, PMMLDataType)
    case normContinuous(Expr, NormContinuousSpec)
    case normDiscrete(Expr, value: Double, mapMissingTo: Double?)
    case discretize(Expr, DiscretizeSpec)
    case mapValues([Expr], MapValuesSpec)
    case apply(ApplyInfo, [Expr])
    case replaceMissing(Expr, Double)
}

/// A compiled PMML predicate (three-valued: false 0, true 1, unknown 2).
indirect enum Pred: Sendable {
    case constant(Bool)
    /// op: 0 lessOrEqual, 1 lessThan, 2 greaterOrEqual, 3 greaterThan, 4 equal, 5 notEqual.
    case compare(slot: Int, op: UInt8, value: Double)
    case isMissing(Int)
    case isNotMissing(Int)
    case set(slot: Int, isIn: Bool, values: [Double])
    case and([Pred])
    case or([Pred])
    case xor([Pred])
    case surrogate([Pred])
}

/// Tri-state predicate results.
enum Tri {
    /// False.
    static let no: UInt8 = 0
    /// True.
    static let yes: UInt8 = 1
    /// Unknown (a missing value was involved).
    static let unknown: UInt8 = 2
}

/// Compares `x` (not NaN) with `v` using a compiled comparison operator.
@inline(__always) func compareOp(_ x: Double, _ op: UInt8, _ v: Double) -> Bool {
    switch op {
    case 0: return x <= v
    case 1: return x < v
    case 2: return x >= v
    case 3: return x > v
    case 4: return x == v
    default: return x != v
    }
}

// MARK: - Special functions

/// The standard normal cumulative distribution function.
@inline(__always) func stdNormalCDF(_ x: Double) -> Double { 0.5 * Foundation.erfc(-x / 2.0.squareRoot()) }

/// The standard normal density.
@inline(__always) func stdNormalPDF(_ x: Double) -> Double { Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }

/// Java `Math.round(double)` semantics: floor(x + 0.5).
@inline(__always) func javaRound(_ x: Double) -> Double {
    if !x.isFinite { return x }
    let r = (x + 0.5).rounded(.down)
    // Guard the 0.49999999999999994 case where x + 0.5 rounds up to 1.
    if r - x > 0.5 { return r - 1 }
    return r
}
