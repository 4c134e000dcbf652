import Foundation

/// A resolved field reference at compile time.
struct FieldInfo {
    /// The value slot.
    let slot: Int
    /// The data type.
    let type: PMMLDataType
    /// The operational type.
    let optype: PMMLOpType
    /// Whether the slot is computed lazily (derived field) and must be prepared before direct reads.
    let derived: Bool
}

/// Name resolution scope (DataDictionary → TransformationDictionary → model-local fields).
final class Scope {
    /// A scope entry.
    enum Entry {
        case resolved(FieldInfo)
        /// A DerivedField not compiled yet, compiled in the scope that holds the entry. (The entry does
        /// not hold its scope: that reference cycle leaked every unresolved field — found by fuzzing.)
        case pending(XElement)
        case inProgress
        case dataField(String)
        /// A DefineFunction parameter bound to an argument expression.
        case bound(Expr, PMMLDataType, PMMLOpType)
    }

    /// The enclosing scope (nil for the global scope).
    let parent: Scope?
    /// Names defined in this scope.
    var entries: [String: Entry] = [:]

    /// Creates the value.
    init(parent: Scope?) { self.parent = parent }
}

/// A parsed DataField.
struct DataFieldDef {
    /// The field name.
    let name: String
    /// The data type.
    let type: PMMLDataType?
    /// The dataType as written.
    let rawType: String
    /// The operational type.
    let optype: PMMLOpType
    /// Valid values as written.
    let valid: [String]
    /// Invalid values as written.
    let invalid: [String]
    /// Values that mean missing, as written.
    let missing: [String]
    /// Valid intervals (continuous fields).
    let intervals: [IntervalC]
    /// The defining element (for error messages).
    let element: XElement
}

/// The target of a model, as seen by the compiler.
struct TargetInfo {
    /// The field name.
    let name: String?
    /// The data type.
    let type: PMMLDataType
    /// Target categories (canonical text).
    let categories: [String]
    /// Whether the target is ordinal.
    let ordinal: Bool
}

/// Compiles a parsed PMML element tree into a `Program`.
///
/// This file holds the document-level part: DataDictionary, TransformationDictionary, the top-level
/// MiningSchema, inputs and field resolution. Expressions and predicates are compiled in `Expressions.swift`;
/// the parts common to every model element in `Models/ModelCommon.swift`, and each model type in its own
/// file under `Models/` (compiled form, compile step and evaluation together).
final class Compiler {
    /// The document name used in errors.
    let file: String
    /// Interned strings; a string value is encoded as its index.
    var strings: [String] = []
    /// String → code.
    var stringCodes: [String: Int] = [:]
    /// Field name per slot.
    var slotNames: [String] = []
    /// Initial state per slot.
    var slotInitial: [UInt8] = []
    /// Expression per lazily computed slot.
    var derived: [Expr?] = []
    /// Input specifications, in input-slot order.
    var inputs: [InputSpec] = []
    /// Public description of the inputs.
    var inputFields: [InputField] = []
    /// Parsed DataDictionary.
    var dataFields: [String: DataFieldDef] = [:]
    /// Size of the probability scratch so far.
    var probabilityCount = 0
    /// DefineFunction elements by name.
    var functions: [String: XElement] = [:]
    /// Current DefineFunction inlining depth.
    var functionDepth = 0
    /// The global scope (DataDictionary and TransformationDictionary).
    let global = Scope(parent: nil)
    /// The top-level MiningSchema element (treatments for inputs).
    var topMiningFields: [String: XElement] = [:]
    /// Every field name the document refers to (outside field definitions); output fields of chain segments
    /// that nobody refers to are not computed.
    var referencedNames: Set<String> = []

    /// Collects every referenced field name under `el`.
    func collectReferences(_ el: XElement) {
        let definitions: Set<String> = ["OutputField", "DataField", "DerivedField", "DefineFunction", "ParameterField"]
        if !definitions.contains(el.name) {
            for key in ["field", "name", "fieldName"] { if let v = el.attr(key) { referencedNames.insert(v) } }
        }
        for c in el.children { collectReferences(c) }
    }

