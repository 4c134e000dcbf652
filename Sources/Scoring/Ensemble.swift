import Foundation

/// One node of the flat ensemble kernel. A walk step goes to `child` when `x <= high`, else to `child + 1`
/// (the two successors are stored side by side, so the step is arithmetic, not a load). Equality tests
/// read a per-row 0/1 indicator slot instead (`indicator <= 0.5` means "not equal"). Leaves accept every
/// value and point at themselves, so walks can run a fixed number of steps.
struct FastNode: Sendable {
    /// Upper bound of the test (`x <= high`), or the leaf payload.
    var high: Double
    /// The value slot.
    var slot: UInt32
    /// Index of the successor pair.
    var child: UInt32
}

/// A per-row indicator: `values[target] = values[source] ∈ members ? 1 : 0` (equality tests and
/// SimpleSetPredicates).
struct Indicator: Sendable {
    /// The tested slot.
    let source: Int
    /// The values that make the indicator 1: `memberCount` entries of `TreeEnsembleC.members` from `first`.
    let first: Int
    /// Number of member values.
    let memberCount: Int
    /// The slot receiving the indicator.
    let target: Int
}

/// A sum/average of tree models flattened into one node array, walked `lanes` trees at a time.
///
/// Used when every segment is an always-selected TreeModel made of plain comparisons. Rows with a missing
/// value in any tested field, or reaching a null leaf, are scored by the general evaluator (`fallback`),
/// so results are identical.
final class TreeEnsembleC: ModelNode, @unchecked Sendable {
    /// The general evaluator for rows the kernel cannot take.
    let fallback: MiningModelC
    /// The nodes.
    let nodes: Flat<FastNode>
    /// Per-row equality indicators computed before the walk.
    let indicators: Flat<Indicator>
    /// Member values of all indicators.
    let members: Flat<Double>
    /// Root node per tree, padded to a multiple of `lanes` with node 0 (a dummy leaf).
    let roots: Flat<UInt32>
    /// Number of roots including padding.
    let paddedCount: Int
    /// Number of real trees.
    let treeCount: Int
    /// Steps needed per group of `lanes` trees (the deepest tree of the group).
    let groupDepth: Flat<Int32>
    /// Per leaf: regression value.
    let leafValue: Flat<Double>
    /// Per leaf: probabilities in the parent's category order (classification).
    let leafProbabilities: Flat<Double>
    /// Number of categories.
    let categoryCount: Int
    /// Segment weights (0 for padding).
    let weights: [Double]
    /// The aggregation method.
    let method: MultipleModelMethod
    /// Slots tested by any tree (a NaN in one sends the row to the fallback).
    let usedSlots: Flat<Int32>

    /// Creates the value.
    init(header: ModelHeader, fallback: MiningModelC, nodes: [FastNode], indicators: [Indicator], members: [Double],
         roots: [Int32], treeCount: Int,
         groupDepth: [Int32], leafValue: [Double], leafProbabilities: [Double], categoryCount: Int,
         weights: [Double], method: MultipleModelMethod, usedSlots: [Int32]) {
        self.fallback = fallback
        self.nodes = Flat(nodes)
        self.indicators = Flat(indicators)
        self.members = Flat(members)
        self.roots = Flat(roots.map { UInt32($0) })
        self.paddedCount = roots.count
        self.treeCount = treeCount
        self.groupDepth = Flat(groupDepth)
        self.leafValue = Flat(leafValue)
        self.leafProbabilities = Flat(leafProbabilities)
        self.categoryCount = categoryCount
        self.weights = weights
        self.method = method
        self.usedSlots = Flat(usedSlots)
        super.init(header: header)
    }

