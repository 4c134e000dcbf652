import Foundation

// MARK: - Compiled TreeModel

/// One binary decision of a compiled tree. Targets ≥ 0 are node indices; negative targets are `~leafIndex`.
struct TestNode: Sendable {
    /// The value.
    var value: Double
    /// The value slot.
    var slot: Int32
    /// 0…5 comparisons (see `compareOp`), 6 isMissing, 7 isNotMissing, 8 general predicate (`value` = index).
    var op: UInt8
    /// Successor when the test is true.
    var onTrue: Int32
    /// Successor when the test is false.
    var onFalse: Int32
    /// Successor when the test is unknown (missing value).
    var onUnknown: Int32
}

/// A compiled `TreeModel`: PMML's ordered-children semantics lowered to binary tests.
final class TreeModelC: ModelNode, @unchecked Sendable {
    /// The nodes.
    let nodes: [TestNode]
    /// The entry target.
    let root: Int32
    /// General predicates referenced by op 8 nodes.
    let predicates: [Pred]
    /// Per leaf: 0 null prediction, 1 prediction.
    let leafKind: [UInt8]
    /// Per leaf: the score (regression) or the predicted category index (classification).
    let leafValue: [Double]
    /// Per leaf: `categoryCount` probabilities (classification).
    let leafProbabilities: [Double]
    /// Number of categories.
    let categoryCount: Int
    /// Whether every test is a plain comparison (no general predicates).
    let simple: Bool

    /// Creates the value.
    init(header: ModelHeader, nodes: [TestNode], root: Int32, predicates: [Pred], leafKind: [UInt8],
         leafValue: [Double], leafProbabilities: [Double], categoryCount: Int) {
        self.nodes = nodes
        self.root = root
        self.predicates = predicates
        self.leafKind = leafKind
        self.leafValue = leafValue
        self.leafProbabilities = leafProbabilities
        self.categoryCount = categoryCount
        self.simple = !nodes.contains { $0.op == 8 }
        super.init(header: header)
    }

    /// Scores this model with the general evaluator.
    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateTree(self) }
}

// MARK: - Compiling a TreeModel

extension Compiler {
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
}

// MARK: - Evaluating a TreeModel

extension RowContext {
    /// Walks a compiled tree and returns the leaf index.
    @inline(__always) func walk(_ m: TreeModelC) throws(ScoringError) -> Int {
        var t = m.root
        try m.nodes.withUnsafeBufferPointer { (nodes) throws(ScoringError) in
            while t >= 0 {
                let n = nodes[Int(t)]
                let x = values[Int(n.slot)]
                let r: UInt8
                switch n.op {
                case 0: r = x <= n.value ? Tri.yes : (x.isNaN ? Tri.unknown : Tri.no)
                case 1: r = x < n.value ? Tri.yes : (x.isNaN ? Tri.unknown : Tri.no)
                case 2: r = x >= n.value ? Tri.yes : (x.isNaN ? Tri.unknown : Tri.no)
                case 3: r = x > n.value ? Tri.yes : (x.isNaN ? Tri.unknown : Tri.no)
                case 4: r = x == n.value ? Tri.yes : (x.isNaN ? Tri.unknown : Tri.no)
                case 5: r = x.isNaN ? Tri.unknown : (x != n.value ? Tri.yes : Tri.no)
                case 6: r = x.isNaN ? Tri.yes : Tri.no
                case 7: r = x.isNaN ? Tri.no : Tri.yes
                default: r = try evalPred(m.predicates[Int(n.value)])
                }
                t = r == Tri.yes ? n.onTrue : (r == Tri.no ? n.onFalse : n.onUnknown)
            }
        }
        return Int(~t)
    }

    /// Scores a TreeModel.
    func evaluateTree(_ m: TreeModelC) throws(ScoringError) -> Prediction {
        let leaf = try walk(m)
        if m.leafKind[leaf] == 0 { return .missing }
        if m.header.function == .regression {
            return Prediction(status: 1, value: m.leafValue[leaf])
        }
        let n = m.categoryCount
        let off = m.header.probOffset
        m.leafProbabilities.withUnsafeBufferPointer { lp in
            for i in 0..<n { probs[off + i] = lp[leaf * n + i] }
        }
        return Prediction(status: 2, value: m.leafValue[leaf])
    }
}
