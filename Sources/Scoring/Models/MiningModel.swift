import Foundation

// MARK: - Compiled MiningModel

/// `multipleModelMethod`.
enum MultipleModelMethod: String, Sendable {
    case majorityVote, weightedMajorityVote, average, weightedAverage, median, weightedMedian, max, sum,
         weightedSum, selectFirst, modelChain
}

/// One compiled `Segment`.
struct SegmentC: Sendable {
    /// The segment predicate.
    let predicate: Pred
    /// The segment weight.
    let weight: Double
    /// The segment model.
    let model: ModelNode
    /// Maps the segment model's category indices to the parent's.
    let categoryMap: [Int]
}

/// A compiled `MiningModel` with `Segmentation`.
final class MiningModelC: ModelNode, @unchecked Sendable {
    /// The aggregation method.
    let method: MultipleModelMethod
    /// The segments in document order.
    let segments: [SegmentC]
    /// 0 continue, 1 skipSegment, 2 returnMissing.
    let missingTreatment: UInt8
    /// `missingThreshold`.
    let missingThreshold: Double
    /// Segment models and whether their predicate is the constant `True` (hot-path copies of `segments`).
    let models: Flat<ModelNode>
    /// Whether each segment predicate is `True`.
    let alwaysSelected: Flat<Bool>

    /// Creates the value.
    init(header: ModelHeader, method: MultipleModelMethod, segments: [SegmentC], missingTreatment: UInt8,
         missingThreshold: Double) {
        self.method = method
        self.segments = segments
        self.models = Flat(segments.map(\.model))
        self.alwaysSelected = Flat(segments.map { if case .constant(true) = $0.predicate { return true } else { return false } })
        self.missingTreatment = missingTreatment
        self.missingThreshold = missingThreshold
        super.init(header: header)
    }

    /// Scores this model with the general evaluator.
    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateMining(self) }
}

// MARK: - Compiling a MiningModel

extension Compiler {
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
}

// MARK: - Evaluating a MiningModel

extension RowContext {
    /// Scores a MiningModel.
    func evaluateMining(_ m: MiningModelC) throws(ScoringError) -> Prediction {
        let h = m.header
        switch m.method {
        case .modelChain, .selectFirst:
            var last = -1
            var lastPrediction = Prediction.missing
            let count = m.models.count
            var i = 0
            while i < count {
                var selected = m.alwaysSelected[i]
                if !selected { selected = try evalPred(m.segments[i].predicate) == Tri.yes }
                if selected {
                    lastPrediction = try evaluate(m.models.base[i])
                    last = i
                    if m.method == .selectFirst { break }
                }
                i += 1
            }
            if last < 0 { return .missing }
            return adopt(m, last, lastPrediction, h)
        default:
            break
        }
        if h.function == .regression {
            return try aggregateValues(m)
        }
        switch m.method {
        case .majorityVote, .weightedMajorityVote:
            return try aggregateVotes(m)
        default:
            return try aggregateProbabilities(m)
        }
    }

    /// Copies a segment's result into the parent's category space.
    private func adopt(_ m: MiningModelC, _ index: Int, _ p: Prediction, _ h: ModelHeader) -> Prediction {
        if p.status == 0 { return p }
        if (p.status == 2) != (h.function == .classification) { return .missing }
        if p.status == 1 { return p }
        let child = m.models.base[index].header
        let map = m.segments[index].categoryMap
        let n = h.categories.count
        for i in 0..<n { probs[h.probOffset + i] = 0 }
        for i in 0..<map.count { probs[h.probOffset + map[i]] = probs[child.probOffset + i] }
        return Prediction(status: 2, value: Double(map[Int(p.value)]))
    }

    /// Returns true when the share of missing segment predictions exceeds the threshold.
    private func missingExceeded(_ missingWeight: Double, _ totalWeight: Double, _ threshold: Double) -> Bool {
        missingWeight / totalWeight > threshold
    }