    /// Creates the value.
    init(file: String) { self.file = file }

    // MARK: Errors and small helpers

    /// An error naming the element, its line and the file.
    func fail(_ el: XElement?, _ message: String) -> PMMLError {
        PMMLError(file: file, line: el?.line, element: el?.name, message: message)
    }

    /// The interned code of a string.
    func code(_ s: String) -> Double {
        if let c = stringCodes[s] { return Double(c) }
        let c = strings.count
        strings.append(s)
        stringCodes[s] = c
        return Double(c)
    }

    /// A numeric attribute, or nil when absent. Coefficients, thresholds, margins and counts must be
    /// finite: a NaN or infinite value would make every score NaN or ±1, so it fails the load instead.
    func number(_ el: XElement, _ attr: String) throws(PMMLError) -> Double? {
        guard let text = el.attr(attr) else { return nil }
        guard let d = parseDouble(text) else { throw fail(el, "attribute \(attr)=\"\(text)\" is not a number") }
        guard d.isFinite else { throw fail(el, "attribute \(attr)=\"\(text)\" is not finite") }
        return d
    }

    /// A required numeric attribute.
    func requiredNumber(_ el: XElement, _ attr: String) throws(PMMLError) -> Double {
        guard let d = try number(el, attr) else { throw fail(el, "missing required attribute \(attr)") }
        return d
    }

    /// A required attribute.
    func required(_ el: XElement, _ attr: String) throws(PMMLError) -> String {
        guard let s = el.attr(attr) else { throw fail(el, "missing required attribute \(attr)") }
        return s
    }

    /// Encodes a literal as a value of type `type` (string code or number).
    func literal(_ text: String, _ type: PMMLDataType, _ el: XElement) throws(PMMLError) -> Double {
        if type == .string { return code(text) }
        guard let d = parseTyped(text, type) else {
            throw fail(el, "value \"\(text)\" is not a valid \(type.rawValue)")
        }
        return d
    }

    /// Parses a `dataType` attribute.
    func dataType(_ text: String?, _ el: XElement) throws(PMMLError) -> PMMLDataType? {
        guard let text else { return nil }
        if let t = PMMLDataType(rawValue: text) { return t }
        throw fail(el, "unsupported dataType \"\(text)\"")
    }

    /// Parses an `optype` attribute.
    func opType(_ text: String?, _ el: XElement, default d: PMMLOpType) throws(PMMLError) -> PMMLOpType {
        guard let text else { return d }
        guard let t = PMMLOpType(rawValue: text) else { throw fail(el, "unsupported optype \"\(text)\"") }
        return t
    }

    /// Fails on any child element not in `allowed`.
    func checkChildren(_ el: XElement, allowed: Set<String>) throws(PMMLError) {
        for c in el.children where !allowed.contains(c.name) {
            throw fail(c, "unsupported element inside <\(el.name)>")
        }
    }

    /// Allocates a value slot.
    func newSlot(_ name: String, _ initial: UInt8, _ expr: Expr?) -> Int {
        slotNames.append(name)
        slotInitial.append(initial)
        derived.append(expr)
        return slotNames.count - 1
    }

    // MARK: Document

