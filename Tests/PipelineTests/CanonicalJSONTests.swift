import Events
import Features
import Foundation
import Pipeline
import Scoring
import Store
import Testing
import TestSupport

@testable import HTTPAPI


/// The HTTP API's JSON encoder against the text the API wrote before it (string interpolation with
/// `JSONText`): numbers exactly as `"\(d)"`, strings as `JSONText.string`, keys in declaration order,
/// `null` for nil, raw JSON as it is; and whole documents equal to the hand-built ones they replace.
@Suite("Canonical JSON of the HTTP API")
struct CanonicalJSONTests {
    struct One: Codable { var v: Double }
    struct Many: Encodable { var a: [Double]; var b: Double? }

    let encoder = CanonicalJSONEncoder()

    /// Doubles a score can never be but an encoder must still get right.
    static let edgeCases: [Double] = [
        0.0, -0.0, 1.0, -1.0, 31.0, 0.1 + 0.2, 0.1, 0.2, 0.3, 1e-5, 0.00001, 1e-7, 2.5e-8, 1e-4, 0.001, 1e15, 1e16, 1e17,
        123_456_789_012_345_680.0, 9_007_199_254_740_992.0, 9_007_199_254_740_993.0, Double(Int64.max), Double(Int64.min),
        0.12372981196132372, 0.9999999999999999, 1.0000000000000002, 1e300, -1e-300, 1e308,
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, .leastNormalMagnitude.nextDown,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .pi, .ulpOfOne, 0.5, 0.25, 100.0, 1e21, 1e22, 1e23,
        Double(bitPattern: 1), Double(bitPattern: 2), 2.2250738585072014e-308, 1.7976931348623157e308, 0.000001, 0.0000001,
    ]

