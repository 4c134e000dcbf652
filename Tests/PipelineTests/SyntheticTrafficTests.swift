import Events
import Foundation
import Testing

@testable import Bench

/// The synthetic generator writes its events as bytes; its stream for a seed must stay what the
/// String-built generator it replaced gave (bench figures of different days compare the same events),
/// and every event must be one the engine accepts.
@Suite("Synthetic traffic")
struct SyntheticTrafficTests {
    /// The generator as it was before it wrote bytes (2026-12-01), kept as the oracle of its events' text.
    struct StringGenerator {
        /// The draws of the generator (its SplitMix64), with the event id built as Strings as before.
        struct Random {
            var rng: SplitMix64
            mutating func next() -> UInt64 { rng.next() }
            mutating func nextDouble() -> Double { rng.nextDouble() }
            mutating func uuid() -> String {
                func padded(_ s: String) -> String { String(repeating: "0", count: 16 - s.count) + s }
                let a = next(), b = next()
                let c = Array(padded(String(a, radix: 16)) + padded(String(b, radix: 16)))
                return String(c[0..<8]) + "-" + String(c[8..<12]) + "-4" + String(c[13..<16]) + "-a" + String(c[17..<20]) + "-" + String(c[20..<32])
            }
        }
        static let pages: [(String, Double)] = [
            ("/", 0.22), ("/pricing", 0.06), ("/pricing/enterprise", 0.02), ("/product/mesh-pro", 0.09),
            ("/product/analytics", 0.08), ("/product/integrations", 0.06), ("/product/api", 0.05),
            ("/help", 0.05), ("/help/billing", 0.04), ("/help/getting-started", 0.04), ("/blog/release-notes", 0.04),
            ("/account", 0.08), ("/account/billing", 0.05), ("/account/settings", 0.05), ("/account/team", 0.03),
            ("/account/cancel", 0.02), ("/account/cancel/confirm", 0.01), ("/account/cancellation-policy", 0.01),
        ]
        static let types: [(String, Double)] = [
            ("page_view", 0.90), ("login", 0.04), ("order", 0.02), ("support_call", 0.025), ("complaint", 0.008), ("email_click", 0.007),
        ]
        static let agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "Mozilla/5.0 (Macintosh) Safari/18.1",
                             "okhttp/4.12.0", "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"]
        var rng: Random
        var clock: Double
        let customers: Int, meanGap: Double

        mutating func pick(_ table: [(String, Double)]) -> String {
            var u = rng.nextDouble()
            for (value, weight) in table {
                if u < weight { return value }
                u -= weight
            }
            return table[0].0
        }

        mutating func next() -> (String, String) {
            let u = rng.nextDouble()
            let number = String(min(customers - 1, Int(Double(customers) * u * u)) + 1)
            let customer = "C" + String(repeating: "0", count: max(0, 6 - number.count)) + number
            clock += -meanGap * log(max(1e-12, 1 - rng.nextDouble()))
            let ts = Int64(clock)
            let type = pick(Self.types)
            var json = "{\"event_id\":\"\(rng.uuid())\",\"type\":\"\(type)\",\"customer_id\":\"\(customer)\",\"ts\":\"\(Timestamp.format(millis: ts))\""
            if type == "page_view" { json += ",\"page\":\"\(pick(Self.pages))\"" }
            json += ",\"session_id\":\"s-\(customer)-\(ts / 1_800_000)\",\"user_agent\":\"\(Self.agents[Int(rng.next() % 4)])\"}"
            return (customer, json)
        }
    }

    @Test("each seed gives the events the String-built generator gave", arguments: [
        (seed: UInt64(42), customers: 10_000, start: Int64(1_767_225_600_000), gap: 50.0),
        (seed: 7, customers: 100_000, start: 1_767_225_600_000, gap: 0.3),
        (seed: 3, customers: 1_234_567, start: 1_700_000_000_123, gap: 900_000),
        (seed: 0, customers: 1, start: 86_400_000, gap: 7),
    ])
    func sameStream(seed: UInt64, customers: Int, start: Int64, gap: Double) {
        var bytes = SyntheticTraffic(customers: customers, seed: seed, startMillis: start, meanGapMillis: gap)
        var strings = StringGenerator(rng: .init(rng: SplitMix64(seed: seed)), clock: Double(start), customers: customers, meanGap: gap)
        for i in 0..<20_000 {
            let (id, json) = bytes.next()
            let (expectedID, expectedJSON) = strings.next()
            guard id == expectedID, json == Array(expectedJSON.utf8) else {
                Issue.record("event \(i): \(id) \(String(decoding: json, as: UTF8.self)) != \(expectedID) \(expectedJSON)")
                return
            }
        }
    }

    @Test("its events are valid, on the wall clock too, and ids of 7 digits and more are not padded")
    func valid() throws {
        var traffic = SyntheticTraffic(customers: 10, seed: 9, startMillis: 0, meanGapMillis: 0)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for _ in 0..<2_000 {
            let (id, json) = traffic.next()
            let event = try #require(EventDecoder.decode(json).event, "\(String(decoding: json, as: UTF8.self))")
            #expect(event.customerID == id)
            #expect(abs(event.timestamp - now) < 600_000)
        }
        #expect(SyntheticTraffic.customerID(0) == "C000001")
        #expect(SyntheticTraffic.customerID(999_999) == "C1000000")
        #expect(SyntheticTraffic.customerID(12_345_677) == "C12345678")
    }
}