    private func aggregateValues(_ m: MiningModelC) throws(ScoringError) -> Prediction {
        let h = m.header
        var sum = 0.0
        var weightSum = 0.0
        var count = 0
        var maxValue = -Double.infinity
        var collected: [(Double, Double)] = []
        var missingWeight = 0.0
        var totalWeight = 0.0
        var results: [(SegmentC, Prediction)] = []
        for seg in m.segments {
            if try evalPred(seg.predicate) != Tri.yes { continue }
            let p = try evaluate(seg.model)
            results.append((seg, p))
            totalWeight += seg.weight
        }
        for (seg, p) in results {
            if p.status == 0 {
                if m.missingTreatment == 1 {
                    missingWeight += seg.weight
                    if missingExceeded(missingWeight, totalWeight, m.missingThreshold) { return .missing }
                    continue
                }
                return .missing
            }
            let v = p.status == 2 ? Double(seg.categoryMap[Int(p.value)]) : p.value
            switch m.method {
            case .sum, .average:
                sum = h.r(sum + v)
            case .weightedSum, .weightedAverage:
                sum = h.r(sum + h.r(v * h.r(seg.weight)))
                weightSum = h.r(weightSum + h.r(seg.weight))
            case .max:
                maxValue = Swift.max(maxValue, v)
            default:
                collected.append((v, seg.weight))
            }
            count += 1
        }
        if count == 0 { return .missing }
        switch m.method {
        case .sum, .weightedSum: return Prediction(status: 1, value: sum)
        case .average: return Prediction(status: 1, value: h.r(sum / Double(count)))
        case .weightedAverage: return Prediction(status: 1, value: h.r(sum / weightSum))
        case .max: return Prediction(status: 1, value: maxValue)
        case .median:
            let xs = collected.map(\.0).sorted()
            let n = xs.count
            return Prediction(status: 1, value: n % 2 == 1 ? xs[n / 2] : h.r((xs[n / 2 - 1] + xs[n / 2]) / 2))
        default:
            // weightedMedian: the smallest value whose cumulative weight reaches half of the total.
            let sorted = collected.sorted { $0.0 < $1.0 }
            let total = sorted.reduce(0) { $0 + $1.1 }
            var cumulative = 0.0
            for (v, w) in sorted {
                cumulative += w
                if cumulative >= total / 2 { return Prediction(status: 1, value: v) }
            }
            return Prediction(status: 1, value: sorted[sorted.count - 1].0)
        }
    }

    private func aggregateVotes(_ m: MiningModelC) throws(ScoringError) -> Prediction {
        let h = m.header
        let n = h.categories.count
        let off = h.probOffset
        var results: [(SegmentC, Prediction)] = []
        var totalWeight = 0.0
        for seg in m.segments {
            if try evalPred(seg.predicate) != Tri.yes { continue }
            let p = try evaluate(seg.model)
            results.append((seg, p))
            totalWeight += seg.weight
        }
        for i in 0..<n { probs[off + i] = 0 }
        var missingVotes = 0.0
        var missingWeight = 0.0
        let weighted = m.method == .weightedMajorityVote
        for (seg, p) in results {
            if p.status == 0 {
                if m.missingTreatment == 2 { return .missing }
                missingWeight += seg.weight
                if missingExceeded(missingWeight, totalWeight, m.missingThreshold) { return .missing }
                if m.missingTreatment == 0 { missingVotes += weighted ? seg.weight : 1 }
                continue
            }
            guard p.status == 2 else { return .missing }
            let k = off + seg.categoryMap[Int(p.value)]
            probs[k] = h.r(probs[k] + (weighted ? h.r(seg.weight) : 1))
        }
        var sum = 0.0
        var maxVotes = 0.0
        for i in 0..<n {
            sum = h.r(sum + probs[off + i])
            maxVotes = Swift.max(maxVotes, probs[off + i])
        }
        if sum == 0 { return .missing }
        if missingVotes > 0 && missingVotes > maxVotes { return .missing }
        let winner = argmax(off, n)
        if sum != 1 { for i in 0..<n { probs[off + i] = h.r(probs[off + i] / sum) } }
        return Prediction(status: 2, value: Double(winner))
    }

