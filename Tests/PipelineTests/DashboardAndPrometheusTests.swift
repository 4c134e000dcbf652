import Foundation
import Testing
import TestSupport

/// The engine as a user sees it: the dashboard in a real headless Chromium, the metrics through a real
/// Prometheus server, the counters API against the oracle.
@Suite("Dashboard, Prometheus and counters API (child processes)", .serialized, .timeLimit(.minutes(4)))
struct DashboardAndPrometheusTests {
    /// A broker with the dirty reference stream and an engine that has drained it.
    func drainedEngine(_ dir: URL) async throws -> (BrokerProcess, EngineProcess) {
        let broker = try BrokerProcess(partitions: 6, topic: "page-views")
        _ = try await produceReference("events_dirty.jsonl", bootstrap: broker.bootstrap, topic: "page-views")
        let engine = try EngineProcess(["--brokers", broker.bootstrap, "--store", "sqlite:\(dir.appendingPathComponent("s.db").path)",
                                        "--model", Shared.model("logreg.pmml").path, "--customers", Shared.reference("customers.csv").path,
                                        "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=500", "--log-level", "warning"],
                                       logDir: dir, name: "engine")
        let drained = try await eventually(timeout: .seconds(60)) {
            let s = engine.status()
            return s["prediction"].map { $0.processed + $0.malformed } == 5_051 && s["counter"].map { $0.processed + $0.malformed } == 5_051
                && s["prediction"]?.lag == 0 && s["counter"]?.lag == 0
        }
        #expect(drained, "see \(engine.stderrFile.path)")
        return (broker, engine)
    }

    /// Attribute values of the elements that carry `attribute`, in document order.
    func attributes(_ dom: String, _ attribute: String) -> [String] {
        var result: [String] = []
        var rest = dom[...]
        while let r = rest.range(of: "\(attribute)=\"") {
            let after = rest[r.upperBound...]
            guard let end = after.firstIndex(of: "\"") else { break }
            result.append(String(after[..<end]))
            rest = after[end...]
        }
        return result
    }

    /// The `data-value` of the element with `id`.
    func dataValue(_ dom: String, id: String) -> String? {
        guard let r = dom.range(of: "id=\"\(id)\"") else { return nil }
        let tagStart = dom[..<r.lowerBound].lastIndex(of: "<") ?? r.lowerBound
        let tagEnd = dom[r.upperBound...].firstIndex(of: ">") ?? dom.endIndex
        let tag = dom[tagStart..<tagEnd]
        guard let v = tag.range(of: "data-value=\"") else { return nil }
        return String(tag[v.upperBound...].prefix { $0 != "\"" })
    }

