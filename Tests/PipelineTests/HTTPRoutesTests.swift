import Events
import Features
import Foundation
import Hummingbird
import HummingbirdTesting
import Kafka
import Prometheus
import Scoring
import Store
import Testing
import TestSupport

@testable import HTTPAPI
@testable import Pipeline

/// A real SQLite store with imported customers, profiles committed as the prediction subscriber commits
/// them (served score, model name, arm, reasons for half of them), the counter subscriber's counters,
/// and a model set of three (champion `lr`, challenger `tree` at 10 %, shadow `gbc`) with its figures.
struct RouteFixture: Sendable {
    /// One committed profile and what was stored with it.
    struct Scored: Sendable {
        var profile: Profile
        var probability: Double
        var modelName: String
        var arm: String
        /// The stored `reasons` column (JSON text), nil for every other customer.
        var reasons: String?
    }

    let dir: URL
    let store: any EngineStore
    let registry: ModelRegistry
    let stats: ModelStats
    let prometheus: PrometheusCollectorRegistry
    /// The customers of the CSV: id → (tenure, plan, monthly charges).
    let customers: [String: StaticAttributes]
    let scored: [String: Scored]
    /// A customer whose bucket a challenger serves.
    let challengerCustomer: String
    let counters: CounterDelta
    /// Per model of the set, in file order: the probabilities recorded into `stats` (one per scored customer)
    /// and how many of them it served.
    let recorded: [(name: String, probabilities: [Double], served: Int)]

    /// The first event time of customer `c-000001`.
    static let t0 = Timestamp.parse("2026-11-10T08:00:00Z")!
    static let hour: Int64 = 3_600_000

    static func make() async throws -> RouteFixture {
        let dir = try Shared.tempDir("http-routes")
        let setFile = dir.appendingPathComponent("models.json")
        let models = #"{"models":[{"name":"lr","path":"\#(Shared.model("logreg.pmml").path)","role":"champion"},"#
            + #"{"name":"tree","path":"\#(Shared.model("tree.pmml").path)","role":"challenger","percent":10},"#
            + #"{"name":"gbc","path":"\#(Shared.model("gbc.pmml").path)","role":"shadow"}]}"#
        try Data(models.utf8).write(to: setFile)
        let registry = try ModelRegistry(modelSet: setFile)
        let set = registry.currentSet
        let store = try await StoreFactory.open(.sqlite(path: dir.appendingPathComponent("s.db").path))

        // Customers: c-000001 … c-000025, one the challenger serves, and two never scored.
        var challenger = ""
        for n in 0... where CustomerBucket.bucket("ch-\(n)") < 10 {
            challenger = "ch-\(n)"
            break
        }
        let scoredIDs = (1...25).map { String(format: "c-%06d", $0) } + [challenger]
        var customers: [String: StaticAttributes] = [:]
        let plans = ["basic", "standard", "premium", "standard"]
        for (i, id) in scoredIDs.enumerated() {
            customers[id] = StaticAttributes(tenureDays: 30 * (i + 1), plan: plans[i % plans.count], monthlyCharges: i % 2 == 0 ? Double(20 + i) : 20.5 + Double(i))
        }
        customers["a b"] = StaticAttributes(tenureDays: 10, plan: "basic", monthlyCharges: 20)
        customers["100%"] = StaticAttributes(tenureDays: 11, plan: "premium", monthlyCharges: 99.99)
        let csv = "customer_id,tenure_days,plan,monthly_charges\n"
            + customers.map { "\"\($0.key)\",\($0.value.tenureDays),\($0.value.plan),\($0.value.monthlyCharges)\n" }.joined()
        _ = try await store.importCustomers(CustomerCSV.parse(Data(csv.utf8), file: "customers.csv"))
        let population = try await store.attributeReferences()
        let loaded = try await store.loadProfiles(scoredIDs)

        // Events, as the stream would apply and count them.
        var counters = CounterDelta()
        var scored: [String: Scored] = [:]
        var updates: [ProfileUpdate] = []
        for (i, id) in scoredIDs.enumerated() {
            let start = t0 + Int64(i) * 60_000
            var events: [Event] = []
            for k in 0..<(i % 6 + 1) {
                let page = k == 0 ? (i % 2 == 0 ? "/pricing/plans" : "/home") : k == 1 && i % 3 == 0 ? "/account/cancel" : "/docs/\(k)"
                events.append(Event(eventID: "\(id)-pv\(k)", type: "page_view", customerID: id, timestamp: start + Int64(k) * hour, page: page))
            }
            if i % 4 == 0 { events.append(Event(eventID: "\(id)-sc", type: "support_call", customerID: id, timestamp: start + 30 * 60_000, page: nil)) }
            if i % 5 == 0 { events.append(Event(eventID: "\(id)-cp", type: "complaint", customerID: id, timestamp: start + 45 * 60_000, page: nil)) }
            if i % 7 == 0 { events.append(Event(eventID: "\(id)-lg", type: "login", customerID: id, timestamp: start + 50 * 60_000, page: nil)) }
            events.sort { $0.timestamp < $1.timestamp }
            var profile = try #require(loaded[CustomerID(id)])
            for e in events {
                counters.add(e)
                profile.apply(e)
            }
            let features = profile.features()
            let (index, arm) = set.served(for: id)
            let member = set.members[index]
            let p = try member.model.score(member.model.makeRow(values: FeatureMapping.for(member.model).values(features)))
            let reasons = i % 2 == 0
                ? ScoreReasons.json(ScoreReasons.reasons(model: member.model, features: features, probability: p, population: population, k: 3))
                : nil
            scored[id] = Scored(profile: profile, probability: p, modelName: member.name, arm: arm.rawValue, reasons: reasons)
            updates.append(ProfileUpdate(profile: profile, features: features, churnScore: p, modelVersion: member.model.version,
                                         scoredAt: profile.asOf, modelName: member.name, arm: arm.rawValue, reasons: reasons))
        }
        try await store.commitProfiles(updates, offsets: [], scope: OffsetScope(subscriber: "prediction", topic: "page-views"))
        try await store.commitCounters(counters, offsets: [], scope: OffsetScope(subscriber: "counter", topic: "page-views"))

        // The model set's figures for the same batch.
        let stats = ModelStats()
        let vectors = scoredIDs.map { scored[$0]!.profile.features() }
        let probabilities = SetScoring.probabilities(set, vectors)
        let served = scoredIDs.map { set.served(for: $0).index }
        stats.record(set, probabilities: probabilities, served: served)
        let recorded = set.members.enumerated().map { m, member in
            (name: member.name, probabilities: probabilities[m], served: served.filter { $0 == m }.count)
        }

        let prometheus = PrometheusCollectorRegistry()
        let descriptor = MetricNameDescriptor(metricName: "streamscore_route_test", unitName: "total", helpText: "A counter of the route tests.")
        prometheus.makeCounter(descriptor: descriptor, labels: [("subscriber", "prediction")]).increment(by: Int64(3))
        return RouteFixture(dir: dir, store: store, registry: registry, stats: stats, prometheus: prometheus, customers: customers,
                            scored: scored, challengerCustomer: challenger, counters: counters, recorded: recorded)
    }

