import Events
import Features
import Foundation
import Kafka
import Pipeline
import Scoring
import Store
import Testing
import TestSupport

/// Re-scoring the customers a CRM import changed: an import may change every customer, so the rescorer
/// works a page of ids at a time, and each published rewrite carries its own row's score and scored_at.
@Suite("Re-scoring changed customers")
struct RescoreChangedTests {
    @Test("a change of every scored customer is re-scored in pages of pageSize; each churn-scores message equals its stored row")
    func pagesAndMessages() async throws {
        let e2e = EndToEndTests()
        let engine = try await e2e.makeEngine()
        let total = try await produceReference("events_clean.jsonl", bootstrap: engine.broker.bootstrap, topic: engine.topic)
        try await e2e.runPrediction(engine, total: total)

        // Every customer's plan moves on (basic → standard → premium → basic): the model's input changes.
        let records = try CustomerCSV.parse(Data(contentsOf: Shared.reference("customers.csv")), file: "customers.csv")
        let next = ["basic": "standard", "standard": "premium", "premium": "basic"]
        let changed = try await engine.store.importCustomers(records.map { record in
            var r = record
            r.attributes = StaticAttributes(tenureDays: r.attributes.tenureDays, plan: next[r.attributes.plan] ?? "basic",
                                            monthlyCharges: r.attributes.monthlyCharges)
            return r
        })
        #expect(changed.count == records.count)
        let before = try await engine.store.profileRows(changed).filter { $0.churn_score != nil }
        #expect(before.count > 3 * 30, "the reference stream scores customers of several pages")

        let topic = "rescored-\(UUID().uuidString.prefix(6))"
        let pageSize = 30
        let rescorer = Rescorer(store: engine.store, registry: try ModelRegistry(contentsOf: Shared.model("logreg.pmml")),
                                producer: engine.producer, scoresTopic: topic, pageSize: pageSize, logger: Shared.logger)
        var pages: [Rescorer.Result] = []
        let result = try await rescorer.run(customerIDs: changed) { pages.append($0) }
        #expect(pages.count == (changed.count + pageSize - 1) / pageSize)
        #expect(pages.last == result)
        #expect(result.read == before.count && result.rewritten + result.skippedNewer == before.count && result.rewritten > 3 * 30)

        let after = Dictionary(try await engine.store.profileRows(changed).map { ($0.customer_id, $0) }, uniquingKeysWith: { a, _ in a })
        let messages = try await e2e.readTopic(engine.broker.bootstrap, topic, count: result.rewritten)
        engine.producer.shutdown()
        #expect(messages.count == result.rewritten)
        let scoreBefore = Dictionary(before.map { ($0.customer_id, $0.churn_score) }, uniquingKeysWith: { a, _ in a })
        var rescoredChanged = 0
        for m in messages {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(m.value)) as? [String: Any])
            let key = try #require(m.key)
            let row = try #require(after[key])
            #expect(object["customer_id"] as? String == row.customer_id)
            // The number as written (Foundation's JSON parser on Linux may round the last digit differently).
            let text = String(decoding: m.value, as: UTF8.self)
            let score = try #require(text.firstMatch(of: /"churn_score":([^,}]+)/).map { Double($0.1) } ?? nil)
            #expect(score == row.churn_score, "\(text)")
            #expect(object["scored_at"] as? String == row.scored_at)
            if scoreBefore[row.customer_id] != row.churn_score { rescoredChanged += 1 }
        }
        #expect(rescoredChanged == messages.count, "every published rewrite changed its stored score")
    }
}