    /// Scores this model with the general evaluator.
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
                  t.nodes.allSatisfy({ n in
                      if n.op == 8, case .set = t.predicates[Int(n.value)] { return true }
                      return n.op <= 5 && n.value.isFinite
                  }) else { return nil }
            trees.append(t)
            originalSize += t.nodes.count * 2 + 2
        }
        let ncat = h.categories.count
        // Node 0: a dummy leaf used to pad the last group of trees.
        // Nodes 0 and 1: a dummy leaf (value 0, id 0) and its copy, used to pad the last group of trees.
        var nodes: [FastNode] = [FastNode(high: 0, slot: 0, child: 0), FastNode(high: 0, slot: 0, child: 0)]
        var indicators: [Indicator] = []
        var indicatorSlot: [String: Int] = [:]
        var memberPool: [Double] = []
        func indicator(_ source: Int32, _ members: [Double]) -> UInt32 {
            let key = "\(source)=" + members.map { String($0.bitPattern) }.joined(separator: ",")
            if let s = indicatorSlot[key] { return UInt32(s) }
            let s = newSlot("(indicator)")
            indicatorSlot[key] = s
            indicators.append(Indicator(source: Int(source), first: memberPool.count, memberCount: members.count, target: s))
            memberPool.append(contentsOf: members)
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
                    // A leaf steps into a pair of copies of itself, so extra steps stay on the leaf; `high`
                    // holds the leaf value (regression, NaN for a null leaf) or the leaf id (classification).
                    let id = leafID(x)
                    let payload: Double
                    if h.function == .regression {
                        payload = id < 0 ? .nan : leafValue[Int(id)]
                    } else {
                        payload = Double(id)
                    }
                    let pair = nodes.count
                    let node = FastNode(high: payload, slot: 0, child: UInt32(pair))
                    nodes.append(node)
                    nodes.append(node)
                    nodes[index] = node
                    return 0
                }
                let n = t.nodes[Int(x)]
                if n.op == 8, case .set(let source, let isIn, let members) = t.predicates[Int(n.value)] {
                    // Set membership through a per-row indicator: `indicator <= 0.5` means "not a member".
                    used.insert(Int32(source))
                    let pair = nodes.count
                    nodes.append(nodes[0])
                    nodes.append(nodes[0])
                    var first = n.onTrue, second = n.onFalse
                    if isIn { swap(&first, &second) }
                    nodes[index] = FastNode(high: 0.5, slot: indicator(Int32(source), members), child: UInt32(pair))
                    let d1 = emit(first, pair)
                    let d2 = emit(second, pair + 1)
                    return 1 + max(d1, d2)
                }
                used.insert(n.slot)
                let pair = nodes.count
                nodes.append(nodes[0])
                nodes.append(nodes[0])
                let v = n.value
                var high = v
                var slot = UInt32(n.slot)
                var first = n.onTrue, second = n.onFalse
                switch n.op {
                case 0: break
                case 1: high = v.nextDown
                case 2: high = v.nextDown; swap(&first, &second)
                case 3: swap(&first, &second)
                case 4: slot = indicator(n.slot, [v]); high = 0.5; swap(&first, &second)
                default: slot = indicator(n.slot, [v]); high = 0.5
                }
                nodes[index] = FastNode(high: high, slot: slot, child: UInt32(pair))
                let d1 = emit(first, pair)
                let d2 = emit(second, pair + 1)
                return 1 + max(d1, d2)
            }
            let rootIndex = nodes.count
            nodes.append(nodes[0])
            depths.append(emit(t.root, rootIndex))
            roots.append(Int32(rootIndex))
            if nodes.count > 4 * originalSize + 1024 { return nil }
        }
        let count = roots.count
        var weights = m.segments.map(\.weight)
        while roots.count % lanes != 0 { roots.append(0); depths.append(0); weights.append(0) }
        var groupDepth: [Int32] = []
        for g in stride(from: 0, to: roots.count, by: lanes) { groupDepth.append(depths[g..<(g + lanes)].max() ?? 0) }
        return TreeEnsembleC(header: h, fallback: m, nodes: nodes, indicators: indicators, members: memberPool,
                             roots: roots, treeCount: count,
                             groupDepth: groupDepth, leafValue: leafValue, leafProbabilities: leafProbs,
                             categoryCount: ncat, weights: weights, method: m.method,
                             usedSlots: used.sorted())
    }
}

