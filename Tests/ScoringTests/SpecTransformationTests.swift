import Foundation
import Testing
@testable import Scoring

/// TransformationDictionary / LocalTransformations / DefineFunction (expected values by hand).
@Suite("Spec: transformations")
struct SpecTransformationTests {
    static let doc = """
    <DataDictionary>
      <DataField name="age" optype="continuous" dataType="double"/>
      <DataField name="income" optype="continuous" dataType="double"/>
      <DataField name="city" optype="categorical" dataType="string"/>
      <DataField name="y" optype="continuous" dataType="double"/>
    </DataDictionary>
    <TransformationDictionary>
      <DefineFunction name="scaled" optype="continuous" dataType="double">
        <ParameterField name="v" dataType="double"/><ParameterField name="k" dataType="double"/>
        <Apply function="/"><FieldRef field="v"/><FieldRef field="k"/></Apply>
      </DefineFunction>
      <DerivedField name="age_n" optype="continuous" dataType="double">
        <NormContinuous field="age" outliers="asExtremeValues">
          <LinearNorm orig="0" norm="0"/><LinearNorm orig="50" norm="0.5"/><LinearNorm orig="100" norm="0.7"/>
        </NormContinuous>
      </DerivedField>
      <DerivedField name="is_paris" optype="continuous" dataType="double">
        <NormDiscrete field="city" value="Paris" mapMissingTo="0"/>
      </DerivedField>
      <DerivedField name="band" optype="categorical" dataType="string">
        <Discretize field="income" defaultValue="other" mapMissingTo="unknown">
          <DiscretizeBin binValue="low"><Interval closure="openClosed" rightMargin="1000"/></DiscretizeBin>
          <DiscretizeBin binValue="mid"><Interval closure="openOpen" leftMargin="1000" rightMargin="5000"/></DiscretizeBin>
        </Discretize>
      </DerivedField>
      <DerivedField name="band_w" optype="continuous" dataType="double">
        <MapValues outputColumn="data:w" dataType="double" defaultValue="9" mapMissingTo="-1">
          <FieldColumnPair field="band" column="data:b"/>
          <InlineTable>
            <row><data:b>low</data:b><data:w>1.5</data:w></row>
            <row><data:b>mid</data:b><data:w>2.5</data:w></row>
            <row><data:b>unknown</data:b><data:w>0</data:w></row>
          </InlineTable>
        </MapValues>
      </DerivedField>
      <DerivedField name="inc_log" optype="continuous" dataType="double">
        <Apply function="if">
          <Apply function="isMissing"><FieldRef field="income"/></Apply>
          <Constant>0</Constant>
          <Apply function="x-ln1p"><Apply function="scaled"><FieldRef field="income"/><Constant>1000</Constant></Apply></Apply>
        </Apply>
      </DerivedField>
    </TransformationDictionary>
    <RegressionModel functionName="regression">
      <MiningSchema>
        <MiningField name="y" usageType="target"/>
        <MiningField name="age"/><MiningField name="income"/><MiningField name="city"/>
      </MiningSchema>
      <LocalTransformations>
        <DerivedField name="combo" optype="continuous" dataType="double">
          <Apply function="max">
            <FieldRef field="age_n"/>
            <Apply function="pow"><Constant>2</Constant><Constant>-1</Constant></Apply>
            <Apply function="avg"><FieldRef field="is_paris"/><Constant>1</Constant></Apply>
          </Apply>
        </DerivedField>
      </LocalTransformations>
      <RegressionTable intercept="0">
        <NumericPredictor name="age_n" coefficient="1"/>
        <NumericPredictor name="is_paris" coefficient="10"/>
        <NumericPredictor name="band_w" coefficient="100"/>
        <NumericPredictor name="inc_log" coefficient="1000"/>
        <NumericPredictor name="combo" coefficient="10000"/>
      </RegressionTable>
    </RegressionModel>
    """

