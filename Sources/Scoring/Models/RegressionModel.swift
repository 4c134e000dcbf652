import Foundation

// MARK: - Compiled RegressionModel

/// One compiled `RegressionTable`.
final class RegressionTableC: Sendable {
    /// NumericPredictor slots.
    let numericSlots: Flat<Int>
    /// NumericPredictor coefficients.
    let numericCoefficients: Flat<Double>
    /// NumericPredictor exponents.
    let numericExponents: Flat<Int>
    /// CategoricalPredictor slots.
    let categoricalSlots: Flat<Int>
    /// CategoricalPredictor values (encoded).
    let categoricalValues: Flat<Double>
    /// CategoricalPredictor coefficients.
    let categoricalCoefficients: Flat<Double>
    /// PredictorTerm factor slots.
    let termSlots: [[Int]]
    /// PredictorTerm coefficients.
    let termCoefficients: [Double]
    /// The intercept.
    let intercept: Double
    /// Category index (classification).
    let category: Int
    /// No predictors and a zero intercept.
    let isDefault: Bool
    /// Numeric and categorical predictors read no lazily computed slot (inputs and outputs only), all exponents
    /// are 1 and there are no predictor terms: the table can use the tight loop.
    let simple: Bool

    /// Creates the instance.
    init(numericSlots: [Int], numericCoefficients: [Double], numericExponents: [Int], categoricalSlots: [Int],
         categoricalValues: [Double], categoricalCoefficients: [Double], termSlots: [[Int]], termCoefficients: [Double],
         intercept: Double, category: Int, isDefault: Bool, isLazy: (Int) -> Bool) {
        self.numericSlots = Flat(numericSlots)
        self.numericCoefficients = Flat(numericCoefficients)
        self.numericExponents = Flat(numericExponents)
        self.categoricalSlots = Flat(categoricalSlots)
        self.categoricalValues = Flat(categoricalValues)
        self.categoricalCoefficients = Flat(categoricalCoefficients)
        self.termSlots = termSlots
        self.termCoefficients = termCoefficients
        self.intercept = intercept
        self.category = category
        self.isDefault = isDefault
        self.simple = termSlots.isEmpty && numericExponents.allSatisfy { $0 == 1 }
            && !numericSlots.contains(where: isLazy) && !categoricalSlots.contains(where: isLazy)
    }
}

/// A compiled `RegressionModel`.
final class RegressionModelC: ModelNode, @unchecked Sendable {
    /// The RegressionTables in document order.
    let tables: [RegressionTableC]
    /// The tables again, for pointer access in the hot path.
    let tableList: Flat<RegressionTableC>
    /// `normalizationMethod`.
    let normalization: NormalizationMethod
    /// Whether the target is ordinal.
    let ordinal: Bool
    /// Binary classification whose probability is logit(first table) (logit, or softmax with an all-zero
    /// second table), in double precision.
    let binaryLogit: Bool

    /// Creates the instance.
    init(header: ModelHeader, tables: [RegressionTableC], normalization: NormalizationMethod, ordinal: Bool) {
        self.tables = tables
        self.tableList = Flat(tables)
        self.normalization = normalization
        self.ordinal = ordinal
        self.binaryLogit = header.function == .classification && !ordinal && tables.count == 2 && !header.floatMath
            && (normalization == .logit || (normalization == .softmax && tables[1].isDefault))
        super.init(header: header)
    }

    /// Scores this model with the general evaluator.
    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateRegression(self) }
}

// MARK: - Compiling a RegressionModel

extension Compiler {
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
}

// MARK: - Evaluating a RegressionModel