    @Test("a finite Double is written exactly as \"\\(d)\": the edge cases and 200,000 random bit patterns, top level, in an object, in an array")
    func doublesMatchSwiftDescription() throws {
        var rng = SplitMix64(seed: 0x5EED_0F_5C0E)
        var values = Self.edgeCases
        while values.count < 200_000 {
            let d = Double(bitPattern: rng.next())
            if d.isFinite { values.append(d) }
        }
        // Probabilities as models produce them, and short decimals as CSV imports produce them.
        for _ in 0..<50_000 { values.append(Double.random(in: 0..<1, using: &rng)) }
        for _ in 0..<20_000 { values.append(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)) / 100) }

        var mismatches: [String] = []
        for d in values {
            let top = try encoder.encode(d)
            let object = try encoder.encode(One(v: d))
            if top != "\(d)" || object != "{\"v\":\(d)}" { mismatches.append("\(d): \(top) / \(object)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5))")
        let array = try encoder.encode(Many(a: Array(values.prefix(1_000)), b: nil))
        #expect(array == "{\"a\":[" + values.prefix(1_000).map { "\($0)" }.joined(separator: ",") + "],\"b\":null}")
    }

    @Test("the text is valid JSON that reads back to the same bits (JSONDecoder), -0.0 included")
    func doublesRoundTrip() throws {
        var rng = SplitMix64(seed: 42)
        var values = Self.edgeCases
        while values.count < 20_000 {
            let d = Double(bitPattern: rng.next())
            if d.isFinite { values.append(d) }
        }
        var wrong: [String] = []
        for d in values {
            let text = try encoder.encode(One(v: d))
            let back = try JSONDecoder().decode(One.self, from: Data(text.utf8)).v
            if back.bitPattern != d.bitPattern { wrong.append("\(d) -> \(text) -> \(back)") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) values do not round-trip, first: \(wrong.prefix(5))")
    }

    @Test("not-finite doubles are null, as JSONText.number writes them")
    func notFinite() throws {
        for d in [Double.nan, .infinity, -.infinity, -Double.nan] {
            #expect(try encoder.encode(One(v: d)) == "{\"v\":null}")
            #expect(JSONText.number(d) == "null")
        }
    }

    @Test("strings are escaped exactly as JSONText.string: quotes, backslash, controls, slash, astral scalars (20,000 random strings)")
    func strings() throws {
        var rng = SplitMix64(seed: 7)
        let special: [Unicode.Scalar] = ["\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "\u{2028}", "é", "ü", "😀", " "]
        var mismatches: [String] = []
        for _ in 0..<20_000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                if Bool.random(using: &rng) {
                    s.append(special.randomElement(using: &rng)!)
                } else if let scalar = Unicode.Scalar(UInt32.random(in: 0...0x2FFFF, using: &rng)) {
                    s.append(scalar)
                }
            }
            let string = String(s)
            if try encoder.encode(string) != JSONText.string(string) { mismatches.append(string) }
            if try encoder.encode([string: 1]) != "{\(JSONText.string(string)):1}" { mismatches.append("key \(string)") }
        }
        #expect(mismatches.isEmpty, "first: \(mismatches.prefix(3))")
        #expect(try encoder.encode("a/b") == #""a/b""#, "a slash is not escaped (JSONEncoder would write a\\/b)")
    }

    struct Ordered: Encodable {
        var zeta: Int
        var alpha: String?
        var mid: [Int]
        var raw: RawJSON?
        var flag: Bool
        var small: Int64
    }

    @Test("keys in declaration order, nil fields as null, raw JSON as it is, integers as integers")
    func structure() throws {
        let value = Ordered(zeta: 31, alpha: nil, mid: [1, -2], raw: RawJSON(#"[{"x":1.0}]"#), flag: true, small: Int64.min)
        #expect(try encoder.encode(value) == #"{"zeta":31,"alpha":null,"mid":[1,-2],"raw":[{"x":1.0}],"flag":true,"small":-9223372036854775808}"#)
        let absent = Ordered(zeta: 0, alpha: "a", mid: [], raw: nil, flag: false, small: 0)
        #expect(try encoder.encode(absent) == #"{"zeta":0,"alpha":"a","mid":[],"raw":null,"flag":false,"small":0}"#)
        #expect(try encoder.encode(OrderedObject([(key: "z", value: 1), (key: "a", value: 2)])) == #"{"z":1,"a":2}"#)
        #expect(try encoder.encode([Double?.none, 1.5]) == "[null,1.5]")
        #expect(throws: EncodingError.self, "only this encoder can write raw text") { try JSONEncoder().encode(RawJSON("[]")) }
    }

    @Test("the stored reasons column is written raw when it is a JSON array, null otherwise")
    func storedReasonsShape() {
        #expect(storedReasons(#"[{"feature":"plan","value":"basic","reference":"premium","contribution":0.1}]"#) != nil)
        #expect(storedReasons("[]")?.text == "[]")
        #expect(storedReasons(nil) == nil)
        // (Foundation's parser on Linux tolerates a trailing comma in an array, `[1,]`: the check guards against
        // damaged cells, it is not a validator.)
        for bad in ["", "{}", "[", "null", "not json", "[1] x", "[1,,2]", #"[{"a":1}"#, "[NaN]"] { #expect(storedReasons(bad) == nil, "\(bad)") }
    }

    // MARK: whole documents against the hand-built text they replace

    /// A random feature vector.
    static func randomFeatures(_ rng: inout SplitMix64) -> FeatureVector {
        FeatureVector(tenureDays: Int.random(in: 0...4_000, using: &rng), plan: ["basic", "standard", "premium"].randomElement(using: &rng)!,
                      monthlyCharges: [20.0, 0.0, 49.99, Double.random(in: 0...200, using: &rng)].randomElement(using: &rng)!,
                      pageViews30d: Int.random(in: 0...300, using: &rng), pricingViews30d: Int.random(in: 0...20, using: &rng),
                      cancelViews30d: Int.random(in: 0...5, using: &rng), supportCalls30d: Int.random(in: 0...5, using: &rng),
                      complaints30d: Int.random(in: 0...3, using: &rng),
                      daysSinceLastVisit: [30.0, 0.0, Double.random(in: 0...30, using: &rng)].randomElement(using: &rng)!)
    }

    /// `GET`/`POST /score/{id}` as built by hand with `JSONText` (kept here as the oracle).
    static func handBuiltOnDemand(_ o: OnDemandScore) -> String {
        let s = JSONText.string, n = JSONText.number
        let f = o.features
        let features = "{\"tenure_days\":\(f.tenureDays),\"plan\":\(s(f.plan)),\"monthly_charges\":\(n(f.monthlyCharges)),\"page_views_30d\":\(f.pageViews30d),\"pricing_views_30d\":\(f.pricingViews30d),\"cancel_views_30d\":\(f.cancelViews30d),\"support_calls_30d\":\(f.supportCalls30d),\"complaints_30d\":\(f.complaints30d),\"days_since_last_visit\":\(n(f.daysSinceLastVisit))}"
        return "{\"customer_id\":\(s(o.customerID)),\"probability\":\(n(o.probability)),\"model_name\":\(s(o.member.name)),\"model_version\":\(s(o.member.model.version)),\"arm\":\"\(o.arm.rawValue)\",\"features\":\(features),\"features_as_of\":\(o.featuresAsOf.map { s(Timestamp.format(millis: $0)) } ?? "null"),\"reasons\":\(ScoreReasons.json(o.reasons))}"
    }

    @Test("GET/POST /score/{id} documents equal the hand-built text for 2,000 random vectors and both arms")
    func onDemandDocuments() throws {
        let registry = try ModelRegistry(contentsOf: Shared.model("logreg.pmml"))
        let set = registry.currentSet
        var rng = SplitMix64(seed: 99)
        let population = AttributeReferences(tenureDays: 365, plan: "standard", monthlyCharges: 42.5)
        var differing = 0
        for i in 0..<2_000 {
            let score = try OnDemandScore.score(customerID: "c-\(i) \"q\"/é", features: Self.randomFeatures(&rng),
                                                featuresAsOf: i % 5 == 0 ? nil : 1_790_000_000_000 + Int64(i) * 61_001, set: set,
                                                population: i % 7 == 0 ? nil : population, reasons: i % 4)
            if try encoder.encode(OnDemandDocument(score)) != Self.handBuiltOnDemand(score) { differing += 1 }
        }
        #expect(differing == 0)
    }

    /// `GET /profiles/{id}` as the API wrote it before (kept here as the oracle).
    static func handBuiltProfile(_ r: ProfileRow) -> String {
        func opt(_ d: Double?) -> String { d.map(JSONText.number) ?? "null" }
        func opt(_ s: String?) -> String { s.map(JSONText.string) ?? "null" }
        let s = JSONText.string, n = JSONText.number
        return "{\"customer_id\":\(s(r.customer_id)),\"tenure_days\":\(r.tenure_days),\"plan\":\(s(r.plan)),\"monthly_charges\":\(n(r.monthly_charges)),\"churn_score\":\(opt(r.churn_score)),\"model_version\":\(opt(r.model_version)),\"model_name\":\(opt(r.model_name)),\"arm\":\(opt(r.arm)),\"scored_at\":\(opt(r.scored_at)),\"updated_at\":\(opt(r.updated_at)),\"features_as_of\":\(opt(r.features_as_of)),\"page_views_30d\":\(r.page_views_30d),\"pricing_views_30d\":\(r.pricing_views_30d),\"cancel_views_30d\":\(r.cancel_views_30d),\"support_calls_30d\":\(r.support_calls_30d),\"complaints_30d\":\(r.complaints_30d),\"days_since_last_visit\":\(n(r.days_since_last_visit)),\"reasons\":\(r.reasons ?? "null")}"
    }

    /// A `ProfileRow` (its initializer is internal to Store) read from JSON text: column name to JSON value text.
    static func profileRow(_ columns: [String: String?]) throws -> ProfileRow {
        let text = "{" + columns.compactMap { key, value in value.map { "\(JSONText.string(key)):\($0)" } }.joined(separator: ",") + "}"
        return try JSONDecoder().decode(ProfileRow.self, from: Data(text.utf8))
    }

    @Test("GET /profiles/{id} documents equal the former hand-built text for 2,000 random rows (scored and not)")
    func profileDocuments() throws {
        var rng = SplitMix64(seed: 1234)
        var differing: [String] = []
        for i in 0..<2_000 {
            let f = Self.randomFeatures(&rng)
            let scored = i % 3 != 0
            let reasons = scored && i % 2 == 0 ? #"[{"feature":"cancel_views_30d","value":2.0,"reference":0.0,"contribution":0.0123}]"# : nil
            let row = try Self.profileRow([
                "customer_id": JSONText.string("c-\(i)\\/\""), "tenure_days": "\(f.tenureDays)", "plan": JSONText.string(f.plan),
                "monthly_charges": "\(f.monthlyCharges)", "churn_score": scored ? "\(Double(bitPattern: rng.next() >> 2))" : nil,
                "model_version": scored ? #""logreg.pmml-abc""# : nil, "scored_at": scored ? #""2026-11-10T08:00:00.000Z""# : nil,
                "updated_at": #""2026-11-29T19:00:00.123Z""#, "page_views_30d": "\(f.pageViews30d)", "pricing_views_30d": "\(f.pricingViews30d)",
                "cancel_views_30d": "\(f.cancelViews30d)", "support_calls_30d": "\(f.supportCalls30d)", "complaints_30d": "\(f.complaints30d)",
                "days_since_last_visit": "\(f.daysSinceLastVisit)", "model_name": scored ? #""lr""# : nil, "arm": scored ? #""champion""# : nil,
                "features_as_of": scored ? #""2026-11-10T08:00:00.000Z""# : nil, "reasons": reasons.map(JSONText.string),
            ])
            let new = try encoder.encode(ProfileDocument(row))
            if new != Self.handBuiltProfile(row) { differing.append(new) }
        }
        #expect(differing.isEmpty, "first: \(differing.prefix(2))")
    }
}
