import Foundation

/// One node of the flat ensemble kernel. A walk step goes to `child` when `x <= high`, else to `child + 1`
/// (the two successors are stored side by side, so the step is arithmetic, not a load). Equality tests
/// read a per-row 0/1 indicator slot instead (`indicator <= 0.5` means "not equal"). Leaves accept every
/// value and point at themselves, so walks can run a fixed number of steps.
struct FastNode: Sendable {
    var high: Double
    var slot: UInt32
    var child: UInt32
}

/// A per-row indicator: `values[target] = values[source] == value ? 1 : 0`.
struct Indicator: Sendable {
    let source: Int
    let value: Double
    let target: Int
}

/// A sum/average of tree models flattened into one node array, walked `lanes` trees at a time.
///
/// Used when every segment is an always-selected TreeModel made of plain comparisons. Rows with a missing
/// value in any tested field, or reaching a null leaf, are scored by the general evaluator (`fallback`),
/// so results are identical.
final class TreeEnsembleC: ModelNode, @unchecked Sendable {
    let fallback: MiningModelC
    let nodes: Flat<FastNode>
    /// Leaf id per node (-1 for tests, -2 for null leaves).
    let leafOf: Flat<Int32>
    let indicators: [Indicator]
    /// Root node per tree, padded to a multiple of `lanes` with node 0 (a dummy leaf).
    let roots: Flat<UInt32>
    let paddedCount: Int
    let treeCount: Int
    /// Steps needed per group of `lanes` trees (the deepest tree of the group).
    let groupDepth: Flat<Int32>
    /// Per leaf: regression value.
    let leafValue: Flat<Double>
    /// Per leaf: probabilities in the parent's category order (classification).
    let leafProbabilities: Flat<Double>
    let categoryCount: Int
    let weights: [Double]
    let method: MultipleModelMethod
    let usedSlots: [Int32]

