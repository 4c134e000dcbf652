import Events
import Foundation
import Kafka
import Logging
import Store
import Testing
import TestSupport

/// The reference stream produced into a topic as the contract says: each line byte for byte, keyed
/// by customer_id (a malformed line without a readable customer id gets a null key).
func produceReference(_ file: String, bootstrap: String, topic: String) async throws -> Int {
    let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: bootstrap), logger: Shared.logger)
    let lines = try Shared.lines(file)
    let messages = lines.map { line in
        ProducerMessage(topic: topic, key: EventDecoder.decode(line).event.map { Array($0.customerID.utf8) }, value: line)
    }
    try await producer.send(messages)
    producer.shutdown()
    return lines.count
}

/// Compares every profile with `oracle_*/final_features.csv`: features exact, days_since_last_visit
/// within 1e-9, churn_score within 1e-12 of p_churn (logreg.pmml), scored_at = as_of_ts.
func expectProfilesMatchOracle(_ store: any EngineStore, oracle: String, only customers: Set<String>? = nil,
                               sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let rows = try Shared.csv("\(oracle)/final_features.csv").filter { customers?.contains($0["customer_id"]!) ?? true }
    var mismatches: [String] = []
    for row in rows {
        let id = row["customer_id"]!
        guard let p = try await store.profileRow(id) else {
            mismatches.append("\(id): missing")
            continue
        }
        var bad: [String] = []
        if p.tenure_days != Int(row["tenure_days"]!) { bad.append("tenure_days") }
        if p.plan != row["plan"] { bad.append("plan") }
        if p.monthly_charges != Double(row["monthly_charges"]!) { bad.append("monthly_charges") }
        if p.page_views_30d != Int(row["page_views_30d"]!) { bad.append("page_views_30d") }
        if p.pricing_views_30d != Int(row["pricing_views_30d"]!) { bad.append("pricing_views_30d") }
        if p.cancel_views_30d != Int(row["cancel_views_30d"]!) { bad.append("cancel_views_30d") }
        if p.support_calls_30d != Int(row["support_calls_30d"]!) { bad.append("support_calls_30d") }
        if p.complaints_30d != Int(row["complaints_30d"]!) { bad.append("complaints_30d") }
        if abs(p.days_since_last_visit - Double(row["days_since_last_visit"]!)!) > 1e-9 { bad.append("days_since_last_visit") }
        if p.scored_at != row["as_of_ts"] { bad.append("scored_at \(p.scored_at ?? "nil") vs \(row["as_of_ts"]!)") }
        if let score = p.churn_score, abs(score - Double(row["p_churn"]!)!) <= 1e-12 {} else {
            bad.append("churn_score \(p.churn_score.map { "\($0)" } ?? "nil") vs \(row["p_churn"]!)")
        }
        if !bad.isEmpty { mismatches.append("\(id): \(bad.joined(separator: ", "))") }
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) profiles differ from the oracle: \(mismatches.prefix(5))", sourceLocation: sourceLocation)
    #expect(try await store.profileCount() >= rows.count, sourceLocation: sourceLocation)
}

/// Compares the counter tables with `oracle_*/counts_by_*.csv` and `pageviews_per_minute.csv` exactly.
func expectCountersMatchOracle(_ store: any EngineStore, oracle: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let types = try Shared.csv("\(oracle)/counts_by_type.csv")
    let expectedTypes = Dictionary(uniqueKeysWithValues: types.map { (UTF8Key($0["type"]!), Int($0["count"]!)!) })
    #expect(try await store.typeCounts() == expectedTypes, sourceLocation: sourceLocation)

    let pages = try pageOracle(oracle)
    let stored = try await store.pageCounts(top: 100_000)
    #expect(Dictionary(uniqueKeysWithValues: stored.map { ($0.page, $0.count) }) == pages, sourceLocation: sourceLocation)

    let minutes = try Shared.csv("\(oracle)/pageviews_per_minute.csv")
    let storedMinutes = try await store.minuteCounts(from: nil, to: nil)
    #expect(storedMinutes.map { Timestamp.format(millis: $0.minute) } == minutes.map { $0["minute_start"]! }, sourceLocation: sourceLocation)
    #expect(storedMinutes.map(\.count) == minutes.map { Int($0["count"]!)! }, sourceLocation: sourceLocation)
}

/// counts_by_page.csv may hold pages with commas in quotes; parse it with the last comma as separator.
func pageOracle(_ oracle: String) throws -> [String: Int] {
    let text = try String(contentsOf: Shared.reference("\(oracle)/counts_by_page.csv"), encoding: .utf8)
    var result: [String: Int] = [:]
    for line in text.split(separator: "\n").dropFirst() {
        guard let comma = line.lastIndex(of: ",") else { continue }
        var page = String(line[..<comma])
        if page.hasPrefix("\"") && page.hasSuffix("\"") && page.count >= 2 {
            page = String(page.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        }
        result[page] = Int(line[line.index(after: comma)...])
    }
    return result
}

/// Waits for `condition`, polling every 50 ms, up to `timeout`.
func eventually(timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
