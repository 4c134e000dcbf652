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

// MARK: - Compiling expressions and predicates

extension Compiler {
    // MARK: Expressions

    /// Compiles an expression element; returns the expression and its data type.
    func compileExpr(_ el: XElement, _ scope: Scope, expected: PMMLDataType?) throws(PMMLError) -> (Expr, PMMLDataType) {
        switch el.name {
        case "Constant":
            if el.attr("missing") == "true" { return (.constant(.nan, missing: true), expected ?? .double) }
            let text = el.text.trimmingCharacters(in: .whitespacesAndNewlines)
            var type = try dataType(el.attr("dataType"), el)
            if type == nil {
                if let expected { type = expected }
                else if Int64(text) != nil { type = .integer }
                else if parseDouble(text) != nil { type = .double }
                else { type = .string }
            }
            let t = type ?? .string
            return (.constant(try literal(text, t, el), missing: false), t)
        case "FieldRef":
            let name = try required(el, "field")
            let (e, t, _) = try resolveExpr(name, scope, el)
            if let m = el.attr("mapMissingTo") { return (.replaceMissing(e, try literal(m, t, el)), t) }
            return (e, t)
        case "NormContinuous":
            let (e, t, _) = try resolveExpr(try required(el, "field"), scope, el)
            guard t.isNumeric else { throw fail(el, "NormContinuous on a non-numeric field") }
            var pairs: [(Double, Double)] = []
            for ln in el.children(named: "LinearNorm") {
                pairs.append((try requiredNumber(ln, "orig"), try requiredNumber(ln, "norm")))
            }
            guard pairs.count >= 2 else { throw fail(el, "NormContinuous needs at least two LinearNorm elements") }
            pairs.sort { $0.0 < $1.0 }
            let outliers: UInt8
            switch el.attr("outliers") ?? "asIs" {
            case "asIs": outliers = 0
            case "asMissingValues": outliers = 1
            case "asExtremeValues": outliers = 2
            default: throw fail(el, "unsupported outliers \"\(el.attr("outliers") ?? "")\"")
            }
            let spec = NormContinuousSpec(orig: pairs.map(\.0), norm: pairs.map(\.1), outliers: outliers,
                                          mapMissingTo: try number(el, "mapMissingTo"))
            return (.normContinuous(e, spec), .double)
        case "NormDiscrete":
            let (e, t, _) = try resolveExpr(try required(el, "field"), scope, el)
            let v = try literal(try required(el, "value"), t, el)
            return (.normDiscrete(e, value: v, mapMissingTo: try number(el, "mapMissingTo")), .double)
        case "Discretize":
            let (e, t, _) = try resolveExpr(try required(el, "field"), scope, el)
            guard t.isNumeric else { throw fail(el, "Discretize on a non-numeric field") }
            let out = try dataType(el.attr("dataType"), el) ?? expected ?? .string
            var bins: [DiscretizeBin] = []
            for b in el.children(named: "DiscretizeBin") {
                guard let iv = b.child("Interval") else { throw fail(b, "DiscretizeBin without Interval") }
                let i = try interval(iv)
                bins.append(DiscretizeBin(left: i.left, right: i.right, leftClosed: i.leftClosed,
                                          rightClosed: i.rightClosed, value: try literal(try required(b, "binValue"), out, b)))
            }
            let spec = DiscretizeSpec(bins: bins,
                                      mapMissingTo: try el.attr("mapMissingTo").map { (s) throws(PMMLError) in try literal(s, out, el) },
                                      defaultValue: try el.attr("defaultValue").map { (s) throws(PMMLError) in try literal(s, out, el) })
            return (.discretize(e, spec), out)
        case "MapValues":
            return try compileMapValues(el, scope, expected: expected)
        case "Apply":
            return try compileApply(el, scope, expected: expected)
        default:
            throw fail(el, "unsupported expression")
        }
    }