    /// Compiles the document; returns the program, the root model and its element.
    func compile(_ root: XElement) throws(PMMLError) -> (Program, ModelNode, XElement) {
        guard root.name == "PMML" else { throw fail(root, "the root element is not <PMML>") }
        collectReferences(root)
        if let v = root.attr("version"), !(v.hasPrefix("4.") || v.hasPrefix("3.")) {
            throw fail(root, "unsupported PMML version \(v)")
        }
        let modelNames: Set<String> = ["RegressionModel", "TreeModel", "MiningModel", "NeuralNetwork", "NaiveBayesModel"]
        let unsupportedModels: Set<String> = [
            "AnomalyDetectionModel", "AssociationModel", "BayesianNetworkModel", "BaselineModel", "ClusteringModel",
            "GaussianProcessModel", "GeneralRegressionModel", "NearestNeighborModel", "RuleSetModel", "SequenceModel",
            "Scorecard", "SupportVectorMachineModel", "TextModel", "TimeSeriesModel",
        ]
        var modelElement: XElement?
        for c in root.children {
            switch c.name {
            case "Header", "MiningBuildTask", "Extension":
                continue
            case "DataDictionary":
                try parseDataDictionary(c)
            case "TransformationDictionary":
                try checkChildren(c, allowed: ["DerivedField", "DefineFunction", "Extension"])
                for d in c.children(named: "DefineFunction") { functions[try required(d, "name")] = d }
                for d in c.children(named: "DerivedField") { global.entries[try required(d, "name")] = .pending(d) }
            default:
                if modelNames.contains(c.name) {
                    if modelElement == nil { modelElement = c }
                } else if unsupportedModels.contains(c.name) {
                    if modelElement == nil { throw fail(c, "unsupported model type") }
                } else {
                    throw fail(c, "unsupported element")
                }
            }
        }
        guard let modelElement else { throw fail(root, "no supported model element found") }
        let model = try compileModel(modelElement, scope: global, inherited: nil, chainScope: nil, isTop: true)
        let h = model.header
        var reported = -1
        if h.function == .classification {
            var wanted: String?
            if let out = modelElement.child("Output") {
                for o in out.children(named: "OutputField") where (o.attr("feature") ?? "predictedValue") == "probability" {
                    if let v = o.attr("value") { wanted = v }
                }
            }
            let targetType = h.targetType
            if let w = wanted {
                let c = canonicalCategory(w, targetType)
                guard let i = h.categories.firstIndex(of: c) else {
                    throw fail(modelElement, "probability output category \"\(w)\" is not a target category")
                }
                reported = i
            } else {
                guard !h.categories.isEmpty else { throw fail(modelElement, "classification model without categories") }
                reported = h.categories.count - 1
            }
        }
        var initial = slotInitial
        for i in 0..<inputs.count { initial[i] = SlotState.valid }
        let program = Program(slotCount: slotNames.count, inputCount: inputs.count, probabilityCount: probabilityCount,
                              initialStates: initial, derived: derived, slotNames: slotNames, root: model,
                              reportedCategory: reported)
        return (program, model, modelElement)
    }

    /// Parses the DataDictionary.
    func parseDataDictionary(_ dd: XElement) throws(PMMLError) {
        try checkChildren(dd, allowed: ["DataField", "Taxonomy", "Extension"])
        for f in dd.children(named: "DataField") {
            let name = try required(f, "name")
            let rawType = try required(f, "dataType")
            let type = PMMLDataType(rawValue: rawType)
            let optype = try opType(f.attr("optype"), f, default: type == .string ? .categorical : .continuous)
            var valid: [String] = [], invalid: [String] = [], missing: [String] = []
            var intervals: [IntervalC] = []
            for c in f.children {
                switch c.name {
                case "Value":
                    let v = try required(c, "value")
                    switch c.attr("property") ?? "valid" {
                    case "valid": valid.append(v)
                    case "invalid": invalid.append(v)
                    case "missing": missing.append(v)
                    default: throw fail(c, "unsupported Value property \"\(c.attr("property") ?? "")\"")
                    }
                case "Interval":
                    intervals.append(try interval(c))
                case "Extension":
                    continue
                default:
                    throw fail(c, "unsupported element inside <DataField>")
                }
            }
            dataFields[name] = DataFieldDef(name: name, type: type, rawType: rawType, optype: optype, valid: valid,
                                            invalid: invalid, missing: missing, intervals: intervals, element: f)
            global.entries[name] = .dataField(name)
        }
    }