extension RowContext {
    /// The tight loop for `simple` tables in double precision (no lazy fields, exponents 1, no terms).
    @inline(__always) private func simpleTableValue(_ t: RegressionTableC) -> Double? {
        var sum = 0.0
        let slots = t.numericSlots.base, coefs = t.numericCoefficients.base
        let vals = values, sts = states
        for i in 0..<t.numericSlots.count {
            let x = vals[slots[i]]
            if x.isNaN && sts[slots[i]] == SlotState.missing { return nil }
            sum += x * coefs[i]
        }
        let cslots = t.categoricalSlots.base, cvalues = t.categoricalValues.base, ccoefs = t.categoricalCoefficients.base
        for i in 0..<t.categoricalSlots.count where vals[cslots[i]] == cvalues[i] && sts[cslots[i]] != SlotState.missing {
            sum += ccoefs[i]
        }
        if t.intercept != 0 { sum += t.intercept }
        return sum
    }

    private func tableValue(_ t: RegressionTableC, _ h: ModelHeader) throws(ScoringError) -> Double? {
        if t.simple && !h.floatMath { return simpleTableValue(t) }
        var sum = 0.0
        let fm = h.floatMath
        let numericCount = t.numericSlots.count
        let slots = t.numericSlots.base, coefs = t.numericCoefficients.base, exps = t.numericExponents.base
        var i = 0
        while i < numericCount {
            let slot = slots[i]
            if states[slot] == SlotState.pending { try compute(slot) }
            var x = values[slot]
            if x.isNaN && states[slot] == SlotState.missing { return nil }
            let e = exps[i]
            if fm {
                x = f32(x)
                if e != 1 { x = f32(Foundation.pow(x, Double(e))) }
                sum = f32(sum + f32(x * f32(coefs[i])))
            } else {
                if e != 1 { x = Foundation.pow(x, Double(e)) }
                sum += x * coefs[i]
            }
            i += 1
        }
        let categoricalCount = t.categoricalSlots.count
        let cslots = t.categoricalSlots.base, cvalues = t.categoricalValues.base, ccoefs = t.categoricalCoefficients.base
        i = 0
        while i < categoricalCount {
            let slot = cslots[i]
            if states[slot] == SlotState.pending { try compute(slot) }
            if states[slot] != SlotState.missing && values[slot] == cvalues[i] {
                sum = fm ? f32(sum + f32(ccoefs[i])) : sum + ccoefs[i]
            }
            i += 1
        }
        if !t.termSlots.isEmpty {
            for k in 0..<t.termSlots.count {
                var product = fm ? f32(t.termCoefficients[k]) : t.termCoefficients[k]
                for s in t.termSlots[k] {
                    let v = try get(s)
                    if v.isMissing { return nil }
                    product = fm ? f32(product * f32(v.v)) : product * v.v
                }
                sum = fm ? f32(sum + product) : sum + product
            }
        }
        if t.intercept != 0 { sum = fm ? f32(sum + f32(t.intercept)) : sum + t.intercept }
        return sum
    }