    /// Compiles `MapValues`.
    func compileMapValues(_ el: XElement, _ scope: Scope, expected: PMMLDataType?) throws(PMMLError) -> (Expr, PMMLDataType) {
        let out = try dataType(el.attr("dataType"), el) ?? expected ?? .string
        let outputColumn = localName(try required(el, "outputColumn"))
        var inputs: [Expr] = []
        var columns: [String] = []
        var types: [PMMLDataType] = []
        for p in el.children(named: "FieldColumnPair") {
            let (e, t, _) = try resolveExpr(try required(p, "field"), scope, p)
            inputs.append(e)
            types.append(t)
            columns.append(localName(try required(p, "column")))
        }
        if el.child("TableLocator") != nil { throw fail(el.child("TableLocator"), "unsupported element (external table)") }
        guard let table = el.child("InlineTable") else { throw fail(el, "MapValues without InlineTable") }
        var rows: [[Double]] = []
        var outputs: [Double] = []
        for row in table.children(named: "row") {
            var cells: [String: String] = [:]
            for c in row.children { cells[c.name] = c.text }
            guard let o = cells[outputColumn] else { continue }
            var keys: [Double] = []
            var complete = true
            for (i, col) in columns.enumerated() {
                guard let v = cells[col] else { complete = false; break }
                keys.append(try literal(v, types[i], row))
            }
            if !complete { continue }
            rows.append(keys)
            outputs.append(try literal(o, out, row))
        }
        let spec = MapValuesSpec(rows: rows, outputs: outputs,
                                 mapMissingTo: try el.attr("mapMissingTo").map { (s) throws(PMMLError) in try literal(s, out, el) },
                                 defaultValue: try el.attr("defaultValue").map { (s) throws(PMMLError) in try literal(s, out, el) })
        return (.mapValues(inputs, spec), out)
    }

    /// A name without its namespace prefix.
    func localName(_ s: String) -> String {
        if let i = s.lastIndex(of: ":") { return String(s[s.index(after: i)...]) }
        return s
    }

    /// Compiles `Apply` (built-in or DefineFunction).
    func compileApply(_ el: XElement, _ scope: Scope, expected: PMMLDataType?) throws(PMMLError) -> (Expr, PMMLDataType) {
        let name = try required(el, "function")
        let argEls = el.children.filter { $0.name != "Extension" }
        if let def = functions[name] {
            return try inlineFunction(def, argEls, el, scope)
        }
        guard let f = Builtin.named(name) else { throw fail(el, "unsupported function \"\(name)\"") }
        let (lo, hi) = f.arity
        if argEls.count < lo || (hi.map { argEls.count > $0 } ?? false) {
            throw fail(el, "function \"\(name)\" called with \(argEls.count) arguments")
        }
        var args: [Expr] = []
        var types: [PMMLDataType] = []
        for a in argEls {
            let (e, t) = try compileExpr(a, scope, expected: nil)
            args.append(e)
            types.append(t)
        }
        var resultType: PMMLDataType
        var numericResult = true
        switch f {
        case .equal, .notEqual, .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual, .isIn, .isNotIn:
            // Align argument encodings: a string compared with a number is only allowed for constants.
            let first = types[0]
            for i in 1..<args.count where (types[i] == .string) != (first == .string) {
                if argEls[i].name == "Constant" {
                    (args[i], types[i]) = try compileExpr(argEls[i], scope, expected: first == .string ? .string : .double)
                } else if argEls[0].name == "Constant" && args.count == 2 {
                    (args[0], types[0]) = try compileExpr(argEls[0], scope, expected: types[i] == .string ? .string : .double)
                } else {
                    throw fail(el, "function \"\(name)\" compares a string with a number")
                }
            }
            if [.lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual].contains(f) && types.contains(.string) {
                throw fail(el, "ordering comparison of strings is not supported")
            }
            resultType = .boolean
            numericResult = false
        case .isMissing, .isNotMissing, .isValid, .isNotValid, .and, .or, .not:
            resultType = .boolean
            numericResult = false
        case .ifThenElse:
            let branchTypes = Array(types.dropFirst())
            if branchTypes.contains(.string) && !branchTypes.allSatisfy({ $0 == .string }) {
                for i in 1..<args.count where types[i] != .string && argEls[i].name == "Constant" {
                    (args[i], types[i]) = try compileExpr(argEls[i], scope, expected: .string)
                }
                if !types.dropFirst().allSatisfy({ $0 == .string }) {
                    throw fail(el, "if() branches mix strings and numbers")
                }
            }
            resultType = types.dropFirst().reduce(types[1]) { PMMLDataType.common($0, $1) }
            numericResult = false
        default:
            if types.contains(.string) { throw fail(el, "function \"\(name)\" applied to a string") }
            switch f {
            case .add, .subtract, .multiply, .min, .max, .sum, .product, .pow, .threshold, .abs, .rint, .modulo:
                resultType = types.reduce(types[0]) { PMMLDataType.common($0, $1) }
                if resultType == .boolean { resultType = .integer }
            case .divide:
                resultType = types.reduce(types[0]) { PMMLDataType.common($0, $1) }
                if resultType == .integer || resultType == .boolean { resultType = .double }
            case .floor, .ceil, .round:
                resultType = .integer
            default:
                resultType = .double
            }
        }
        let invalid: InvalidTreatment
        switch el.attr("invalidValueTreatment") ?? "returnInvalid" {
        case "returnInvalid": invalid = .returnInvalid
        case "asIs": invalid = .asIs
        case "asMissing": invalid = .asMissing
        case "asValue": invalid = .asValue
        default: throw fail(el, "unsupported invalidValueTreatment \"\(el.attr("invalidValueTreatment") ?? "")\"")
        }
        let encodeType = resultType == .string ? PMMLDataType.string : (resultType == .boolean ? .boolean : .double)
        let info = ApplyInfo(
            function: f, name: name,
            mapMissingTo: try el.attr("mapMissingTo").map { (s) throws(PMMLError) in try literal(s, encodeType, el) },
            defaultValue: try el.attr("defaultValue").map { (s) throws(PMMLError) in try literal(s, encodeType, el) },
            invalidTreatment: invalid, resultType: resultType, numericResult: numericResult)
        return (.apply(info, args), resultType)
    }