    init(header: ModelHeader, fallback: MiningModelC, nodes: [FastNode], leafOf: [Int32], indicators: [Indicator],
         roots: [Int32], treeCount: Int,
         groupDepth: [Int32], leafValue: [Double], leafProbabilities: [Double], categoryCount: Int,
         weights: [Double], method: MultipleModelMethod, usedSlots: [Int32]) {
        self.fallback = fallback
        self.nodes = Flat(nodes)
        self.leafOf = Flat(leafOf)
        self.indicators = indicators
        self.roots = Flat(roots.map { UInt32($0) })
        self.paddedCount = roots.count
        self.treeCount = treeCount
        self.groupDepth = Flat(groupDepth)
        self.leafValue = Flat(leafValue)
        self.leafProbabilities = Flat(leafProbabilities)
        self.categoryCount = categoryCount
        self.weights = weights
        self.method = method
        self.usedSlots = usedSlots
        super.init(header: header)
    }

    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateEnsemble(self) }

    /// Trees walked side by side.
    static let lanes = 8

    /// Builds the kernel for `m` when its shape allows it, else nil.
    static func build(_ m: MiningModelC, newSlot: (String) -> Int) -> TreeEnsembleC? {
        let h = m.header
        let allowed: Set<MultipleModelMethod> = h.function == .regression
            ? [.sum, .average, .weightedAverage, .weightedSum] : [.average, .weightedAverage]
        guard allowed.contains(m.method), !m.segments.isEmpty else { return nil }
        var trees: [TreeModelC] = []
        var originalSize = 0
        for s in m.segments {
            guard case .constant(true) = s.predicate, let t = s.model as? TreeModelC else { return nil }
            let th = t.header
            guard th.function == h.function, th.prepare.isEmpty, th.target == nil, th.outputs.isEmpty,
                  t.nodes.allSatisfy({ $0.op <= 5 && $0.value.isFinite }) else { return nil }
            trees.append(t)
            originalSize += t.nodes.count * 2 + 2
        }
        let ncat = h.categories.count
        // Node 0: a dummy leaf used to pad the last group of trees.
        var nodes: [FastNode] = [FastNode(high: .infinity, slot: 0, child: 0)]
        var leafOf: [Int32] = [0]
        var indicators: [Indicator] = []
        var indicatorSlot: [String: Int] = [:]
        func indicator(_ source: Int32, _ value: Double) -> UInt32 {
            let key = "\(source)=\(value.bitPattern)"
            if let s = indicatorSlot[key] { return UInt32(s) }
            let s = newSlot("(indicator)")
            indicatorSlot[key] = s
            indicators.append(Indicator(source: Int(source), value: value, target: s))
            return UInt32(s)
        }
        var leafValue: [Double] = [0]
        var leafProbs = [Double](repeating: 0, count: ncat)
        var roots: [Int32] = []
        var depths: [Int32] = []
        var used = Set<Int32>()
        for (ti, t) in trees.enumerated() {
            var leafIDs: [Int32: Int32] = [:]
            let childMap = m.segments[ti].categoryMap
            func leafID(_ x: Int32) -> Int32 {
                if let id = leafIDs[x] { return id }
                let leaf = Int(~x)
                let id = t.leafKind[leaf] == 0 ? Int32(-2) : Int32(leafValue.count)
                var v = t.leafValue[leaf]
                if t.header.targetType == .float { v = f32(v) }
                leafValue.append(v)
                var probs = [Double](repeating: 0, count: ncat)
                for i in 0..<t.categoryCount { probs[childMap[i]] = t.leafProbabilities[leaf * t.categoryCount + i] }
                leafProbs.append(contentsOf: probs)
                leafIDs[x] = id
                return id
            }
            // Writes the node for target `x` at `index` (expanding shared subtrees), returns the depth below it.
            func emit(_ x: Int32, _ index: Int) -> Int32 {
                if x < 0 {
                    nodes[index] = FastNode(high: .infinity, slot: 0, child: UInt32(index))
                    leafOf[index] = leafID(x)
                    return 0
                }
                let n = t.nodes[Int(x)]
                used.insert(n.slot)
                let pair = nodes.count
                nodes.append(nodes[0])
                nodes.append(nodes[0])
                leafOf.append(-1)
                leafOf.append(-1)
                let v = n.value
                var high = v
                var slot = UInt32(n.slot)
                var first = n.onTrue, second = n.onFalse
                switch n.op {
                case 0: break
                case 1: high = v.nextDown
                case 2: high = v.nextDown; swap(&first, &second)
                case 3: swap(&first, &second)
                case 4: slot = indicator(n.slot, v); high = 0.5; swap(&first, &second)
                default: slot = indicator(n.slot, v); high = 0.5
                }
                nodes[index] = FastNode(high: high, slot: slot, child: UInt32(pair))
                let d1 = emit(first, pair)
                let d2 = emit(second, pair + 1)
                return 1 + max(d1, d2)
            }
            let rootIndex = nodes.count
            nodes.append(nodes[0])
            leafOf.append(-1)
            depths.append(emit(t.root, rootIndex))
            roots.append(Int32(rootIndex))
            if nodes.count > 4 * originalSize + 1024 { return nil }
        }
        let count = roots.count
        while roots.count % lanes != 0 { roots.append(0); depths.append(0) }
        var groupDepth: [Int32] = []
        for g in stride(from: 0, to: roots.count, by: lanes) { groupDepth.append(depths[g..<(g + lanes)].max() ?? 0) }
        return TreeEnsembleC(header: h, fallback: m, nodes: nodes, leafOf: leafOf, indicators: indicators,
                             roots: roots, treeCount: count,
                             groupDepth: groupDepth, leafValue: leafValue, leafProbabilities: leafProbs,
                             categoryCount: ncat, weights: m.segments.map(\.weight), method: m.method,
                             usedSlots: used.sorted())
    }
}

extension RowContext {
    /// Scores a flat tree ensemble (see `TreeEnsembleC`).
    func evaluateEnsemble(_ e: TreeEnsembleC) throws(ScoringError) -> Prediction {
        let vals = values
        for s in e.usedSlots where vals[Int(s)].isNaN { return try evaluateMining(e.fallback) }
        for i in e.indicators { vals[i.target] = vals[i.source] == i.value ? 1 : 0 }
        if let p = ensembleKernel(e) { return p }
        return try evaluateMining(e.fallback)
    }

