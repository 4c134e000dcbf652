import Foundation
import Testing
@testable import Scoring

/// MiningModel / Segmentation methods (expected values derived by hand from the spec).
@Suite("Spec: MiningModel")
struct SpecMiningTests {
    static func leaf(_ a: String, _ b: String, score: String) -> String {
        """
        <TreeModel functionName="classification">
          <MiningSchema><MiningField name="x"/></MiningSchema>
          <Node score="\(score)"><True/>
            <ScoreDistribution value="a" recordCount="\(a)"/><ScoreDistribution value="b" recordCount="\(b)"/>
          </Node>
        </TreeModel>
        """
    }

    /// Three segments: (a 0.8, b 0.2, weight 1), (0.3, 0.7, weight 2), (0.4, 0.6, weight 3, only when x > 0).
    static func classification(_ method: String) -> String {
        """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="t" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>
        </DataDictionary>
        <MiningModel functionName="classification">
          <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Segmentation multipleModelMethod="\(method)">
            <Segment id="1" weight="1"><True/>\(leaf("0.8", "0.2", score: "a"))</Segment>
            <Segment id="2" weight="2"><True/>\(leaf("0.3", "0.7", score: "b"))</Segment>
            <Segment id="3" weight="3"><SimplePredicate field="x" operator="greaterThan" value="0"/>\(leaf("0.4", "0.6", score: "b"))</Segment>
          </Segmentation>
        </MiningModel>
        """
    }

    @Test(arguments: [
        ("average", 0.5),                              // (0.2 + 0.7 + 0.6) / 3
        ("weightedAverage", 0.5666666666666667),       // (0.2·1 + 0.7·2 + 0.6·3) / 6 = 3.4 / 6
        ("majorityVote", 0.6666666666666666),          // votes a 1, b 2 → 2/3
        ("weightedMajorityVote", 0.8333333333333334),  // a 1, b 2 + 3 = 5 → 5/6
        ("max", 0.2),                                  // max P(a) 0.8 beats max P(b) 0.7 → segment 1's distribution
        ("median", 0.6),                               // median P(b) 0.6 beats median P(a) 0.4 → segment 3
    ])
    func classificationMethods(method: String, expected: Double) throws {
        let m = try Fixture.model(Self.classification(method))
        #expect(m.targetCategory == "b")
        #expect(abs(try m.score(["x": .number(1)]) - expected) < 1e-12)
    }

    @Test func segmentPredicatesSelect() throws {
        let m = try Fixture.model(Self.classification("average"))
        // x = −1: segment 3 not selected → (0.2 + 0.7) / 2 = 0.45
        #expect(abs(try m.score(["x": .number(-1)]) - 0.45) < 1e-12)
        // x missing: segment 3's predicate is unknown → not selected → 0.45
        #expect(abs(try m.score([:]) - 0.45) < 1e-12)
    }

    static func value(_ v: String) -> String {
        """
        <TreeModel functionName="regression">
          <MiningSchema><MiningField name="x"/></MiningSchema>
          <Node score="\(v)"><True/></Node>
        </TreeModel>
        """
    }

    static func regression(_ method: String) -> String {
        """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <MiningModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Segmentation multipleModelMethod="\(method)">
            <Segment weight="1"><SimplePredicate field="x" operator="greaterThan" value="5"/>\(value("1"))</Segment>
            <Segment weight="2"><True/>\(value("4"))</Segment>
            <Segment weight="3"><True/>\(value("10"))</Segment>
          </Segmentation>
        </MiningModel>
        """
    }

    @Test(arguments: [
        ("sum", 15.0),              // 1 + 4 + 10
        ("average", 5.0),           // 15 / 3
        ("weightedAverage", 6.5),   // (1·1 + 4·2 + 10·3) / 6 = 39 / 6
        ("weightedSum", 39.0),      // 1·1 + 4·2 + 10·3
        ("median", 4.0),            // median(1, 4, 10)
        ("weightedMedian", 4.0),    // cumulative weights 1, 3, 6: first ≥ 6/2 is value 4
        ("max", 10.0),
        ("selectFirst", 1.0),       // first selected segment (x > 5)
    ])
    func regressionMethods(method: String, expected: Double) throws {
        let m = try Fixture.model(Self.regression(method))
        #expect(abs(try m.score(["x": .number(6)]) - expected) < 1e-12)
    }

