import Foundation

// MARK: - Compiled form shared by every model type

/// A model's function (what its prediction is).
enum ModelFunction: Sendable {
    case regression
    case classification
}

/// `Targets/Target` post-processing and defaults for one model.
struct TargetSpec: Sendable {
    /// `Target min`.
    var min: Double?
    /// `Target max`.
    var max: Double?
    /// `rescaleFactor`.
    var rescaleFactor: Double = 1
    /// `rescaleConstant`.
    var rescaleConstant: Double = 0
    /// 0 none, 1 round, 2 ceiling, 3 floor.
    var castInteger: UInt8 = 0
    /// Regression default when the model yields no prediction.
    var defaultValue: Double?
    /// Classification prior probabilities (per category index, normalised) used when there is no prediction.
    var priors: [Double]?
}

/// What an `OutputField` computes.
enum OutputKind: Sendable {
    case predictedValue
    /// Probability of category index (or of the predicted category when -1).
    case probability(Int)
    case transformed(Expr)
}

/// One compiled `OutputField` that is written into a slot (used for modelChain segments).
struct OutputSpec: Sendable {
    /// The value slot.
    let slot: Int
    /// What the output computes.
    let kind: OutputKind
    /// The data type.
    let type: PMMLDataType
}

/// Data shared by every compiled model element.
final class ModelHeader: Sendable {
    /// The defining element (for error messages).
    let element: String
    /// The 1-based line of the element.
    let line: Int
    /// Classification or regression.
    let function: ModelFunction
    /// Canonical category labels (classification).
    let categories: [String]
    /// Each category as a field value (string code or number), for `predictedValue` outputs.
    let categoryValues: [Double]
    /// Offset of this model's probability scratch in `RowContext.probs`.
    let probOffset: Int
    /// `x-mathContext="float"`: arithmetic is rounded to binary32.
    let floatMath: Bool
    /// Derived slots to compute when the model is entered (fields read directly by trees).
    let prepare: [Int]
    /// The slot receiving the indicator.
    let target: TargetSpec?
    /// Data type of the target.
    let targetType: PMMLDataType
    /// Output fields written after the prediction.
    let outputs: [OutputSpec]
    /// Output fields flattened for the hot path: slot, kind (0 predicted, 1 probability, 2 expression),
    /// probability index, type.
    let outputSlots: Flat<Int>
    /// Kind per output (hot path).
    let outputKinds: Flat<UInt8>
    /// Probability category per output.
    let outputIndex: Flat<Int>
    /// Whether the output rounds to float.
    let outputFloat: Flat<Bool>
    /// Fast flags.
    let hasPrepare: Bool
    /// Whether any output is written.
    let hasOutputs: Bool
    /// Whether Targets or a float cast apply.
    let postProcess: Bool

    /// Creates the value.
    init(element: String, line: Int, function: ModelFunction, categories: [String], categoryValues: [Double],
         probOffset: Int, floatMath: Bool, prepare: [Int], target: TargetSpec?, targetType: PMMLDataType,
         outputs: [OutputSpec]) {
        self.element = element
        self.line = line
        self.function = function
        self.categories = categories
        self.categoryValues = categoryValues
        self.probOffset = probOffset
        self.floatMath = floatMath
        self.prepare = prepare
        self.target = target
        self.targetType = targetType
        self.outputs = outputs
        outputSlots = Flat(outputs.map(\.slot))
        outputKinds = Flat(outputs.map { o -> UInt8 in
            switch o.kind {
            case .predictedValue: return 0
            case .probability: return 1
            case .transformed: return 2
            }
        })
        outputIndex = Flat(outputs.map { o -> Int in
            if case .probability(let k) = o.kind { return k }
            return 0
        })
        outputFloat = Flat(outputs.map { $0.type == .float })
        hasPrepare = !prepare.isEmpty
        hasOutputs = !outputs.isEmpty
        postProcess = target != nil || targetType == .float
    }

