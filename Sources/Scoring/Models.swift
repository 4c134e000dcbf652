import Foundation

/// A model's function (what its prediction is).
enum ModelFunction: Sendable {
    case regression
    case classification
}

/// `Targets/Target` post-processing and defaults for one model.
struct TargetSpec: Sendable {
    /// `Target min`.
    var min: Double?
    /// `Target max`.
    var max: Double?
    /// `rescaleFactor`.
    var rescaleFactor: Double = 1
    /// `rescaleConstant`.
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
    /// The value slot.
    let slot: Int
    /// What the output computes.
    let kind: OutputKind
    /// The data type.
    let type: PMMLDataType
}

/// Data shared by every compiled model element.
final class ModelHeader: Sendable {
    /// The defining element (for error messages).
    let element: String
    /// The 1-based line of the element.
    let line: Int
    /// Classification or regression.
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
    /// The slot receiving the indicator.
    let target: TargetSpec?
    /// Data type of the target.
    let targetType: PMMLDataType
    /// Output fields written after the prediction.
    let outputs: [OutputSpec]
    /// Output fields flattened for the hot path: slot, kind (0 predicted, 1 probability, 2 expression),
    /// probability index, type.
    let outputSlots: Flat<Int>
    /// Kind per output (hot path).
    let outputKinds: Flat<UInt8>
    /// Probability category per output.
    let outputIndex: Flat<Int>
    /// Whether the output rounds to float.
    let outputFloat: Flat<Bool>
    /// Fast flags.
    let hasPrepare: Bool
    /// Whether any output is written.
    let hasOutputs: Bool
    /// Whether Targets or a float cast apply.
    let postProcess: Bool

    /// Creates the value.
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

    /// Rounds to float under float math.
    @inline(__always) func r(_ x: Double) -> Double { floatMath ? f32(x) : x }
}

/// A model's result for one row.
struct Prediction {
    /// 0 missing, 1 value (regression), 2 classification (probabilities in the model's scratch).
    var status: UInt8
    /// The regression value, or the predicted category index for classification.
    var value: Double

    /// Values that mean missing, as written.
    static let missing = Prediction(status: 0, value: .nan)
}

/// A compiled model element (base class; one final subclass per PMML model type).
///
/// `@unchecked Sendable`: every subclass is final, holds only `let` properties and is never mutated after
/// compilation. A class (rather than an enum) lets the evaluator dispatch through the vtable without
/// retaining payloads per row.
class ModelNode: @unchecked Sendable {
    /// Data shared by every model element.
    let header: ModelHeader

    /// Creates the value.
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

// MARK: - TreeModel

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

// MARK: - MiningModel

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

// MARK: - NeuralNetwork

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
