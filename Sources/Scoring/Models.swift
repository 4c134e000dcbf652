import Foundation

/// A model's function (what its prediction is).
enum ModelFunction: Sendable {
    case regression
    case classification
}

/// `Targets/Target` post-processing and defaults for one model.
struct TargetSpec: Sendable {
    var min: Double?
    var max: Double?
    var rescaleFactor: Double = 1
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
    let slot: Int
    let kind: OutputKind
    let type: PMMLDataType
}

/// Data shared by every compiled model element.
final class ModelHeader: Sendable {
    let element: String
    let line: Int
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
    let target: TargetSpec?
    let targetType: PMMLDataType
    let outputs: [OutputSpec]
    /// Output fields flattened for the hot path: slot, kind (0 predicted, 1 probability, 2 expression),
    /// probability index, type.
    let outputSlots: Flat<Int>
    let outputKinds: Flat<UInt8>
    let outputIndex: Flat<Int>
    let outputFloat: Flat<Bool>
    /// Fast flags.
    let hasPrepare: Bool
    let hasOutputs: Bool
    let postProcess: Bool

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

    @inline(__always) func r(_ x: Double) -> Double { floatMath ? f32(x) : x }
}

/// A model's result for one row.
struct Prediction {
    /// 0 missing, 1 value (regression), 2 classification (probabilities in the model's scratch).
    var status: UInt8
    /// The regression value, or the predicted category index for classification.
    var value: Double

    static let missing = Prediction(status: 0, value: .nan)
}

/// A compiled model element (base class; one final subclass per PMML model type).
///
/// `@unchecked Sendable`: every subclass is final, holds only `let` properties and is never mutated after
/// compilation. A class (rather than an enum) lets the evaluator dispatch through the vtable without
/// retaining payloads per row.
class ModelNode: @unchecked Sendable {
    let header: ModelHeader

    init(header: ModelHeader) { self.header = header }

    /// Computes the raw prediction (before Targets and outputs).
    func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { .missing }
}

// MARK: - RegressionModel

/// `normalizationMethod` of RegressionModel / NeuralNetwork.
enum NormalizationMethod: Sendable {
    case none, simplemax, softmax, logit, probit, cloglog, exp, loglog, cauchit
}

/// One compiled `RegressionTable`.
final class RegressionTableC: Sendable {
    let numericSlots: Flat<Int>
    let numericCoefficients: Flat<Double>
    let numericExponents: Flat<Int>
    let categoricalSlots: Flat<Int>
    let categoricalValues: Flat<Double>
    let categoricalCoefficients: Flat<Double>
    let termSlots: [[Int]]
    let termCoefficients: [Double]
    let intercept: Double
    /// Category index (classification).
    let category: Int
    /// No predictors and a zero intercept.
    let isDefault: Bool

    init(numericSlots: [Int], numericCoefficients: [Double], numericExponents: [Int], categoricalSlots: [Int],
         categoricalValues: [Double], categoricalCoefficients: [Double], termSlots: [[Int]], termCoefficients: [Double],
         intercept: Double, category: Int, isDefault: Bool) {
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
    }
}

/// A compiled `RegressionModel`.
final class RegressionModelC: ModelNode, @unchecked Sendable {
    let tables: [RegressionTableC]
    /// The tables again, for pointer access in the hot path.
    let tableList: Flat<RegressionTableC>
    let normalization: NormalizationMethod
    let ordinal: Bool

    init(header: ModelHeader, tables: [RegressionTableC], normalization: NormalizationMethod, ordinal: Bool) {
        self.tables = tables
        self.tableList = Flat(tables)
        self.normalization = normalization
        self.ordinal = ordinal
        super.init(header: header)
    }

    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateRegression(self) }
}

// MARK: - TreeModel

/// One binary decision of a compiled tree. Targets ≥ 0 are node indices; negative targets are `~leafIndex`.
struct TestNode: Sendable {
    var value: Double
    var slot: Int32
    /// 0…5 comparisons (see `compareOp`), 6 isMissing, 7 isNotMissing, 8 general predicate (`value` = index).
    var op: UInt8
    var onTrue: Int32
    var onFalse: Int32
    var onUnknown: Int32
}

/// A compiled `TreeModel`: PMML's ordered-children semantics lowered to binary tests.
final class TreeModelC: ModelNode, @unchecked Sendable {
    let nodes: [TestNode]
    let root: Int32
    let predicates: [Pred]
    /// Per leaf: 0 null prediction, 1 prediction.
    let leafKind: [UInt8]
    /// Per leaf: the score (regression) or the predicted category index (classification).
    let leafValue: [Double]
    /// Per leaf: `categoryCount` probabilities (classification).
    let leafProbabilities: [Double]
    let categoryCount: Int
    /// Whether every test is a plain comparison (no general predicates).
    let simple: Bool

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

    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateTree(self) }
}

// MARK: - MiningModel

/// `multipleModelMethod`.
enum MultipleModelMethod: String, Sendable {
    case majorityVote, weightedMajorityVote, average, weightedAverage, median, weightedMedian, max, sum,
         weightedSum, selectFirst, modelChain
}

/// One compiled `Segment`.
struct SegmentC: Sendable {
    let predicate: Pred
    let weight: Double
    let model: ModelNode
    /// Maps the segment model's category indices to the parent's.
    let categoryMap: [Int]
}

/// A compiled `MiningModel` with `Segmentation`.
final class MiningModelC: ModelNode, @unchecked Sendable {
    let method: MultipleModelMethod
    let segments: [SegmentC]
    /// 0 continue, 1 skipSegment, 2 returnMissing.
    let missingTreatment: UInt8
    let missingThreshold: Double
    /// Segment models and whether their predicate is the constant `True` (hot-path copies of `segments`).
    let models: Flat<ModelNode>
    let alwaysSelected: Flat<Bool>

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

    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateMining(self) }
}

// MARK: - NeuralNetwork

/// `activationFunction`.
enum Activation: Sendable {
    case threshold, logistic, tanh, identity, exponential, reciprocal, square, gauss, sine, cosine, elliott,
         arctan, rectifier, radialBasis
}

/// One compiled `Neuron`.
struct NeuronC: Sendable {
    let bias: Double
    let width: Double
    let sources: [Int]
    let weights: [Double]
}

/// One compiled `NeuralLayer`.
struct LayerC: Sendable {
    let activation: Activation
    let threshold: Double
    let altitude: Double
    let normalization: NormalizationMethod
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
    let inputs: [Expr]
    let layers: [LayerC]
    let outputs: [NeuralOutputC]
    let unitCount: Int

    init(header: ModelHeader, inputs: [Expr], layers: [LayerC], outputs: [NeuralOutputC], unitCount: Int) {
        self.inputs = inputs
        self.layers = layers
        self.outputs = outputs
        self.unitCount = unitCount
        super.init(header: header)
    }

    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateNeural(self) }
}

// MARK: - NaiveBayesModel

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
    let priorCounts: [Double]
    let inputs: [BayesInputC]
    let threshold: Double

    init(header: ModelHeader, priorCounts: [Double], inputs: [BayesInputC], threshold: Double) {
        self.priorCounts = priorCounts
        self.inputs = inputs
        self.threshold = threshold
        super.init(header: header)
    }

    override func body(_ ctx: RowContext) throws(ScoringError) -> Prediction { try ctx.evaluateNaiveBayes(self) }
}