    @Test func derivedFieldsEndToEnd() throws {
        let m = try Fixture.model(Self.doc)
        // age_n = 25/50·0.5 = 0.25; is_paris = 1; band = mid (1000 < 3000 < 5000) → 2.5;
        // inc_log = ln1p(3000/1000) = ln 4; combo = max(0.25, 2^−1, avg(1, 1)) = 1
        // y = 0.25 + 10 + 250 + 1386.2943611198906 + 10000 = 11646.54436111989
        #expect(abs(try m.score(["age": .number(25), "income": .number(3000), "city": .string("Paris")]) - 11646.54436111989) < 1e-9)
        // age 150 → outlier asExtremeValues → 0.7; city missing → mapMissingTo 0; income missing →
        // band mapMissingTo "unknown" → 0; inc_log = 0 (if/isMissing); combo = max(0.7, 0.5, 0.5) = 0.7
        // y = 0.7 + 7000 = 7000.7
        #expect(abs(try m.score(["age": .number(150)]) - 7000.7) < 1e-9)
        // age 75 → 0.5 + (25/50)·0.2 = 0.6; band low (500 ≤ 1000) → 1.5; inc_log = ln1p(0.5) = 0.4054651081081644
        // y = 0.6 + 150 + 405.4651081081644 + 6000 = 6556.065108108164
        #expect(abs(try m.score(["age": .number(75), "income": .number(500), "city": .string("Rome")]) - 6556.065108108164) < 1e-9)
        // income 7000 → Discretize defaultValue "other" → MapValues has no row → defaultValue 9 → 900;
        // inc_log = ln1p(7) = 2.0794415416798357; combo = max(0.25, 0.5, 0.5) = 0.5
        // y = 0.25 + 900 + 2079.4415416798357 + 5000 = 7979.691541679836
        #expect(abs(try m.score(["age": .number(25), "income": .number(7000), "city": .string("Oslo")]) - 7979.691541679836) < 1e-9)
    }

