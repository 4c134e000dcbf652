import Foundation
import Testing
@testable import Scoring

/// DataDictionary validity, MiningSchema treatments, Targets priors/defaults, load errors, verification.
@Suite("Spec: data handling, errors, verification")
struct SpecDataTests {
    static func treatments(_ nTreatment: String) -> String {
        """
        <DataDictionary>
          <DataField name="n" optype="continuous" dataType="double"><Interval closure="closedClosed" leftMargin="0" rightMargin="10"/></DataField>
          <DataField name="k" optype="categorical" dataType="string"><Value value="u"/><Value value="v"/><Value value="?" property="missing"/></DataField>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <RegressionModel functionName="regression">
          <MiningSchema>
            <MiningField name="y" usageType="target"/>
            <MiningField name="n" \(nTreatment) missingValueReplacement="5"/>
            <MiningField name="k" missingValueReplacement="v"/>
          </MiningSchema>
          <RegressionTable intercept="1"><NumericPredictor name="n" coefficient="2"/><CategoricalPredictor name="k" value="v" coefficient="100"/></RegressionTable>
        </RegressionModel>
        """
    }

    @Test func validityAndTreatments() throws {
        let m = try Fixture.model(Self.treatments(#"invalidValueTreatment="asMissing""#))
        #expect(m.inputFields.map(\.name) == ["n", "k"])
        #expect(m.inputFields[1].allowedValues == ["u", "v"])
        // 1 + 2·3 = 7
        #expect(try m.score(["n": .number(3), "k": .string("u")]) == 7)
        // n = 20 outside [0, 10] → invalid → asMissing → replacement 5; k "?" is a missing value → "v"
        // 1 + 2·5 + 100 = 111
        #expect(try m.score(["n": .number(20), "k": .string("?")]) == 111)
        // n not a number → invalid → asMissing → 5; k missing → v → 111
        #expect(try m.score(["n": .string("abc")]) == 111)
        // k = "w" is not a valid value, default invalidValueTreatment returnInvalid → error naming k
        do {
            _ = try m.score(["n": .number(1), "k": .string("w")])
            Issue.record("expected an error")
        } catch let e as ScoringError {
            #expect(e.kind == .invalidValue)
            #expect(e.field == "k")
        }
    }

    @Test func invalidAsIs() throws {
        let m = try Fixture.model(Self.treatments(#"invalidValueTreatment="asIs""#))
        // n = 20 kept as is: 1 + 40 + 0 = 41 (k = u)
        #expect(try m.score(["n": .number(20), "k": .string("u")]) == 41)
    }

    @Test func returnInvalidForNumbers() throws {
        let m = try Fixture.model(Self.treatments(""))
        #expect(throws: ScoringError.self) { try m.score(["n": .number(20), "k": .string("u")]) }
    }

    @Test func classificationPriorsWhenNoPrediction() throws {
        let doc = """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="t" optype="categorical" dataType="string"><Value value="n"/><Value value="y"/></DataField>
        </DataDictionary>
        <RegressionModel functionName="classification" normalizationMethod="logit">
          <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Targets><Target field="t"><TargetValue value="n" priorProbability="0.7"/><TargetValue value="y" priorProbability="0.3"/></Target></Targets>
          <RegressionTable intercept="0" targetCategory="y"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
          <RegressionTable intercept="0" targetCategory="n"/>
        </RegressionModel>
        """
        let m = try Fixture.model(doc)
        // x missing → the table cannot be evaluated → prior probabilities: P(y) = 0.3
        #expect(try m.score([:]) == 0.3)
        // x = 0 → σ(0) = 0.5
        #expect(try m.score(["x": .number(0)]) == 0.5)
    }

    @Test func unsupportedModelNamesElementAndLine() {
        let doc = """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
        </DataDictionary>
        <SupportVectorMachineModel functionName="regression">
          <MiningSchema><MiningField name="x"/></MiningSchema>
        </SupportVectorMachineModel>
        """
        let e = Fixture.loadError(doc, name: "svm.pmml")
        #expect(e?.element == "SupportVectorMachineModel")
        #expect(e?.line == 7)  // line 7 of the document: <?xml>, <PMML>, <Header/>, 3 lines of DataDictionary, then the model
        #expect(e?.file == "svm.pmml")
        #expect(e?.description.contains("svm.pmml:7: <SupportVectorMachineModel>") == true)
    }

    @Test func unsupportedNestedModelNamesIt() {
        let doc = """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <MiningModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Segmentation multipleModelMethod="sum">
            <Segment><True/><Scorecard functionName="regression"/></Segment>
          </Segmentation>
        </MiningModel>
        """
        let e = Fixture.loadError(doc)
        #expect(e?.element == "Scorecard")
        #expect(e?.line == 11)
    }

    @Test func malformedXMLNamesFile() {
        do {
            _ = try CompiledModel(pmml: Data("<PMML><DataDictionary></PMML>".utf8), name: "broken.pmml")
            Issue.record("expected an error")
        } catch let e as PMMLError {
            #expect(e.file == "broken.pmml")
            #expect(e.description.hasPrefix("broken.pmml"))
            #expect(e.message.contains("malformed XML"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func missingFileNamesPath() {
        do {
            _ = try CompiledModel.load(contentsOf: URL(fileURLWithPath: "/nonexistent/model.pmml"))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("/nonexistent/model.pmml"))
        }
    }

    static func verified(_ expected: String) -> String {
        """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="t" optype="categorical" dataType="string"><Value value="yes"/><Value value="no"/></DataField>
        </DataDictionary>
        <RegressionModel functionName="classification" normalizationMethod="probit">
          <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Output><OutputField name="p_yes" optype="continuous" dataType="double" feature="probability" value="yes"/></Output>
          <ModelVerification recordCount="2">
            <VerificationFields>
              <VerificationField field="x" column="data:x"/>
              <VerificationField field="p_yes" column="data:p" precision="1E-9"/>
            </VerificationFields>
            <InlineTable>
              <row><data:x>1</data:x><data:p>\(expected)</data:p></row>
              <row><data:x>-1.5</data:x><data:p>0.5</data:p></row>
            </InlineTable>
          </ModelVerification>
          <RegressionTable intercept="0.3" targetCategory="yes"><NumericPredictor name="x" coefficient="0.2"/></RegressionTable>
          <RegressionTable intercept="0" targetCategory="no"/>
        </RegressionModel>
        """
    }

    @Test func modelVerificationPasses() throws {
        // Φ(0.5) = 0.6914624612740131; Φ(0.3 − 0.3) = 0.5
        let m = try Fixture.model(Self.verified("0.6914624612740131"))
        try m.verify()
    }

    @Test func modelVerificationFailureFailsLoad() {
        let e = Fixture.loadError(Self.verified("0.7"))
        #expect(e?.element == "row")
        #expect(e?.message.contains("p_yes") == true)
    }

    @Test func rowFromAnotherModelIsRejected() throws {
        let a = try Fixture.model(Self.treatments(""))
        let b = try Fixture.model(Self.treatments(""))
        let row = a.makeRow(["n": .number(1), "k": .string("u")])
        #expect(throws: ScoringError.self) { try b.score(row) }
    }
}