    /// Parses an `Interval`.
    func interval(_ c: XElement) throws(PMMLError) -> IntervalC {
        let closure = try required(c, "closure")
        let left = try number(c, "leftMargin") ?? -.infinity
        let right = try number(c, "rightMargin") ?? .infinity
        switch closure {
        case "openClosed": return IntervalC(left: left, right: right, leftClosed: false, rightClosed: true)
        case "openOpen": return IntervalC(left: left, right: right, leftClosed: false, rightClosed: false)
        case "closedOpen": return IntervalC(left: left, right: right, leftClosed: true, rightClosed: false)
        case "closedClosed": return IntervalC(left: left, right: right, leftClosed: true, rightClosed: true)
        default: throw fail(c, "unsupported closure \"\(closure)\"")
        }
    }

    // MARK: Field resolution

    /// Resolves a field name to a value slot (creating inputs and compiling derived fields on demand).
    func resolve(_ name: String, _ scope: Scope, _ el: XElement) throws(PMMLError) -> FieldInfo {
        var s: Scope? = scope
        while let cur = s {
            if let entry = cur.entries[name] {
                switch entry {
                case .resolved(let info):
                    return info
                case .inProgress:
                    throw fail(el, "field \"\(name)\" is defined in terms of itself")
                case .bound:
                    throw fail(el, "function parameter \"\(name)\" cannot be used here")
                case .dataField(let n):
                    let info = try makeInput(n, el)
                    cur.entries[name] = .resolved(info)
                    return info
                case .pending(let d):
                    cur.entries[name] = .inProgress
                    let info = try compileDerivedField(d, cur)
                    cur.entries[name] = .resolved(info)
                    return info
                }
            }
            s = cur.parent
        }
        throw fail(el, "unknown field \"\(name)\"")
    }

    /// Resolves a field name to an expression (allows DefineFunction parameters).
    func resolveExpr(_ name: String, _ scope: Scope, _ el: XElement) throws(PMMLError) -> (Expr, PMMLDataType, PMMLOpType) {
        var s: Scope? = scope
        while let cur = s {
            if let entry = cur.entries[name] {
                if case .bound(let e, let t, let o) = entry { return (e, t, o) }
                let info = try resolve(name, cur, el)
                return (.field(info.slot), info.type, info.optype)
            }
            s = cur.parent
        }
        throw fail(el, "unknown field \"\(name)\"")
    }

