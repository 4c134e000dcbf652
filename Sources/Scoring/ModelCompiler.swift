import Foundation

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

    // MARK: Common model parts

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

    // MARK: RegressionModel

    /// Compiles a RegressionModel.
    func compileRegression(_ c: ModelContext) throws(PMMLError) -> ModelNode {
        let el = c.element
        try checkChildren(el, allowed: Self.commonModelChildren.union(["RegressionTable"]))
        let norm = try normalization(el.attr("normalizationMethod"), el)
        let tableEls = el.children(named: "RegressionTable")
        struct Raw {
            var numSlots: [Int] = [], numCoefs: [Double] = [], numExps: [Int] = []
            var catSlots: [Int] = [], catValues: [Double] = [], catCoefs: [Double] = []
            var termSlots: [[Int]] = [], termCoefs: [Double] = []
            var intercept = 0.0
            var category: String?
        }
        var raws: [Raw] = []
        for t in tableEls {
            try checkChildren(t, allowed: ["NumericPredictor", "CategoricalPredictor", "PredictorTerm", "Extension"])
            var r = Raw()
            r.intercept = try number(t, "intercept") ?? 0
            if c.function == .classification {
                guard let tc = t.attr("targetCategory") else { throw fail(t, "missing required attribute targetCategory") }
                r.category = canonicalCategory(tc, c.target.type)
            }
            for p in t.children {
                switch p.name {
                case "NumericPredictor":
                    guard let name = p.attr("name") ?? p.attr("field") else { throw fail(p, "missing required attribute name") }
                    let info = try resolve(name, c.scope, p)
                    guard info.type.isNumeric else { throw fail(p, "NumericPredictor on string field \"\(name)\"") }
                    r.numSlots.append(info.slot)
                    r.numCoefs.append(try requiredNumber(p, "coefficient"))
                    guard let e = Int(p.attr("exponent") ?? "1") else { throw fail(p, "exponent is not an integer") }
                    r.numExps.append(e)
                case "CategoricalPredictor":
                    guard let name = p.attr("name") ?? p.attr("field") else { throw fail(p, "missing required attribute name") }
                    let info = try resolve(name, c.scope, p)
                    r.catSlots.append(info.slot)
                    r.catValues.append(try literal(try required(p, "value"), info.type, p))
                    r.catCoefs.append(try requiredNumber(p, "coefficient"))
                case "PredictorTerm":
                    var slots: [Int] = []
                    for f in p.children(named: "FieldRef") {
                        let info = try resolve(try required(f, "field"), c.scope, f)
                        guard info.type.isNumeric else { throw fail(f, "PredictorTerm on a string field") }
                        slots.append(info.slot)
                    }
                    r.termSlots.append(slots)
                    r.termCoefs.append(try requiredNumber(p, "coefficient"))
                default:
                    continue
                }
            }
            raws.append(r)
        }
        if c.function == .regression {
            guard raws.count == 1 else { throw fail(el, "a regression RegressionModel needs exactly one RegressionTable") }
            if norm == .simplemax { throw fail(el, "normalizationMethod simplemax is not valid for regression") }
        } else {
            guard raws.count >= 2 else { throw fail(el, "a classification RegressionModel needs at least two RegressionTables") }
            if norm == .exp { throw fail(el, "normalizationMethod exp is not valid for classification") }
            if !c.target.ordinal && raws.count > 2 && [.probit, .cloglog, .loglog, .cauchit].contains(norm) {
                throw fail(el, "normalizationMethod \(norm) needs exactly two RegressionTables")
            }
        }
        let header = try makeHeader(c, contentCategories: raws.compactMap(\.category), prepare: [])
        if c.function == .classification && header.categories.count != raws.count {
            throw fail(el, "the RegressionTables do not match the target categories")
        }
        let tables = raws.map { r in
            RegressionTableC(numericSlots: r.numSlots, numericCoefficients: r.numCoefs, numericExponents: r.numExps,
                             categoricalSlots: r.catSlots, categoricalValues: r.catValues, categoricalCoefficients: r.catCoefs,
                             termSlots: r.termSlots, termCoefficients: r.termCoefs, intercept: r.intercept,
                             category: r.category.flatMap { header.categories.firstIndex(of: $0) } ?? 0,
                             isDefault: r.numSlots.isEmpty && r.catSlots.isEmpty && r.termSlots.isEmpty && r.intercept == 0,
                             isLazy: { self.derived[$0] != nil })
        }
        return RegressionModelC(header: header, tables: tables, normalization: norm,
                                            ordinal: c.function == .classification && c.target.ordinal)
    }

    // MARK: TreeModel

    /// A parsed tree Node.
    final class TNode {
        let el: XElement
        var predicate: XElement?
        var score: String?
        var id: String?
        var defaultChild: String?
        var distributions: [XElement] = []
        var children: [TNode] = []
        var entry: Int32?
        var leaf: Int32?
        init(el: XElement) { self.el = el }
    }

    /// Parses a Node subtree.
    func parseNode(_ el: XElement) throws(PMMLError) -> TNode {
        let n = TNode(el: el)
        n.score = el.attr("score")
        n.id = el.attr("id")
        n.defaultChild = el.attr("defaultChild")
        for c in el.children {
            switch c.name {
            case "True", "False", "SimplePredicate", "SimpleSetPredicate", "CompoundPredicate":
                n.predicate = c
            case "ScoreDistribution": n.distributions.append(c)
            case "Node": n.children.append(try parseNode(c))
            case "Extension", "Partition": continue
            default: throw fail(c, "unsupported element inside <Node>")
            }
        }
        if n.predicate == nil { throw fail(el, "Node without a predicate") }
        return n
    }

    /// The most tests on one path through a compiled tree. Real exports are binary trees a few dozen
    /// levels deep; a node with thousands of ordered children becomes a chain of thousands of tests,
    /// which the ensemble kernel's builder would walk recursively.
    static let maxDecisionDepth = 1_000

    /// Fails the load when a path through the compiled tests is longer than `maxDecisionDepth`
    /// (an iterative walk: the check itself cannot exhaust the stack).
    func checkDecisionDepth(_ nodes: [TestNode], root: Int32, _ el: XElement) throws(PMMLError) {
        guard root >= 0 else { return }
        var depth = [Int32](repeating: 0, count: nodes.count)
        var stack: [Int32] = [root]
        depth[Int(root)] = 1
        while let x = stack.popLast() {
            let d = depth[Int(x)]
            if d > Self.maxDecisionDepth {
                throw fail(el, "a decision path has more than \(Self.maxDecisionDepth) tests")
            }
            let n = nodes[Int(x)]
            for next in [n.onTrue, n.onFalse, n.onUnknown] where next >= 0 && depth[Int(next)] < d + 1 {
                depth[Int(next)] = d + 1
                stack.append(next)
            }
        }
    }

    /// Compiles a TreeModel into binary tests.
    func compileTree(_ c: ModelContext) throws(PMMLError) -> ModelNode {
        let el = c.element
        try checkChildren(el, allowed: Self.commonModelChildren.union(["Node"]))
        let missingStrategy = el.attr("missingValueStrategy") ?? "none"
        guard ["none", "lastPrediction", "nullPrediction", "defaultChild"].contains(missingStrategy) else {
            throw fail(el, "unsupported missingValueStrategy \"\(missingStrategy)\"")
        }
        let noTrueChild = el.attr("noTrueChildStrategy") ?? "returnNullPrediction"
        guard ["returnNullPrediction", "returnLastPrediction"].contains(noTrueChild) else {
            throw fail(el, "unsupported noTrueChildStrategy \"\(noTrueChild)\"")
        }
        guard let rootEl = el.child("Node") else { throw fail(el, "TreeModel without a Node") }
        let root = try parseNode(rootEl)

        // Collect categories in document order.
        var contentCats: [String] = []
        if c.function == .classification {
            var stack = [root]
            while let n = stack.popLast() {
                if let s = n.score { let k = canonicalCategory(s, c.target.type); if !contentCats.contains(k) { contentCats.append(k) } }
                for d in n.distributions {
                    let k = canonicalCategory(try required(d, "value"), c.target.type)
                    if !contentCats.contains(k) { contentCats.append(k) }
                }
                stack.append(contentsOf: n.children.reversed())
            }
        }

        var nodes: [TestNode] = []
        var predicates: [Pred] = []
        var leafKind: [UInt8] = [0]
        var leafValue: [Double] = [.nan]
        var leafProbs: [Double] = []
        var prepare: [Int] = []
        // Header after categories, before leaves (they need category indices).
        let header = try makeHeader(c, contentCategories: contentCats, prepare: [])
        let ncat = header.categories.count
        leafProbs.append(contentsOf: [Double](repeating: 0, count: ncat))
        let nullLeaf: Int32 = ~0

        func leaf(_ n: TNode) throws(PMMLError) -> Int32 {
            if let l = n.leaf { return l }
            var result = nullLeaf
            if c.function == .regression {
                if let s = n.score {
                    guard let v = parseDouble(s), v.isFinite else { throw fail(n.el, "score \"\(s)\" is not a finite number") }
                    leafKind.append(1)
                    leafValue.append(c.r(v))
                    leafProbs.append(contentsOf: [Double](repeating: 0, count: ncat))
                    result = ~Int32(leafKind.count - 1)
                }
            } else if n.score != nil || !n.distributions.isEmpty {
                var probs = [Double](repeating: 0, count: ncat)
                if !n.distributions.isEmpty {
                    let useProbability = n.distributions[0].attr("probability") != nil
                    var sum = 0.0
                    for d in n.distributions {
                        let k = canonicalCategory(try required(d, "value"), c.target.type)
                        let x = c.r(useProbability ? try requiredNumber(d, "probability") : try requiredNumber(d, "recordCount"))
                        guard let i = header.categories.firstIndex(of: k) else { throw fail(d, "unknown category") }
                        probs[i] = x
                        sum = c.r(sum + x)
                    }
                    if sum != 1 {
                        if sum == 0 { throw fail(n.el, "ScoreDistribution counts sum to zero") }
                        probs = probs.map { c.r($0 / sum) }
                    }
                } else if let s = n.score, let i = header.categories.firstIndex(of: canonicalCategory(s, c.target.type)) {
                    probs[i] = 1
                }
                var predicted = 0
                if let s = n.score, let i = header.categories.firstIndex(of: canonicalCategory(s, c.target.type)) {
                    predicted = i
                } else {
                    for i in 1..<max(ncat, 1) where probs[i] > probs[predicted] { predicted = i }
                }
                leafKind.append(1)
                leafValue.append(Double(predicted))
                leafProbs.append(contentsOf: probs)
                result = ~Int32(leafKind.count - 1)
            }
            n.leaf = result
            return result
        }

        func lastPrediction(_ parent: TNode) throws(PMMLError) -> Int32 {
            try leaf(parent)
        }

        func test(_ p: XElement) throws(PMMLError) -> (UInt8, Int32, Double)? {
            // Returns (op, slot, value) for a fast test, nil when the general evaluator is needed.
            if p.name == "SimplePredicate" {
                let info = try resolve(try required(p, "field"), c.scope, p)
                if info.derived { prepare.append(info.slot) }
                let op = try required(p, "operator")
                switch op {
                case "isMissing": return (6, Int32(info.slot), 0)
                case "isNotMissing": return (7, Int32(info.slot), 0)
                default: break
                }
                let pred = try compilePredicate(p, c.scope)
                if case .compare(let slot, let code, let value) = pred { return (code, Int32(slot), value) }
            }
            return nil
        }

        func entry(_ n: TNode) throws(PMMLError) -> Int32 {
            if let e = n.entry { return e }
            let e: Int32
            if n.children.isEmpty {
                e = try leaf(n)
            } else {
                e = try chain(n, 0)
            }
            n.entry = e
            return e
        }

        /// Appends a test node for predicate `p` (a fast comparison, or the general evaluator) and returns
        /// its index; its branches are set by the caller.
        func addTest(_ p: XElement) throws(PMMLError) -> Int {
            let index = nodes.count
            nodes.append(TestNode(value: 0, slot: 0, op: 8, onTrue: nullLeaf, onFalse: nullLeaf, onUnknown: nullLeaf))
            if let (op, slot, value) = try test(p) {
                nodes[index].op = op
                nodes[index].slot = slot
                nodes[index].value = value
            } else {
                nodes[index].value = Double(predicates.count)
                predicates.append(try compilePredicate(p, c.scope))
            }
            return index
        }

        /// The tests for `parent`'s children from `start` on, in document order: each test's false
        /// branch is the next sibling's test. Built in a loop over the siblings (a node may have tens of
        /// thousands of them) and linked from the last one back; only the descent into a child recurses,
        /// which the XML depth limit bounds.
        func chain(_ parent: TNode, _ start: Int) throws(PMMLError) -> Int32 {
            var pending: [Int] = []
            var tail = nullLeaf
            var i = start
            while true {
                if i == parent.children.count {
                    if noTrueChild == "returnLastPrediction" && parent.score != nil { tail = try leaf(parent) }
                    break
                }
                let child = parent.children[i]
                guard let p = child.predicate else { break }
                if p.name == "True" { tail = try entry(child); break }
                if p.name == "False" { i += 1; continue }
                let index = try addTest(p)
                nodes[index].onTrue = try entry(child)
                pending.append(index)
                i += 1
            }
            var next = tail
            for index in pending.reversed() {
                nodes[index].onFalse = next
                switch missingStrategy {
                case "nullPrediction": nodes[index].onUnknown = nullLeaf
                case "lastPrediction": nodes[index].onUnknown = try lastPrediction(parent)
                case "defaultChild":
                    if let id = parent.defaultChild, let d = parent.children.first(where: { $0.id == id }) {
                        nodes[index].onUnknown = try entry(d)
                    } else {
                        // No default child declared: fall back to the parent's prediction.
                        nodes[index].onUnknown = try lastPrediction(parent)
                    }
                default: nodes[index].onUnknown = next
                }
                next = Int32(index)
            }
            return next
        }

        var rootTarget: Int32
        guard let rp = root.predicate else { throw fail(rootEl, "Node without a predicate") }
        switch rp.name {
        case "True": rootTarget = try entry(root)
        case "False": rootTarget = nullLeaf
        default:
            let index = try addTest(rp)
            nodes[index].onTrue = try entry(root)
            rootTarget = Int32(index)
        }
        try checkDecisionDepth(nodes, root: rootTarget, el)
        let finalHeader = ModelHeader(element: header.element, line: header.line, function: header.function,
                                      categories: header.categories, categoryValues: header.categoryValues,
                                      probOffset: header.probOffset, floatMath: header.floatMath,
                                      prepare: Array(Set(prepare)).sorted(), target: header.target,
                                      targetType: header.targetType, outputs: header.outputs)
        return TreeModelC(header: finalHeader, nodes: nodes, root: rootTarget, predicates: predicates,
                                leafKind: leafKind, leafValue: leafValue, leafProbabilities: leafProbs, categoryCount: ncat)
    }

    // MARK: MiningModel

    /// Compiles a MiningModel (and its flat kernel when eligible).
    func compileMining(_ c: ModelContext) throws(PMMLError) -> ModelNode {
        let el = c.element
        for ch in el.children where ["Regression", "DecisionTree"].contains(ch.name) {
            throw fail(ch, "model composition (embedded \(ch.name)) is not supported")
        }
        try checkChildren(el, allowed: Self.commonModelChildren.union(["Segmentation"]))
        guard let seg = el.child("Segmentation") else { throw fail(el, "MiningModel without Segmentation") }
        let methodText = try required(seg, "multipleModelMethod")
        if methodText == "selectAll" {
            throw fail(seg, "multipleModelMethod selectAll yields several predictions and cannot produce one score")
        }
        guard let method = MultipleModelMethod(rawValue: methodText) else {
            throw fail(seg, "unsupported multipleModelMethod \"\(methodText)\"")
        }
        let classificationMethods: Set<MultipleModelMethod> = [.average, .weightedAverage, .median, .max, .majorityVote,
                                                               .weightedMajorityVote, .modelChain, .selectFirst]
        let regressionMethods: Set<MultipleModelMethod> = [.sum, .weightedSum, .average, .weightedAverage, .median,
                                                           .weightedMedian, .max, .modelChain, .selectFirst]
        if c.function == .classification && !classificationMethods.contains(method) {
            throw fail(seg, "multipleModelMethod \(methodText) is not valid for classification")
        }
        if c.function == .regression && !regressionMethods.contains(method) {
            throw fail(seg, "multipleModelMethod \(methodText) is not valid for regression")
        }
        let treatment: UInt8
        switch seg.attr("missingPredictionTreatment") ?? "continue" {
        case "continue": treatment = 0
        case "skipSegment": treatment = 1
        case "returnMissing": treatment = 2
        default: throw fail(seg, "unsupported missingPredictionTreatment \"\(seg.attr("missingPredictionTreatment") ?? "")\"")
        }
        let threshold = try number(seg, "missingThreshold") ?? 1
        let chain = method == .modelChain ? Scope(parent: c.scope) : nil
        var compiled: [(Pred, Double, ModelNode)] = []
        for s in seg.children {
            if s.name == "Extension" { continue }
            guard s.name == "Segment" else { throw fail(s, "unsupported element inside <Segmentation>") }
            var predEl: XElement?
            var modelEl: XElement?
            for ch in s.children {
                switch ch.name {
                case "True", "False", "SimplePredicate", "SimpleSetPredicate", "CompoundPredicate": predEl = ch
                case "Extension", "VariableWeight": continue
                default:
                    if Self.modelElements.contains(ch.name) { modelEl = ch } else { throw fail(ch, "unsupported model type") }
                }
            }
            guard let predEl else { throw fail(s, "Segment without a predicate") }
            guard let modelEl else { throw fail(s, "Segment without a model") }
            let pred = try compilePredicate(predEl, chain ?? c.scope)
            let weight = try number(s, "weight") ?? 1
            let child = try compileModel(modelEl, scope: chain ?? c.scope, inherited: (c.target, c.function), chainScope: chain, isTop: false)
            let ch = child.header
            switch method {
            case .modelChain:
                break
            case .selectFirst:
                if ch.function != c.function { throw fail(modelEl, "segment function does not match the MiningModel") }
            default:
                if ch.function != c.function && !(c.function == .regression && method == .median) {
                    throw fail(modelEl, "segment function does not match the MiningModel")
                }
            }
            compiled.append((pred, weight, child))
        }
        guard !compiled.isEmpty else { throw fail(seg, "Segmentation without segments") }
        if method == .modelChain, let last = compiled.last, last.2.header.function != c.function {
            throw fail(seg, "the last segment of the model chain does not match the MiningModel function")
        }
        var contentCats: [String] = []
        for (_, _, m) in compiled where m.header.function == .classification {
            for k in m.header.categories where !contentCats.contains(k) { contentCats.append(k) }
        }
        let header = try makeHeader(c, contentCategories: c.function == .classification ? contentCats : [], prepare: [])
        let segments = compiled.map { (pred, weight, model) in
            SegmentC(predicate: pred, weight: weight, model: model,
                     categoryMap: model.header.categories.map { header.categories.firstIndex(of: $0) ?? 0 })
        }
        let mining = MiningModelC(header: header, method: method, segments: segments, missingTreatment: treatment,
                                  missingThreshold: threshold)
        if let ensemble = TreeEnsembleC.build(mining, newSlot: { newSlot($0, SlotState.missing, nil) }) {
            return ensemble
        }
        return mining
    }

    // MARK: NeuralNetwork

    /// Parses `activationFunction`.
    func activation(_ text: String?, _ el: XElement) throws(PMMLError) -> Activation? {
        guard let text else { return nil }
        switch text {
        case "threshold": return .threshold
        case "logistic": return .logistic
        case "tanh": return .tanh
        case "identity": return .identity
        case "exponential": return .exponential
        case "reciprocal": return .reciprocal
        case "square": return .square
        case "Gauss": return .gauss
        case "sine": return .sine
        case "cosine": return .cosine
        case "Elliott": return .elliott
        case "arctan": return .arctan
        case "rectifier": return .rectifier
        case "radialBasis": return .radialBasis
        default: throw fail(el, "unsupported activationFunction \"\(text)\"")
        }
    }

    /// Finds the DerivedField element defining `name` in scope (for NeuralOutput indirections).
    func derivedElement(_ name: String, _ scope: Scope) -> XElement? {
        var s: Scope? = scope
        while let cur = s {
            if let e = cur.entries[name] {
                if case .pending(let d) = e { return d }
                return nil
            }
            s = cur.parent
        }
        return nil
    }

    /// Compiles a NeuralNetwork.
    func compileNeural(_ c: ModelContext) throws(PMMLError) -> ModelNode {
        let el = c.element
        try checkChildren(el, allowed: Self.commonModelChildren.union(["NeuralInputs", "NeuralLayer", "NeuralOutputs"]))
        let netActivation = try activation(el.attr("activationFunction"), el)
        let netNorm = try normalization(el.attr("normalizationMethod"), el)
        if ![.none, .simplemax, .softmax].contains(netNorm) { throw fail(el, "unsupported normalizationMethod for NeuralNetwork") }
        let netThreshold = try number(el, "threshold") ?? 0
        let netAltitude = try number(el, "altitude") ?? 1
        let netWidth = try number(el, "width")
        guard let ni = el.child("NeuralInputs") else { throw fail(el, "NeuralNetwork without NeuralInputs") }
        var index: [String: Int] = [:]
        var inputs: [Expr] = []
        for input in ni.children(named: "NeuralInput") {
            guard let d = input.child("DerivedField") else { throw fail(input, "NeuralInput without DerivedField") }
            guard let exprEl = d.children.first(where: { $0.name != "Extension" }) else { throw fail(d, "DerivedField without expression") }
            let (e, t) = try compileExpr(exprEl, c.scope, expected: .double)
            guard t.isNumeric else { throw fail(exprEl, "NeuralInput is not numeric") }
            index[try required(input, "id")] = inputs.count
            inputs.append(e)
        }
        var unit = inputs.count
        var layers: [LayerC] = []
        for l in el.children(named: "NeuralLayer") {
            guard let act = try activation(l.attr("activationFunction"), l) ?? netActivation else {
                throw fail(l, "no activationFunction for the layer")
            }
            let norm = try l.attr("normalizationMethod").map { (s) throws(PMMLError) in try normalization(s, l) } ?? netNorm
            if ![.none, .simplemax, .softmax].contains(norm) { throw fail(l, "unsupported normalizationMethod for NeuralLayer") }
            let layerWidth = try number(l, "width") ?? netWidth
            let first = unit
            var neurons: [NeuronC] = []
            var ids: [String] = []
            for n in l.children(named: "Neuron") {
                var sources: [Int] = []
                var weights: [Double] = []
                for con in n.children(named: "Con") {
                    let from = try required(con, "from")
                    guard let s = index[from] else { throw fail(con, "unknown neuron \"\(from)\"") }
                    sources.append(s)
                    weights.append(try requiredNumber(con, "weight"))
                }
                var width = try number(n, "width") ?? layerWidth ?? .nan
                if act == .radialBasis && width.isNaN { throw fail(n, "radialBasis neuron without width") }
                if act != .radialBasis { width = 0 }
                neurons.append(NeuronC(bias: try number(n, "bias") ?? 0, width: width, sources: sources, weights: weights))
                ids.append(try required(n, "id"))
                unit += 1
            }
            // Neurons of a layer only see earlier layers, so register their ids afterwards.
            for (i, id) in ids.enumerated() { index[id] = first + i }
            layers.append(LayerC(activation: act, threshold: try number(l, "threshold") ?? netThreshold,
                                 altitude: try number(l, "altitude") ?? netAltitude, normalization: norm,
                                 neurons: neurons, firstIndex: first))
        }
        guard let no = el.child("NeuralOutputs") else { throw fail(el, "NeuralNetwork without NeuralOutputs") }
        enum RawOut { case cat(Int, String), value(Int, NormContinuousSpec?) }
        var raw: [RawOut] = []
        for o in no.children(named: "NeuralOutput") {
            let id = try required(o, "outputNeuron")
            guard let neuron = index[id] else { throw fail(o, "unknown output neuron \"\(id)\"") }
            guard let d = o.child("DerivedField"), var ex = d.children.first(where: { $0.name != "Extension" }) else {
                throw fail(o, "NeuralOutput without DerivedField")
            }
            if ex.name == "FieldRef", let f = ex.attr("field"), f != c.target.name, let def = derivedElement(f, c.scope),
               let inner = def.children.first(where: { $0.name != "Extension" }) {
                ex = inner
            }
            switch ex.name {
            case "NormDiscrete":
                guard c.function == .classification else { throw fail(ex, "NormDiscrete output of a regression network") }
                raw.append(.cat(neuron, canonicalCategory(try required(ex, "value"), c.target.type)))
            case "FieldRef":
                raw.append(.value(neuron, nil))
            case "NormContinuous":
                var pairs: [(Double, Double)] = []
                for ln in ex.children(named: "LinearNorm") { pairs.append((try requiredNumber(ln, "orig"), try requiredNumber(ln, "norm"))) }
                guard pairs.count >= 2 else { throw fail(ex, "NormContinuous needs at least two LinearNorm elements") }
                pairs.sort { $0.0 < $1.0 }
                raw.append(.value(neuron, NormContinuousSpec(orig: pairs.map(\.0), norm: pairs.map(\.1), outliers: 0, mapMissingTo: nil)))
            default:
                throw fail(ex, "unsupported NeuralOutput expression")
            }
        }
        var cats: [String] = []
        for r in raw { if case .cat(_, let k) = r, !cats.contains(k) { cats.append(k) } }
        let header = try makeHeader(c, contentCategories: cats, prepare: [])
        let outputs: [NeuralOutputC] = raw.map { r in
            switch r {
            case .cat(let n, let k): return .category(neuron: n, category: header.categories.firstIndex(of: k) ?? 0)
            case .value(let n, let s): return .value(neuron: n, denormalize: s)
            }
        }
        if c.function == .regression && !outputs.contains(where: { if case .value = $0 { return true }; return false }) {
            throw fail(no, "no NeuralOutput for the regression target")
        }
        return NeuralNetworkC(header: header, inputs: inputs, layers: layers, outputs: outputs, unitCount: unit)
    }

    // MARK: NaiveBayesModel

    /// Compiles a NaiveBayesModel.
    func compileNaiveBayes(_ c: ModelContext) throws(PMMLError) -> ModelNode {
        let el = c.element
        try checkChildren(el, allowed: Self.commonModelChildren.union(["BayesInputs", "BayesOutput"]))
        guard c.function == .classification else { throw fail(el, "NaiveBayesModel must be a classification model") }
        let threshold = try requiredNumber(el, "threshold")
        guard let bo = el.child("BayesOutput"), let tvc = bo.child("TargetValueCounts") else {
            throw fail(el, "NaiveBayesModel without BayesOutput/TargetValueCounts")
        }
        var cats: [String] = []
        var priorRaw: [(String, Double)] = []
        for t in tvc.children(named: "TargetValueCount") {
            let k = canonicalCategory(try required(t, "value"), c.target.type)
            priorRaw.append((k, try requiredNumber(t, "count")))
            if !cats.contains(k) { cats.append(k) }
        }
        guard let bis = el.child("BayesInputs") else { throw fail(el, "NaiveBayesModel without BayesInputs") }
        var inputEls = bis.children(named: "BayesInput")
        for ext in bis.children(named: "Extension") { inputEls.append(contentsOf: ext.children(named: "BayesInput")) }
        let header = try makeHeader(c, contentCategories: cats, prepare: [])
        let n = header.categories.count
        func catIndex(_ text: String, _ e: XElement) throws(PMMLError) -> Int {
            guard let i = header.categories.firstIndex(of: canonicalCategory(text, c.target.type)) else {
                throw fail(e, "unknown target category \"\(text)\"")
            }
            return i
        }
        var priors = [Double](repeating: 0, count: n)
        for (k, v) in priorRaw { if let i = header.categories.firstIndex(of: k) { priors[i] = v } }
        var inputs: [BayesInputC] = []
        for bi in inputEls {
            guard let name = bi.attr("fieldName") ?? bi.attr("field") else { throw fail(bi, "missing required attribute fieldName") }
            let (fieldExpr, fieldType, _) = try resolveExpr(name, c.scope, bi)
            if let stats = bi.child("TargetValueStats") {
                guard fieldType.isNumeric else { throw fail(stats, "TargetValueStats on a string field") }
                var mean = [Double?](repeating: nil, count: n)
                var variance = [Double?](repeating: nil, count: n)
                var poisson = false
                for s in stats.children(named: "TargetValueStat") {
                    let i = try catIndex(try required(s, "value"), s)
                    if let g = s.child("GaussianDistribution") {
                        mean[i] = try requiredNumber(g, "mean")
                        variance[i] = try requiredNumber(g, "variance")
                    } else if let p = s.child("PoissonDistribution") {
                        mean[i] = try requiredNumber(p, "mean")
                        poisson = true
                    } else {
                        throw fail(s, "unsupported continuous distribution")
                    }
                }
                inputs.append(poisson ? .poisson(input: fieldExpr, mean: mean) : .gaussian(input: fieldExpr, mean: mean, variance: variance))
                continue
            }
            var expr = fieldExpr
            var valueType = fieldType
            if let d = bi.child("DerivedField") {
                guard let t = try dataType(d.attr("dataType"), d) else { throw fail(d, "missing required attribute dataType") }
                guard let ex = d.children.first(where: { $0.name != "Extension" }) else { throw fail(d, "DerivedField without expression") }
                let (e, et) = try compileExpr(ex, c.scope, expected: t)
                expr = try castExpr(e, from: et, to: t, ex)
                valueType = t
            }
            var values: [Double] = []
            var counts: [[Double]] = []
            var sums = [Double](repeating: 0, count: n)
            for pc in bi.children(named: "PairCounts") {
                values.append(try literal(try required(pc, "value"), valueType, pc))
                var row = [Double](repeating: 0, count: n)
                if let tv = pc.child("TargetValueCounts") {
                    for t in tv.children(named: "TargetValueCount") {
                        let i = try catIndex(try required(t, "value"), t)
                        let v = try requiredNumber(t, "count")
                        row[i] = v
                        sums[i] += v
                    }
                }
                counts.append(row)
            }
            inputs.append(.discrete(input: expr, values: values, counts: counts, sums: sums))
        }
        return NaiveBayesC(header: header, priorCounts: priors, inputs: inputs, threshold: threshold)
    }
}