    /// Rounds to float under float math.
    @inline(__always) func r(_ x: Double) -> Double { floatMath ? f32(x) : x }
}

/// A model's result for one row.
struct Prediction {
    /// 0 missing, 1 value (regression), 2 classification (probabilities in the model's scratch).
    var status: UInt8
    /// The regression value, or the predicted category index for classification.
    var value: Double

    /// Values that mean missing, as written.
    static let missing = Prediction(status: 0, value: .nan)
}

/// A compiled model element (base class; one final subclass per PMML model type).
///
/// `@unchecked Sendable`: every subclass is final, holds only `let` properties and is never mutated after
/// compilation. A class (rather than an enum) lets the evaluator dispatch through the vtable without
/// retaining payloads per row.
class ModelNode: @unchecked Sendable {
    /// Data shared by every model element.
    let header: ModelHeader

    /// Creates the value.
    init(header: ModelHeader) { self.header = header }

    /// Computes the raw prediction (before Targets and outputs).
    func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { .missing }
}

/// `normalizationMethod` of RegressionModel / NeuralNetwork.
enum NormalizationMethod: Sendable {
    case none, simplemax, softmax, logit, probit, cloglog, exp, loglog, cauchit
}

// MARK: - Compiling the common model parts

/// Per-model compile-time context.
struct ModelContext {
    /// The defining element (for error messages).
    let element: XElement
    /// Classification or regression.
    let function: ModelFunction
    /// Whether arithmetic is binary32 (`x-mathContext="float"`).
    let floatMath: Bool
    /// Names visible in the model.
    let scope: Scope
    /// The slot receiving the indicator.
    let target: TargetInfo
    /// Scope receiving output fields (modelChain segments).
    let chainScope: Scope?
    /// Whether this is the top-level model.
    let isTop: Bool

    /// Rounds to float under float math.
    func r(_ x: Double) -> Double { floatMath ? f32(x) : x }
}

extension Compiler {
    /// Model elements the engine implements.
    static let modelElements: Set<String> = ["RegressionModel", "TreeModel", "MiningModel", "NeuralNetwork", "NaiveBayesModel"]
    /// Child elements allowed in every model element.
    static let commonModelChildren: Set<String> = [
        "MiningSchema", "Output", "ModelStats", "ModelExplanation", "Targets", "LocalTransformations",
        "ModelVerification", "Extension",
    ]