extension RowContext {
    /// Scores a flat tree ensemble (see `TreeEnsembleC`).
    func evaluateEnsemble(_ e: TreeEnsembleC) throws(ScoringError) -> Prediction {
        let vals = values
        let used = e.usedSlots.base
        var anyMissing = false
        for k in 0..<e.usedSlots.count { anyMissing = anyMissing || vals[Int(used[k])].isNaN }
        if anyMissing { return try evaluateMining(e.fallback) }
        let indicators = e.indicators.base
        let members = e.members.base
        for k in 0..<e.indicators.count {
            let ind = indicators[k]
            let x = vals[ind.source]
            var hit = false
            for j in ind.first..<(ind.first + ind.memberCount) where members[j] == x { hit = true; break }
            vals[ind.target] = hit ? 1 : 0
        }
        if let p = ensembleKernel(e) { return p }
        return try evaluateMining(e.fallback)
    }

    /// The branch-free walk; nil when a tree reaches a null leaf (the caller falls back).
    @inline(__always) private func ensembleKernel(_ e: TreeEnsembleC) -> Prediction? {
        let h = e.header
        let vals = values
        let nodes = e.nodes.base
        let roots = e.roots.base
        let depths = e.groupDepth.base
        let n = e.treeCount
        let padded = e.paddedCount
        @inline(__always) func step(_ t: UInt32) -> UInt32 {
            let node = nodes[Int(t)]
            let x = vals[Int(node.slot)]
            return node.child &+ (x <= node.high ? 0 : 1)
        }
        if h.function == .regression {
            // Leaf values sit in the leaves' `high`; padding trees contribute an exact 0 (weight 0).
            var sum = 0.0
            var weightSum = 0.0
            let weighted = e.method == .weightedSum || e.method == .weightedAverage
            let fm = h.floatMath
            let w = e.weights
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
                let v0 = nodes[Int(t0)].high, v1 = nodes[Int(t1)].high, v2 = nodes[Int(t2)].high, v3 = nodes[Int(t3)].high
                let v4 = nodes[Int(t4)].high, v5 = nodes[Int(t5)].high, v6 = nodes[Int(t6)].high, v7 = nodes[Int(t7)].high
                if !weighted && !fm {
                    sum += v0; sum += v1; sum += v2; sum += v3
                    sum += v4; sum += v5; sum += v6; sum += v7
                } else {
                    @inline(__always) func add(_ v: Double, _ k: Int) {
                        if weighted {
                            let wk = h.r(w[g + k])
                            sum = h.r(sum + h.r(v * wk))
                            weightSum = h.r(weightSum + wk)
                        } else {
                            sum = f32(sum + v)
                        }
                    }
                    add(v0, 0); add(v1, 1); add(v2, 2); add(v3, 3); add(v4, 4); add(v5, 5); add(v6, 6); add(v7, 7)
                }
                g += 8
                gi += 1
            }
            // A null leaf carries NaN, which survives the sum: let the general evaluator decide.
            if sum.isNaN { return nil }
            switch e.method {
            case .average: sum = h.r(sum / Double(n))
            case .weightedAverage: sum = h.r(sum / weightSum)
            default: break
            }
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
                leaves[g] = Int32(nodes[Int(t0)].high)
                leaves[g + 1] = Int32(nodes[Int(t1)].high)
                leaves[g + 2] = Int32(nodes[Int(t2)].high)
                leaves[g + 3] = Int32(nodes[Int(t3)].high)
                leaves[g + 4] = Int32(nodes[Int(t4)].high)
                leaves[g + 5] = Int32(nodes[Int(t5)].high)
                leaves[g + 6] = Int32(nodes[Int(t6)].high)
                leaves[g + 7] = Int32(nodes[Int(t7)].high)
                g += 8
                gi += 1
            }
            for i in 0..<n where leaves[i] < 0 { return nil }
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
            } else if k == 2 {
                // Binary: accumulate in registers (same additions, same order as the general loop).
                var a0 = 0.0, a1 = 0.0
                for i in 0..<n {
                    let base = Int(leaves[i]) * 2
                    a0 += lp[base]
                    a1 += lp[base + 1]
                }
                probs[off] = a0
                probs[off + 1] = a1
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