    private func aggregateProbabilities(_ m: MiningModelC) throws(ScoringError) -> Prediction {
        let h = m.header
        let n = h.categories.count
        let off = h.probOffset
        for i in 0..<n { probs[off + i] = 0 }
        var count = 0
        var weightSum = 0.0
        var missingWeight = 0.0
        var totalWeight = 0.0
        let needsAll = m.method == .median || m.method == .max
        var members: [[Double]] = []
        // Total weight of the segments whose predicate is true (for missingThreshold).
        var selected: [SegmentC] = []
        for seg in m.segments where try evalPred(seg.predicate) == Tri.yes {
            selected.append(seg)
            totalWeight += seg.weight
        }
        for seg in selected {
            let p = try evaluate(seg.model)
            if p.status == 0 {
                if m.missingTreatment == 1 {
                    missingWeight += seg.weight
                    if missingExceeded(missingWeight, totalWeight, m.missingThreshold) { return .missing }
                    continue
                }
                return .missing
            }
            guard p.status == 2 else { return .missing }
            let child = seg.model.header
            let map = seg.categoryMap
            if needsAll {
                var row = [Double](repeating: 0, count: n)
                for (i, j) in map.enumerated() { row[j] = probs[child.probOffset + i] }
                members.append(row)
            } else if m.method == .weightedAverage {
                let w = h.r(seg.weight)
                for (i, j) in map.enumerated() {
                    probs[off + j] = h.r(probs[off + j] + (w == 1 ? probs[child.probOffset + i] : h.r(w * probs[child.probOffset + i])))
                }
                weightSum = h.r(weightSum + w)
            } else {
                for (i, j) in map.enumerated() { probs[off + j] = h.r(probs[off + j] + probs[child.probOffset + i]) }
            }
            count += 1
        }
        if count == 0 { return .missing }
        switch m.method {
        case .average:
            let c = Double(count)
            for i in 0..<n { probs[off + i] = h.r(probs[off + i] / c) }
        case .weightedAverage:
            for i in 0..<n { probs[off + i] = h.r(probs[off + i] / weightSum) }
        default:
            // max / median: pick the winning category by its max (median) probability, then average the
            // distributions of the members closest to that statistic.
            var stats = [Double](repeating: 0, count: n)
            for c in 0..<n {
                let column = members.map { $0[c] }
                if m.method == .max {
                    stats[c] = column.max() ?? 0
                } else {
                    let s = column.sorted()
                    let k = s.count
                    stats[c] = k % 2 == 1 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2
                }
            }
            var winner = 0
            for c in 1..<Swift.max(n, 1) where stats[c] > stats[winner] { winner = c }
            var chosen: [[Double]] = []
            var best = Double.infinity
            for row in members {
                let d = Swift.abs(stats[winner] - row[winner])
                if d < best { chosen.removeAll(); best = d }
                if d <= best { chosen.append(row) }
            }
            for c in 0..<n {
                var s = 0.0
                for row in chosen { s = h.r(s + row[c]) }
                probs[off + c] = chosen.count == 1 ? s : h.r(s / Double(chosen.count))
            }
        }
        return Prediction(status: 2, value: Double(argmax(off, n)))
    }
}

// MARK: - Tree ensemble kernel (a MiningModel of plain trees)

/// One node of the flat ensemble kernel. A walk step goes to `child` when `x <= high`, else to `child + 1`
/// (the two successors are stored side by side, so the step is arithmetic, not a load). Equality tests
/// read a per-row 0/1 indicator slot instead (`indicator <= 0.5` means "not equal"). A leaf tests the
/// ensemble's `floorSlot` (−∞ in every row) against its payload and steps to itself, so walks can run a
/// fixed number of steps: `child` is the leaf itself, or the node before it when the payload is NaN (a
/// null leaf of a regression, where `−∞ <= NaN` is false).
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
    /// The slot every leaf tests: −∞ in every row (set before each walk).
    let floorSlot: Int

    /// Creates the value.
    init(header: ModelHeader, fallback: MiningModelC, nodes: [FastNode], indicators: [Indicator], members: [Double],
         roots: [Int32], treeCount: Int,
         groupDepth: [Int32], leafValue: [Double], leafProbabilities: [Double], categoryCount: Int,
         weights: [Double], method: MultipleModelMethod, usedSlots: [Int32], floorSlot: Int) {
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
        self.floorSlot = floorSlot
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
        let floorSlot = newSlot("(minus infinity)")
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
                    // A leaf steps to itself, so extra steps stay on it (see `FastNode`); `high` holds the leaf
                    // value (regression, NaN for a null leaf) or the leaf id (classification). Leaves were
                    // stored as a pair of copies of themselves before (three nodes each: as a binary tree has one
                    // leaf more than it has tests, leaves held ~3/4 of the nodes).
                    let id = leafID(x)
                    let payload: Double
                    if h.function == .regression {
                        payload = id < 0 ? .nan : leafValue[Int(id)]
                    } else {
                        payload = Double(id)
                    }
                    nodes[index] = FastNode(high: payload, slot: UInt32(floorSlot), child: UInt32(payload.isNaN ? index - 1 : index))
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
                             usedSlots: used.sorted(), floorSlot: floorSlot)
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
        vals[e.floorSlot] = -.infinity
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