    /// Creates the input slot for a DataField (validation and top-level treatments).
    func makeInput(_ name: String, _ el: XElement) throws(PMMLError) -> FieldInfo {
        guard let def = dataFields[name] else { throw fail(el, "unknown field \"\(name)\"") }
        guard let type = def.type else {
            throw fail(def.element, "unsupported dataType \"\(def.rawType)\" of field \"\(name)\"")
        }
        let e = def.element
        let valid = try def.valid.map { (v) throws(PMMLError) in try literal(v, type, e) }
        let invalid = try def.invalid.map { (v) throws(PMMLError) in try literal(v, type, e) }
        let missing = def.missing.compactMap { v -> Double? in type == .string ? code(v) : parseTyped(v, type) }
        var missingReplacement: Double?
        var missingReturnInvalid = false
        var invalidTreatment = InvalidTreatment.returnInvalid
        var invalidReplacement: Double?
        var outliers: UInt8 = 0
        var low: Double?, high: Double?
        if let mf = topMiningFields[name] {
            if let r = mf.attr("missingValueReplacement") { missingReplacement = try literal(r, type, mf) }
            switch mf.attr("missingValueTreatment") ?? "asIs" {
            case "asIs", "asMean", "asMode", "asMedian", "asValue": break
            case "returnInvalid": missingReturnInvalid = true
            default: throw fail(mf, "unsupported missingValueTreatment \"\(mf.attr("missingValueTreatment") ?? "")\"")
            }
            switch mf.attr("invalidValueTreatment") ?? "returnInvalid" {
            case "returnInvalid": invalidTreatment = .returnInvalid
            case "asIs": invalidTreatment = .asIs
            case "asMissing": invalidTreatment = .asMissing
            case "asValue":
                invalidTreatment = .asValue
                if let r = mf.attr("invalidValueReplacement") { invalidReplacement = try literal(r, type, mf) }
            default: throw fail(mf, "unsupported invalidValueTreatment \"\(mf.attr("invalidValueTreatment") ?? "")\"")
            }
            if invalidTreatment != .asValue, let r = mf.attr("invalidValueReplacement") {
                invalidReplacement = try literal(r, type, mf)
                invalidTreatment = .asValue
            }
            switch mf.attr("outliers") ?? "asIs" {
            case "asIs": outliers = 0
            case "asMissingValues": outliers = 1
            case "asExtremeValues": outliers = 2
            default: throw fail(mf, "unsupported outliers treatment \"\(mf.attr("outliers") ?? "")\"")
            }
            low = try number(mf, "lowValue")
            high = try number(mf, "highValue")
        }
        let spec = InputSpec(name: name, type: type, optype: def.optype, validValues: valid, invalidValues: invalid,
                             missingValues: missing, intervals: def.intervals, missingReplacement: missingReplacement,
                             missingReturnInvalid: missingReturnInvalid, invalidTreatment: invalidTreatment,
                             invalidReplacement: invalidReplacement, outliers: outliers, lowValue: low, highValue: high)
        // Input slots come first: they are created before any derived or output slot.
        guard slotNames.count == inputs.count else {
            throw fail(el, "field \"\(name)\" is used by a nested model but not declared in the top-level MiningSchema")
        }
        let slot = newSlot(name, SlotState.missing, nil)
        inputs.append(spec)
        inputFields.append(InputField(name: name, dataType: type, optype: def.optype,
                                      allowedValues: def.optype == .continuous ? [] : def.valid))
        return FieldInfo(slot: slot, type: type, optype: def.optype, derived: false)
    }

    /// Compiles a DerivedField into a lazily computed slot.
    func compileDerivedField(_ d: XElement, _ scope: Scope) throws(PMMLError) -> FieldInfo {
        let name = try required(d, "name")
        guard let type = try dataType(d.attr("dataType"), d) else { throw fail(d, "missing required attribute dataType") }
        let optype = try opType(d.attr("optype"), d, default: type == .string ? .categorical : .continuous)
        guard let exprEl = d.children.first(where: { $0.name != "Extension" && $0.name != "Value" }) else {
            throw fail(d, "DerivedField \"\(name)\" has no expression")
        }
        let (e, t) = try compileExpr(exprEl, scope, expected: type)
        let cast = try castExpr(e, from: t, to: type, exprEl)
        let slot = newSlot(name, SlotState.pending, cast)
        return FieldInfo(slot: slot, type: type, optype: optype, derived: true)
    }

    /// Converts an expression's value to `to` (float rounding, integer truncation); string ↔ number fails.
    func castExpr(_ e: Expr, from: PMMLDataType, to: PMMLDataType, _ el: XElement) throws(PMMLError) -> Expr {
        if from == to { return e }
        if from == .string || to == .string {
            if case .constant(let v, let missing) = e, from == .string, !missing, let s = stringOf(v),
               let d = parseTyped(s, to) {
                return .constant(d, missing: false)
            }
            if case .constant(let v, let missing) = e, to == .string, !missing {
                return .constant(code(canonicalNumberText(v)), missing: false)
            }
            throw fail(el, "unsupported conversion from \(from.rawValue) to \(to.rawValue)")
        }
        switch to {
        case .float: return from == .integer || from == .boolean ? e : .cast(e, .float)
        case .integer: return .cast(e, .integer)
        case .boolean: return .cast(e, .boolean)
        default: return e
        }
    }

    /// The string of an interned code.
    func stringOf(_ code: Double) -> String? {
        let i = Int(code)
        return i >= 0 && i < strings.count ? strings[i] : nil
    }
}
