import Events
import Foundation
import Scoring
import Store
import Testing
import TestSupport

/// CONTRACT §6 through the real CLI, HTTP API and broker: as-of features against a brute-force oracle
/// computed here from the raw events, the reducer against the stream, reasons, and CRM changes.
@Suite("Scores as of a time, on demand, with reasons (child processes)", .serialized, .timeLimit(.minutes(6)))
struct AsOfScoringTests {
    static let day: Int64 = 86_400_000

    /// Features of `customer` as of `t` by the contract's definition, straight from the event lines.
    static func oracleFeatures(_ customer: String, asOf t: Int64, events: [[String: Any]], attributes: [String: String]) -> [String: String] {
        let dayOf = { (ms: Int64) in ms >= 0 ? ms / day : (ms - day + 1) / day }
        let end = dayOf(t), start = end - 29
        var pv = 0, pricing = 0, cancel = 0, calls = 0, complaints = 0
        var lastPageView: Int64?
        for e in events where e["customer_id"] as? String == customer {
            guard let ts = (e["ts"] as? String).flatMap(Timestamp.parse), ts <= t else { continue }
            let inWindow = dayOf(ts) >= start && dayOf(ts) <= end
            switch e["type"] as? String {
            case "page_view":
                lastPageView = max(lastPageView ?? ts, ts)
                if inWindow {
                    pv += 1
                    let page = e["page"] as? String ?? ""
                    if page.hasPrefix("/pricing") { pricing += 1 }
                    if page.hasPrefix("/account/cancel") { cancel += 1 }
                }
            case "support_call": if inWindow { calls += 1 }
            case "complaint": if inWindow { complaints += 1 }
            default: break
            }
        }
        let dslv = lastPageView.map { min(30, Double(t - $0) / Double(day)) } ?? 30
        return ["tenure_days": attributes["tenure_days"] ?? "0", "plan": attributes["plan"] ?? "basic", "monthly_charges": attributes["monthly_charges"] ?? "0",
                "page_views_30d": "\(pv)", "pricing_views_30d": "\(pricing)", "cancel_views_30d": "\(cancel)", "support_calls_30d": "\(calls)",
                "complaints_30d": "\(complaints)", "days_since_last_visit": "\(dslv)"]
    }

