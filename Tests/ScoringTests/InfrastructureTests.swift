import Foundation
import Testing
@testable import Scoring

@Suite("SHA-256")
struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func knownVectors(input: String, hex: String) {
        #expect(SHA256.hex(Array(input.utf8)) == hex)
    }

    @Test func millionAs() {
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func versionUsesFileHash() throws {
        let m = try CompiledModel.load(contentsOf: SharedModels.url("logreg.pmml"))
        let data = try Data(contentsOf: SharedModels.url("logreg.pmml"))
        #expect(m.version == "logreg.pmml-" + String(SHA256.hex(data).prefix(12)))
    }
}

@Suite("CSV batch scoring")
struct CSVBatchScorerTests {
    func temp(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("scoring-\(UUID().uuidString)-\(name)")
    }

    func runScorer(_ csv: String, model: CompiledModel, chunk: Int = 2) throws -> (String, Int, [Int]) {
        let input = temp("in.csv")
        let output = temp("out.csv")
        try Data(csv.utf8).write(to: input)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        var progress: [Int] = []
        let n = try CSVBatchScorer(model: model, chunkRows: chunk, progressInterval: 2, readSize: 1024)
            .run(input: input, output: handle, progress: { progress.append($0) })
        try handle.close()
        let text = try String(contentsOf: output, encoding: .utf8)
        try? FileManager.default.removeItem(at: input)
        try? FileManager.default.removeItem(at: output)
        return (text, n, progress)
    }

    @Test func quotedFieldsCRLFAndPassThrough() throws {
        let m = try Fixture.model(SpecRegressionTests.regression)
        // Extra column with a quoted comma, doubled quotes and an embedded newline; CRLF line ends.
        let csv = "id,note,x,c\r\n1,\"a, \"\"b\"\"\",2,b\r\n2,\"multi\nline\",2,a\r\n3,,,a\r\n"
        let (text, n, progress) = try runScorer(csv, model: m)
        #expect(n == 3)
        #expect(progress.last == 3)
        let lines = text.components(separatedBy: "\n")
        #expect(lines[0] == "id,note,x,c,probability")
        // Row 1: see SpecRegressionTests (5.451081856984936); input columns unchanged.
        #expect(lines[1] == "1,\"a, \"\"b\"\"\",2,b,\(5.451081856984936)")
        #expect(lines[2] == "2,\"multi")
        #expect(lines[3] == "line\",2,a,\(7.008332047892867)")
        // Empty x cell = missing → no prediction → empty probability cell.
        #expect(lines[4] == "3,,,a,")
    }

    @Test func missingColumnIsNamed() throws {
        let m = try Fixture.model(SpecRegressionTests.regression)
        do {
            _ = try runScorer("x,other\n1,2\n", model: m)
            Issue.record("expected an error")
        } catch let e as CSVScoringError {
            #expect(e.message.contains("\"c\""))
        }
    }

    @Test func sharedModelFileRoundTrip() throws {
        // Score the shared expected CSV and compare with p_jpmml (columns pass through unchanged).
        let m = try CompiledModel.load(contentsOf: SharedModels.url("gbc.pmml"))
        let csv = try String(contentsOf: SharedModels.url("gbc.expected.csv"), encoding: .utf8)
        let (text, n, _) = try runScorer(csv, model: m, chunk: 1000)
        #expect(n == 2000)
        let lines = text.split(separator: "\n").map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        let pj = header.firstIndex(of: "p_jpmml") ?? 0
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let p = Double(cells[cells.count - 1]) ?? .nan
            #expect(abs(p - (Double(cells[pj]) ?? .nan)) < 1e-12)
        }
    }
}

@Suite("Model registry")
struct ModelRegistryTests {
    @Test func reloadSwapsAndKeepsOldOnFailure() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.pmml")
        try Data(contentsOf: SharedModels.url("logreg.pmml")).write(to: url)
        let registry = try ModelRegistry(contentsOf: url)
        let first = registry.current
        #expect(first.version.hasPrefix("model.pmml-"))
        #expect(try registry.reloadIfChanged() == false)

        // A broken file: reload throws, the old model stays in service.
        try Data("<PMML".utf8).write(to: url)
        #expect(throws: PMMLError.self) { try registry.reload() }
        #expect(registry.current === first)

        // A valid new file: swapped in.
        try Data(contentsOf: SharedModels.url("tree.pmml")).write(to: url)
        let second = try registry.reload().champion.model
        #expect(registry.current === second)
        #expect(second.version != first.version)
    }

    /// A Kubernetes ConfigMap volume: `model.pmml -> ..data/model.pmml`, `..data -> ..v1`; an update
    /// swaps `..data` to a new directory, leaving the symlink the path names untouched.
    @Test func symlinkSwapIsSeen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
        let fm = FileManager.default
        for v in ["..v1", "..v2"] { try fm.createDirectory(at: dir.appendingPathComponent(v), withIntermediateDirectories: true) }
        defer { try? fm.removeItem(at: dir) }
        try Data(contentsOf: SharedModels.url("logreg.pmml")).write(to: dir.appendingPathComponent("..v1/model.pmml"))
        try Data(contentsOf: SharedModels.url("tree.pmml")).write(to: dir.appendingPathComponent("..v2/model.pmml"))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("..data").path, withDestinationPath: "..v1")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("model.pmml").path, withDestinationPath: "..data/model.pmml")
        let registry = try ModelRegistry(contentsOf: dir.appendingPathComponent("model.pmml"))
        let first = registry.current.version
        #expect(try registry.reloadIfChanged() == false)
        // The atomic swap kubelet does: a new link renamed over ..data.
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("..data_tmp").path, withDestinationPath: "..v2")
        #expect(rename(dir.appendingPathComponent("..data_tmp").path, dir.appendingPathComponent("..data").path) == 0)
        #expect(try registry.reloadIfChanged() == true)
        #expect(registry.current.version != first)
        #expect(registry.current.version.hasPrefix("model.pmml-"))
    }

    @Test func watchPicksUpChanges() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.pmml")
        try Data(contentsOf: SharedModels.url("logreg.pmml")).write(to: url)
        let registry = try ModelRegistry(contentsOf: url)
        let oldVersion = registry.current.version
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let task = Task {
            await registry.watch(interval: .milliseconds(20), onReload: { continuation.yield($0.champion.model.version) })
        }
        try Data(contentsOf: SharedModels.url("tree.pmml")).write(to: url)
        var iterator = stream.makeAsyncIterator()
        let version = await iterator.next()
        task.cancel()
        #expect(version != nil && version != oldVersion)
    }
}

@Suite("Concurrency")
struct ConcurrencyTests {
    @Test func sharedModelAcrossTasks() async throws {
        let m = try CompiledModel.load(contentsOf: SharedModels.url("forest.pmml"))
        let rows = try SharedModels.expected("forest").prefix(200).map { (m.makeRow($0.values), $0.pJPMML) }
        try await withThrowingTaskGroup(of: Double.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var worst = 0.0
                    for (row, expected) in rows { worst = max(worst, abs(try m.score(row) - expected)) }
                    return worst
                }
            }
            for try await worst in group { #expect(worst < 1e-12) }
        }
    }
}
