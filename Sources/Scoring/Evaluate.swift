import Foundation

// MARK: - Expressions and predicates

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

// MARK: - Models

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

    // MARK: Tree

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

    // MARK: Regression

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

    // MARK: Mining

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

    // MARK: Neural network

    /// Scores a NeuralNetwork.
    func evaluateNeural(_ m: NeuralNetworkC) throws(ScoringError) -> Prediction {
        let h = m.header
        var units = [Double](repeating: 0, count: m.unitCount)
        for (i, input) in m.inputs.enumerated() {
            let v = try eval(input)
            if v.isMissing { return .missing }
            units[i] = h.r(v.v)
        }
        for layer in m.layers {
            for (j, neuron) in layer.neurons.enumerated() {
                var z = 0.0
                if layer.activation == .radialBasis {
                    for (k, s) in neuron.sources.enumerated() {
                        let d = h.r(units[s] - neuron.weights[k])
                        z = h.r(z + h.r(d * d))
                    }
                    z = h.r(z / h.r(h.r(neuron.width * neuron.width) * -2))
                    if layer.altitude != 1 {
                        z = h.r(z + h.r(h.r(Foundation.log(layer.altitude)) * Double(neuron.sources.count)))
                    }
                    units[layer.firstIndex + j] = h.r(Foundation.exp(z))
                    continue
                }
                for (k, s) in neuron.sources.enumerated() { z = h.r(z + h.r(neuron.weights[k] * units[s])) }
                z = h.r(z + neuron.bias)
                units[layer.firstIndex + j] = h.r(activate(layer.activation, z, layer.threshold))
            }
            let first = layer.firstIndex
            let count = layer.neurons.count
            switch layer.normalization {
            case .softmax:
                var mx = -Double.infinity
                for j in 0..<count { mx = Swift.max(mx, units[first + j]) }
                var sum = 0.0
                for j in 0..<count {
                    units[first + j] = h.r(Foundation.exp(h.r(units[first + j] - mx)))
                    sum = h.r(sum + units[first + j])
                }
                if sum != 1 { for j in 0..<count { units[first + j] = h.r(units[first + j] / sum) } }
            case .simplemax:
                var sum = 0.0
                for j in 0..<count { sum = h.r(sum + units[first + j]) }
                if sum != 1 { for j in 0..<count { units[first + j] = h.r(units[first + j] / sum) } }
            default:
                break
            }
        }
        if h.function == .classification {
            let off = h.probOffset
            for i in 0..<h.categories.count { probs[off + i] = 0 }
            for o in m.outputs {
                if case .category(let neuron, let category) = o { probs[off + category] = units[neuron] }
            }
            return Prediction(status: 2, value: Double(argmax(off, h.categories.count)))
        }
        for o in m.outputs {
            if case .value(let neuron, let spec) = o {
                var y = units[neuron]
                if let s = spec { y = h.r(denormalize(y, s)) }
                return Prediction(status: 1, value: y)
            }
        }
        return .missing
    }

    @inline(__always) private func activate(_ a: Activation, _ z: Double, _ threshold: Double) -> Double {
        switch a {
        case .threshold: return z > threshold ? 1 : 0
        case .logistic: return 1 / (1 + Foundation.exp(-z))
        case .tanh: return Foundation.tanh(z)
        case .identity: return z
        case .exponential: return Foundation.exp(z)
        case .reciprocal: return 1 / z
        case .square: return z * z
        case .gauss: return Foundation.exp(-(z * z))
        case .sine: return Foundation.sin(z)
        case .cosine: return Foundation.cos(z)
        case .elliott: return z / (1 + Swift.abs(z))
        case .arctan: return 2 * Foundation.atan(z) / Double.pi
        case .rectifier: return Swift.max(0, z)
        case .radialBasis: return z
        }
    }

    /// Inverts a piecewise-linear NormContinuous (norm → orig).
    private func denormalize(_ y: Double, _ s: NormContinuousSpec) -> Double {
        let n = s.norm.count
        var i = 0
        while i < n - 2 && !(y >= Swift.min(s.norm[i], s.norm[i + 1]) && y <= Swift.max(s.norm[i], s.norm[i + 1])) {
            i += 1
        }
        let a0 = s.orig[i], a1 = s.orig[i + 1], b0 = s.norm[i], b1 = s.norm[i + 1]
        return a0 + (y - b0) / (b1 - b0) * (a1 - a0)
    }

    // MARK: Naive Bayes

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