    /// The customer's newest relevant event time.
    func newest(_ id: String) -> Int64 { scored[id]!.profile.asOf! }
}

/// Every route of CONTRACT §4–§6 in process (HummingbirdTesting), against a real SQLite store and the
/// model set of the fixture: the documents' keys and values, and each route's 400 and 404 answers.
@Suite("HTTP routes (in process)", .timeLimit(.minutes(3)))
struct HTTPRoutesTests {
    /// Runs `body` with a client of the API over a fresh fixture.
    func withRoutes<T: Sendable>(subscribers: [SubscriberStatus] = [], reasons: Int = 3, security: HTTPSecurity = HTTPSecurity(),
                                 setup: TestingSetup = .router,
                                 _ body: @Sendable (RouteFixture, any TestClientProtocol) async throws -> T) async throws -> T {
        let fixture = try await RouteFixture.make()
        defer { try? FileManager.default.removeItem(at: fixture.dir) }
        let context = EngineContext(store: fixture.store, models: fixture.registry, subscribers: subscribers, prometheus: fixture.prometheus,
                                    modelStats: fixture.stats, reasons: reasons)
        let app = Application(router: HTTPAPI.router(context, security: security))
        let result = try await app.test(setup) { client in try await body(fixture, client) }
        try await fixture.store.close()
        return result
    }

