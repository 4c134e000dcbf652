import Foundation
import Testing
@testable import Scoring

/// TreeModel features not covered by the shared models (expected values derived by hand from the spec).
@Suite("Spec: TreeModel")
struct SpecTreeTests {
    static let defaultChildTree = """
    <DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="color" optype="categorical" dataType="string">
        <Value value="red"/><Value value="green"/><Value value="blue sky"/>
      </DataField>
      <DataField name="t" optype="categorical" dataType="string"><Value value="n"/><Value value="y"/></DataField>
    </DataDictionary>
    <TreeModel functionName="classification" missingValueStrategy="defaultChild">
      <MiningSchema><MiningField name="t" usageType="target"/><MiningField name="x"/><MiningField name="color"/></MiningSchema>
      <Output><OutputField name="p_y" feature="probability" value="y"/></Output>
      <Node id="0" score="n" defaultChild="2"><True/>
        <ScoreDistribution value="n" recordCount="60"/><ScoreDistribution value="y" recordCount="40"/>
        <Node id="1" score="n"><SimplePredicate field="x" operator="lessThan" value="5"/>
          <ScoreDistribution value="n" recordCount="30"/><ScoreDistribution value="y" recordCount="10"/>
        </Node>
        <Node id="2" score="y" defaultChild="3"><SimplePredicate field="x" operator="greaterOrEqual" value="5"/>
          <ScoreDistribution value="n" recordCount="30"/><ScoreDistribution value="y" recordCount="30"/>
          <Node id="3" score="y">
            <SimpleSetPredicate field="color" booleanOperator="isIn"><Array n="2" type="string">red "blue sky"</Array></SimpleSetPredicate>
            <ScoreDistribution value="n" probability="0.25"/><ScoreDistribution value="y" probability="0.75"/>
          </Node>
          <Node id="4" score="n"><True/>
            <ScoreDistribution value="n" recordCount="20"/><ScoreDistribution value="y" recordCount="5"/>
          </Node>
        </Node>
      </Node>
    </TreeModel>
    """

    @Test func defaultChildAndSetPredicates() throws {
        let m = try Fixture.model(Self.defaultChildTree)
        #expect(m.targetCategory == "y")
        // x < 5 → node 1: 10 / (30 + 10) = 0.25
        #expect(try m.score(["x": .number(3), "color": .string("green")]) == 0.25)
        // x ≥ 5, "blue sky" (quoted Array value) ∈ set → node 3: probability attribute 0.75
        #expect(try m.score(["x": .number(7), "color": .string("blue sky")]) == 0.75)
        // x ≥ 5, green ∉ set → node 4: 5 / (20 + 5) = 0.2
        #expect(try m.score(["x": .number(7), "color": .string("green")]) == 0.2)
        // x missing → root's defaultChild (node 2, predicate not evaluated) → red ∈ set → 0.75
        #expect(try m.score(["color": .string("red")]) == 0.75)
        // x missing, color missing → node 2 → node 2's defaultChild (node 3) → 0.75
        #expect(try m.score([:]) == 0.75)
        // x ≥ 5, color missing → node 2 → defaultChild 3 → 0.75
        #expect(try m.score(["x": .number(7)]) == 0.75)
    }

    static func compound(_ strategy: String) -> String {
        """
        <DataDictionary>
          <DataField name="a" optype="continuous" dataType="double"/>
          <DataField name="b" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <TreeModel functionName="regression" missingValueStrategy="\(strategy)" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <Node score="10"><True/>
            <Node score="20">
              <CompoundPredicate booleanOperator="and">
                <SimplePredicate field="a" operator="greaterThan" value="0"/>
                <SimplePredicate field="b" operator="lessOrEqual" value="1"/>
              </CompoundPredicate>
              <Node score="30"><SimplePredicate field="a" operator="greaterThan" value="10"/></Node>
            </Node>
            <Node score="40">
              <CompoundPredicate booleanOperator="xor">
                <SimplePredicate field="a" operator="equal" value="-1"/>
                <SimplePredicate field="b" operator="equal" value="5"/>
              </CompoundPredicate>
            </Node>
            <Node score="50">
              <CompoundPredicate booleanOperator="surrogate">
                <SimplePredicate field="b" operator="notEqual" value="7"/>
                <SimplePredicate field="a" operator="isMissing"/>
              </CompoundPredicate>
            </Node>
          </Node>
        </TreeModel>
        """
    }

    @Test func compoundPredicatesAndLastPrediction() throws {
        let m = try Fixture.model(Self.compound("lastPrediction"))
        // and(5 > 0, 0 ≤ 1) → node 20; child 5 > 10 false → no true child → returnLastPrediction → 20
        #expect(try m.score(["a": .number(5), "b": .number(0)]) == 20)
        // and true, then 20 > 10 → 30
        #expect(try m.score(["a": .number(20), "b": .number(0)]) == 30)
        // and false (−1 > 0 false); xor(true, false) = true → 40
        #expect(try m.score(["a": .number(-1), "b": .number(2)]) == 40)
        // xor(true, true) = false; surrogate: 5 ≠ 7 → true → 50
        #expect(try m.score(["a": .number(-1), "b": .number(5)]) == 50)
        // all children false → returnLastPrediction → root 10
        #expect(try m.score(["a": .number(-2), "b": .number(7)]) == 10)
        // a missing: and(unknown, true) = unknown → lastPrediction → root 10
        #expect(try m.score(["b": .number(0)]) == 10)
    }

    @Test func missingStrategyNoneTreatsUnknownAsFalse() throws {
        let m = try Fixture.model(Self.compound("none"))
        // a missing, b = 0: and = unknown → false; xor(unknown, false) = unknown → false;
        // surrogate: 0 ≠ 7 → true → 50
        #expect(try m.score(["b": .number(0)]) == 50)
        // a missing, b = 7: surrogate: 7 ≠ 7 false (known) → false → last prediction 10
        #expect(try m.score(["b": .number(7)]) == 10)
        // b missing, a missing: surrogate first unknown, a isMissing → true → 50
        #expect(try m.score([:]) == 50)
    }

    @Test func nullPredictionYieldsNoPrediction() throws {
        let m = try Fixture.model(Self.compound("nullPrediction"))
        #expect(try m.score(["a": .number(5), "b": .number(0)]) == 20)
        #expect(throws: ScoringError.self) { try m.score(["b": .number(0)]) }
    }

    @Test func unsupportedStrategyFailsLoad() {
        let e = Fixture.loadError(Self.compound("aggregateNodes"))
        #expect(e?.element == "TreeModel")
        #expect(e?.message.contains("aggregateNodes") == true)
    }
}