    @Test("the dashboard renders the engine's numbers in headless Chromium; counters API equals the oracle")
    func dashboardInBrowser() async throws {
        let chromium = "/usr/bin/chromium"
        try #require(FileManager.default.isExecutableFile(atPath: chromium), "chromium is not installed (apt-get install chromium)")
        let dir = try Shared.tempDir("dashboard")
        let (broker, engine) = try await drainedEngine(dir)
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 10)
            broker.stop()
        }

        // The counters API against the oracle (the dashboard's source of truth).
        let types = try JSONSerialization.jsonObject(with: engine.get("/counters/types")) as? [String: Int]
        let oracleTypes = try Shared.csv("oracle_dirty/counts_by_type.csv")
        #expect(types == Dictionary(uniqueKeysWithValues: oracleTypes.map { ($0["type"]!, Int($0["count"]!)!) }))
        let pages = try JSONSerialization.jsonObject(with: engine.get("/counters/pages?top=1000")) as? [[String: Any]] ?? []
        let oraclePages = try pageOracle("oracle_dirty")
        #expect(pages.count == oraclePages.count)
        #expect(pages.allSatisfy { oraclePages[$0["page"] as? String ?? ""] == $0["count"] as? Int })
        let counts = pages.compactMap { $0["count"] as? Int }
        #expect(counts == counts.sorted(by: >))
        let minutes = try JSONSerialization.jsonObject(with: engine.get("/counters/minutes?from=2026-02-01T00:00:00Z&to=2026-02-02T00:00:00Z")) as? [[String: Any]] ?? []
        let oracleMinutes = try Shared.csv("oracle_dirty/pageviews_per_minute.csv").filter { $0["minute_start"]!.hasPrefix("2026-02-01") }
        #expect(minutes.map { $0["minute"] as? String ?? "" } == oracleMinutes.map { $0["minute_start"]! })
        #expect(minutes.map { $0["count"] as? Int ?? -1 } == oracleMinutes.map { Int($0["count"]!)! })

        // The page in a real browser.
        let screenshots = Shared.repo.appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=8000",
                      "--user-data-dir=\(dir.appendingPathComponent("chromium").path)"]
        let dump = try runTool(chromium, common + ["--dump-dom", engine.http + "/"])
        let dom = String(decoding: dump.stdout, as: UTF8.self)
        #expect(dom.contains("data-loaded=\"1\""), "the page never finished a full refresh")
        let status = engine.status()
        #expect(dataValue(dom, id: "processed-prediction") == "\(status["prediction"]?.processed ?? -1)")
        #expect(dataValue(dom, id: "processed-counter") == "\(status["counter"]?.processed ?? -1)")
        #expect(dataValue(dom, id: "malformed-prediction") == "51")
        #expect(dataValue(dom, id: "lag-prediction") == "0")
        #expect(dataValue(dom, id: "model-version")?.hasPrefix("logreg.pmml-") == true)
        // The top pages shown are the API's top pages.
        let shownPages = attributes(dom, "data-page")
        #expect(!shownPages.isEmpty)
        #expect(shownPages == Array(pages.prefix(shownPages.count).compactMap { $0["page"] as? String }))
        // At-risk rows are the highest scores, in order.
        let scores = attributes(dom, "data-score").compactMap(Double.init)
        #expect(!scores.isEmpty && scores == scores.sorted(by: >))

        let shot = try runTool(chromium, common + ["--window-size=1280,1000", "--screenshot=\(screenshots.appendingPathComponent("dashboard.png").path)", engine.http + "/"])
        #expect(shot.status == 0)
        #expect(FileManager.default.fileExists(atPath: screenshots.appendingPathComponent("dashboard.png").path))
    }

    @Test("a real Prometheus scrapes /metrics; its processed total equals the engine's; promtool accepts deploy/'s config")
    func prometheusScrape() async throws {
        let prometheus = "/usr/bin/prometheus", promtool = "/usr/bin/promtool"
        try #require(FileManager.default.isExecutableFile(atPath: prometheus), "prometheus is not installed (apt-get install prometheus)")
        for config in ["deploy/prometheus/prometheus.yml", "deploy/prometheus/prometheus-local.yml"] {
            let check = try runTool(promtool, ["check", "config", Shared.repo.appendingPathComponent(config).path])
            #expect(check.status == 0, "promtool check config \(config)")
        }
        let dir = try Shared.tempDir("prometheus")
        let (broker, engine) = try await drainedEngine(dir)
        defer {
            engine.signal(SIGTERM)
            _ = engine.waitExit(timeout: 10)
            broker.stop()
        }
        let target = engine.http.replacingOccurrences(of: "http://", with: "")
        let config = dir.appendingPathComponent("prometheus.yml")
        try """
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: streamscore
            static_configs:
              - targets: ['\(target)']
        """.write(to: config, atomically: true, encoding: .utf8)
        let port = 19_000 + Int.random(in: 0..<900)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("tsdb").path)",
                            "--web.listen-address=127.0.0.1:\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        let expected = engine.status()["prediction"]?.processed ?? -1
        #expect(expected == 5_000)
        var seen: Int?
        _ = try await eventually(timeout: .seconds(60)) {
            let query = "streamscore_events_processed_total%7Bsubscriber%3D%22prediction%22%7D"
            let answer = try runTool("/usr/bin/curl", ["-s", "--max-time", "3", "http://127.0.0.1:\(port)/api/v1/query?query=\(query)"])
            guard let object = try? JSONSerialization.jsonObject(with: answer.stdout) as? [String: Any],
                  let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                  let value = result.first?["value"] as? [Any], let text = value.last as? String else { return false }
            seen = Double(text).map { Int($0) }
            return seen == expected
        }
        #expect(seen == expected, "Prometheus saw \(seen.map(String.init) ?? "nothing"), the engine processed \(expected)")
    }
}