    /// Compiles a model element (common parts, then the model type).
    func compileModel(_ el: XElement, scope: Scope, inherited: (TargetInfo, ModelFunction)?, chainScope: Scope?, isTop: Bool) throws(PMMLError) -> ModelNode {
        let function: ModelFunction
        switch try required(el, "functionName") {
        case "classification": function = .classification
        case "regression": function = .regression
        default: throw fail(el, "unsupported functionName \"\(el.attr("functionName") ?? "")\"")
        }
        if el.attr("isScorable") == "false" { throw fail(el, "the model is marked isScorable=\"false\"") }
        let floatMath: Bool
        switch el.attr("x-mathContext") ?? "double" {
        case "double": floatMath = false
        case "float": floatMath = true
        default: throw fail(el, "unsupported x-mathContext \"\(el.attr("x-mathContext") ?? "")\"")
        }
        guard let ms = el.child("MiningSchema") else { throw fail(el, "missing MiningSchema") }
        try checkChildren(ms, allowed: ["MiningField", "Extension"])
        let modelScope = Scope(parent: scope)
        var targetName: String?
        var active: [XElement] = []
        for mf in ms.children(named: "MiningField") {
            let name = try required(mf, "name")
            switch mf.attr("usageType") ?? "active" {
            case "target", "predicted": targetName = name
            case "active": active.append(mf)
            case "supplementary", "group", "order", "frequencyWeight", "analysisWeight": continue
            default: throw fail(mf, "unsupported usageType \"\(mf.attr("usageType") ?? "")\"")
            }
        }
        if isTop {
            for mf in active { topMiningFields[mf.attr("name") ?? ""] = mf }
            for mf in active { _ = try resolve(mf.attr("name") ?? "", modelScope, mf) }
        } else {
            for mf in active {
                let name = mf.attr("name") ?? ""
                let info = try resolve(name, scope, mf)
                if let r = mf.attr("missingValueReplacement") {
                    let slot = newSlot(name, SlotState.pending, .replaceMissing(.field(info.slot), try literal(r, info.type, mf)))
                    modelScope.entries[name] = .resolved(FieldInfo(slot: slot, type: info.type, optype: info.optype, derived: true))
                }
            }
        }
        if let lt = el.child("LocalTransformations") {
            try checkChildren(lt, allowed: ["DerivedField", "Extension"])
            for d in lt.children(named: "DerivedField") { modelScope.entries[try required(d, "name")] = .pending(d) }
        }
        let target: TargetInfo
        if let tn = targetName {
            if let def = dataFields[tn] {
                guard let type = def.type else { throw fail(def.element, "unsupported dataType \"\(def.rawType)\"") }
                let cats = def.optype == .continuous ? [] : def.valid.map { canonicalCategory($0, type) }
                target = TargetInfo(name: tn, type: type, categories: cats, ordinal: def.optype == .ordinal)
            } else {
                target = TargetInfo(name: tn, type: function == .classification ? .string : .double, categories: [], ordinal: false)
            }
        } else if let (parentTarget, parentFunction) = inherited, parentFunction == function {
            target = parentTarget
        } else {
            target = TargetInfo(name: nil, type: function == .classification ? .string : .double, categories: [], ordinal: false)
        }
        let ctx = ModelContext(element: el, function: function, floatMath: floatMath, scope: modelScope, target: target,
                               chainScope: chainScope, isTop: isTop)
        switch el.name {
        case "RegressionModel": return try compileRegression(ctx)
        case "TreeModel": return try compileTree(ctx)
        case "MiningModel": return try compileMining(ctx)
        case "NeuralNetwork": return try compileNeural(ctx)
        case "NaiveBayesModel": return try compileNaiveBayes(ctx)
        default: throw fail(el, "unsupported model type")
        }
    }

    /// Builds the shared header: final categories, probability scratch, Targets, output fields.
    func makeHeader(_ c: ModelContext, contentCategories: [String], prepare: [Int]) throws(PMMLError) -> ModelHeader {
        var cats: [String] = []
        if c.function == .classification {
            cats = c.target.categories
            for x in contentCategories where !cats.contains(x) { cats.append(x) }
            if cats.isEmpty { throw fail(c.element, "classification model without target categories") }
        }
        let offset = probabilityCount
        probabilityCount += cats.count
        let targetType = c.function == .classification ? c.target.type : (c.target.type.isNumeric ? c.target.type : .double)
        let values = cats.map { (s: String) -> Double in
            if targetType == .string { return code(s) }
            return parseTyped(s, .double) ?? code(s)
        }
        let spec = try targets(c, cats)
        var outputs: [OutputSpec] = []
        if let chain = c.chainScope, let out = c.element.child("Output") {
            outputs = try compileOutputs(out, c, cats, targetType, chain)
        }
        return ModelHeader(element: c.element.name, line: c.element.line, function: c.function, categories: cats,
                           categoryValues: values, probOffset: offset, floatMath: c.floatMath,
                           prepare: Array(Set(prepare)).sorted(), target: spec, targetType: targetType, outputs: outputs)
    }

