import Foundation

// MARK: - Compiled NeuralNetwork

/// `activationFunction`.
enum Activation: Sendable {
    case threshold, logistic, tanh, identity, exponential, reciprocal, square, gauss, sine, cosine, elliott,
         arctan, rectifier, radialBasis
}

/// One compiled `Neuron`.
struct NeuronC: Sendable {
    /// The neuron bias.
    let bias: Double
    /// The radial-basis width.
    let width: Double
    /// Input unit indices.
    let sources: [Int]
    /// Segment weights (0 for padding).
    let weights: [Double]
}

/// One compiled `NeuralLayer`.
struct LayerC: Sendable {
    /// The activation function.
    let activation: Activation
    /// The threshold.
    let threshold: Double
    /// The radial-basis altitude.
    let altitude: Double
    /// `normalizationMethod`.
    let normalization: NormalizationMethod
    /// The neurons.
    let neurons: [NeuronC]
    /// Index of the first neuron's output in the activation vector.
    let firstIndex: Int
}

/// How a `NeuralOutput` maps a neuron to the target.
enum NeuralOutputC: Sendable {
    /// Classification: probability of category index from neuron.
    case category(neuron: Int, category: Int)
    /// Regression: the neuron's value, optionally de-normalised through a NormContinuous.
    case value(neuron: Int, denormalize: NormContinuousSpec?)
}

/// A compiled `NeuralNetwork`.
final class NeuralNetworkC: ModelNode, @unchecked Sendable {
    /// Input specifications, in input-slot order.
    let inputs: [Expr]
    /// The layers.
    let layers: [LayerC]
    /// Output fields written after the prediction.
    let outputs: [NeuralOutputC]
    /// Number of units (inputs plus neurons).
    let unitCount: Int

    /// Creates the value.
    init(header: ModelHeader, inputs: [Expr], layers: [LayerC], outputs: [NeuralOutputC], unitCount: Int) {
        self.inputs = inputs
        self.layers = layers
        self.outputs = outputs
        self.unitCount = unitCount
        super.init(header: header)
    }

    /// Scores this model with the general evaluator.
    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateNeural(self) }
}

// MARK: - Compiling a NeuralNetwork

extension Compiler {
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
}

// MARK: - Evaluating a NeuralNetwork

extension RowContext {
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
}