    @Test func selectFirstSkipsUnselected() throws {
        let m = try Fixture.model(Self.regression("selectFirst"))
        // x = 0: the first segment's predicate is false → second segment → 4
        #expect(try m.score(["x": .number(0)]) == 4)
    }

    @Test func selectAllFailsLoad() {
        let e = Fixture.loadError(Self.regression("selectAll"))
        #expect(e?.element == "Segmentation")
        #expect(e?.message.contains("selectAll") == true)
    }

    static let chain = """
    <DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="y" optype="continuous" dataType="double"/>
    </DataDictionary>
    <MiningModel functionName="regression">
      <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
      <Segmentation multipleModelMethod="modelChain">
        <Segment id="1"><True/>
          <TreeModel functionName="regression">
            <MiningSchema><MiningField name="x"/></MiningSchema>
            <Output>
              <OutputField name="o1" optype="continuous" dataType="double" feature="predictedValue"/>
              <OutputField name="t1" optype="continuous" dataType="double" feature="transformedValue">
                <Apply function="*"><FieldRef field="o1"/><Constant dataType="double">10</Constant></Apply>
              </OutputField>
            </Output>
            <Node score="0"><True/>
              <Node score="2"><SimplePredicate field="x" operator="lessThan" value="3"/></Node>
              <Node score="3"><True/></Node>
            </Node>
          </TreeModel>
        </Segment>
        <Segment id="2"><True/>
          <RegressionModel functionName="regression">
            <MiningSchema><MiningField name="t1"/></MiningSchema>
            <RegressionTable intercept="1"><NumericPredictor name="t1" coefficient="0.5"/></RegressionTable>
          </RegressionModel>
        </Segment>
      </Segmentation>
    </MiningModel>
    """

    @Test func modelChainPassesOutputFields() throws {
        let m = try Fixture.model(Self.chain)
        // x = 1 → o1 = 2 → t1 = 20 → 0.5·20 + 1 = 11
        #expect(try m.score(["x": .number(1)]) == 11)
        // x = 4 → o1 = 3 → t1 = 30 → 16
        #expect(try m.score(["x": .number(4)]) == 16)
    }

    static let xgboostLike = """
    <DataDictionary>
      <DataField name="f" optype="continuous" dataType="float"><Value value="-999" property="missing"/></DataField>
      <DataField name="y" optype="continuous" dataType="float"/>
    </DataDictionary>
    <MiningModel functionName="regression" x-mathContext="float">
      <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="f"/></MiningSchema>
      <Targets><Target field="y" rescaleConstant="0.5"/></Targets>
      <Segmentation multipleModelMethod="sum">
        <Segment><True/>
          <TreeModel functionName="regression" x-mathContext="float" missingValueStrategy="defaultChild" noTrueChildStrategy="returnLastPrediction">
            <MiningSchema><MiningField name="f"/></MiningSchema>
            <Node id="0" defaultChild="2"><True/>
              <Node id="1" score="0.1"><SimplePredicate field="f" operator="lessThan" value="0.3"/></Node>
              <Node id="2" score="0.7"><SimplePredicate field="f" operator="greaterOrEqual" value="0.3"/></Node>
            </Node>
          </TreeModel>
        </Segment>
        <Segment><True/>
          <TreeModel functionName="regression" x-mathContext="float">
            <MiningSchema><MiningField name="f"/></MiningSchema>
            <Node score="0.2"><True/></Node>
          </TreeModel>
        </Segment>
      </Segmentation>
    </MiningModel>
    """

    @Test func floatMathContextAndMissingValueProperty() throws {
        let m = try Fixture.model(Self.xgboostLike)
        // float32: (0.1f + 0.2f) + 0.5f = 0.800000011920929 (numpy.float32 arithmetic)
        #expect(try m.score(["f": .number(0.2)]) == 0.800000011920929)
        // f = 0.3 → float(0.3) is not < float(0.3) → 0.7f + 0.2f + 0.5f = 1.399999976158142
        #expect(try m.score(["f": .number(0.3)]) == 1.399999976158142)
        // -999 is declared missing → defaultChild 2 → 1.399999976158142
        #expect(try m.score(["f": .number(-999)]) == 1.399999976158142)
        #expect(try m.score(["f": .string("-999")]) == 1.399999976158142)
        // the fast kernel and the general path agree on a batch mixing both
        let rows = [m.makeRow(["f": .number(0.2)]), m.makeRow(["f": .missing]), m.makeRow(["f": .number(0.25)])]
        let results = m.scoreBatch(rows).map { try? $0.get() }
        #expect(results == [0.800000011920929, 1.399999976158142, 0.800000011920929])
    }
}