    /// Scores a RegressionModel.
    func evaluateRegression(_ m: RegressionModelC) throws(ScoringError) -> Prediction {
        let h = m.header
        if h.function == .regression {
            guard let y = try tableValue(m.tableList.base[0], h) else { return .missing }
            switch m.normalization {
            case .none: return Prediction(status: 1, value: y)
            case .softmax, .logit: return Prediction(status: 1, value: link(.logit, y, h))
            case .exp: return Prediction(status: 1, value: h.r(Foundation.exp(y)))
            default: return Prediction(status: 1, value: link(m.normalization, y, h))
            }
        }
        let off = h.probOffset
        let list = m.tableList.base
        if m.binaryLogit {
            guard let y = try tableValue(list[0], h) else { return .missing }
            if !list[1].isDefault { guard try tableValue(list[1], h) != nil else { return .missing } }
            let p = 1 / (1 + Foundation.exp(-y))
            let q = 1 - p
            let c0 = list[0].category, c1 = list[1].category
            probs[off + c0] = p
            probs[off + c1] = q
            let predicted = c0 < c1 ? (q > p ? c1 : c0) : (p > q ? c0 : c1)
            return Prediction(status: 2, value: Double(predicted))
        }
        for k in 0..<m.tableList.count {
            guard let y = try tableValue(list[k], h) else { return .missing }
            probs[off + list[k].category] = y
        }
        let tables = m.tables
        let count = tables.count
        if m.ordinal {
            // Cumulative link: p_i = F(y_i) - F(y_{i-1}); last = 1 - sum.
            var cumulative = 0.0
            for i in 0..<(count - 1) {
                let k = off + tables[i].category
                let c = m.normalization == .none ? Swift.min(Swift.max(probs[k], 0), 1) : link(m.normalization, probs[k], h)
                if i == 0 {
                    probs[k] = c
                    cumulative = c
                } else {
                    probs[k] = h.r(c - cumulative)
                    cumulative = h.r(cumulative + probs[k])
                }
            }
            probs[off + tables[count - 1].category] = h.r(1 - cumulative)
        } else {
            switch m.normalization {
            case .none:
                if count == 2 {
                    let k0 = off + tables[0].category
                    probs[k0] = Swift.min(Swift.max(probs[k0], 0), 1)
                    probs[off + tables[1].category] = h.r(1 - probs[k0])
                } else {
                    var sum = 0.0
                    for i in 0..<(count - 1) { sum = h.r(sum + probs[off + tables[i].category]) }
                    probs[off + tables[count - 1].category] = h.r(1 - sum)
                }
            case .softmax where count == 2 && tables[1].isDefault:
                let k0 = off + tables[0].category
                probs[k0] = link(.logit, probs[k0], h)
                probs[off + tables[1].category] = h.r(1 - probs[k0])
            case .softmax, .simplemax:
                var sum = 0.0
                if m.normalization == .softmax {
                    for t in tables { probs[off + t.category] = h.r(Foundation.exp(probs[off + t.category])) }
                }
                for t in tables { sum = h.r(sum + probs[off + t.category]) }
                for t in tables { probs[off + t.category] = h.r(probs[off + t.category] / sum) }
            case .logit where count > 2:
                var sum = 0.0
                for t in tables {
                    probs[off + t.category] = link(.logit, probs[off + t.category], h)
                    sum = h.r(sum + probs[off + t.category])
                }
                for t in tables { probs[off + t.category] = h.r(probs[off + t.category] / sum) }
            default:
                // Binary logit/probit/cloglog/loglog/cauchit: first table through the link, second = 1 - first.
                let k0 = off + tables[0].category
                probs[k0] = link(m.normalization, probs[k0], h)
                probs[off + tables[1].category] = h.r(1 - probs[k0])
            }
        }
        return Prediction(status: 2, value: Double(argmax(off, h.categories.count)))
    }

    /// The inverse link functions of RegressionModel normalisation methods.
    @inline(__always) func link(_ method: NormalizationMethod, _ y: Double, _ h: ModelHeader) -> Double {
        if h.floatMath {
            let f = Float(y)
            switch method {
            case .logit: return Double(1 / (1 + Float(Foundation.exp(Double(-f)))))
            case .cloglog: return Double(1 - Float(Foundation.exp(Double(-Float(Foundation.exp(Double(f)))))))
            case .loglog: return Double(Float(Foundation.exp(Double(-Float(Foundation.exp(Double(-f)))))))
            case .cauchit: return Double(0.5 + (1 / Float.pi) * Float(Foundation.atan(Double(f))))
            case .probit: return f32(stdNormalCDF(Double(f)))
            case .exp: return f32(Foundation.exp(Double(f)))
            default: return y
            }
        }
        switch method {
        case .logit: return 1 / (1 + Foundation.exp(-y))
        case .probit: return stdNormalCDF(y)
        case .cloglog: return 1 - Foundation.exp(-Foundation.exp(y))
        case .loglog: return Foundation.exp(-Foundation.exp(-y))
        case .cauchit: return 0.5 + (1 / Double.pi) * Foundation.atan(y)
        case .exp: return Foundation.exp(y)
        default: return y
        }
    }
}