    /// Inlines a DefineFunction call with its arguments bound to the parameters.
    func inlineFunction(_ def: XElement, _ argEls: [XElement], _ call: XElement, _ scope: Scope) throws(PMMLError) -> (Expr, PMMLDataType) {
        functionDepth += 1
        defer { functionDepth -= 1 }
        if functionDepth > 32 { throw fail(call, "DefineFunction nesting too deep (recursive?)") }
        let params = def.children(named: "ParameterField")
        guard params.count == argEls.count else {
            throw fail(call, "function \"\(def.attr("name") ?? "")\" expects \(params.count) arguments, got \(argEls.count)")
        }
        // Parameters are visible inside the body; the body does not see the caller's fields.
        let body = Scope(parent: global)
        for (p, a) in zip(params, argEls) {
            let (e, t) = try compileExpr(a, scope, expected: nil)
            let pt = try dataType(p.attr("dataType"), p) ?? t
            let cast = try castExpr(e, from: t, to: pt, a)
            body.entries[try required(p, "name")] = .bound(cast, pt, try opType(p.attr("optype"), p, default: pt == .string ? .categorical : .continuous))
        }
        guard let bodyEl = def.children.first(where: { !["ParameterField", "Extension"].contains($0.name) }) else {
            throw fail(def, "DefineFunction without an expression")
        }
        let declared = try dataType(def.attr("dataType"), def)
        let (e, t) = try compileExpr(bodyEl, body, expected: declared)
        if let declared { return (try castExpr(e, from: t, to: declared, bodyEl), declared) }
        return (e, t)
    }

    // MARK: Predicates

    /// Compiles a predicate element.
    func compilePredicate(_ el: XElement, _ scope: Scope) throws(PMMLError) -> Pred {
        switch el.name {
        case "True": return .constant(true)
        case "False": return .constant(false)
        case "SimplePredicate":
            let info = try resolve(try required(el, "field"), scope, el)
            let op = try required(el, "operator")
            switch op {
            case "isMissing": return .isMissing(info.slot)
            case "isNotMissing": return .isNotMissing(info.slot)
            default: break
            }
            let code: UInt8
            switch op {
            case "lessOrEqual": code = 0
            case "lessThan": code = 1
            case "greaterOrEqual": code = 2
            case "greaterThan": code = 3
            case "equal": code = 4
            case "notEqual": code = 5
            default: throw fail(el, "unsupported operator \"\(op)\"")
            }
            if info.type == .string && code < 4 { throw fail(el, "ordering comparison on string field \"\(el.attr("field") ?? "")\"") }
            let v = try literal(try required(el, "value"), info.type, el)
            return .compare(slot: info.slot, op: code, value: v)
        case "SimpleSetPredicate":
            let info = try resolve(try required(el, "field"), scope, el)
            let isIn: Bool
            switch try required(el, "booleanOperator") {
            case "isIn": isIn = true
            case "isNotIn": isIn = false
            default: throw fail(el, "unsupported booleanOperator \"\(el.attr("booleanOperator") ?? "")\"")
            }
            guard let array = el.child("Array") else { throw fail(el, "SimpleSetPredicate without Array") }
            let values = try parseArray(array).map { (s) throws(PMMLError) in try literal(s, info.type, array) }
            return .set(slot: info.slot, isIn: isIn, values: values)
        case "CompoundPredicate":
            let parts = try el.children.filter { $0.name != "Extension" }.map { (c) throws(PMMLError) in try compilePredicate(c, scope) }
            switch try required(el, "booleanOperator") {
            case "and": return .and(parts)
            case "or": return .or(parts)
            case "xor": return .xor(parts)
            case "surrogate": return .surrogate(parts)
            default: throw fail(el, "unsupported booleanOperator \"\(el.attr("booleanOperator") ?? "")\"")
            }
        default:
            throw fail(el, "unsupported predicate")
        }
    }

