import Events
import Features
import Testing

/// Static attributes from customers.csv.
let crm: [String: StaticAttributes] = {
    var result: [String: StaticAttributes] = [:]
    for row in (try? Reference.csv("customers.csv")) ?? [] {
        guard let id = row["customer_id"], let tenure = row["tenure_days"].flatMap({ Int($0) }), let plan = row["plan"],
              let charges = row["monthly_charges"].flatMap({ Double($0) }) else { continue }
        result[id] = StaticAttributes(tenureDays: tenure, plan: plan, monthlyCharges: charges)
    }
    return result
}()

/// The valid events of a stream with their 1-based line numbers.
func validEvents(_ stream: String) throws -> [(line: Int, event: Event)] {
    try Reference.lines(stream).enumerated().compactMap { index, bytes in
        EventDecoder.decode(bytes).event.map { (index + 1, $0) }
    }
}

/// Replays events into profiles (unknown customers get the contract defaults).
struct Replay {
    var profiles: [String: Profile] = [:]
    var relevantCounts: [String: Int] = [:]

    /// Applies one event; returns the customer's features after it, or nil if irrelevant.
    mutating func apply(_ event: Event) -> FeatureVector? {
        var profile = profiles[event.customerID]
            ?? Profile(customerID: event.customerID, attributes: crm[event.customerID] ?? .unknownCustomer)
        guard profile.apply(event) else { return nil }
        profiles[event.customerID] = profile
        relevantCounts[event.customerID, default: 0] += 1
        return profile.features()
    }
}

/// Compares a vector with an oracle row (counts exact, days within 1e-9, static attributes equal).
func matches(_ vector: FeatureVector, _ row: [String: String]) -> Bool {
    func int(_ key: String) -> Int? { row[key].flatMap { Int($0) } }
    func double(_ key: String) -> Double? { row[key].flatMap { Double($0) } }
    guard let days = double("days_since_last_visit") else { return false }
    // The dirty per-event oracle leaves the static columns of customers missing from the CRM empty.
    let staticMatch = row["plan"] == "" || (vector.tenureDays == int("tenure_days") && vector.plan == row["plan"]
        && vector.monthlyCharges == double("monthly_charges"))
    return staticMatch
        && vector.pageViews30d == int("page_views_30d") && vector.pricingViews30d == int("pricing_views_30d")
        && vector.cancelViews30d == int("cancel_views_30d") && vector.supportCalls30d == int("support_calls_30d")
        && vector.complaints30d == int("complaints_30d") && abs(vector.daysSinceLastVisit - days) <= 1e-9
}

/// Checks every customer's final vector against oracle_*/final_features.csv.
func expectFinalFeatures(_ replay: Replay, oracle: String) throws {
    let rows = try Reference.csv("\(oracle)/final_features.csv")
    #expect(rows.count == replay.profiles.count)
    for row in rows {
        let id = row["customer_id"] ?? ""
        guard let profile = replay.profiles[id] else {
            Issue.record("no profile for \(id)")
            continue
        }
        #expect(matches(profile.features(), row), "\(id): \(profile.features()) vs \(row)")
        #expect(profile.asOf.map(Timestamp.format(millis:)) == row["as_of_ts"], "\(id)")
        #expect(replay.relevantCounts[id] == row["n_events"].flatMap { Int($0) }, "\(id)")
        #expect((crm[id] != nil) == (row["in_crm"] == "1"))
    }
}

@Suite("Features against the reference oracles")
struct FeatureOracleTests {
    @Test("clean stream: the vector as of every relevant event, and every customer's final vector")
    func cleanStream() throws {
        let perEvent = try Reference.csv("oracle_clean/per_event_features.csv")
        var expected: [Int: [String: String]] = [:]
        for row in perEvent { expected[Int(row["line_no"] ?? "") ?? -1] = row }
        var replay = Replay()
        var compared = 0
        for (line, event) in try validEvents("events_clean.jsonl") {
            guard let vector = replay.apply(event) else {
                #expect(expected[line] == nil, "line \(line) is irrelevant but has an oracle row")
                continue
            }
            guard let row = expected[line] else {
                Issue.record("line \(line): no oracle row")
                continue
            }
            #expect(row["event_id"] == event.eventID)
            #expect(matches(vector, row), "line \(line): \(vector) vs \(row)")
            #expect(replay.profiles[event.customerID]?.asOf.map(Timestamp.format(millis:)) == row["ts"])
            compared += 1
        }
        #expect(compared == perEvent.count)
        try expectFinalFeatures(replay, oracle: "oracle_clean")
    }

    @Test("dirty stream (late events, unknown customers, malformed lines skipped): final vectors")
    func dirtyStreamFinal() throws {
        var replay = Replay()
        for (_, event) in try validEvents("events_dirty.jsonl") { _ = replay.apply(event) }
        #expect(replay.profiles.values.filter { crm[$0.customerID] == nil }.count == 2)
        try expectFinalFeatures(replay, oracle: "oracle_dirty")
    }

    @Test("dirty stream replayed in event-time order reproduces its per-event oracle")
    func dirtyStreamInEventTimeOrder() throws {
        // The oracle's per-event rows are computed in event time (a late event already counts for
        // earlier-timestamped events); replaying sorted by ts must reproduce every row.
        var expected: [Int: [String: String]] = [:]
        for row in try Reference.csv("oracle_dirty/per_event_features.csv") { expected[Int(row["line_no"] ?? "") ?? -1] = row }
        let sorted = try validEvents("events_dirty.jsonl").enumerated()
            .sorted { ($0.element.event.timestamp, $0.offset) < ($1.element.event.timestamp, $1.offset) }.map(\.element)
        var replay = Replay()
        var compared = 0
        for (line, event) in sorted {
            guard let vector = replay.apply(event) else { continue }
            if let row = expected[line] {
                #expect(matches(vector, row), "line \(line): \(vector) vs \(row)")
                compared += 1
            }
        }
        #expect(compared == expected.count)
    }

    @Test("serialising every state midway and continuing from the decoded blobs gives the same result",
          arguments: ["events_clean.jsonl", "events_dirty.jsonl"])
    func roundTripMidway(stream: String) throws {
        let events = try validEvents(stream)
        var replay = Replay()
        var maxBlob = 0
        for (index, item) in events.enumerated() {
            _ = replay.apply(item.event)
            if index == events.count / 2 || index == events.count * 3 / 4 {
                for (id, profile) in replay.profiles {
                    let blob = profile.state.encoded()
                    maxBlob = max(maxBlob, blob.count)
                    let restored = try RollingState(decoding: blob)
                    #expect(restored == profile.state)
                    replay.profiles[id] = Profile(customerID: id, attributes: profile.attributes, state: restored)
                }
            }
        }
        #expect(maxBlob < 200)
        try expectFinalFeatures(replay, oracle: stream.contains("clean") ? "oracle_clean" : "oracle_dirty")
    }
}
