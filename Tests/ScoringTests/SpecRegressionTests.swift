import Foundation
import Testing
@testable import Scoring

/// RegressionModel features not covered by the shared models. Expected values are worked out from the
/// PMML 4.4 formulas by hand (arithmetic in comments; checked with python3, not with this evaluator).
@Suite("Spec: RegressionModel")
struct SpecRegressionTests {
    static let regression = """
    <DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="c" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>
      <DataField name="y" optype="continuous" dataType="double"/>
    </DataDictionary>
    <RegressionModel functionName="regression" normalizationMethod="exp">
      <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/><MiningField name="c"/></MiningSchema>
      <Targets><Target field="y" rescaleFactor="2" rescaleConstant="1"/></Targets>
      <RegressionTable intercept="0.5">
        <NumericPredictor name="x" exponent="2" coefficient="0.1"/>
        <CategoricalPredictor name="c" value="b" coefficient="-0.3"/>
        <PredictorTerm coefficient="0.05"><FieldRef field="x"/><FieldRef field="x"/></PredictorTerm>
      </RegressionTable>
    </RegressionModel>
    """

    @Test func numericExponentCategoricalTermExpAndTargets() throws {
        let m = try Fixture.model(Self.regression)
        #expect(m.targetCategory == nil)
        #expect(!m.isClassification)
        // y = 0.1·2² + (−0.3) + 0.05·2·2 + 0.5 = 0.8; exp(0.8) = 2.225540928492468; ·2 + 1 = 5.451081856984936
        #expect(abs(try m.score(["x": .number(2), "c": .string("b")]) - 5.451081856984936) < 1e-12)
        // c = a: y = 0.4 + 0.2 + 0.5 = 1.1; exp(1.1)·2 + 1 = 7.008332047892867 (python3: math.exp(1.1)*2+1)
        #expect(abs(try m.score(["x": .number(2), "c": .string("a")]) - 7.008332047892867) < 1e-12)
        // A missing categorical value is ignored (spec): same as c = a.
        #expect(abs(try m.score(["x": .number(2)]) - 7.008332047892867) < 1e-12)
        // A missing numeric value makes the model result missing → no prediction.
        #expect(throws: ScoringError.self) { try m.score(["c": .string("a")]) }
    }

    static func binary(_ method: String) -> String {
        """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="t" optype="categorical" dataType="string"><Value value="yes"/><Value value="no"/></DataField>
        </DataDictionary>
        <RegressionModel functionName="classification" normalizationMethod="\(method)">
          <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Output><OutputField name="p" optype="continuous" dataType="double" feature="probability" value="yes"/></Output>
          <RegressionTable intercept="0.3" targetCategory="yes"><NumericPredictor name="x" coefficient="0.2"/></RegressionTable>
          <RegressionTable intercept="0" targetCategory="no"/>
        </RegressionModel>
        """
    }

    // y = 0.3 + 0.2·1 = 0.5
    @Test(arguments: [
        ("logit", 0.6224593312018546),    // 1/(1+e^−0.5)
        ("probit", 0.6914624612740131),   // Φ(0.5)
        ("cloglog", 0.807704354452035),   // 1 − exp(−exp(0.5))
        ("loglog", 0.545239211892605),    // exp(−exp(−0.5))
        ("cauchit", 0.6475836176504333),  // 0.5 + atan(0.5)/π
        ("softmax", 0.6224593312018546),  // two tables, second all-zero: same as logit
        ("none", 0.5),                    // y itself, clipped to [0, 1]
    ])
    func binaryLinks(method: String, expected: Double) throws {
        let m = try Fixture.model(Self.binary(method))
        #expect(m.targetCategory == "yes")
        #expect(abs(try m.score(["x": .number(1)]) - expected) < 1e-12)
    }

    @Test func noneClipsToUnitInterval() throws {
        let m = try Fixture.model(Self.binary("none"))
        // y = 0.3 + 0.2·5 = 1.3 → clipped to 1
        #expect(try m.score(["x": .number(5)]) == 1)
    }

    static func multi(_ method: String, cIntercept: String) -> String {
        """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="t" optype="categorical" dataType="string"><Value value="A"/><Value value="B"/><Value value="C"/></DataField>
        </DataDictionary>
        <RegressionModel functionName="classification" normalizationMethod="\(method)">
          <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Output><OutputField name="pB" feature="probability" value="B"/></Output>
          <RegressionTable intercept="1" targetCategory="A"><NumericPredictor name="x" coefficient="0.5"/></RegressionTable>
          <RegressionTable intercept="-0.5" targetCategory="B"><NumericPredictor name="x" coefficient="1.0"/></RegressionTable>
          <RegressionTable intercept="\(cIntercept)" targetCategory="C"/>
        </RegressionModel>
        """
    }

    @Test func softmaxMulticlass() throws {
        let m = try Fixture.model(Self.multi("softmax", cIntercept: "0"))
        #expect(m.targetCategory == "B")
        // yA = 1.5, yB = 0.5, yC = 0: e^0.5 / (e^1.5 + e^0.5 + 1) = 0.2312238976221491
        #expect(abs(try m.score(["x": .number(1)]) - 0.2312238976221491) < 1e-12)
    }

    @Test func simplemaxMulticlass() throws {
        let m = try Fixture.model(Self.multi("simplemax", cIntercept: "0.5"))
        // yA = 1.5, yB = 0.5, yC = 0.5: 0.5 / 2.5 = 0.2
        #expect(abs(try m.score(["x": .number(1)]) - 0.2) < 1e-12)
    }

    @Test func lastCategoryIsDefaultTarget() throws {
        let doc = Self.multi("softmax", cIntercept: "0").replacingOccurrences(
            of: #"<Output><OutputField name="pB" feature="probability" value="B"/></Output>"#, with: "")
        let m = try Fixture.model(doc)
        #expect(m.targetCategory == "C")
        // 1 / (e^1.5 + e^0.5 + 1) = 0.14024438316608848
        #expect(abs(try m.score(["x": .number(1)]) - 0.14024438316608848) < 1e-12)
    }

    @Test func unknownNormalizationFailsLoad() {
        let e = Fixture.loadError(Self.binary("tanh"))
        #expect(e?.element == "RegressionModel")
        #expect(e?.message.contains("normalizationMethod") == true)
        #expect(e?.line != nil)
    }
}