    // MARK: helpers

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any], "\(text(response))")
    }

    static func array(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]], "\(text(response))")
    }

    /// The message of Hummingbird's `{"error":{"message":…}}`.
    static func errorMessage(_ response: TestResponse) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]
        return (object?["error"] as? [String: Any])?["message"] as? String ?? "<no message in \(text(response))>"
    }

    /// The keys of the JSON object `text`, in document order (top level only).
    static func keys(_ text: String) -> [String] {
        var keys: [String] = []
        var depth = 0
        var i = text.startIndex
        var expectingKey = false
        while i < text.endIndex {
            let c = text[i]
            switch c {
            case "{", "[":
                depth += 1
                expectingKey = c == "{" && depth == 1
            case "}", "]":
                depth -= 1
            case ",":
                expectingKey = depth == 1
            case "\"":
                var j = text.index(after: i)
                var s = ""
                while text[j] != "\"" {
                    if text[j] == "\\" { j = text.index(after: j) }
                    s.append(text[j])
                    j = text.index(after: j)
                }
                if expectingKey {
                    keys.append(s)
                    expectingKey = false
                }
                i = j
            default:
                break
            }
            i = text.index(after: i)
        }
        return keys
    }

    /// A scalar of a JSON document, read exactly (JSONDecoder reads doubles correctly rounded).
    enum Scalar: Decodable, Equatable {
        case number(Double)
        case text(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
        }

        var field: FieldValue {
            switch self {
            case .number(let d): return .number(d)
            case .text(let s): return .string(s)
            }
        }

        init(_ value: FeatureValue) {
            switch value {
            case .number(let d): self = .number(d)
            case .text(let s): self = .text(s)
            }
        }
    }

    /// A `GET`/`POST /score/{id}` answer.
    struct OnDemandAnswer: Decodable {
        struct Reason: Decodable {
            let feature: String
            let value: Scalar
            let reference: Scalar
            let contribution: Double
        }
        let customer_id: String
        let probability: Double
        let model_name: String
        let model_version: String
        let arm: String
        let features: [String: Scalar]
        let features_as_of: String?
        let reasons: [Reason]
    }

    static let onDemandKeys = ["customer_id", "probability", "model_name", "model_version", "arm", "features", "features_as_of", "reasons"]

    /// The features of `f` as a JSON document would hold them.
    static func scalars(_ f: FeatureVector) -> [String: Scalar] {
        Dictionary(uniqueKeysWithValues: zip(FeatureVector.fieldNames, f.values.map(Scalar.init)))
    }

    /// The reference of each feature per CONTRACT §6, computed here from the imported customers: the
    /// models carry no `missingValueReplacement`, so the CRM medians and most frequent plan (ties by
    /// name), 0 for counts, 30 for days since the last visit.
    static func contractReference(_ feature: String, _ customers: [String: StaticAttributes]) -> Scalar {
        func median(_ values: [Double]) -> Double {
            let s = values.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        switch feature {
        case "tenure_days": return .number(median(customers.values.map { Double($0.tenureDays) }))
        case "monthly_charges": return .number(median(customers.values.map(\.monthlyCharges)))
        case "plan":
            let counts = Dictionary(grouping: customers.values.map(\.plan), by: { $0 }).mapValues(\.count)
            return .text(counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }[0].key)
        case "days_since_last_visit": return .number(30)
        default: return .number(0)
        }
    }

    /// Checks an on-demand answer against the model it names: the probability is that model applied to
    /// the features the answer reports, each reason's contribution is p − p(that feature at its
    /// reference), the reasons are the `k` largest positive ones, descending.
    static func expectConsistent(_ answer: OnDemandAnswer, set: ModelSet, customers: [String: StaticAttributes], k: Int = 3,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (index, arm) = set.served(for: answer.customer_id)
        let member = set.members[index]
        #expect(answer.model_name == member.name && answer.model_version == member.model.version && answer.arm == arm.rawValue,
                sourceLocation: sourceLocation)
        #expect(Set(answer.features.keys) == Set(FeatureVector.fieldNames), sourceLocation: sourceLocation)
        let values = answer.features.mapValues(\.field)
        let p = try member.model.score(member.model.makeRow(values))
        #expect(answer.probability == p, "the probability is the served model applied to the reported features", sourceLocation: sourceLocation)
        var expected: [(String, Double)] = []
        for field in member.model.inputFields {
            var changed = values
            changed[field.name] = contractReference(field.name, customers).field
            let q = try member.model.score(member.model.makeRow(changed))
            if p - q > 0 { expected.append((field.name, p - q)) }
        }
        expected.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        #expect(answer.reasons.map(\.feature) == expected.prefix(k).map(\.0), sourceLocation: sourceLocation)
        #expect(answer.reasons.map(\.contribution) == expected.prefix(k).map(\.1), sourceLocation: sourceLocation)
        for r in answer.reasons {
            #expect(r.value == answer.features[r.feature], sourceLocation: sourceLocation)
            #expect(r.reference == contractReference(r.feature, customers), "\(r.feature)", sourceLocation: sourceLocation)
        }
    }

    static func eventJSON(_ id: String, _ type: String, _ customer: String, _ ts: Int64, page: String? = nil) -> String {
        #"{"event_id":"\#(id)","type":"\#(type)","customer_id":\#(JSONText.string(customer)),"ts":"\#(Timestamp.format(millis: ts))""#
            + (page.map { #","page":"\#($0)""# } ?? "") + "}"
    }

    // MARK: health

    @Test("/healthz is ok; /readyz is ready without subscribers, 503 naming the stage while one is unassigned or stalled, ready again after")
    func health() async throws {
        let prediction = SubscriberStatus(name: "prediction", group: "streamscore-prediction")
        let counter = SubscriberStatus(name: "counter", group: "streamscore-counter")
        try await withRoutes { _, client async throws in
            let healthz = try await client.execute(uri: "/healthz", method: .get)
            #expect(healthz.status == .ok && Self.text(healthz) == "ok")
            let readyz = try await client.execute(uri: "/readyz", method: .get)
            #expect(readyz.status == .ok && Self.text(readyz) == "ready")
            #expect(readyz.headers[.contentType]?.hasPrefix("text/plain") == true)
        }
        try await withRoutes(subscribers: [counter, prediction]) { _, client async throws in
            // Neither assigned yet.
            var readyz = try await client.execute(uri: "/readyz", method: .get)
            #expect(readyz.status == .serviceUnavailable)
            #expect(readyz.headers[.contentType] == "application/json")
            #expect(Self.text(readyz) == #"{"ready":false,"reasons":[{"subscriber":"counter","stage":"assign","error":"no partitions assigned yet"},{"subscriber":"prediction","stage":"assign","error":"no partitions assigned yet"}]}"#)

            counter.handle(.assigned([0: nil, 1: 42]))
            prediction.handle(.assigned([0: nil, 1: 42]))
            readyz = try await client.execute(uri: "/readyz", method: .get)
            #expect(readyz.status == .ok && Self.text(readyz) == "ready")

            // A store that refuses writes, and a partition whose stored offset is beyond the log end.
            prediction.stall("write", "store unreachable: connection refused (\"db\":5432)")
            prediction.handle(.offsetBeyondLogEnd(partition: 1, stored: 90, logEnd: 42))
            readyz = try await client.execute(uri: "/readyz", method: .get)
            #expect(readyz.status == .serviceUnavailable)
            #expect(Self.text(readyz) == #"{"ready":false,"reasons":[{"subscriber":"prediction","stage":"partition 1","error":"stored offset 90 is beyond the log end 42; fix subscriber_offsets, then restart"},{"subscriber":"prediction","stage":"write","error":"store unreachable: connection refused (\"db\":5432)"}]}"#)

            prediction.clearStall("write")
            prediction.clearStall("partition 1")
            readyz = try await client.execute(uri: "/readyz", method: .get)
            #expect(readyz.status == .ok && Self.text(readyz) == "ready")
        }
    }

    @Test("/status: each subscriber's live figures and the champion's version and the set file's path, exactly")
    func status() async throws {
        let counter = SubscriberStatus(name: "counter", group: "g-counter")
        let prediction = SubscriberStatus(name: "prediction", group: "g-prediction")
        counter.handle(.assigned([4: nil, 0: 7, 2: nil]))
        counter.recordCommitted(processed: 5_000, malformed: 51)
        counter.update { $0.lag = 0 }
        prediction.update {
            $0.lag = 12
            $0.scored = 4_321
            $0.lostToRetention = 9
        }
        try await withRoutes(subscribers: [counter, prediction]) { f, client async throws in
            let response = try await client.execute(uri: "/status", method: .get)
            #expect(response.status == .ok && response.headers[.contentType] == "application/json")
            let version = f.registry.currentSet.champion.model.version
            #expect(Self.text(response) == #"{"subscribers":[{"name":"counter","group":"g-counter","assigned_partitions":[0,2,4],"processed":5000,"malformed":51,"lag":0,"scored":0,"lost_to_retention":0},{"name":"prediction","group":"g-prediction","assigned_partitions":[],"processed":0,"malformed":0,"lag":12,"scored":4321,"lost_to_retention":9}],"model":{"version":\#(JSONText.string(version)),"path":\#(JSONText.string(f.registry.path))}}"#)
            #expect(version.hasPrefix("logreg.pmml-"))
        }
    }

    // MARK: profiles

    @Test("/profiles/{id}: every column with the stored values (scores and charges as \"\\(d)\"), raw reasons, null where unset; 404; percent-decoding; 400 on bad escapes")
    func profiles() async throws {
        try await withRoutes { f, client async throws in
            // A scored customer with stored reasons.
            let id = "c-000001"
            let s = try #require(f.scored[id])
            #expect(s.reasons != nil)
            let response = try await client.execute(uri: "/profiles/\(id)", method: .get)
            #expect(response.status == .ok && response.headers[.contentType] == "application/json")
            let text = Self.text(response)
            #expect(Self.keys(text) == ["customer_id", "tenure_days", "plan", "monthly_charges", "churn_score", "model_version", "model_name", "arm",
                                        "scored_at", "updated_at", "features_as_of", "page_views_30d", "pricing_views_30d", "cancel_views_30d",
                                        "support_calls_30d", "complaints_30d", "days_since_last_visit", "reasons"])
            let attributes = try #require(f.customers[id])
            let features = s.profile.features()
            #expect(text.hasPrefix(#"{"customer_id":"c-000001","tenure_days":\#(attributes.tenureDays),"plan":"\#(attributes.plan)","monthly_charges":\#(attributes.monthlyCharges),"churn_score":\#(s.probability),"model_version":"\#(f.registry.currentSet.member(named: s.modelName)!.model.version)","model_name":"\#(s.modelName)","arm":"\#(s.arm)","scored_at":"\#(Timestamp.format(millis: f.newest(id)))","updated_at":"#))
            #expect(text.contains(#""monthly_charges":20.0,"#), "an integral double keeps its .0")
            #expect(text.hasSuffix(#""features_as_of":"\#(Timestamp.format(millis: f.newest(id)))","page_views_30d":\#(features.pageViews30d),"pricing_views_30d":\#(features.pricingViews30d),"cancel_views_30d":\#(features.cancelViews30d),"support_calls_30d":\#(features.supportCalls30d),"complaints_30d":\#(features.complaints30d),"days_since_last_visit":\#(features.daysSinceLastVisit),"reasons":\#(s.reasons!)}"#))
            let reasons = try #require(try Self.object(response)["reasons"] as? [[String: Any]])
            #expect(!reasons.isEmpty && reasons.allSatisfy { $0["feature"] is String && $0["contribution"] is Double })

            // A scored customer without stored reasons: null.
            let other = try await client.execute(uri: "/profiles/c-000002", method: .get)
            #expect(Self.text(other).hasSuffix(#","reasons":null}"#))

            // Imported, never scored, with an id that needs percent-encoding.
            for (path, expected) in [("a%20b", "a b"), ("100%25", "100%")] {
                let r = try await client.execute(uri: "/profiles/\(path)", method: .get)
                #expect(r.status == .ok, "\(path)")
                let o = try Self.object(r)
                #expect(o["customer_id"] as? String == expected)
                for column in ["churn_score", "model_version", "model_name", "arm", "scored_at", "features_as_of", "reasons"] {
                    #expect(o[column] is NSNull, "\(column) of \(expected)")
                }
                #expect(o["days_since_last_visit"] as? Double == 30 && Self.text(r).contains(#""days_since_last_visit":30.0,"#))
                #expect(o["tenure_days"] as? Int == f.customers[expected]?.tenureDays)
            }

            let missing = try await client.execute(uri: "/profiles/nobody", method: .get)
            #expect(missing.status == .notFound)
            #expect(Self.errorMessage(missing) == "no profile for customer_id nobody")
            let undecodable = try await client.execute(uri: "/profiles/%ZZ", method: .get)
            #expect(undecodable.status == .badRequest)
            #expect(Self.errorMessage(undecodable).contains("percent-encoded"))
            // SQLite's text binding ends at U+0000: this answered with the row of "a b".
            for uri in ["/profiles/a%20b%00x", "/score/a%20b%00x"] {
                let nul = try await client.execute(uri: uri, method: .get)
                #expect(nul.status == .badRequest && Self.errorMessage(nul) == "customer_id must not contain U+0000", "\(uri)")
            }
        }
    }

    // MARK: counters

    @Test("/counters/pages: by count descending (ties by page), top N; 400 on a bad top")
    func pages() async throws {
        try await withRoutes { f, client async throws in
            let expected = f.counters.pages.map { (key: $0.key.string, value: $0.value) }
                .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            for (query, n) in [("?top=3", 3), ("?top=1", 1), ("", 20), ("?top=10000", 10_000)] {
                let response = try await client.execute(uri: "/counters/pages\(query)", method: .get)
                #expect(response.status == .ok)
                let list = try Self.array(response)
                #expect(list.map { $0["page"] as? String ?? "" } == expected.prefix(n).map(\.key), "\(query)")
                #expect(list.map { $0["count"] as? Int ?? -1 } == expected.prefix(n).map(\.value), "\(query)")
            }
            let top2 = try await client.execute(uri: "/counters/pages?top=2", method: .get)
            #expect(Self.text(top2) == "[" + expected.prefix(2).map { #"{"page":"\#($0.key)","count":\#($0.value)}"# }.joined(separator: ",") + "]")
            for bad in ["0", "10001", "-1", "abc", "2.5"] {
                let response = try await client.execute(uri: "/counters/pages?top=\(bad)", method: .get)
                #expect(response.status == .badRequest, "top=\(bad)")
                #expect(Self.errorMessage(response) == "top must be a whole number in 1...10000", "top=\(bad)")
            }
        }
    }

    @Test("/counters/types: every valid event's type, counted, keys in name order")
    func types() async throws {
        try await withRoutes { f, client async throws in
            let response = try await client.execute(uri: "/counters/types", method: .get)
            #expect(response.status == .ok)
            let text = Self.text(response)
            let types = f.counters.types.map { (key: $0.key.string, value: $0.value) }.sorted { $0.key < $1.key }
            #expect(text == "{" + types.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",") + "}")
            #expect(Set(f.counters.types.keys) == ["page_view", "support_call", "complaint", "login"])
            #expect(try Self.object(response) as? [String: Int] == Dictionary(uniqueKeysWithValues: types.map { ($0.key, $0.value) }))
        }
    }

    @Test("/counters/minutes: page views per minute, ascending, in [from, to); offsets accepted; 400 on a bad from or to")
    func minutes() async throws {
        try await withRoutes { f, client async throws in
            let all = f.counters.minutes.sorted { $0.key < $1.key }
            let whole = try Self.array(try await client.execute(uri: "/counters/minutes", method: .get))
            #expect(whole.map { $0["minute"] as? String ?? "" } == all.map { Timestamp.format(millis: $0.key) })
            #expect(whole.map { $0["count"] as? Int ?? -1 } == all.map(\.value))

            let from = RouteFixture.t0 + 5 * 60_000, to = RouteFixture.t0 + RouteFixture.hour + 10 * 60_000
            let window = all.filter { $0.key >= from && $0.key < to }
            #expect(!window.isEmpty && window.count < all.count)
            let expectedText = "[" + window.map { #"{"minute":"\#(Timestamp.format(millis: $0.key))","count":\#($0.value)}"# }.joined(separator: ",") + "]"
            let utc = try await client.execute(uri: "/counters/minutes?from=2026-11-10T08:05:00Z&to=2026-11-10T09:10:00Z", method: .get)
            #expect(Self.text(utc) == expectedText)
            let offset = try await client.execute(uri: "/counters/minutes?from=2026-11-10T09:05:00%2B01:00&to=2026-11-10T09:10:00.000Z", method: .get)
            #expect(Self.text(offset) == expectedText)
            let empty = try await client.execute(uri: "/counters/minutes?from=2030-01-01T00:00:00Z", method: .get)
            #expect(empty.status == .ok && Self.text(empty) == "[]")

            for (name, query) in [("from", "from=yesterday"), ("to", "to=2026-13-01T00:00:00Z"), ("from", "from=2026-11-10")] {
                let response = try await client.execute(uri: "/counters/minutes?\(query)", method: .get)
                #expect(response.status == .badRequest, "\(query)")
                #expect(Self.errorMessage(response).hasPrefix("\(name) must be an RFC 3339 time"), "\(query)")
            }
        }
    }

    // MARK: scoring

    @Test("POST /score: the champion by default, a named model on request, with its name and version; 400 on bad JSON, a bad field, an unknown model")
    func postScore() async throws {
        try await withRoutes { f, client async throws in
            let set = f.registry.currentSet
            let fields = #""tenure_days":10,"plan":"basic","monthly_charges":20,"page_views_30d":3,"pricing_views_30d":1,"cancel_views_30d":2,"support_calls_30d":1,"complaints_30d":0,"days_since_last_visit":3.5"#
            let values: [String: FieldValue] = ["tenure_days": .number(10), "plan": .string("basic"), "monthly_charges": .number(20),
                                                "page_views_30d": .number(3), "pricing_views_30d": .number(1), "cancel_views_30d": .number(2),
                                                "support_calls_30d": .number(1), "complaints_30d": .number(0), "days_since_last_visit": .number(3.5)]
            for (name, body) in [("lr", "{\(fields)}"), ("tree", #"{"model":"tree",\#(fields)}"#), ("gbc", #"{\#(fields),"model":"gbc"}"#)] {
                let response = try await client.execute(uri: "/score", method: .post, body: ByteBuffer(string: body))
                #expect(response.status == .ok, "\(name): \(Self.text(response))")
                let model = try #require(set.member(named: name)).model
                let p = try model.score(model.makeRow(values))
                #expect(Self.text(response) == #"{"probability":\#(p),"model_name":"\#(name)","model_version":\#(JSONText.string(model.version))}"#)
                #expect(p > 0 && p < 1)
            }
            let bad: [(String, String)] = [
                ("{", "body is not valid JSON"),
                ("[1,2]", "body must be a JSON object of model fields"),
                (#"{"plan":[1]}"#, "field 'plan' must be a number, a string or null"),
                (#"{"model":"nope",\#(fields)}"#, "model must name a model of the set: lr, tree, gbc"),
                (#"{"model":3,\#(fields)}"#, "model must name a model of the set: lr, tree, gbc"),
            ]
            for (body, message) in bad {
                let response = try await client.execute(uri: "/score", method: .post, body: ByteBuffer(string: body))
                #expect(response.status == .badRequest, "\(body)")
                #expect(Self.errorMessage(response) == message, "\(body)")
            }
        }
    }

    @Test("GET /models: each model of the set in file order with role, percent, version, path, sha256, scored, served, mean probability, histogram")
    func models() async throws {
        try await withRoutes { f, client async throws in
            let response = try await client.execute(uri: "/models", method: .get)
            #expect(response.status == .ok && response.headers[.contentType] == "application/json")
            let list = try Self.array(response)
            let set = f.registry.currentSet
            #expect(list.map { $0["name"] as? String } == ["lr", "tree", "gbc"])
            #expect(list.map { $0["role"] as? String } == ["champion", "challenger", "shadow"])
            #expect(list.map { $0["percent"] as? Int } == [nil, 10, nil])
            #expect(Self.text(response).hasPrefix(#"[{"name":"lr","role":"champion","percent":null,"model_version":"#))
            let decoded = try JSONDecoder().decode([ModelAnswer].self, from: Data(buffer: response.body))
            for (i, m) in decoded.enumerated() {
                let member = set.members[i]
                let recorded = f.recorded[i]
                #expect(Set(list[i].keys) == ["name", "role", "percent", "model_version", "path", "sha256", "scored", "served",
                                              "mean_probability", "histogram", "reload_error"])
                #expect(m.model_version == member.model.version && m.model_version.hasPrefix(["logreg", "tree", "gbc"][i]))
                #expect(m.path == URL(fileURLWithPath: Shared.model(["logreg.pmml", "tree.pmml", "gbc.pmml"][i]).path).standardizedFileURL.path)
                #expect(m.sha256 == member.model.sha256 && m.sha256.count == 64 && m.sha256.allSatisfy(\.isHexDigit))
                #expect(m.scored == 26 && m.scored == recorded.probabilities.count)
                #expect(m.served == recorded.served)
                #expect(m.mean_probability == recorded.probabilities.reduce(0, +) / 26)
                var histogram = [Int](repeating: 0, count: 10)
                for p in recorded.probabilities { histogram[min(9, Int(p * 10))] += 1 }
                #expect(m.histogram == histogram)
                #expect(m.reload_error == nil && list[i]["reload_error"] is NSNull)
            }
            #expect(decoded[0].served + decoded[1].served == 26 && decoded[1].served >= 1 && decoded[2].served == 0)
        }
    }

    struct ModelAnswer: Decodable {
        let name: String
        let role: String
        let percent: Int?
        let model_version: String
        let path: String
        let sha256: String
        let scored: Int
        let served: Int
        let mean_probability: Double?
        let histogram: [Int]
        let reload_error: String?
    }

    @Test("GET /score/{id}: as of a later time, the reported features, the served model's probability of them, and the reasons; 404; 400 on a bad or early as_of")
    func getScoreAsOf() async throws {
        try await withRoutes { f, client async throws in
            let set = f.registry.currentSet
            let champion = try #require(f.scored.keys.sorted().first { f.scored[$0]?.arm == "champion" })
            for id in [champion, f.challengerCustomer] {
                let s = try #require(f.scored[id])
                let newest = f.newest(id)
                // Three days after the newest event: the 30-day windows and days since the last visit move.
                let asOf = newest + 3 * 24 * RouteFixture.hour + 1_234
                let response = try await client.execute(uri: "/score/\(id)?as_of=\(Timestamp.format(millis: asOf))", method: .get)
                #expect(response.status == .ok, "\(Self.text(response))")
                #expect(Self.keys(Self.text(response)) == Self.onDemandKeys)
                let answer = try JSONDecoder().decode(OnDemandAnswer.self, from: Data(buffer: response.body))
                #expect(answer.customer_id == id)
                #expect(answer.arm == s.arm && answer.model_name == s.modelName)
                #expect(id != f.challengerCustomer || (answer.arm == "challenger" && answer.model_name == "tree"))
                #expect(answer.features_as_of == Timestamp.format(millis: asOf))
                #expect(answer.features == Self.scalars(s.profile.features(asOf: asOf)))
                #expect(answer.features["days_since_last_visit"] != Scalar.number(s.profile.features().daysSinceLastVisit))
                try Self.expectConsistent(answer, set: set, customers: f.customers)

                // At the newest event itself: allowed.
                let atNewest = try await client.execute(uri: "/score/\(id)?as_of=\(Timestamp.format(millis: newest))", method: .get)
                #expect(atNewest.status == .ok)
                // Before it: 400 naming the newest event.
                let early = try await client.execute(uri: "/score/\(id)?as_of=\(Timestamp.format(millis: newest - 1))", method: .get)
                #expect(early.status == .badRequest)
                #expect(Self.errorMessage(early) == "as_of is before the profile's newest event (\(Timestamp.format(millis: newest)))")
            }

            // Default: now.
            let before = Timestamp.nowMillis()
            let now = try await client.execute(uri: "/score/c-000002", method: .get)
            let after = Timestamp.nowMillis()
            let answer = try JSONDecoder().decode(OnDemandAnswer.self, from: Data(buffer: now.body))
            let asOf = try #require(answer.features_as_of.flatMap(Timestamp.parse))
            #expect(asOf >= before && asOf <= after)
            try Self.expectConsistent(answer, set: set, customers: f.customers)

            // An imported customer with no event yet, by a percent-encoded id.
            let fresh = try await client.execute(uri: "/score/a%20b?as_of=2026-11-20T00:00:00Z", method: .get)
            #expect(fresh.status == .ok)
            let freshAnswer = try JSONDecoder().decode(OnDemandAnswer.self, from: Data(buffer: fresh.body))
            #expect(freshAnswer.customer_id == "a b" && freshAnswer.features["tenure_days"] == .number(10))
            #expect(freshAnswer.features["page_views_30d"] == .number(0) && freshAnswer.features["days_since_last_visit"] == .number(30))

            let unknown = try await client.execute(uri: "/score/nobody", method: .get)
            #expect(unknown.status == .notFound && Self.errorMessage(unknown) == "no profile for customer_id nobody")
            for bad in ["yesterday", "2026-11-10", "2026-11-10T25:00:00Z"] {
                let response = try await client.execute(uri: "/score/c-000001?as_of=\(bad)", method: .get)
                #expect(response.status == .badRequest, "as_of=\(bad)")
                #expect(Self.errorMessage(response).hasPrefix("as_of must be an RFC 3339 time"))
            }
        }
    }

    @Test("POST /score/{id}: events folded into the stored profile by the stream's rules, nothing written; 400 naming the bad event's index, for 0 and 1,001 events")
    func postScoreEvents() async throws {
        try await withRoutes { f, client async throws in
            let set = f.registry.currentSet
            let id = "c-000003"
            let s = try #require(f.scored[id])
            let newest = f.newest(id)
            let events = [
                Self.eventJSON("x1", "page_view", id, newest + RouteFixture.hour, page: "/account/cancel"),
                Self.eventJSON("x2", "complaint", id, newest + 2 * RouteFixture.hour),
                Self.eventJSON("x3", "login", id, newest + 3 * RouteFixture.hour),
            ]
            let response = try await client.execute(uri: "/score/\(id)", method: .post,
                                                    body: ByteBuffer(string: #"{"note":"ignored","events":[\#(events.joined(separator: ","))]}"#))
            #expect(response.status == .ok, "\(Self.text(response))")
            #expect(Self.keys(Self.text(response)) == Self.onDemandKeys)
            let answer = try JSONDecoder().decode(OnDemandAnswer.self, from: Data(buffer: response.body))
            var folded = s.profile
            folded.apply(Event(eventID: "x1", type: "page_view", customerID: id, timestamp: newest + RouteFixture.hour, page: "/account/cancel"))
            folded.apply(Event(eventID: "x2", type: "complaint", customerID: id, timestamp: newest + 2 * RouteFixture.hour, page: nil))
            #expect(answer.features == Self.scalars(folded.features()))
            #expect(answer.features["cancel_views_30d"] == .number(Double(s.profile.features().cancelViews30d + 1)))
            #expect(answer.features["complaints_30d"] == .number(Double(s.profile.features().complaints30d + 1)))
            #expect(answer.features_as_of == Timestamp.format(millis: newest + 2 * RouteFixture.hour), "a login does not move the as-of time")
            try Self.expectConsistent(answer, set: set, customers: f.customers)
            // Nothing written.
            let row = try #require(try await f.store.profileRow(id))
            #expect(row.churn_score == s.probability && row.cancel_views_30d == s.profile.features().cancelViews30d)

            let good = Self.eventJSON("g", "page_view", id, newest, page: "/home")
            let bad: [(String, String)] = [
                (#"{"events":[\#(good),{"event_id":"e1","type":"page_view","ts":"2026-11-10T08:00:00Z"}]}"#, "event 1: "),
                (#"{"events":[\#(Self.eventJSON("o", "page_view", "c-000002", newest, page: "/home"))]}"#, #"event 0: customer_id "c-000002" is not "c-000003""#),
                (#"{"events":[\#(good),\#(good),\#(Self.eventJSON("f", "complaint", id, Timestamp.nowMillis() + 48 * RouteFixture.hour))]}"#, "event 2: "),
                (#"{"events":[]}"#, "events must hold 1 to 1000 events"),
                (#"{"events":[\#(Array(repeating: good, count: 1_001).joined(separator: ","))]}"#, "events must hold 1 to 1000 events (got 1001)"),
                (#"{"other":[]}"#, #"body must have an "events" array"#),
                ("[1]", "body must be a JSON object {\"events\":[…]}"),
                ("{", "body must be a JSON object {\"events\":[…]}"),
            ]
            for (body, message) in bad {
                let response = try await client.execute(uri: "/score/\(id)", method: .post, body: ByteBuffer(string: body))
                #expect(response.status == .badRequest, "\(body.prefix(80))")
                #expect(Self.errorMessage(response).hasPrefix(message), "\(Self.errorMessage(response)) for \(body.prefix(80))")
            }
            let exactly1000 = #"{"events":[\#(Array(repeating: good, count: 1_000).joined(separator: ","))]}"#
            #expect(try await client.execute(uri: "/score/\(id)", method: .post, body: ByteBuffer(string: exactly1000)).status == .ok)
        }
    }

    // MARK: metrics, page, summary

    @Test("/metrics: the Prometheus registry's text exposition")
    func metrics() async throws {
        try await withRoutes { _, client async throws in
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(Self.text(response).contains(#"streamscore_route_test_total{subscriber="prediction"} 3"#))
        }
    }

    @Test("GET /: the dashboard page from the HTTPAPI resource bundle, self-contained, with the model set, the at-risk reasons and the token handling")
    func dashboardPage() async throws {
        try await withRoutes { _, client async throws in
            let response = try await client.execute(uri: "/", method: .get)
            #expect(response.status == .ok && response.headers[.contentType] == "text/html; charset=utf-8")
            let page = Self.text(response)
            let file = try String(contentsOf: Shared.repo.appendingPathComponent("Sources/HTTPAPI/Resources/dashboard.html"), encoding: .utf8)
            #expect(page == file, "the page is the resource file, byte for byte")
            #expect(page.hasPrefix("<!doctype html>") && page.contains("</html>"))
            // No external assets: no links, no remote scripts, styles, images or fonts.
            for forbidden in ["<link", "src=\"http", "src='http", "href=\"http", "@import", "url(http", "//cdn", "<iframe"] {
                #expect(!page.contains(forbidden), "\(forbidden)")
            }
            #expect(page.components(separatedBy: "<script").count == 2 && !page.contains("<script src"))
            for part in ["id=\"models-grid\"", "id=\"risk-body\"", "fetchJSON('models')", "fetchJSON('dashboard/summary')", "renderReasons",
                         "sessionStorage.getItem(TOKEN_KEY)", "sessionStorage.setItem(TOKEN_KEY", "'Authorization'", "res.status === 401"] {
                #expect(page.contains(part), "\(part)")
            }
        }
        // The page loads from the bundle (the route serves what was loaded once).
        #expect(try DashboardPage.load().get() == DashboardPage.html)
    }

    @Test("a missing page is reported naming the file, the bundle and the fix")
    func missingPage() throws {
        let dir = try Shared.tempDir("empty-bundle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bundle = try #require(Bundle(path: dir.path))
        guard case .failure(let problem) = DashboardPage.load(bundle: bundle) else {
            Issue.record("an empty bundle has no page")
            return
        }
        #expect(problem.description.hasPrefix("dashboard.html is missing from the resource bundle \(dir.path)"))
        #expect(problem.description.contains("StreamScore_HTTPAPI.resources next to the streamscore executable"))
    }

    @Test("with a token, the routes added since the security suite (/models, GET and POST /score/{id}) answer 401 without it")
    func newRoutesNeedTheToken() async throws {
        let token = "tk-0123456789abcdefghijklmnopqrs"
        var security = HTTPSecurity()
        security.apiToken = token
        try await withRoutes(security: security) { f, client async throws in
            let post = #"{"events":[\#(Self.eventJSON("t", "page_view", "c-000001", f.newest("c-000001"), page: "/home"))]}"#
            for (method, path, body) in [(HTTPRequest.Method.get, "/models", nil), (.get, "/score/c-000001", nil), (.post, "/score/c-000001", post)] {
                let refused = try await client.execute(uri: path, method: method, body: body.map { ByteBuffer(string: $0) })
                #expect(refused.status == .unauthorized, "\(method) \(path)")
                let served = try await client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(token)"],
                                                      body: body.map { ByteBuffer(string: $0) })
                #expect(served.status == .ok, "\(method) \(path): \(Self.text(served))")
            }
        }
    }

    @Test("/dashboard/summary: counts, the 20-bin histogram, and the top 20 by served score with model, arm and reasons (stored, or computed from the stored features)")
    func summary() async throws {
        try await withRoutes { f, client async throws in
            let response = try await client.execute(uri: "/dashboard/summary", method: .get)
            #expect(response.status == .ok && response.headers[.contentType] == "application/json")
            let text = Self.text(response)
            #expect(Self.keys(text) == ["profiles", "scored", "score_histogram", "top_risk"])
            let o = try Self.object(response)
            #expect(o["profiles"] as? Int == 28)
            #expect(o["scored"] as? Int == 26)
            var histogram = [Int](repeating: 0, count: 20)
            for s in f.scored.values { histogram[min(19, Int(s.probability * 20))] += 1 }
            #expect(o["score_histogram"] as? [Int] == histogram)

            let expectedOrder = f.scored.sorted { $0.value.probability != $1.value.probability ? $0.value.probability > $1.value.probability : $0.key < $1.key }
                .prefix(20).map(\.key)
            let risk = try #require(o["top_risk"] as? [[String: Any]])
            #expect(risk.map { $0["customer_id"] as? String ?? "" } == expectedOrder)
            let population = try await f.store.attributeReferences()
            let set = f.registry.currentSet
            let decoded = try JSONDecoder().decode(SummaryAnswer.self, from: Data(buffer: response.body))
            #expect(decoded.top_risk.count == 20)
            var stored = 0, computed = 0
            for r in decoded.top_risk {
                let s = try #require(f.scored[r.customer_id])
                let attributes = try #require(f.customers[r.customer_id])
                #expect(r.churn_score == s.probability)
                #expect(r.model_name == s.modelName && r.arm == s.arm)
                #expect(r.model_version == set.member(named: s.modelName)?.model.version)
                #expect(r.plan == attributes.plan && r.tenure_days == attributes.tenureDays)
                #expect(r.cancel_views_30d == s.profile.features().cancelViews30d && r.complaints_30d == s.profile.features().complaints30d)
                #expect(r.scored_at == Timestamp.format(millis: f.newest(r.customer_id)))
                if let storedReasons = s.reasons {
                    // The stored column, byte for byte.
                    stored += 1
                    #expect(text.contains(#""reasons":\#(storedReasons)}"#), "\(r.customer_id)")
                } else {
                    // Computed now from the stored features, as GET /score/{id} would as of features_as_of.
                    computed += 1
                    let expected = try OnDemandScore.score(customerID: r.customer_id, features: s.profile.features(), featuresAsOf: f.newest(r.customer_id),
                                                           set: set, population: population, reasons: 3)
                    #expect(r.reasons?.map(\.feature) == expected.reasons.map(\.feature), "\(r.customer_id)")
                    #expect(r.reasons?.map(\.contribution) == expected.reasons.map(\.contribution), "\(r.customer_id)")
                    #expect(r.reasons?.map(\.value) == expected.reasons.map { Scalar($0.value) })
                    #expect(r.reasons?.map(\.reference) == expected.reasons.map { Scalar($0.reference) })
                }
                #expect(r.reasons.map { $0.count <= 3 } == true, "\(r.customer_id): at most 3, [] when no feature raises the score")
            }
            #expect(stored > 0 && computed > 0)
        }
    }

    struct SummaryAnswer: Decodable {
        struct Risk: Decodable {
            let customer_id: String
            let churn_score: Double?
            let plan: String
            let tenure_days: Int
            let cancel_views_30d: Int
            let complaints_30d: Int
            let scored_at: String?
            let model_name: String?
            let model_version: String?
            let arm: String?
            let reasons: [OnDemandAnswer.Reason]?
        }
        let top_risk: [Risk]
    }

    @Test("the dashboard in headless Chromium over the in-process API: the model set side by side and 20 at-risk rows with their reasons",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")))
    func dashboardInBrowser() async throws {
        try await withRoutes(setup: .live) { f, client async throws in
            let port = try #require(client.port)
            let profile = f.dir.appendingPathComponent("chromium").path
            let dump = try await offPool {
                try runTool("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=8000",
                                                  "--user-data-dir=\(profile)", "--dump-dom", "http://localhost:\(port)/"])
            }
            let dom = String(decoding: dump.stdout, as: UTF8.self)
            #expect(dom.contains("data-loaded=\"1\""), "the page never finished a full refresh")
            for (name, percent) in [("lr", "90"), ("tree", "10"), ("gbc", "0")] {
                #expect(dom.contains("data-model=\"\(name)\" data-percent=\"\(percent)\""), "model card \(name)")
            }
            #expect(dom.components(separatedBy: "data-customer=").count - 1 == 20)
            #expect(dom.components(separatedBy: "class=\"reason\"").count - 1 >= 20)
            #expect(dom.contains("data-arm=\"challenger\"") == f.scored.sorted { $0.value.probability > $1.value.probability }.prefix(20)
                .contains { $0.value.arm == "challenger" })
            let scores = dom.components(separatedBy: "data-score=\"").dropFirst().compactMap { Double($0.prefix { $0 != "\"" }) }
            #expect(scores.count == 20 && scores == scores.sorted(by: >))

            // A picture for reviewers (test-artifacts/, as the engine's dashboard test does).
            let artifacts = Shared.repo.appendingPathComponent("test-artifacts")
            try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
            let shot = artifacts.appendingPathComponent("dashboard-model-set.png").path
            let taken = try await offPool {
                try runTool("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=8000",
                                                  "--user-data-dir=\(profile)", "--window-size=1280,2400", "--screenshot=\(shot)", "http://localhost:\(port)/"])
            }
            #expect(taken.status == 0 && FileManager.default.fileExists(atPath: shot))
        }
    }
}
