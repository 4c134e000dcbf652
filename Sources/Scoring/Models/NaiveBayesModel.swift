import Foundation

// MARK: - Compiled NaiveBayesModel

/// One compiled `BayesInput`.
enum BayesInputC: Sendable {
    /// Discrete counts: for each input value (encoded), the per-category counts; plus per-category sums.
    case discrete(input: Expr, values: [Double], counts: [[Double]], sums: [Double])
    /// Gaussian: mean and variance per category (nil = no distribution for that category).
    case gaussian(input: Expr, mean: [Double?], variance: [Double?])
    /// Poisson: mean per category.
    case poisson(input: Expr, mean: [Double?])
}

/// A compiled `NaiveBayesModel`.
final class NaiveBayesC: ModelNode, @unchecked Sendable {
    /// Prior counts per category.
    let priorCounts: [Double]
    /// Input specifications, in input-slot order.
    let inputs: [BayesInputC]
    /// The threshold.
    let threshold: Double

    /// Creates the instance.
    init(header: ModelHeader, priorCounts: [Double], inputs: [BayesInputC], threshold: Double) {
        self.priorCounts = priorCounts
        self.inputs = inputs
        self.threshold = threshold
        super.init(header: header)
    }

    /// Scores this model with the general evaluator.
    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateNaiveBayes(self) }
}

// MARK: - Compiling a NaiveBayesModel

extension Compiler {
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

// MARK: - Evaluating a NaiveBayesModel

extension RowContext {
    /// Scores a NaiveBayesModel.
    func evaluateNaiveBayes(_ m: NaiveBayesC) throws(ScoringError) -> Prediction {
        let h = m.header
        let n = h.categories.count
        let off = h.probOffset
        // Log-space accumulation: ln(prior count) + Σ ln P(x_i | c).
        for c in 0..<n { probs[off + c] = Foundation.log(m.priorCounts[c]) }
        for input in m.inputs {
            switch input {
            case .discrete(let e, let values, let counts, let sums):
                let v = try eval(e)
                if v.isMissing { continue }
                guard let row = values.firstIndex(of: v.v) else { continue }
                for c in 0..<n {
                    let count = counts[row][c]
                    let p = Swift.abs(count) < 1e-300 || count == 0 ? m.threshold : count / sums[c]
                    probs[off + c] += Foundation.log(p)
                }
            case .gaussian(let e, let mean, let variance):
                let v = try eval(e)
                if v.isMissing { continue }
                for c in 0..<n {
                    guard let mu = mean[c], let s2 = variance[c] else { continue }
                    let d = v.v - mu
                    var p = Foundation.exp(-(d * d) / (2 * s2)) / (2 * Double.pi * s2).squareRoot()
                    if p < m.threshold { p = m.threshold }
                    probs[off + c] += Foundation.log(p)
                }
            case .poisson(let e, let mean):
                let v = try eval(e)
                if v.isMissing { continue }
                for c in 0..<n {
                    guard let lambda = mean[c] else { continue }
                    let k = v.v
                    var p = Foundation.exp(k * Foundation.log(lambda) - lambda - Foundation.lgamma(k + 1))
                    if p < m.threshold { p = m.threshold }
                    probs[off + c] += Foundation.log(p)
                }
            }
        }
        var mx = -Double.infinity
        for c in 0..<n { mx = Swift.max(mx, probs[off + c]) }
        var sum = 0.0
        for c in 0..<n {
            probs[off + c] = Foundation.exp(probs[off + c] - mx)
            sum += probs[off + c]
        }
        for c in 0..<n { probs[off + c] /= sum }
        return Prediction(status: 2, value: Double(argmax(off, n)))
    }
}
