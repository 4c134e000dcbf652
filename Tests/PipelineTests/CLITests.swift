import Foundation
import Testing
import TestSupport

/// The command line as a user drives it: batch scoring, start-up errors, hot model reload.
@Suite("streamscore command line (child processes)", .serialized, .timeLimit(.minutes(3)))
struct CLITests {
    @Test("streamscore score: every row of gbc.expected.csv within 1e-12 of JPMML, input columns unchanged")
    func batchScoring() throws {
        let dir = try Shared.tempDir("score")
        let output = dir.appendingPathComponent("out.csv")
        let model = Shared.model("gbc.pmml").path
        let input = Shared.root.appendingPathComponent("models/gbc.expected.csv").path
        let run = try runTool(Shared.streamscore.path, ["score", "--model", model, "--input", input, "--output", output.path])
        #expect(run.status == 0)
        let inLines = try String(contentsOfFile: input, encoding: .utf8).split(separator: "\n")
        let outLines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n")
        #expect(outLines.count == inLines.count)
        #expect(outLines.first == inLines.first.map { $0 + ",probability" })
        let header = inLines[0].split(separator: ",").map(String.init)
        let jpmml = try #require(header.firstIndex(of: "p_jpmml"))
        var worst = 0.0
        for (i, line) in outLines.enumerated().dropFirst() {
            #expect(line.hasPrefix(inLines[i] + ","))
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            let p = try #require(Double(cells.last.map(String.init) ?? ""))
            worst = max(worst, abs(p - Double(cells[jpmml])!))
        }
        #expect(worst <= 1e-12)
    }

    @Test("streamscore score: a missing column fails with one line naming it")
    func missingColumn() throws {
        let dir = try Shared.tempDir("score-bad")
        let input = dir.appendingPathComponent("rows.csv")
        try "tenure_days,plan\n10,basic\n".write(to: input, atomically: true, encoding: .utf8)
        let (_, status, text) = try Self.streamscore(["score", "--model", Shared.model("logreg.pmml").path, "--input", input.path])
        #expect(status != 0)
        #expect(text.contains("monthly_charges"))
    }

