import Foundation
import Scoring
import Store
import Testing
import TestSupport

/// Model sets through the real CLI and a real broker (CONTRACT §5): arms by the contract's hash, served
/// scores equal to their arm's model, the prediction log, reload under load, rescore after kill -9.
@Suite("Model sets: champion, challenger, shadow (child processes)", .serialized, .timeLimit(.minutes(6)))
struct ModelSetEngineTests {
    static let kcat = "/usr/bin/kcat"

    /// FNV-1a-64 mod 100, written here independently of the engine's.
    static func bucket(_ id: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in id.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return Int(h % 100)
    }

    /// A model-set file in `dir` pointing at the reference models.
    static func writeSet(_ dir: URL, _ entries: [(name: String, model: String, role: String, percent: Int?)], file: String = "models.json") throws -> URL {
        let items = entries.map { e in
            "{\"name\":\"\(e.name)\",\"path\":\"\(Shared.model(e.model).path)\",\"role\":\"\(e.role)\"\(e.percent.map { ",\"percent\":\($0)" } ?? "")}"
        }
        let url = dir.appendingPathComponent(file)
        try Data("{\"models\":[\(items.joined(separator: ","))]}".utf8).write(to: url)
        return url
    }

    /// A model's probability for the features held in a stored row (or an oracle row).
    static func probability(_ model: CompiledModel, _ f: [String: String]) throws -> Double {
        var values: [String: FieldValue] = [:]
        for (k, v) in f { values[k] = k == "plan" ? .string(v) : .number(Double(v)!) }
        return try model.score(model.makeRow(values))
    }

    static func features(_ r: ProfileRow) -> [String: String] {
        ["tenure_days": "\(r.tenure_days)", "plan": r.plan, "monthly_charges": "\(r.monthly_charges)",
         "page_views_30d": "\(r.page_views_30d)", "pricing_views_30d": "\(r.pricing_views_30d)", "cancel_views_30d": "\(r.cancel_views_30d)",
         "support_calls_30d": "\(r.support_calls_30d)", "complaints_30d": "\(r.complaints_30d)", "days_since_last_visit": "\(r.days_since_last_visit)"]
    }

    static let featureNames = ["tenure_days", "plan", "monthly_charges", "page_views_30d", "pricing_views_30d", "cancel_views_30d",
                               "support_calls_30d", "complaints_30d", "days_since_last_visit"]

    /// Every message of a topic as (key, value).
    static func readTopic(_ bootstrap: String, _ topic: String) throws -> [(key: String, value: String)] {
        let out = try runTool(kcat, ["-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%k\t%s\n"]).stdout
        return String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
    }

    /// Runs the engine over the clean reference stream with `args` until drained, then SIGTERM.
    static func runClean(_ broker: BrokerProcess, args: [String], dir: URL, name: String) async throws {
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--customers", Shared.reference("customers.csv").path,
                                        "--subscribers", "prediction", "--kafka", "session.timeout.ms=6000",
                                        "--kafka", "heartbeat.interval.ms=500", "--log-level", "warning"] + args, logDir: dir, name: name)
        let drained = try await eventually(timeout: .seconds(120)) {
            let s = engine.status()["prediction"]
            return s?.lag == 0 && s?.partitions == 6 && (s?.processed ?? 0) >= 5_000
        }
        #expect(drained, "engine did not drain; see \(engine.stderrFile.path)")
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0)
    }

    /// Checks a store after the clean stream scored with champion logreg, 20 % challenger tree, shadow gbc.
    static func expectThreeModelSet(_ store: any EngineStore, bootstrap: String) async throws {
        let logreg = try CompiledModel.load(contentsOf: Shared.model("logreg.pmml"))
        let tree = try CompiledModel.load(contentsOf: Shared.model("tree.pmml"))
        let gbc = try CompiledModel.load(contentsOf: Shared.model("gbc.pmml"))
        let oracle = try Shared.csv("oracle_clean/final_features.csv")
        var bad: [String] = [], challengers = 0
        for o in oracle {
            let id = o["customer_id"]!
            guard let r = try await store.profileRow(id), let score = r.churn_score else {
                bad.append("\(id): not scored")
                continue
            }
            let isChallenger = bucket(id) < 20
            if isChallenger { challengers += 1 }
            let model = isChallenger ? tree : logreg
            // Features as of the newest event equal the independent oracle's; the served score is the arm's model on them.
            for k in featureNames where k != "days_since_last_visit" && features(r)[k] != o[k]! && Double(features(r)[k]!) != Double(o[k]!) {
                bad.append("\(id): \(k) \(features(r)[k]!) ≠ oracle \(o[k]!)")
            }
            let expected = try probability(model, Dictionary(uniqueKeysWithValues: featureNames.map { ($0, o[$0]!) }))
            if abs(score - expected) > 1e-12 { bad.append("\(id): score \(score) ≠ \(isChallenger ? "tree" : "logreg") \(expected)") }
            if !isChallenger && abs(score - Double(o["p_churn"]!)!) > 1e-12 { bad.append("\(id): champion score ≠ oracle p_churn") }
            if r.arm != (isChallenger ? "challenger" : "champion") || r.model_name != (isChallenger ? "tree-b" : "main")
                || r.model_version != model.version {
                bad.append("\(id): labelled \(r.model_name ?? "-")/\(r.arm ?? "-")/\(r.model_version ?? "-")")
            }
        }
        #expect(bad.isEmpty, "\(bad.count) mismatches, e.g. \(bad.prefix(5))")
        #expect(challengers > 5 && challengers < oracle.count - 5, "the 20 % arm should hold some of the \(oracle.count) customers (\(challengers))")

        // The prediction log: for every scored customer, its last message carries every model's probability
        // of the logged features, and those features are the oracle's.
        var last: [String: [String: Any]] = [:]
        for m in try readTopic(bootstrap, "predictions") {
            last[m.key] = try JSONSerialization.jsonObject(with: Data(m.value.utf8)) as? [String: Any]
        }
        var logBad: [String] = []
        for o in oracle {
            let id = o["customer_id"]!
            guard let message = last[id], let scores = message["scores"] as? [String: [String: Any]],
                  let features = message["features"] as? [String: Any] else {
                logBad.append("\(id): no log message")
                continue
            }
            let f = Dictionary(uniqueKeysWithValues: featureNames.map { k in (k, features[k].map { "\($0)" } ?? "") })
            let oracleFeatures = Dictionary(uniqueKeysWithValues: featureNames.map { ($0, o[$0]!) })
            for (name, model, role) in [("main", logreg, "champion"), ("tree-b", tree, "challenger"), ("gbc-shadow", gbc, "shadow")] {
                // Foundation's JSON parser may round the last digit of a double: 1e-9 here, exact equality
                // is checked on the stored score above.
                let logged = (scores[name]?["probability"] as? NSNumber)?.doubleValue ?? .nan
                let expected = try probability(model, oracleFeatures)
                if abs(logged - expected) > 1e-9 || scores[name]?["role"] as? String != role { logBad.append("\(id): \(name) logged \(logged), expected \(expected)") }
            }
            if Int(f["page_views_30d"]!) != Int(o["page_views_30d"]!) || message["served_by"] as? String != (bucket(id) < 20 ? "tree-b" : "main") {
                logBad.append("\(id): logged features or served_by differ")
            }
        }
        #expect(logBad.isEmpty, "\(logBad.count) log mismatches, e.g. \(logBad.prefix(5))")
    }

    static let threeModels: [(name: String, model: String, role: String, percent: Int?)] = [
        ("main", "logreg.pmml", "champion", nil), ("tree-b", "tree.pmml", "challenger", 20), ("gbc-shadow", "gbc.pmml", "shadow", nil),
    ]

    @Test("3-model set into SQLite: arms by FNV-1a-64, served score = arm's model (1e-12), labels, prediction log with every model")
    func threeModelSetSQLite() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.kcat), "kcat is not installed")
        let dir = try Shared.tempDir("modelset")
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        _ = try await produceReference("events_clean.jsonl", bootstrap: broker.bootstrap, topic: "page-views")
        let set = try Self.writeSet(dir, Self.threeModels)
        let db = dir.appendingPathComponent("state.db")
        try await Self.runClean(broker, args: ["--store", "sqlite:\(db.path)", "--models", set.path], dir: dir, name: "engine")
        let store = try SQLiteStore(path: db.path)
        try await Self.expectThreeModelSet(store, bootstrap: broker.bootstrap)
        try await store.close()
    }

    @Test("3-model set into PostgreSQL: the same checks")
    func threeModelSetPostgres() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.kcat), "kcat is not installed")
        try #require(PrivatePostgres.binaries != nil, "PostgreSQL server binaries are not installed (apt-get install postgresql)")
        let dir = try Shared.tempDir("modelset-pg")
        let server = try PrivatePostgres()
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        _ = try await produceReference("events_clean.jsonl", bootstrap: broker.bootstrap, topic: "page-views")
        let set = try Self.writeSet(dir, Self.threeModels)
        let url = server.url(query: "sslmode=disable")
        try await Self.runClean(broker, args: ["--store", url, "--models", set.path], dir: dir, name: "engine")
        let store = try await StoreFactory.open(try StoreURL(parsing: url))
        try await Self.expectThreeModelSet(store, bootstrap: broker.bootstrap)
        try await store.close()
    }

    @Test("a new champion file moved into place under load: nothing lost, every stored score labelled with the model that computed it")
    func reloadUnderLoad() async throws {
        let dir = try Shared.tempDir("modelset-reload")
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        defer { broker.stop() }
        let set = try Self.writeSet(dir, [("main", "logreg.pmml", "champion", nil)])
        let db = dir.appendingPathComponent("state.db")
        let producer = try ProducerProcess(file: Shared.reference("events_clean.jsonl"), bootstrap: broker.bootstrap, topic: "page-views", rate: 600)
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--store", "sqlite:\(db.path)", "--models", set.path,
                                        "--customers", Shared.reference("customers.csv").path, "--subscribers", "prediction", "--batch-size", "40",
                                        "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500", "--log-level", "warning"],
                                       logDir: dir, name: "engine")
        let midway = try await eventually(timeout: .seconds(60)) { (engine.status()["prediction"]?.processed ?? 0) >= 1_000 + Int.random(in: 0..<1_500) }
        #expect(midway)
        // The GitOps move: a new file renamed over the old one.
        _ = try Self.writeSet(dir, [("main", "tree.pmml", "champion", nil)], file: "models.json.new")
        #expect(rename(dir.appendingPathComponent("models.json.new").path, set.path) == 0)
        #expect(producer.waitExit(timeout: 60) == 0)
        let drained = try await eventually(timeout: .seconds(120)) {
            let s = engine.status()["prediction"]
            return s?.lag == 0 && (s?.processed ?? 0) >= 5_000
        }
        #expect(drained, "see \(engine.stderrFile.path)")
        let models = String(decoding: try engine.get("/models"), as: UTF8.self)
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0)
        let tree = try CompiledModel.load(contentsOf: Shared.model("tree.pmml"))
        let logreg = try CompiledModel.load(contentsOf: Shared.model("logreg.pmml"))
        #expect(models.contains(tree.version), "GET /models after the reload: \(models)")

        let store = try SQLiteStore(path: db.path)
        let oracle = try Shared.csv("oracle_clean/final_features.csv")
        var bad: [String] = [], byTree = 0
        for o in oracle {
            let id = o["customer_id"]!
            guard let r = try await store.profileRow(id), let score = r.churn_score else {
                bad.append("\(id): not scored")
                continue
            }
            // Nothing lost: the features are the oracle's.
            if r.page_views_30d != Int(o["page_views_30d"]!) || r.support_calls_30d != Int(o["support_calls_30d"]!)
                || abs(r.days_since_last_visit - Double(o["days_since_last_visit"]!)!) > 1e-9 {
                bad.append("\(id): features differ from the oracle")
            }
            // Labelled with the model that computed it.
            let model = r.model_version == tree.version ? tree : r.model_version == logreg.version ? logreg : nil
            guard let model else {
                bad.append("\(id): unknown model_version \(r.model_version ?? "-")")
                continue
            }
            if model === tree { byTree += 1 }
            let expected = try Self.probability(model, Self.features(r))
            if abs(score - expected) > 1e-12 { bad.append("\(id): score \(score) is not \(r.model_version!)'s \(expected)") }
        }
        try await store.close()
        #expect(bad.isEmpty, "\(bad.count) problems, e.g. \(bad.prefix(5))")
        #expect(byTree > 0, "the new champion scored nothing")
    }

    @Test("rescore killed with SIGKILL, then rerun: every profile holds its arm's current model's score; the stream's newer writes win")
    func rescoreKillAndRerun() async throws {
        let dir = try Shared.tempDir("rescore")
        let db = dir.appendingPathComponent("state.db")
        // 10,000 imported customers, none scored yet.
        let imported = try runCapturing(builtProduct("streamscore").path, ["profiles", "import", "--store", "sqlite:\(db.path)", Shared.reference("customers.csv").path])
        #expect(imported.status == 0)
        let set = try Self.writeSet(dir, [("main", "gbc.pmml", "champion", nil), ("tree-b", "tree.pmml", "challenger", 30)])
        let process = Process()
        process.executableURL = builtProduct("streamscore")
        process.arguments = ["rescore", "--store", "sqlite:\(db.path)", "--models", set.path, "--rate", "2500"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Killed once its first page is stored (not after a fixed pause: a slower machine may not have
        // stored one by then); at 2,500/s the 10,000 take 4 s, so the kill still lands mid-way.
        let started = try await eventually(timeout: .seconds(60)) {
            let store = try SQLiteStore(path: db.path)
            let scored = try await store.topRisk(limit: 1)
            try await store.close()
            return !scored.isEmpty
        }
        kill(process.processIdentifier, SIGKILL)
        #expect(started, "the rescore stored nothing in 60 s")
        process.waitUntilExit()

        let gbc = try CompiledModel.load(contentsOf: Shared.model("gbc.pmml"))
        let tree = try CompiledModel.load(contentsOf: Shared.model("tree.pmml"))
        func check(_ store: SQLiteStore) async throws -> (done: Int, bad: [String]) {
            var done = 0, bad: [String] = [], after: String?
            while true {
                let page = try await store.profilePage(after: after, limit: 1_000)
                guard let last = page.last else { break }
                after = last.row.customer_id
                for p in page {
                    let r = p.row
                    guard let score = r.churn_score else { continue }
                    done += 1
                    let challenger = Self.bucket(r.customer_id) < 30
                    let expected = try Self.probability(challenger ? tree : gbc, Self.features(r))
                    if abs(score - expected) > 1e-12 || r.model_name != (challenger ? "tree-b" : "main") || r.arm != (challenger ? "challenger" : "champion") {
                        bad.append("\(r.customer_id): \(score) \(r.model_name ?? "-") \(r.arm ?? "-"), expected \(expected)")
                    }
                }
            }
            return (done, bad)
        }
        let partial = try SQLiteStore(path: db.path)
        let (before, badBefore) = try await check(partial)
        try await partial.close()
        #expect(before > 0 && before < 10_000, "the kill should land mid-way (\(before) of 10,000 rescored)")
        #expect(badBefore.isEmpty, "\(badBefore.prefix(3))")

        let rerun = try runCapturing(builtProduct("streamscore").path, ["rescore", "--store", "sqlite:\(db.path)", "--models", set.path])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let store = try SQLiteStore(path: db.path)
        let (after, bad) = try await check(store)
        #expect(after == 10_000)
        #expect(bad.isEmpty, "\(bad.count) wrong, e.g. \(bad.prefix(3))")

        // The conditional rewrite: a page read, then a stream write to one of its rows, then the rewrite.
        let page = try await store.profilePage(after: nil, limit: 5)
        let target = page[0]
        var profile = target.profile
        profile.state.apply(kind: .pageView, page: "/pricing", timestamp: 1_772_000_000_000)
        try await store.commitProfiles([ProfileUpdate(profile: profile, features: profile.features(), churnScore: 0.123, modelVersion: "stream",
                                                      scoredAt: profile.asOf, modelName: "main", arm: "champion")],
                                       offsets: [], scope: OffsetScope(subscriber: "prediction", topic: "page-views"))
        let rewrites = page.map { p in
            ScoreRewrite(customerID: p.row.customer_id, expected: .init(p.row), churnScore: 0.999, modelVersion: "rescore", modelName: "main", arm: "champion")
        }
        let done = try await store.rewriteScores(rewrites)
        #expect(Set(done) == Set(page.dropFirst().map(\.row.customer_id)))
        #expect(try await store.profileRow(target.row.customer_id)?.churn_score == 0.123, "the stream's newer score must stay")
        try await store.close()
    }

    @Test("score --models: probability is the champion's, probability_<name> per model, equal to JPMML's")
    func batchScoringWithASet() throws {
        let dir = try Shared.tempDir("score-set")
        let set = try Self.writeSet(dir, [("lr", "logreg.pmml", "champion", nil), ("gbc", "gbc.pmml", "shadow", nil)])
        let out = dir.appendingPathComponent("out.csv")
        let run = try runCapturing(builtProduct("streamscore").path, ["score", "--models", set.path, "--input", Shared.model("gbc.expected.csv").path, "--output", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        let header = rows[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(Array(header.suffix(3)) == ["probability", "probability_lr", "probability_gbc"])
        let expectedLR = try Shared.csv("../models/logreg.expected.csv")
        for (i, line) in rows.dropFirst().enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let jpmml = Double(cells[header.firstIndex(of: "p_jpmml")!])!
            #expect(abs(Double(cells[header.count - 1])! - jpmml) < 1e-12, "row \(i): gbc")
            #expect(cells[header.count - 3] == cells[header.count - 2], "row \(i): probability is the champion's")
            if i < expectedLR.count, expectedLR[i]["row_id"] == cells[0] {
                // The same input rows: logreg's JPMML value is in its own expected file.
                #expect(abs(Double(cells[header.count - 2])! - Double(expectedLR[i]["p_jpmml"]!)!) < 1e-12, "row \(i): logreg")
            }
        }
    }

    @Test("models promote and rollback edit the file, keep the previous version, and refuse a set that does not load")
    func promoteAndRollback() throws {
        let dir = try Shared.tempDir("promote")
        let set = try Self.writeSet(dir, Self.threeModels)
        let promote = try runCapturing(builtProduct("streamscore").path, ["models", "promote", "tree-b", "--file", set.path])
        #expect(promote.status == 0, "\(promote.stderr)")
        let promoted = try ModelSetFile.parse(Data(contentsOf: set), file: set.path)
        #expect(promoted.champion.name == "tree-b")
        #expect(promoted.models.first { $0.name == "main" }?.role == .shadow)
        let rollback = try runCapturing(builtProduct("streamscore").path, ["models", "rollback", "--file", set.path])
        #expect(rollback.status == 0)
        #expect(try ModelSetFile.parse(Data(contentsOf: set), file: set.path).champion.name == "main")
        let unknown = try runCapturing(builtProduct("streamscore").path, ["models", "promote", "nope", "--file", set.path])
        #expect(unknown.status != 0 && unknown.stderr.contains("nope"))
        // A member whose model file is gone: the promotion is refused and the file is unchanged.
        let before = try Data(contentsOf: set)
        let broken = try Self.writeSet(dir, [("main", "logreg.pmml", "champion", nil), ("x", "missing.pmml", "shadow", nil)], file: "broken.json")
        let refused = try runCapturing(builtProduct("streamscore").path, ["models", "promote", "x", "--file", broken.path])
        #expect(refused.status != 0 && refused.stderr.contains("missing.pmml"), "\(refused.stderr)")
        #expect(try Data(contentsOf: set) == before)
    }
}