    /// Compiles `Targets` for the model.
    func targets(_ c: ModelContext, _ cats: [String]) throws(PMMLError) -> TargetSpec? {
        guard let ts = c.element.child("Targets") else { return nil }
        try checkChildren(ts, allowed: ["Target", "Extension"])
        for t in ts.children(named: "Target") {
            if let f = t.attr("field"), let tn = c.target.name, f != tn { continue }
            var spec = TargetSpec()
            spec.min = try number(t, "min")
            spec.max = try number(t, "max")
            spec.rescaleFactor = try number(t, "rescaleFactor") ?? 1
            spec.rescaleConstant = try number(t, "rescaleConstant") ?? 0
            switch t.attr("castInteger") {
            case nil: spec.castInteger = 0
            case "round": spec.castInteger = 1
            case "ceiling": spec.castInteger = 2
            case "floor": spec.castInteger = 3
            default: throw fail(t, "unsupported castInteger \"\(t.attr("castInteger") ?? "")\"")
            }
            let tvs = t.children(named: "TargetValue")
            if c.function == .regression {
                if let tv = tvs.first { spec.defaultValue = try number(tv, "defaultValue") }
            } else if !tvs.isEmpty {
                var priors = [Double](repeating: 0, count: cats.count)
                var sum = 0.0
                for tv in tvs {
                    guard let p = try number(tv, "priorProbability") else { continue }
                    let v = canonicalCategory(try required(tv, "value"), c.target.type)
                    guard let i = cats.firstIndex(of: v) else { throw fail(tv, "TargetValue \"\(v)\" is not a target category") }
                    priors[i] = c.r(p)
                    sum = c.r(sum + c.r(p))
                }
                if sum > 0 {
                    if sum != 1 { priors = priors.map { c.r($0 / sum) } }
                    spec.priors = priors
                }
            }
            return spec
        }
        return nil
    }

    /// Compiles the output fields of a modelChain segment into slots.
    func compileOutputs(_ out: XElement, _ c: ModelContext, _ cats: [String], _ targetType: PMMLDataType, _ chain: Scope) throws(PMMLError) -> [OutputSpec] {
        try checkChildren(out, allowed: ["OutputField", "Extension"])
        var specs: [OutputSpec] = []
        for o in out.children(named: "OutputField") {
            let name = try required(o, "name")
            if !referencedNames.contains(name) { continue }
            if o.attr("segmentId") != nil { throw fail(o, "OutputField segmentId is not supported") }
            let feature = o.attr("feature") ?? "predictedValue"
            var type = try dataType(o.attr("dataType"), o)
            let kind: OutputKind
            switch feature {
            case "predictedValue":
                kind = .predictedValue
                if type == nil { type = targetType }
                if (type == .string) != (targetType == .string) { throw fail(o, "predictedValue output type does not match the target") }
            case "probability":
                guard c.function == .classification else { throw fail(o, "probability output of a regression model") }
                if let v = o.attr("value") {
                    guard let i = cats.firstIndex(of: canonicalCategory(v, targetType)) else {
                        throw fail(o, "probability output for unknown category \"\(v)\"")
                    }
                    kind = .probability(i)
                } else {
                    kind = .probability(-1)
                }
                if type == nil { type = .double }
            case "transformedValue":
                guard let exprEl = o.children.first(where: { !["Extension", "Decisions", "Value"].contains($0.name) }) else {
                    throw fail(o, "transformedValue output without an expression")
                }
                let (e, t) = try compileExpr(exprEl, c.scope, expected: type)
                let target = type ?? t
                kind = .transformed(try castExpr(e, from: t, to: target, exprEl))
                type = target
            default:
                throw fail(o, "unsupported output feature \"\(feature)\" in a modelChain segment")
            }
            let t = type ?? .double
            let slot = newSlot(name, SlotState.missing, nil)
            chain.entries[name] = .resolved(FieldInfo(slot: slot, type: t,
                                                      optype: t == .string ? .categorical : .continuous, derived: false))
            specs.append(OutputSpec(slot: slot, kind: kind, type: t))
        }
        return specs
    }