/// Ensembles that take the flat kernel (all segments always selected, plain comparisons) must agree with
/// the hand-worked values, including depth-0 trees, weights, and the fallback for missing inputs.
@Suite("Spec: tree ensemble kernel")
struct EnsembleKernelTests {
    static func regression(_ method: String) -> String {
        """
        <DataDictionary>
          <DataField name="x" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <MiningModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
          <Segmentation multipleModelMethod="\(method)">
            <Segment weight="1"><True/>
              <TreeModel functionName="regression" missingValueStrategy="nullPrediction">
                <MiningSchema><MiningField name="x"/></MiningSchema>
                <Node score="0"><True/>
                  <Node score="1"><SimplePredicate field="x" operator="greaterThan" value="5"/></Node>
                  <Node score="-1"><True/></Node>
                </Node>
              </TreeModel>
            </Segment>
            <Segment weight="2"><True/>\(SpecMiningTests.value("4"))</Segment>
            <Segment weight="3"><True/>\(SpecMiningTests.value("10"))</Segment>
          </Segmentation>
        </MiningModel>
        """
    }

    @Test(arguments: [
        ("sum", 15.0),             // 1 + 4 + 10 (x = 6 > 5 → first tree gives 1)
        ("average", 5.0),          // 15 / 3
        ("weightedAverage", 6.5),  // (1·1 + 4·2 + 10·3) / 6
        ("weightedSum", 39.0),
    ])
    func kernelMethods(method: String, expected: Double) throws {
        let m = try Fixture.model(Self.regression(method))
        #expect(m.program.root is TreeEnsembleC)
        #expect(abs(try m.score(["x": .number(6)]) - expected) < 1e-12)
    }

    @Test func kernelFallbackOnMissing() throws {
        let m = try Fixture.model(Self.regression("sum"))
        // x = 2 → −1 + 4 + 10 = 13
        #expect(try m.score(["x": .number(2)]) == 13)
        // x missing → nullPrediction in the first tree → the sum is missing (continue) → no prediction
        #expect(throws: ScoringError.self) { try m.score([:]) }
    }

    /// A tree that ends on a null leaf (no true child, `returnNullPrediction`) one step in, beside a tree three
    /// tests deep: the walk runs two more steps from that leaf and must stay on it, so the row falls back to
    /// the general evaluator (no prediction) instead of summing a neighbouring node's value.
    @Test func kernelStaysOnNullLeaf() throws {
        let m = try Fixture.model("""
            <DataDictionary>
              <DataField name="x" optype="continuous" dataType="double"/>
              <DataField name="y" optype="continuous" dataType="double"/>
            </DataDictionary>
            <MiningModel functionName="regression">
              <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
              <Segmentation multipleModelMethod="sum">
                <Segment><True/>
                  <TreeModel functionName="regression" noTrueChildStrategy="returnNullPrediction">
                    <MiningSchema><MiningField name="x"/></MiningSchema>
                    <Node><True/>
                      <Node score="1"><SimplePredicate field="x" operator="greaterThan" value="5"/></Node>
                    </Node>
                  </TreeModel>
                </Segment>
                <Segment><True/>
                  <TreeModel functionName="regression">
                    <MiningSchema><MiningField name="x"/></MiningSchema>
                    <Node score="0"><True/>
                      <Node score="0"><SimplePredicate field="x" operator="lessOrEqual" value="1"/>
                        <Node score="0"><SimplePredicate field="x" operator="lessOrEqual" value="0.5"/>
                          <Node score="100"><SimplePredicate field="x" operator="lessOrEqual" value="0.25"/></Node>
                          <Node score="200"><True/></Node>
                        </Node>
                        <Node score="300"><True/></Node>
                      </Node>
                      <Node score="400"><True/></Node>
                    </Node>
                  </TreeModel>
                </Segment>
              </Segmentation>
            </MiningModel>
            """)
        #expect(m.program.root is TreeEnsembleC)
        #expect(try m.score(["x": .number(7)]) == 401)
        for x in [2.0, 0.75, 0.4, 0.1] {
            #expect(throws: ScoringError.self) { try m.score(["x": .number(x)]) }
        }
    }