    static func events() throws -> [[String: Any]] {
        try Shared.lines("events_clean.jsonl").compactMap { try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }

    static func customers() throws -> [String: [String: String]] {
        Dictionary(uniqueKeysWithValues: try Shared.csv("customers.csv").map { ($0["customer_id"]!, $0) })
    }

    /// A drained engine over the clean stream with logreg (the store and broker stay for the test).
    static func engine(dir: URL, store: String, extra: [String] = []) async throws -> (BrokerProcess, EngineProcess) {
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        _ = try await produceReference("events_clean.jsonl", bootstrap: broker.bootstrap, topic: "page-views")
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--store", store, "--model", Shared.model("logreg.pmml").path,
                                        "--customers", Shared.reference("customers.csv").path, "--subscribers", "prediction",
                                        "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500", "--log-level", "warning"] + extra,
                                       logDir: dir, name: "engine")
        let drained = try await eventually(timeout: .seconds(120)) {
            let s = engine.status()["prediction"]
            return s?.lag == 0 && s?.partitions == 6 && (s?.processed ?? 0) >= 5_000
        }
        #expect(drained, "engine did not drain; see \(engine.stderrFile.path)")
        return (broker, engine)
    }

    @Test("rescore --as-of: stored features and scores equal a brute-force oracle as of T; after 40 silent days windows are empty and days_since_last_visit = 30")
    func asOfRescore() async throws {
        let dir = try Shared.tempDir("asof")
        let db = dir.appendingPathComponent("state.db")
        let (broker, engine) = try await Self.engine(dir: dir, store: "sqlite:\(db.path)")
        defer { broker.stop() }
        engine.signal(SIGTERM)
        #expect(engine.waitExit(timeout: 15) == 0)
        let model = try CompiledModel.load(contentsOf: Shared.model("logreg.pmml"))
        let events = try Self.events(), crm = try Self.customers()
        let oracle = try Shared.csv("oracle_clean/final_features.csv")

        for asOf in ["2026-03-10T08:30:00Z", "2026-04-15T00:00:00Z"] {
            let t = Timestamp.parse(asOf)!
            let run = try runCapturing(builtProduct("streamscore").path, ["rescore", "--store", "sqlite:\(db.path)", "--model", Shared.model("logreg.pmml").path, "--as-of", asOf])
            #expect(run.status == 0, "\(run.stderr)")
            let store = try SQLiteStore(path: db.path)
            var bad: [String] = []
            for o in oracle {
                let id = o["customer_id"]!
                let expected = Self.oracleFeatures(id, asOf: t, events: events, attributes: crm[id] ?? [:])
                guard let r = try await store.profileRow(id), let score = r.churn_score else { bad.append("\(id): missing"); continue }
                let stored = ModelSetEngineTests.features(r)
                for (k, v) in expected where k != "days_since_last_visit" && k != "monthly_charges" && stored[k] != v { bad.append("\(id) \(k): \(stored[k]!) ≠ \(v)") }
                if abs(r.days_since_last_visit - Double(expected["days_since_last_visit"]!)!) > 1e-9 { bad.append("\(id) dslv \(r.days_since_last_visit) ≠ \(expected["days_since_last_visit"]!)") }
                let p = try ModelSetEngineTests.probability(model, expected)
                if abs(score - p) > 1e-12 { bad.append("\(id): score \(score) ≠ \(p)") }
                if r.features_as_of != Timestamp.format(millis: t) { bad.append("\(id): features_as_of \(r.features_as_of ?? "-")") }
                if t >= Timestamp.parse("2026-04-15T00:00:00Z")! {
                    // 40+ days without events: empty windows, days_since_last_visit 30.
                    if r.page_views_30d != 0 || r.support_calls_30d != 0 || r.complaints_30d != 0 || r.days_since_last_visit != 30 { bad.append("\(id): windows not empty") }
                }
            }
            try await store.close()
            #expect(bad.isEmpty, "as of \(asOf): \(bad.count) mismatches, e.g. \(bad.prefix(4))")
        }
        // Never backwards: an earlier as-of time than the stored one leaves the rows alone.
        let before = try SQLiteStore(path: db.path)
        let row = try await before.profileRow("C000001")
        try await before.close()
        _ = try runCapturing(builtProduct("streamscore").path, ["rescore", "--store", "sqlite:\(db.path)", "--model", Shared.model("logreg.pmml").path, "--as-of", "2026-03-02T00:00:00Z"])
        let after = try SQLiteStore(path: db.path)
        #expect(try await after.profileRow("C000001")?.features_as_of == row?.features_as_of)
        try await after.close()
    }

    @Test("GET /score/{id}?as_of: the oracle's features as of T, the arm's probability, reasons that add up; 404 and 400 paths")
    func onDemandAsOf() async throws {
        let dir = try Shared.tempDir("ondemand")
        let db = dir.appendingPathComponent("state.db")
        let (broker, engine) = try await Self.engine(dir: dir, store: "sqlite:\(db.path)")
        defer { broker.stop() }
        let model = try CompiledModel.load(contentsOf: Shared.model("logreg.pmml"))
        let events = try Self.events(), crm = try Self.customers()
        let t = Timestamp.parse("2026-03-20T12:00:00Z")!
        for id in ["C000001", "C000024", "C000055"] {
            let body = try engine.get("/score/\(id)?as_of=2026-03-20T12:00:00Z")
            let answer = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any], "\(String(decoding: body, as: UTF8.self))")
            let expected = Self.oracleFeatures(id, asOf: t, events: events, attributes: crm[id] ?? [:])
            let features = try #require(answer["features"] as? [String: Any])
            #expect((features["page_views_30d"] as? NSNumber)?.intValue == Int(expected["page_views_30d"]!))
            #expect(abs(((features["days_since_last_visit"] as? NSNumber)?.doubleValue ?? -1) - Double(expected["days_since_last_visit"]!)!) < 1e-9)
            let p = try ModelSetEngineTests.probability(model, expected)
            let probability = try #require(answer["probability"] as? NSNumber).doubleValue
            #expect(abs(probability - p) < 1e-9, "\(id): \(probability) vs \(p)")
            #expect(answer["model_version"] as? String == model.version && answer["arm"] as? String == "champion")
            #expect(answer["features_as_of"] as? String == "2026-03-20T12:00:00.000Z")
            // Reasons: each contribution is p − p(that feature at its reference), positive, descending.
            let reasons = try #require(answer["reasons"] as? [[String: Any]])
            #expect(reasons.count <= 3)
            var previous = Double.infinity
            for r in reasons {
                let feature = try #require(r["feature"] as? String)
                var changed = expected
                changed[feature] = "\(r["reference"]!)"
                let contribution = try #require(r["contribution"] as? NSNumber).doubleValue
                #expect(abs(contribution - (p - (try ModelSetEngineTests.probability(model, changed)))) < 1e-9, "\(id) \(feature)")
                #expect(contribution > 0 && contribution <= previous)
                previous = contribution
            }
        }
        #expect(String(decoding: try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", engine.http + "/score/nobody"]).stdout, as: UTF8.self) == "404")
        #expect(String(decoding: try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", engine.http + "/score/C000001?as_of=yesterday"]).stdout, as: UTF8.self) == "400")
        #expect(String(decoding: try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", engine.http + "/score/C000001?as_of=2020-01-01T00:00:00Z"]).stdout, as: UTF8.self) == "400")
        engine.signal(SIGTERM)
        _ = engine.waitExit(timeout: 15)
    }

    @Test("POST /score/{id}: the posted events folded in answer what the stream stores once the same events are produced; a bad event is named by index")
    func reducerEqualsStream() async throws {
        let dir = try Shared.tempDir("reducer")
        let db = dir.appendingPathComponent("state.db")
        let (broker, engine) = try await Self.engine(dir: dir, store: "sqlite:\(db.path)")
        defer { broker.stop() }
        let newest = Timestamp.parse("2026-03-01T00:00:00Z")!
        let id = "C000001"
        var posted: [String] = []
        for i in 0..<5 {
            let ts = Timestamp.format(millis: newest + Int64(i) * 3_600_000)
            let type = i == 2 ? "support_call" : "page_view"
            posted.append("{\"event_id\":\"post-\(i)\",\"type\":\"\(type)\",\"customer_id\":\"\(id)\",\"ts\":\"\(ts)\"\(type == "page_view" ? ",\"page\":\"/pricing\"" : "")}")
        }
        posted.append("{\"event_id\":\"post-login\",\"type\":\"login\",\"customer_id\":\"\(id)\",\"ts\":\"\(Timestamp.format(millis: newest + 9_000_000))\"}")
        let body = "{\"events\":[\(posted.joined(separator: ","))]}"
        let answerData = try runTool("/usr/bin/curl", ["-s", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body, engine.http + "/score/\(id)"]).stdout
        let answer = try #require(try JSONSerialization.jsonObject(with: answerData) as? [String: Any], "\(String(decoding: answerData, as: UTF8.self))")
        // Nothing was written.
        let unchanged = try SQLiteStore(path: db.path)
        #expect(try await unchanged.profileRow(id)?.scored_at == "2026-02-28T11:51:21.036Z")
        try await unchanged.close()

        // Now the stream gets the same events.
        let producer = try ProducerProcess(file: { () throws -> URL in
            let url = dir.appendingPathComponent("posted.jsonl")
            try Data(posted.joined(separator: "\n").utf8).write(to: url)
            return url
        }(), bootstrap: broker.bootstrap, topic: "page-views", rate: 1_000)
        #expect(producer.waitExit(timeout: 30) == 0)
        let stored = try await eventually(timeout: .seconds(30)) { (engine.status()["prediction"]?.processed ?? 0) >= 5_006 && engine.status()["prediction"]?.lag == 0 }
        #expect(stored)
        let store = try SQLiteStore(path: db.path)
        let row = try #require(try await store.profileRow(id))
        try await store.close()
        // 1e-9: Foundation's JSON parser on Linux may round the last digit; the store holds the exact value.
        #expect(abs(((answer["probability"] as? NSNumber)?.doubleValue ?? -1) - (row.churn_score ?? -2)) < 1e-9)
        #expect(answer["features_as_of"] as? String == row.scored_at)
        let f = try #require(answer["features"] as? [String: Any])
        #expect((f["page_views_30d"] as? NSNumber)?.intValue == row.page_views_30d)
        #expect((f["pricing_views_30d"] as? NSNumber)?.intValue == row.pricing_views_30d)
        #expect((f["support_calls_30d"] as? NSNumber)?.intValue == row.support_calls_30d)
        #expect(abs(((f["days_since_last_visit"] as? NSNumber)?.doubleValue ?? -1) - row.days_since_last_visit) < 1e-9)

        // 400 naming the first bad event's index.
        let bad = "{\"events\":[\(posted[0]),{\"type\":\"page_view\",\"customer_id\":\"\(id)\"}]}"
        let refused = try runTool("/usr/bin/curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", bad, engine.http + "/score/\(id)"]).stdout
        let text = String(decoding: refused, as: UTF8.self)
        #expect(text.hasSuffix("400") && text.contains("event 1"), "\(text)")
        let other = "{\"events\":[{\"event_id\":\"x\",\"type\":\"page_view\",\"customer_id\":\"C000002\",\"ts\":\"2026-03-01T00:00:00Z\",\"page\":\"/\"}]}"
        let otherText = String(decoding: try runTool("/usr/bin/curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", other, engine.http + "/score/\(id)"]).stdout, as: UTF8.self)
        #expect(otherText.hasSuffix("400") && otherText.contains("event 0"), "\(otherText)")
        engine.signal(SIGTERM)
        _ = engine.waitExit(timeout: 15)
    }

    @Test("a CRM plan change: psql UPDATE on PostgreSQL re-scores within 2 s (trigger + LISTEN/NOTIFY); profiles import re-scores on SQLite")
    func crmChangeRescores() async throws {
        let model = try CompiledModel.load(contentsOf: Shared.model("logreg.pmml"))
        func expectFollowed(_ row: ProfileRow?, plan: String) throws {
            let r = try #require(row)
            #expect(r.plan == plan)
            let p = try ModelSetEngineTests.probability(model, ModelSetEngineTests.features(r))
            #expect(abs((r.churn_score ?? -1) - p) < 1e-12, "stored \(r.churn_score ?? -1), model on the new attributes \(p)")
        }
        // SQLite: profiles import.
        let dir = try Shared.tempDir("crm")
        let db = dir.appendingPathComponent("state.db")
        let (broker, engine) = try await Self.engine(dir: dir, store: "sqlite:\(db.path)")
        engine.signal(SIGTERM)
        _ = engine.waitExit(timeout: 15)
        broker.stop()
        let before = try SQLiteStore(path: db.path)
        let old = try #require(try await before.profileRow("C000001"))
        try await before.close()
        let newPlan = old.plan == "premium" ? "basic" : "premium"
        let csv = dir.appendingPathComponent("changed.csv")
        try Data("customer_id,tenure_days,plan,monthly_charges\nC000001,\(old.tenure_days),\(newPlan),\(old.monthly_charges)\n".utf8).write(to: csv)
        let imported = try runCapturing(builtProduct("streamscore").path, ["profiles", "import", "--store", "sqlite:\(db.path)", csv.path])
        #expect(imported.status == 0 && imported.stderr.contains("re-scored 1"), "\(imported.stderr)")
        let after = try SQLiteStore(path: db.path)
        try expectFollowed(try await after.profileRow("C000001"), plan: newPlan)
        #expect(try await after.profileRow("C000001")?.churn_score != old.churn_score)
        try await after.close()

        // PostgreSQL: plain SQL through psql, the running engine re-scores.
        try #require(PrivatePostgres.binaries != nil, "PostgreSQL server binaries are not installed")
        let server = try PrivatePostgres()
        let url = server.url(query: "sslmode=disable")
        let (pgBroker, pgEngine) = try await Self.engine(dir: dir, store: url)
        defer { pgBroker.stop() }
        let changedAt = Date()
        let result = try runTool("/usr/bin/psql", [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "UPDATE profiles SET plan = '\(newPlan)' WHERE customer_id = 'C000001'"])
        #expect(result.status == 0)
        let store = try await StoreFactory.open(try StoreURL(parsing: url))
        let followed = try await eventually(timeout: .seconds(10)) {
            guard let r = try await store.profileRow("C000001"), let s = r.churn_score else { return false }
            return abs(s - (try ModelSetEngineTests.probability(model, ModelSetEngineTests.features(r)))) < 1e-12 && r.plan == newPlan
        }
        let elapsed = Date().timeIntervalSince(changedAt)
        #expect(followed && elapsed < 2.0, "re-scored after \(elapsed) s; see \(pgEngine.stderrFile.path)")
        print("crm change: re-scored after \(String(format: "%.2f", elapsed)) s")
        try expectFollowed(try await store.profileRow("C000001"), plan: newPlan)
        try await store.close()
        pgEngine.signal(SIGTERM)
        _ = pgEngine.waitExit(timeout: 15)
    }
}
