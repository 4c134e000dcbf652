import Foundation
import Testing
@testable import Scoring

/// NeuralNetwork and NaiveBayesModel (expected values by hand from the spec formulas; python3 used as a
/// calculator for exp/tanh).
@Suite("Spec: NeuralNetwork and NaiveBayes")
struct SpecOtherModelsTests {
    static let classifier = """
    <DataDictionary>
      <DataField name="x1" optype="continuous" dataType="double"/>
      <DataField name="x2" optype="continuous" dataType="double"/>
      <DataField name="t" optype="categorical" dataType="string"><Value value="no"/><Value value="yes"/></DataField>
    </DataDictionary>
    <NeuralNetwork functionName="classification" activationFunction="logistic">
      <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
      <NeuralInputs>
        <NeuralInput id="i1"><DerivedField optype="continuous" dataType="double">
          <NormContinuous field="x1"><LinearNorm orig="0" norm="0"/><LinearNorm orig="10" norm="1"/></NormContinuous>
        </DerivedField></NeuralInput>
        <NeuralInput id="i2"><DerivedField optype="continuous" dataType="double"><FieldRef field="x2"/></DerivedField></NeuralInput>
      </NeuralInputs>
      <NeuralLayer>
        <Neuron id="h1" bias="0.5"><Con from="i1" weight="1.0"/><Con from="i2" weight="-0.5"/></Neuron>
        <Neuron id="h2" bias="-0.3"><Con from="i1" weight="0.8"/><Con from="i2" weight="0.2"/></Neuron>
      </NeuralLayer>
      <NeuralLayer activationFunction="identity" normalizationMethod="softmax">
        <Neuron id="o1" bias="0.1"><Con from="h1" weight="1.2"/><Con from="h2" weight="-0.7"/></Neuron>
        <Neuron id="o2" bias="-0.2"><Con from="h1" weight="-0.4"/><Con from="h2" weight="0.9"/></Neuron>
      </NeuralLayer>
      <NeuralOutputs>
        <NeuralOutput outputNeuron="o1"><DerivedField optype="categorical" dataType="string"><NormDiscrete field="t" value="no"/></DerivedField></NeuralOutput>
        <NeuralOutput outputNeuron="o2"><DerivedField optype="categorical" dataType="string"><NormDiscrete field="t" value="yes"/></DerivedField></NeuralOutput>
      </NeuralOutputs>
    </NeuralNetwork>
    """

    @Test func neuralClassifier() throws {
        let m = try Fixture.model(Self.classifier)
        #expect(m.targetCategory == "yes")
        // i1 = 0.4, i2 = 1; h1 = σ(0.4 − 0.5 + 0.5) = σ(0.4); h2 = σ(0.32 + 0.2 − 0.3) = σ(0.22)
        // o1 = 0.1 + 1.2·h1 − 0.7·h2; o2 = −0.2 − 0.4·h1 + 0.9·h2; softmax → P(yes) = 0.4084797732809392
        #expect(abs(try m.score(["x1": .number(4), "x2": .number(1)]) - 0.4084797732809392) < 1e-12)
    }

    static func regressor(_ activation: String, _ extra: String = "") -> String {
        """
        <DataDictionary>
          <DataField name="a" optype="continuous" dataType="double"/>
          <DataField name="b" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <NeuralNetwork functionName="regression" activationFunction="identity" \(extra)>
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <NeuralInputs>
            <NeuralInput id="a"><DerivedField optype="continuous" dataType="double"><FieldRef field="a"/></DerivedField></NeuralInput>
            <NeuralInput id="b"><DerivedField optype="continuous" dataType="double"><FieldRef field="b"/></DerivedField></NeuralInput>
          </NeuralInputs>
          <NeuralLayer activationFunction="\(activation)">
            <Neuron id="h1" bias="0.1"><Con from="a" weight="0.5"/><Con from="b" weight="0.25"/></Neuron>
            <Neuron id="h2"><Con from="a" weight="-0.3"/><Con from="b" weight="0.6"/></Neuron>
          </NeuralLayer>
          <NeuralLayer>
            <Neuron id="o" bias="0.05"><Con from="h1" weight="0.7"/><Con from="h2" weight="0.4"/></Neuron>
          </NeuralLayer>
          <NeuralOutputs>
            <NeuralOutput outputNeuron="o"><DerivedField optype="continuous" dataType="double">
              <NormContinuous field="y"><LinearNorm orig="0" norm="0"/><LinearNorm orig="100" norm="1"/></NormContinuous>
            </DerivedField></NeuralOutput>
          </NeuralOutputs>
        </NeuralNetwork>
        """
    }

    @Test func neuralRegressionElliottDenormalized() throws {
        let m = try Fixture.model(Self.regressor("Elliott"))
        // h1 = E(1 − 0.25 + 0.1 = 0.85) = 0.85/1.85; h2 = E(−0.6 − 0.6 = −1.2) = −1.2/2.2
        // o = 0.7·h1 + 0.4·h2 + 0.05 = 0.1534398034398034; y = 100·o = 15.34398034398034
        #expect(abs(try m.score(["a": .number(2), "b": .number(-1)]) - 15.34398034398034) < 1e-12)
    }