    @Test func kernelWeightedAverageClassification() throws {
        let doc = SpecMiningTests.classification("weightedAverage").replacingOccurrences(
            of: #"<SimplePredicate field="x" operator="greaterThan" value="0"/>"#, with: "<True/>")
        let m = try Fixture.model(doc)
        #expect(m.program.root is TreeEnsembleC)
        // (0.2·1 + 0.7·2 + 0.6·3) / 6 = 0.5666666666666667
        #expect(abs(try m.score(["x": .number(-1)]) - 0.5666666666666667) < 1e-12)
    }

    @Test func forestMissingInputHasNoPrediction() throws {
        let m = try CompiledModel.load(contentsOf: SharedModels.url("forest.pmml"))
        var values = try SharedModels.expected("forest")[0].values
        values["tenure_days"] = .missing
        // missingValueStrategy="nullPrediction" and average with returnMissing → no prediction
        do {
            _ = try m.score(m.makeRow(values))
            Issue.record("expected no prediction")
        } catch {
            #expect(error.kind == .noPrediction)
        }
    }
}

/// A LightGBM-style ensemble: categorical splits with SimpleSetPredicate inside summed trees, float
/// math, and a string field with an invalid-value treatment.
@Suite("Spec: set predicates in ensembles")
struct SetPredicateEnsembleTests {
    static let doc = """
    <DataDictionary>
      <DataField name="cat" optype="categorical" dataType="string"><Value value="a"/><Value value="b c"/><Value value="d"/></DataField>
      <DataField name="num" optype="continuous" dataType="double"/>
      <DataField name="y" optype="continuous" dataType="double"/>
    </DataDictionary>
    <MiningModel functionName="regression">
      <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="cat" invalidValueTreatment="asMissing"/><MiningField name="num"/></MiningSchema>
      <Segmentation multipleModelMethod="sum">
        <Segment><True/>
          <TreeModel functionName="regression" missingValueStrategy="defaultChild" noTrueChildStrategy="returnLastPrediction">
            <MiningSchema><MiningField name="cat"/></MiningSchema>
            <Node score="0" defaultChild="2"><True/>
              <Node id="1" score="1.5"><SimpleSetPredicate field="cat" booleanOperator="isIn"><Array type="string">a "b c"</Array></SimpleSetPredicate></Node>
              <Node id="2" score="-0.5"><True/></Node>
            </Node>
          </TreeModel>
        </Segment>
        <Segment><True/>
          <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
            <MiningSchema><MiningField name="cat"/><MiningField name="num"/></MiningSchema>
            <Node score="0.25"><True/>
              <Node score="2"><SimpleSetPredicate field="cat" booleanOperator="isNotIn"><Array type="string">d</Array></SimpleSetPredicate>
                <Node score="3"><SimplePredicate field="num" operator="greaterThan" value="10"/></Node>
              </Node>
            </Node>
          </TreeModel>
        </Segment>
      </Segmentation>
    </MiningModel>
    """

    @Test func setPredicatesThroughKernelAndFallback() throws {
        let m = try Fixture.model(Self.doc)
        #expect(m.program.root is TreeEnsembleC)
        // "b c" ∈ {a, "b c"} → 1.5; "b c" ∉ {d} → node 2, num 20 > 10 → 3: 1.5 + 3 = 4.5
        #expect(try m.score(["cat": .string("b c"), "num": .number(20)]) == 4.5)
        // d ∉ {a, "b c"} → −0.5; d ∈ {d} → isNotIn false → last prediction 0.25: −0.25
        #expect(try m.score(["cat": .string("d"), "num": .number(20)]) == -0.25)
        // a → 1.5; a ∉ {d} → node 2; num 5 ≤ 10 → returnLastPrediction 2: 3.5
        #expect(try m.score(["cat": .string("a"), "num": .number(5)]) == 3.5)
        // cat "zz" is invalid → asMissing → tree 1 defaultChild → −0.5; tree 2: unknown → none → false →
        // last prediction 0.25: −0.25 (general evaluator, missing value)
        #expect(try m.score(["cat": .string("zz"), "num": .number(5)]) == -0.25)
    }
}