    @Test("derived fields are computed afresh for every row of a streamed batch")
    func derivedFieldsInOneStreamedBatch() throws {
        let m = try Fixture.model(Self.doc)
        // The rows and hand-computed results of derivedFieldsEndToEnd, scored in one call: each row's
        // derived fields must not be the previous row's (the context is reused across the batch).
        let rows: [[String: FieldValue]] = [
            ["age": .number(25), "income": .number(3000), "city": .string("Paris")],
            ["age": .number(150)],
            ["age": .number(75), "income": .number(500), "city": .string("Rome")],
            ["age": .number(25), "income": .number(7000), "city": .string("Oslo")],
        ]
        let expected = [11646.54436111989, 7000.7, 6556.065108108164, 7979.691541679836]
        let names = m.inputFields.map(\.name)
        var results: [Double] = []
        m.scoreBatch(count: rows.count, into: &results, value: { row, field in rows[row][names[field]] ?? .missing }) { row, error in
            Issue.record("row \(row): \(error)")
        }
        #expect(results.count == expected.count)
        for (r, e) in zip(results, expected) { #expect(abs(r - e) < 1e-9) }
    }

    static func applyDoc(_ apply: String, type: String = "double") -> String {
        """
        <DataDictionary>
          <DataField name="a" optype="continuous" dataType="double"/>
          <DataField name="b" optype="continuous" dataType="double"/>
          <DataField name="y" optype="continuous" dataType="double"/>
        </DataDictionary>
        <RegressionModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <LocalTransformations>
            <DerivedField name="d" optype="continuous" dataType="\(type)">\(apply)</DerivedField>
          </LocalTransformations>
          <RegressionTable intercept="0"><NumericPredictor name="d" coefficient="1"/></RegressionTable>
        </RegressionModel>
        """
    }

    // a = 2.5, b = −4 unless noted.
    @Test(arguments: [
        (#"<Apply function="+"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#, -1.5),
        (#"<Apply function="-"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#, 6.5),
        (#"<Apply function="*"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#, -10.0),
        (#"<Apply function="/"><FieldRef field="b"/><FieldRef field="a"/></Apply>"#, -1.6),
        (#"<Apply function="modulo"><FieldRef field="b"/><Constant>3</Constant></Apply>"#, 2.0),         // −4 − ⌊−4/3⌋·3
        (#"<Apply function="abs"><FieldRef field="b"/></Apply>"#, 4.0),
        (#"<Apply function="exp"><Constant>0</Constant></Apply>"#, 1.0),
        (#"<Apply function="ln"><Constant>1</Constant></Apply>"#, 0.0),
        (#"<Apply function="log10"><Constant>1000</Constant></Apply>"#, 3.0),
        (#"<Apply function="sqrt"><Constant>16</Constant></Apply>"#, 4.0),
        (#"<Apply function="x-expm1"><Constant>0</Constant></Apply>"#, 0.0),
        (#"<Apply function="x-hypot"><Constant>3</Constant><Constant>4</Constant></Apply>"#, 5.0),
        (#"<Apply function="floor"><FieldRef field="a"/></Apply>"#, 2.0),
        (#"<Apply function="ceil"><FieldRef field="a"/></Apply>"#, 3.0),
        (#"<Apply function="round"><FieldRef field="a"/></Apply>"#, 3.0),                              // half up
        (#"<Apply function="threshold"><FieldRef field="a"/><Constant>2</Constant></Apply>"#, 1.0),
        (#"<Apply function="min"><FieldRef field="a"/><FieldRef field="b"/><Constant>0</Constant></Apply>"#, -4.0),
        (#"<Apply function="sum"><FieldRef field="a"/><FieldRef field="b"/><Constant>1</Constant></Apply>"#, -0.5),
        (#"<Apply function="product"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#, -10.0),
        (#"<Apply function="median"><Constant>5</Constant><Constant>1</Constant><Constant>3</Constant><Constant>9</Constant></Apply>"#, 4.0),
        (#"<Apply function="if"><Apply function="and"><Apply function="greaterThan"><FieldRef field="a"/><Constant>2</Constant></Apply><Apply function="lessOrEqual"><FieldRef field="b"/><Constant>-4</Constant></Apply></Apply><Constant>7</Constant><Constant>8</Constant></Apply>"#, 7.0),
        (#"<Apply function="if"><Apply function="or"><Apply function="equal"><FieldRef field="a"/><Constant>1</Constant></Apply><Apply function="not"><Apply function="notEqual"><FieldRef field="b"/><Constant>-4</Constant></Apply></Apply></Apply><Constant>7</Constant><Constant>8</Constant></Apply>"#, 7.0),
        (#"<Apply function="if"><Apply function="isIn"><FieldRef field="b"/><Constant>1</Constant><Constant>-4</Constant></Apply><Constant>1</Constant><Constant>0</Constant></Apply>"#, 1.0),
        (#"<Apply function="if"><Apply function="isNotIn"><FieldRef field="b"/><Constant>1</Constant><Constant>-4</Constant></Apply><Constant>1</Constant><Constant>0</Constant></Apply>"#, 0.0),
        (#"<Apply function="x-stdNormalCDF"><Constant>0</Constant></Apply>"#, 0.5),
        (#"<Apply function="x-atan"><Constant>0</Constant></Apply>"#, 0.0),
    ])
    func builtinFunctions(apply: String, expected: Double) throws {
        let m = try Fixture.model(Self.applyDoc(apply))
        #expect(abs(try m.score(["a": .number(2.5), "b": .number(-4)]) - expected) < 1e-12)
    }

    @Test func missingHandlingOfApply() throws {
        // mapMissingTo: any missing argument → 42
        let m1 = try Fixture.model(Self.applyDoc(#"<Apply function="+" mapMissingTo="42"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#))
        #expect(try m1.score(["a": .number(1)]) == 42)
        // defaultValue: the function's result is missing → 7
        let m2 = try Fixture.model(Self.applyDoc(#"<Apply function="+" defaultValue="7"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#))
        #expect(try m2.score(["a": .number(1)]) == 7)
        // aggregate functions ignore missing values: avg(a, b) with b missing = a
        let m3 = try Fixture.model(Self.applyDoc(#"<Apply function="avg"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#))
        #expect(try m3.score(["a": .number(3)]) == 3)
        // FieldRef mapMissingTo
        let m4 = try Fixture.model(Self.applyDoc(#"<FieldRef field="b" mapMissingTo="-2"/>"#))
        #expect(try m4.score(["a": .number(3)]) == -2)
    }

    @Test func invalidResultTreatment() throws {
        // ln(−1) is NaN: returnInvalid (default) fails the row, asMissing uses defaultValue.
        let bad = try Fixture.model(Self.applyDoc(#"<Apply function="ln"><FieldRef field="b"/></Apply>"#))
        #expect(throws: ScoringError.self) { try bad.score(["a": .number(1), "b": .number(-1)]) }
        let ok = try Fixture.model(Self.applyDoc(#"<Apply function="ln" invalidValueTreatment="asMissing" defaultValue="5"><FieldRef field="b"/></Apply>"#))
        #expect(try ok.score(["a": .number(1), "b": .number(-1)]) == 5)
    }

    @Test func floatDerivedFieldRounds() throws {
        // 0.1 + 0.2 = 0.30000000000000004 in double; as a float DerivedField it becomes float(0.3) = 0.30000001192092896
        let m = try Fixture.model(Self.applyDoc(#"<Apply function="+"><FieldRef field="a"/><FieldRef field="b"/></Apply>"#, type: "float"))
        #expect(try m.score(["a": .number(0.1), "b": .number(0.2)]) == 0.30000001192092896)
    }

    @Test func unsupportedFunctionFailsLoadNamingIt() {
        let e = Fixture.loadError(Self.applyDoc(#"<Apply function="formatDatetime"><FieldRef field="a"/><Constant>x</Constant></Apply>"#))
        #expect(e?.element == "Apply")
        #expect(e?.message.contains("formatDatetime") == true)
        #expect(e?.line == 12)
    }
}