    @Test func neuralRadialBasis() throws {
        // One RBF neuron centred at (1, 0), width 2: exp(−((2−1)² + (−1−0)²) / (2·2²)) = exp(−0.25) = 0.7788007830714049
        let doc = """
        <DataDictionary>
          <DataField name="a" optype="continuous" dataType="double"/>
          <DataField name="b" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <NeuralNetwork functionName="regression" activationFunction="radialBasis" width="2">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <NeuralInputs>
            <NeuralInput id="a"><DerivedField optype="continuous" dataType="double"><FieldRef field="a"/></DerivedField></NeuralInput>
            <NeuralInput id="b"><DerivedField optype="continuous" dataType="double"><FieldRef field="b"/></DerivedField></NeuralInput>
          </NeuralInputs>
          <NeuralLayer><Neuron id="r"><Con from="a" weight="1"/><Con from="b" weight="0"/></Neuron></NeuralLayer>
          <NeuralOutputs><NeuralOutput outputNeuron="r"><DerivedField optype="continuous" dataType="double"><FieldRef field="y"/></DerivedField></NeuralOutput></NeuralOutputs>
        </NeuralNetwork>
        """
        let m = try Fixture.model(doc)
        #expect(abs(try m.score(["a": .number(2), "b": .number(-1)]) - 0.7788007830714049) < 1e-12)
    }

    @Test func unknownActivationFailsLoad() {
        let e = Fixture.loadError(Self.regressor("softplus"))
        #expect(e?.element == "NeuralLayer")
        #expect(e?.message.contains("softplus") == true)
    }

    static let bayes = """
    <DataDictionary>
      <DataField name="gender" optype="categorical" dataType="string"><Value value="male"/><Value value="female"/></DataField>
      <DataField name="height" optype="continuous" dataType="double"/>
      <DataField name="weightKg" optype="continuous" dataType="double"/>
      <DataField name="cls" optype="categorical" dataType="string"><Value value="A"/><Value value="B"/></DataField>
    </DataDictionary>
    <NaiveBayesModel functionName="classification" threshold="0.001">
      <MiningSchema>
        <MiningField name="cls" usageType="target"/>
        <MiningField name="gender"/><MiningField name="height"/><MiningField name="weightKg"/>
      </MiningSchema>
      <BayesInputs>
        <BayesInput fieldName="gender">
          <PairCounts value="male"><TargetValueCounts><TargetValueCount value="A" count="30"/><TargetValueCount value="B" count="10"/></TargetValueCounts></PairCounts>
          <PairCounts value="female"><TargetValueCounts><TargetValueCount value="A" count="20"/><TargetValueCount value="B" count="0"/></TargetValueCounts></PairCounts>
        </BayesInput>
        <BayesInput fieldName="height">
          <TargetValueStats>
            <TargetValueStat value="A"><GaussianDistribution mean="170" variance="25"/></TargetValueStat>
            <TargetValueStat value="B"><GaussianDistribution mean="160" variance="16"/></TargetValueStat>
          </TargetValueStats>
        </BayesInput>
        <BayesInput fieldName="weightKg">
          <DerivedField name="wbin" optype="categorical" dataType="string">
            <Discretize field="weightKg">
              <DiscretizeBin binValue="light"><Interval closure="openOpen" rightMargin="60"/></DiscretizeBin>
              <DiscretizeBin binValue="heavy"><Interval closure="closedOpen" leftMargin="60"/></DiscretizeBin>
            </Discretize>
          </DerivedField>
          <PairCounts value="light"><TargetValueCounts><TargetValueCount value="A" count="10"/><TargetValueCount value="B" count="8"/></TargetValueCounts></PairCounts>
          <PairCounts value="heavy"><TargetValueCounts><TargetValueCount value="A" count="40"/><TargetValueCount value="B" count="2"/></TargetValueCounts></PairCounts>
        </BayesInput>
      </BayesInputs>
      <BayesOutput fieldName="cls">
        <TargetValueCounts><TargetValueCount value="A" count="50"/><TargetValueCount value="B" count="10"/></TargetValueCounts>
      </BayesOutput>
    </NaiveBayesModel>
    """

    @Test func naiveBayes() throws {
        let m = try Fixture.model(Self.bayes)
        #expect(m.targetCategory == "B")
        // L_A = 50 · (20/50) · N(165; 170, 25) · (40/50); L_B = 10 · 0.001 (zero count → threshold) · N(165; 160, 16) · (2/10)
        // P(B) = L_B / (L_A + L_B) = 0.00011792977873777547
        #expect(abs(try m.score(["gender": .string("female"), "height": .number(165), "weightKg": .number(70)]) - 0.00011792977873777547) < 1e-12)
        // gender missing (ignored); L_A = 50 · N(158; 170, 25) · 10/50, L_B = 10 · N(158; 160, 16) · 8/10 → 0.9401951107103428
        #expect(abs(try m.score(["height": .number(158), "weightKg": .number(50)]) - 0.9401951107103428) < 1e-12)
    }
}