    /// The branch-free walk; nil when a tree reaches a null leaf (the caller falls back).
    @inline(__always) private func ensembleKernel(_ e: TreeEnsembleC) -> Prediction? {
        let h = e.header
        let vals = values
        let nodes = e.nodes.base
        let leafOf = e.leafOf.base
        let roots = e.roots.base
        let depths = e.groupDepth.base
        let n = e.treeCount
        let padded = e.paddedCount
        @inline(__always) func step(_ t: UInt32) -> UInt32 {
            let node = nodes[Int(t)]
            let x = vals[Int(node.slot)]
            return node.child &+ (x <= node.high ? 0 : 1)
        }
        if h.function == .regression && !h.floatMath && (e.method == .sum || e.method == .average) {
            let lv = e.leafValue.base
            var sum = 0.0
            var g = 0
            var gi = 0
            var null = false
            while g < padded {
                var t0 = roots[g], t1 = roots[g + 1], t2 = roots[g + 2], t3 = roots[g + 3]
                var t4 = roots[g + 4], t5 = roots[g + 5], t6 = roots[g + 6], t7 = roots[g + 7]
                var d = depths[gi]
                while d > 0 {
                    t0 = step(t0); t1 = step(t1); t2 = step(t2); t3 = step(t3)
                    t4 = step(t4); t5 = step(t5); t6 = step(t6); t7 = step(t7)
                    d -= 1
                }
                let l0 = leafOf[Int(t0)], l1 = leafOf[Int(t1)], l2 = leafOf[Int(t2)], l3 = leafOf[Int(t3)]
                let l4 = leafOf[Int(t4)], l5 = leafOf[Int(t5)], l6 = leafOf[Int(t6)], l7 = leafOf[Int(t7)]
                null = null || (l0 | l1 | l2 | l3 | l4 | l5 | l6 | l7) < 0
                if g + 8 <= n {
                    sum += lv[Int(max(l0, 0))]
                    sum += lv[Int(max(l1, 0))]
                    sum += lv[Int(max(l2, 0))]
                    sum += lv[Int(max(l3, 0))]
                    sum += lv[Int(max(l4, 0))]
                    sum += lv[Int(max(l5, 0))]
                    sum += lv[Int(max(l6, 0))]
                    sum += lv[Int(max(l7, 0))]
                } else {
                    let rest = n - g
                    if rest > 0 { sum += lv[Int(max(l0, 0))] }
                    if rest > 1 { sum += lv[Int(max(l1, 0))] }
                    if rest > 2 { sum += lv[Int(max(l2, 0))] }
                    if rest > 3 { sum += lv[Int(max(l3, 0))] }
                    if rest > 4 { sum += lv[Int(max(l4, 0))] }
                    if rest > 5 { sum += lv[Int(max(l5, 0))] }
                    if rest > 6 { sum += lv[Int(max(l6, 0))] }
                }
                g += 8
                gi += 1
            }
            if null { return nil }
            if e.method == .average { sum /= Double(n) }
            return Prediction(status: 1, value: sum)
        }
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: padded) { leaves -> Prediction? in
            var g = 0
            var gi = 0
            while g < padded {
                var t0 = roots[g], t1 = roots[g + 1], t2 = roots[g + 2], t3 = roots[g + 3]
                var t4 = roots[g + 4], t5 = roots[g + 5], t6 = roots[g + 6], t7 = roots[g + 7]
                var d = depths[gi]
                while d > 0 {
                    t0 = step(t0); t1 = step(t1); t2 = step(t2); t3 = step(t3)
                    t4 = step(t4); t5 = step(t5); t6 = step(t6); t7 = step(t7)
                    d -= 1
                }
                leaves[g] = leafOf[Int(t0)]
                leaves[g + 1] = leafOf[Int(t1)]
                leaves[g + 2] = leafOf[Int(t2)]
                leaves[g + 3] = leafOf[Int(t3)]
                leaves[g + 4] = leafOf[Int(t4)]
                leaves[g + 5] = leafOf[Int(t5)]
                leaves[g + 6] = leafOf[Int(t6)]
                leaves[g + 7] = leafOf[Int(t7)]
                g += 8
                gi += 1
            }
            for i in 0..<n where leaves[i] < 0 { return nil }
            if h.function == .regression {
                let lv = e.leafValue.base
                var sum = 0.0
                var weightSum = 0.0
                switch e.method {
                case .sum, .average:
                    for i in 0..<n { sum = h.r(sum + lv[Int(leaves[i])]) }
                    if e.method == .average { sum = h.r(sum / Double(n)) }
                default:
                    for i in 0..<n {
                        let w = h.r(e.weights[i])
                        sum = h.r(sum + h.r(lv[Int(leaves[i])] * w))
                        weightSum = h.r(weightSum + w)
                    }
                    if e.method == .weightedAverage { sum = h.r(sum / weightSum) }
                }
                return Prediction(status: 1, value: sum)
            }
            let k = e.categoryCount
            let off = h.probOffset
            let lp = e.leafProbabilities.base
            for c in 0..<k { probs[off + c] = 0 }
            var weightSum = 0.0
            if e.method == .weightedAverage {
                for i in 0..<n {
                    let base = Int(leaves[i]) * k
                    let w = h.r(e.weights[i])
                    for c in 0..<k { probs[off + c] = h.r(probs[off + c] + (w == 1 ? lp[base + c] : h.r(w * lp[base + c]))) }
                    weightSum = h.r(weightSum + w)
                }
            } else if h.floatMath {
                for i in 0..<n {
                    let base = Int(leaves[i]) * k
                    for c in 0..<k { probs[off + c] = f32(probs[off + c] + lp[base + c]) }
                }
            } else {
                for i in 0..<n {
                    let base = Int(leaves[i]) * k
                    for c in 0..<k { probs[off + c] += lp[base + c] }
                }
            }
            let divisor = e.method == .weightedAverage ? weightSum : Double(n)
            for c in 0..<k { probs[off + c] = h.r(probs[off + c] / divisor) }
            return Prediction(status: 2, value: Double(argmax(off, k)))
        }
    }
}
