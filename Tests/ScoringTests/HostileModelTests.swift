import Foundation
import Testing
@testable import Scoring

/// Model files that used to crash the engine (issue 10): each must fail the load with a clear error,
/// leaving the caller (the registry: the old model) untouched.
@Suite("Hostile model files fail the load, never the process")
struct HostileModelTests {
    func load(_ text: String) -> PMMLError? {
        do {
            _ = try CompiledModel(pmml: Data(text.utf8), name: "hostile.pmml")
            return nil
        } catch let e as PMMLError {
            return e
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    let fields = """
        <DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
        <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
        """

    @Test("50,000 nested <Extension> elements: refused by the depth limit, no stack overflow")
    func deepNesting() throws {
        let depth = 50_000
        let body = String(repeating: "<Extension>", count: depth) + String(repeating: "</Extension>", count: depth)
        let error = try #require(load(Fixture.pmml(fields + body)))
        #expect(error.description.contains("nested deeper than \(XMLLimits.maxDepth)"), "\(error)")
        #expect(error.description.contains("hostile.pmml"))
    }

    @Test("a TreeModel node with 60,000 children: compiled without recursion per sibling, refused by the decision-depth limit")
    func siblingChain() throws {
        let leaves = (0..<60_000).map { i in
            "<Node score=\"\(i)\"><SimplePredicate field=\"x\" operator=\"lessThan\" value=\"\(i)\"/></Node>"
        }.joined()
        let tree = """
            <TreeModel functionName="regression"><MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
            <Node><True/>\(leaves)</Node></TreeModel>
            """
        let error = try #require(load(Fixture.pmml(fields + tree)))
        #expect(error.description.contains("more than \(Compiler.maxDecisionDepth) tests"), "\(error)")
    }

    @Test("a node with 900 ordered children still compiles and scores like its definition (first true child wins)")
    func longButLegalChain() throws {
        let leaves = (1...900).map { i in
            "<Node score=\"\(i)\"><SimplePredicate field=\"x\" operator=\"lessThan\" value=\"\(i)\"/></Node>"
        }.joined()
        let tree = """
            <TreeModel functionName="regression"><MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
            <Node><True/>\(leaves)</Node></TreeModel>
            """
        let model = try Fixture.model(fields + tree)
        #expect(try model.score(["x": .number(0.5)]) == 1)
        #expect(try model.score(["x": .number(450.2)]) == 451)
        #expect(try model.score(["x": .number(899.9)]) == 900)
    }

    @Test("NaN and infinite coefficients fail the load", arguments: ["NaN", "INF", "-Infinity"])
    func nonFiniteCoefficients(_ value: String) throws {
        let regression = """
            <RegressionModel functionName="regression"><MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
            <RegressionTable intercept="0"><NumericPredictor name="x" coefficient="\(value)"/></RegressionTable></RegressionModel>
            """
        let error = try #require(load(Fixture.pmml(fields + regression)))
        #expect(error.description.contains("not finite"), "\(error)")
    }

    @Test("a predicted value that overflows to infinity is a scoring error, not a score; a huge finite one is a score")
    func overflowingPrediction() throws {
        let regression = """
            <RegressionModel functionName="regression"><MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
            <RegressionTable intercept="0"><NumericPredictor name="x" coefficient="1e300"/></RegressionTable></RegressionModel>
            """
        let model = try Fixture.model(fields + regression)
        #expect(try model.score(["x": .number(1)]) == 1e300)
        do {
            let p = try model.score(["x": .number(1e10)])
            Issue.record("expected a scoring error, got \(p)")
        } catch {
            let scoring = error as? ScoringError
            #expect(scoring?.kind == .evaluation && scoring?.reason.contains("not finite") == true, "\(error)")
        }
        var results: [Double] = []
        var failed: [Int] = []
        model.scoreBatch(count: 3, into: &results, value: { row, _ in .number([1, -1e10, 2][row]) }) { row, _ in failed.append(row) }
        #expect(results.count == 3 && results[0] == 1e300 && results[1].isNaN && results[2] == 2e300 && failed == [1])
    }

    @Test("inputs that crash Foundation's XMLParser on Linux are refused before it sees them (found by fuzzing)",
          arguments: [
            ("<?x?><PMML/>", "processing instructions"),  // empty processing instruction: strlen(NULL)
            ("<?xml version=\"1.0\"?><?pi data?><PMML/>", "processing instructions"),
            ("<!DOCTYPE PMML [<!ENTITY a \"aaaa\">]><PMML/>", "document type declaration"),
          ])
    func crashersRefused(_ text: String, _ reason: String) throws {
        let error = try #require(load(text))
        #expect(error.description.contains(reason), "\(error)")
    }

    @Test("an element name that is not valid UTF-8 is refused before parsing (found by fuzzing)")
    func invalidUTF8Name() throws {
        let bytes: [UInt8] = [0x3C, 0x50, 0xEC, 0x4D, 0x4D, 0x4C, 0x2F, 0x3E]  // <P\xECMML/>
        do {
            _ = try CompiledModel(pmml: Data(bytes), name: "hostile.pmml")
            Issue.record("loaded")
        } catch let error as PMMLError {
            #expect(error.description.contains("not valid UTF-8"), "\(error)")
        }
        // The XML declaration itself stays accepted.
        #expect(screenXML(Data("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PMML/>".utf8)) == nil)
        #expect(screenXML(Data([0xEF, 0xBB, 0xBF] + Array("<?xml version=\"1.0\"?><PMML/>".utf8))) == nil)
    }

    @Test("a file over the size limit is refused before it is read")
    func sizeLimit() throws {
        // A sparse file: its size is over the limit, its blocks are never written.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("huge-\(UUID().uuidString).pmml")
        #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: url) }
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(XMLLimits.maxBytes + 1))
        try handle.close()
        do {
            _ = try CompiledModel.load(contentsOf: url)
            Issue.record("an oversized file loaded")
        } catch let error as PMMLError {
            #expect(error.description.contains("at most \(XMLLimits.maxBytes)"), "\(error)")
            #expect(error.description.contains(url.path))
        }
    }
}