    /// Splits an `Array` body into tokens (whitespace-separated; double quotes group, `\"` escapes).
    func parseArray(_ el: XElement) throws(PMMLError) -> [String] {
        var out: [String] = []
        var cur = ""
        var inQuotes = false
        var hasToken = false
        var it = el.text.makeIterator()
        while let ch = it.next() {
            if inQuotes {
                if ch == "\\" {
                    if let n = it.next() { cur.append(n) }
                } else if ch == "\"" {
                    inQuotes = false
                } else {
                    cur.append(ch)
                }
            } else if ch == "\"" {
                inQuotes = true
                hasToken = true
            } else if ch.isWhitespace {
                if hasToken { out.append(cur); cur = ""; hasToken = false }
            } else {
                cur.append(ch)
                hasToken = true
            }
        }
        if inQuotes { throw fail(el, "unterminated quote in Array") }
        if hasToken { out.append(cur) }
        if let n = el.attr("n"), let count = Int(n), count != out.count {
            throw fail(el, "Array declares n=\(count) but holds \(out.count) values")
        }
        return out
    }
}

// MARK: - Evaluating expressions and predicates

extension RowContext {
    /// Evaluates a compiled expression.
    func eval(_ e: Expr) throws(ScoringError) -> Val {
        switch e {
        case .constant(let v, let missing):
            return missing ? .missing : .valid(v)
        case .field(let slot):
            return try get(slot)
        case .cast(let inner, let type):
            var v = try eval(inner)
            if v.isMissing { return v }
            switch type {
            case .float: v.v = f32(v.v)
            case .integer: v.v = v.v.rounded(.towardZero)
            case .boolean: v.v = v.v != 0 ? 1 : 0
            default: break
            }
            return v
        case .replaceMissing(let inner, let replacement):
            let v = try eval(inner)
            return v.isMissing ? .valid(replacement) : v
        case .normContinuous(let inner, let spec):
            let v = try eval(inner)
            if v.isMissing { return spec.mapMissingTo.map(Val.valid) ?? .missing }
            return normContinuous(v.v, spec)
        case .normDiscrete(let inner, let value, let mapMissingTo):
            let v = try eval(inner)
            if v.isMissing { return mapMissingTo.map(Val.valid) ?? .missing }
            return .valid(v.v == value ? 1 : 0)
        case .discretize(let inner, let spec):
            let v = try eval(inner)
            if v.isMissing { return spec.mapMissingTo.map(Val.valid) ?? .missing }
            for bin in spec.bins {
                let x = v.v
                let leftOK = bin.leftClosed ? x >= bin.left : x > bin.left
                let rightOK = bin.rightClosed ? x <= bin.right : x < bin.right
                if leftOK && rightOK { return .valid(bin.value) }
            }
            return spec.defaultValue.map(Val.valid) ?? .missing
        case .mapValues(let inputs, let spec):
            var keys = [Double]()
            keys.reserveCapacity(inputs.count)
            for input in inputs {
                let v = try eval(input)
                if v.isMissing { return spec.mapMissingTo.map(Val.valid) ?? .missing }
                keys.append(v.v)
            }
            rows: for (r, row) in spec.rows.enumerated() {
                for c in 0..<keys.count where row[c] != keys[c] { continue rows }
                return .valid(spec.outputs[r])
            }
            return spec.defaultValue.map(Val.valid) ?? .missing
        case .apply(let info, let args):
            return try apply(info, args)
        }
    }