    /// Runs `streamscore ARGS` to its end: whether it exited (not killed by a signal), its status, its stderr.
    static func streamscore(_ args: [String]) throws -> (exited: Bool, status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = Shared.streamscore
        process.arguments = args
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationReason == .exit, process.terminationStatus, text)
    }

    @Test("streamscore run: an unreadable model, a bad store URL, an unknown Kafka property each fail start-up with one line")
    func startupErrors() throws {
        func run(_ args: [String]) throws -> (Int32, String) {
            let result = try Self.streamscore(["run", "--http", "127.0.0.1:0"] + args)
            return (result.status, result.stderr)
        }
        let dir = try Shared.tempDir("startup")
        let (s1, e1) = try run(["--model", "/nonexistent/model.pmml", "--store", "sqlite:\(dir.path)/a.db"])
        #expect(s1 != 0 && e1.contains("/nonexistent/model.pmml") && e1.split(separator: "\n").count == 1)
        let (s2, e2) = try run(["--store", "mysql://u:secret@h/db"])
        #expect(s2 != 0 && e2.contains("mysql://u:***@h/db") && !e2.contains("secret"))
        let (s3, e3) = try run(["--store", "sqlite:\(dir.path)/b.db", "--kafka", "no.such.property=1"])
        #expect(s3 != 0 && e3.contains("no.such.property"))
        let (s4, e4) = try run(["--store", "sqlite:\(dir.path)/c.db", "--brokers", "127.0.0.1:1"])
        #expect(s4 != 0 && e4.contains("127.0.0.1:1"))
    }

    @Test("numeric flags outside their range (nan, inf, 1e-300, overflowing sizes) fail with a line naming the flag, never a trap",
          arguments: [
            ["produce", "--brokers", "127.0.0.1:1", "--synthetic", "10", "--rate", "nan"],
            ["produce", "--brokers", "127.0.0.1:1", "--synthetic", "10", "--rate", "inf"],
            ["produce", "--brokers", "127.0.0.1:1", "--synthetic", "10", "--rate", "1e-300"],
            ["run", "--demo-rate", "inf"],
            ["run", "--rescore-rate", "1e-300"],
            ["run", "--minute-retention-hours", "3000000000000"],
            ["run", "--http-read-timeout", "10000000000"],
            ["run", "--http-max-connections", "9223372036854775000"],
            ["run", "--counter-batch-size", "9223372036854775000"],
            ["run", "--partitions", "3000000000"],
            ["broker", "--partitions", "3000000000"],
            ["broker", "--brokers-count", "3000000000"],
          ])
    func flagRanges(_ args: [String]) throws {
        let (exited, status, text) = try Self.streamscore(args)
        #expect(exited && status != 0, "\(args): \(text)")
        #expect(text.contains("\(args[args.count - 2]) must be between"), "\(args): \(text)")
    }

    @Test("rescore --rate outside its range fails with one line naming the flag")
    func rescoreRate() throws {
        let dir = try Shared.tempDir("rescore-rate")
        let (exited, status, text) = try Self.streamscore(["rescore", "--store", "sqlite:\(dir.path)/s.db", "--model", Shared.model("logreg.pmml").path,
                                                           "--rate", "1e-300"])
        #expect(exited && status != 0 && text.contains("--rate must be between") && text.split(separator: "\n").count == 1, "\(text)")
    }

    @Test("hot reload: a new model file is picked up (file watch and SIGHUP); a broken one leaves the old model serving")
    func hotReload() async throws {
        let dir = try Shared.tempDir("reload")
        let model = dir.appendingPathComponent("model.pmml")
        try FileManager.default.copyItem(at: Shared.model("logreg.pmml"), to: model)
        let broker = try BrokerProcess(partitions: 2, topic: "page-views")
        defer { broker.stop() }
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--store", "sqlite:\(dir.appendingPathComponent("s.db").path)",
                                        "--model", model.path, "--subscribers", "prediction", "--log-level", "warning"],
                                       logDir: dir, name: "engine")
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 10)
        }
        func version() -> String? {
            guard let data = try? engine.get("/status"), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let m = object["model"] as? [String: Any] else { return nil }
            return m["version"] as? String
        }
        let first = try #require(version())
        #expect(first.hasPrefix("model.pmml-"))
        // Replace atomically with another model: the watcher swaps it in.
        let staging = dir.appendingPathComponent("staging.pmml")
        try FileManager.default.copyItem(at: Shared.model("tree.pmml"), to: staging)
        #expect(rename(staging.path, model.path) == 0)  // what `mv` does: an atomic replace
        #expect(try await eventually(timeout: .seconds(20)) { version() != nil && version() != first })
        let second = try #require(version())
        // A broken file: the old model keeps serving, also through SIGHUP.
        try "<PMML broken".write(to: model, atomically: true, encoding: .utf8)
        engine.signal(SIGHUP)
        try await Task.sleep(for: .seconds(4))
        #expect(version() == second)
        // POST /score still answers with the serving model.
        let body = #"{"tenure_days":10,"plan":"basic","monthly_charges":20,"page_views_30d":3,"pricing_views_30d":1,"cancel_views_30d":2,"support_calls_30d":1,"complaints_30d":0,"days_since_last_visit":3.5}"#
        let answer = try runTool("/usr/bin/curl", ["-s", "-X", "POST", "--data", body, engine.http + "/score"])
        let object = try JSONSerialization.jsonObject(with: answer.stdout) as? [String: Any]
        #expect(object?["model_version"] as? String == second)
        #expect((object?["probability"] as? Double).map { $0 >= 0 && $0 <= 1 } == true)
        let bad = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data", "[1,2]", engine.http + "/score"])
        #expect(String(decoding: bad.stdout, as: UTF8.self) == "400")
    }
}