    /// Parses `normalizationMethod`.
    func normalization(_ text: String?, _ el: XElement) throws(PMMLError) -> NormalizationMethod {
        switch text ?? "none" {
        case "none": return .none
        case "simplemax": return .simplemax
        case "softmax": return .softmax
        case "logit": return .logit
        case "probit": return .probit
        case "cloglog": return .cloglog
        case "exp": return .exp
        case "loglog": return .loglog
        case "cauchit": return .cauchit
        default: throw fail(el, "unsupported normalizationMethod \"\(text ?? "")\"")
        }
    }
}

// MARK: - Evaluating the common model parts

extension RowContext {
    /// Evaluates a model element: prediction, defaults, Targets post-processing and output fields.
    func evaluate(_ model: ModelNode) throws(ScoringError) -> Prediction {
        let h = model.header
        if h.hasPrepare { for s in h.prepare where states[s] == SlotState.pending { try compute(s) } }
        var p = try model.body(self)
        if !h.postProcess && p.status != 0 {
            if h.hasOutputs { try writeOutputs(h, p) }
            return p
        }
        if p.status == 0 {
            if let t = h.target {
                if h.function == .regression, let d = t.defaultValue {
                    p = Prediction(status: 1, value: processTarget(h, d))
                } else if h.function == .classification, let priors = t.priors {
                    for i in 0..<priors.count { probs[h.probOffset + i] = priors[i] }
                    p = Prediction(status: 2, value: Double(argmax(h.probOffset, priors.count)))
                }
            }
        } else if p.status == 1, h.target != nil {
            p.value = processTarget(h, p.value)
        }
        if p.status == 1 && h.targetType == .float { p.value = f32(p.value) }
        if h.hasOutputs { try writeOutputs(h, p) }
        return p
    }

    /// Index of the largest probability (first on ties).
    @inline(__always) func argmax(_ offset: Int, _ count: Int) -> Int {
        var best = 0
        var bestValue = probs[offset]
        var i = 1
        while i < count {
            if probs[offset + i] > bestValue { best = i; bestValue = probs[offset + i] }
            i += 1
        }
        return best
    }

    private func processTarget(_ h: ModelHeader, _ x: Double) -> Double {
        guard let t = h.target else { return x }
        var v = x
        if let lo = t.min { v = Swift.max(v, h.r(lo)) }
        if let hi = t.max { v = Swift.min(v, h.r(hi)) }
        if t.rescaleFactor != 1 { v = h.r(v * h.r(t.rescaleFactor)) }
        if t.rescaleConstant != 0 { v = h.r(v + h.r(t.rescaleConstant)) }
        switch t.castInteger {
        case 1: v = javaRound(v)
        case 2: v = Foundation.ceil(v)
        case 3: v = Foundation.floor(v)
        default: break
        }
        return v
    }

    private func writeOutputs(_ h: ModelHeader, _ p: Prediction) throws(ScoringError) {
        let n = h.outputSlots.count
        var i = 0
        while i < n {
            let slot = h.outputSlots[i]
            var v: Val
            switch h.outputKinds[i] {
            case 0:
                if p.status == 0 {
                    v = .missing
                } else if p.status == 1 {
                    v = .valid(p.value)
                } else {
                    v = .valid(h.categoryValues[Int(p.value)])
                }
            case 1:
                if p.status != 2 {
                    v = .missing
                } else {
                    let k = h.outputIndex[i]
                    v = .valid(probs[h.probOffset + (k < 0 ? Int(p.value) : k)])
                }
            default:
                guard case .transformed(let e) = h.outputs[i].kind else { v = .missing; break }
                v = try eval(e)
            }
            if !v.isMissing {
                if h.outputFloat[i] { v.v = f32(v.v) } else if h.outputs[i].type == .integer { v.v = v.v.rounded(.towardZero) }
            }
            values[slot] = v.s == SlotState.missing ? .nan : v.v
            states[slot] = v.s
            i += 1
        }
    }
}