    private func normContinuous(_ x: Double, _ s: NormContinuousSpec) -> Val {
        let n = s.orig.count
        if x < s.orig[0] || x > s.orig[n - 1] {
            switch s.outliers {
            case 1: return .missing
            case 2: return .valid(x < s.orig[0] ? s.norm[0] : s.norm[n - 1])
            default: break
            }
        }
        var i = 0
        if x <= s.orig[0] {
            i = 0
        } else if x >= s.orig[n - 1] {
            i = n - 2
        } else {
            while i < n - 2 && x > s.orig[i + 1] { i += 1 }
        }
        let a0 = s.orig[i], a1 = s.orig[i + 1], b0 = s.norm[i], b1 = s.norm[i + 1]
        return .valid(b0 + (x - a0) / (a1 - a0) * (b1 - b0))
    }

    private func apply(_ info: ApplyInfo, _ args: [Expr]) throws(ScoringError) -> Val {
        var result: Val
        if info.function == .ifThenElse {
            let flag = try eval(args[0])
            if flag.isMissing {
                if let m = info.mapMissingTo { return .valid(m) }
                result = .missing
            } else if flag.v != 0 {
                result = try eval(args[1])
                if result.isMissing, let m = info.mapMissingTo { return .valid(m) }
            } else if args.count > 2 {
                result = try eval(args[2])
                if result.isMissing, let m = info.mapMissingTo { return .valid(m) }
            } else {
                result = .missing
            }
        } else {
            var vals = [Val]()
            vals.reserveCapacity(args.count)
            for a in args {
                let v = try eval(a)
                if v.isMissing, let m = info.mapMissingTo { return .valid(m) }
                vals.append(v)
            }
            result = compute(info.function, vals)
        }
        if result.isMissing {
            if let d = info.defaultValue { return .valid(d) }
            return result
        }
        if info.numericResult && !result.v.isFinite {
            switch info.invalidTreatment {
            case .returnInvalid, .asValue:
                throw ScoringError(kind: .evaluation, field: nil,
                                   reason: "function \(info.name) returned an invalid value")
            case .asIs:
                return Val(v: result.v, s: SlotState.invalid)
            case .asMissing:
                return info.defaultValue.map(Val.valid) ?? .missing
            }
        }
        if info.resultType == .float { result.v = f32(result.v) }
        return result
    }

    private func compute(_ f: Builtin, _ a: [Val]) -> Val {
        switch f {
        case .isMissing: return .valid(a[0].isMissing ? 1 : 0)
        case .isNotMissing: return .valid(a[0].isMissing ? 0 : 1)
        case .isValid: return .valid(a[0].s == SlotState.valid ? 1 : 0)
        case .isNotValid: return .valid(a[0].s == SlotState.invalid ? 1 : 0)
        case .isIn, .isNotIn:
            let x = a[0]
            var found = false
            for i in 1..<a.count {
                if x.isMissing ? a[i].isMissing : (!a[i].isMissing && a[i].v == x.v) { found = true; break }
            }
            return .valid((found == (f == .isIn)) ? 1 : 0)
        case .min, .max, .sum, .avg, .median, .product:
            var xs = [Double]()
            xs.reserveCapacity(a.count)
            for v in a where !v.isMissing { xs.append(v.v) }
            if xs.isEmpty { return .missing }
            switch f {
            case .min: return .valid(xs.min() ?? .nan)
            case .max: return .valid(xs.max() ?? .nan)
            case .sum: return .valid(xs.reduce(0, +))
            case .avg: return .valid(xs.reduce(0, +) / Double(xs.count))
            case .product: return .valid(xs.reduce(1, *))
            default:
                xs.sort()
                let n = xs.count
                return .valid(n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2)
            }
        default:
            break
        }
        // Every other function: a missing argument gives a missing result.
        for v in a where v.isMissing { return .missing }
        let x = a[0].v
        switch f {
        case .add: return .valid(x + a[1].v)
        case .subtract: return .valid(x - a[1].v)
        case .multiply: return .valid(x * a[1].v)
        case .divide: return .valid(x / a[1].v)
        case .modulo: return .valid(x - Foundation.floor(x / a[1].v) * a[1].v)
        case .pow: return .valid(Foundation.pow(x, a[1].v))
        case .threshold: return .valid(x > a[1].v ? 1 : 0)
        case .hypot: return .valid(Foundation.hypot(x, a[1].v))
        case .atan2: return .valid(Foundation.atan2(x, a[1].v))
        case .log10: return .valid(Foundation.log10(x))
        case .ln: return .valid(Foundation.log(x))
        case .ln1p: return .valid(Foundation.log1p(x))
        case .exp: return .valid(Foundation.exp(x))
        case .expm1: return .valid(Foundation.expm1(x))
        case .sqrt: return .valid(x.squareRoot())
        case .abs: return .valid(Swift.abs(x))
        case .floor: return .valid(Foundation.floor(x))
        case .ceil: return .valid(Foundation.ceil(x))
        case .round: return .valid(javaRound(x))
        case .rint: return .valid(x.rounded(.toNearestOrEven))
        case .sin: return .valid(Foundation.sin(x))
        case .cos: return .valid(Foundation.cos(x))
        case .tan: return .valid(Foundation.tan(x))
        case .asin: return .valid(Foundation.asin(x))
        case .acos: return .valid(Foundation.acos(x))
        case .atan: return .valid(Foundation.atan(x))
        case .sinh: return .valid(Foundation.sinh(x))
        case .cosh: return .valid(Foundation.cosh(x))
        case .tanh: return .valid(Foundation.tanh(x))
        case .erf: return .valid(Foundation.erf(x))
        case .stdNormalCDF: return .valid(stdNormalCDF(x))
        case .stdNormalPDF: return .valid(stdNormalPDF(x))
        case .normalCDF: return .valid(stdNormalCDF((x - a[1].v) / a[2].v))
        case .normalPDF: return .valid(stdNormalPDF((x - a[1].v) / a[2].v) / a[2].v)
        case .equal: return .valid(x == a[1].v ? 1 : 0)
        case .notEqual: return .valid(x != a[1].v ? 1 : 0)
        case .lessThan: return .valid(x < a[1].v ? 1 : 0)
        case .lessOrEqual: return .valid(x <= a[1].v ? 1 : 0)
        case .greaterThan: return .valid(x > a[1].v ? 1 : 0)
        case .greaterOrEqual: return .valid(x >= a[1].v ? 1 : 0)
        case .and: return .valid(a.allSatisfy { $0.v != 0 } ? 1 : 0)
        case .or: return .valid(a.contains { $0.v != 0 } ? 1 : 0)
        case .not: return .valid(x == 0 ? 1 : 0)
        default: return .missing
        }
    }

    /// Evaluates a predicate to false (0), true (1) or unknown (2).
    func evalPred(_ p: Pred) throws(ScoringError) -> UInt8 {
        switch p {
        case .constant(let b):
            return b ? Tri.yes : Tri.no
        case .compare(let slot, let op, let value):
            let v = try get(slot)
            if v.isMissing { return Tri.unknown }
            return compareOp(v.v, op, value) ? Tri.yes : Tri.no
        case .isMissing(let slot):
            return try get(slot).isMissing ? Tri.yes : Tri.no
        case .isNotMissing(let slot):
            return try get(slot).isMissing ? Tri.no : Tri.yes
        case .set(let slot, let isIn, let values):
            let v = try get(slot)
            if v.isMissing { return Tri.unknown }
            return values.contains(v.v) == isIn ? Tri.yes : Tri.no
        case .and(let ps):
            var unknown = false
            for q in ps {
                let r = try evalPred(q)
                if r == Tri.no { return Tri.no }
                if r == Tri.unknown { unknown = true }
            }
            return unknown ? Tri.unknown : Tri.yes
        case .or(let ps):
            var unknown = false
            for q in ps {
                let r = try evalPred(q)
                if r == Tri.yes { return Tri.yes }
                if r == Tri.unknown { unknown = true }
            }
            return unknown ? Tri.unknown : Tri.no
        case .xor(let ps):
            var acc = false
            for q in ps {
                let r = try evalPred(q)
                if r == Tri.unknown { return Tri.unknown }
                if r == Tri.yes { acc.toggle() }
            }
            return acc ? Tri.yes : Tri.no
        case .surrogate(let ps):
            for q in ps {
                let r = try evalPred(q)
                if r != Tri.unknown { return r }
            }
            return Tri.unknown
        }
    }
}
