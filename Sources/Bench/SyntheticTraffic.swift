import Events
import Foundation

/// How a synthetic stream picks the customer of each event.
public enum CustomerSkew: Sendable, Equatable {
    /// The generator's built-in skew: customer index ⌊C·u²⌋ for a uniform u, so the first customers are the
    /// busiest (customer i has probability ≈ 1/(2·√(i·C))).
    case square
    /// Zipf's law: the customer of rank r (`C000001` is rank 1) with probability ∝ 1/r^exponent.
    case zipf(exponent: Double)
}

/// A deterministic generator of realistic log-feed traffic: many customers with skewed activity, the
/// page mix of a SaaS site, some support calls and complaints, timestamps moving forward. The same
/// arguments give the same events.
public struct SyntheticTraffic: Sendable {
    /// Number of distinct customers (`C000001` …, matching the CRM export's ids).
    public let customers: Int
    /// Event time of the first event (ms since the epoch).
    public let startMillis: Int64
    /// Mean gap between consecutive events in event time (ms); 0 = use the wall clock for each event.
    public let meanGapMillis: Double
    private var rng: SplitMix64
    private let picker: CustomerPicker
    private var clock: Double

    /// A generator of `customers` customers picked with `skew`, seeded with `seed`.
    public init(customers: Int, seed: UInt64, startMillis: Int64, meanGapMillis: Double, skew: CustomerSkew = .square) {
        self.customers = max(1, customers)
        self.startMillis = startMillis
        self.meanGapMillis = meanGapMillis
        rng = SplitMix64(seed: seed)
        picker = CustomerPicker(customers: self.customers, skew: skew)
        clock = Double(startMillis)
    }

    /// The id of the customer at `index` (0-based): `C000001` for 0.
    public static func customerID(_ index: Int) -> String {
        let number = String(index + 1)
        return "C" + String(repeating: "0", count: max(0, 6 - number.utf8.count)) + number
    }

    private static let pages: [(value: [UInt8], weight: Double)] = [
        ("/", 0.22), ("/pricing", 0.06), ("/pricing/enterprise", 0.02), ("/product/mesh-pro", 0.09),
        ("/product/analytics", 0.08), ("/product/integrations", 0.06), ("/product/api", 0.05),
        ("/help", 0.05), ("/help/billing", 0.04), ("/help/getting-started", 0.04), ("/blog/release-notes", 0.04),
        ("/account", 0.08), ("/account/billing", 0.05), ("/account/settings", 0.05), ("/account/team", 0.03),
        ("/account/cancel", 0.02), ("/account/cancel/confirm", 0.01), ("/account/cancellation-policy", 0.01),
    ].map { (Array($0.0.utf8), $0.1) }
    private static let types: [(value: [UInt8], weight: Double)] = [
        ("page_view", 0.90), ("login", 0.04), ("order", 0.02), ("support_call", 0.025), ("complaint", 0.008), ("email_click", 0.007),
    ].map { (Array($0.0.utf8), $0.1) }
    private static let pageView = Array("page_view".utf8)
    private static let agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "Mozilla/5.0 (Macintosh) Safari/18.1",
                                 "okhttp/4.12.0", "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"].map { Array($0.utf8) }

    private mutating func pick(_ table: [(value: [UInt8], weight: Double)]) -> [UInt8] {
        var u = rng.nextDouble()
        for (value, weight) in table {
            if u < weight { return value }
            u -= weight
        }
        return table[0].value
    }

    /// The next event's customer id and JSON bytes.
    public mutating func next() -> (customerID: String, json: [UInt8]) {
        // Written as bytes (`JSONBytes`): the load producer makes 20,000 a second beside the engine it
        // measures, and built as interpolated Strings they cost it ~7 µs each (`perf`, 2026-12-01). The draws
        // keep their order, so a seed gives the events it gave before.
        // Skewed activity: a few customers produce most events.
        let customer = picker.next(&rng)
        let ts: Int64
        if meanGapMillis > 0 {
            clock += -meanGapMillis * log(max(1e-12, 1 - rng.nextDouble()))
            ts = Int64(clock)
        } else {
            ts = Int64(Date().timeIntervalSince1970 * 1000)
        }
        let type = pick(Self.types)
        let customerID = Self.customerID(customer)
        var w = JSONBytes(capacity: 256)
        w.raw(#"{"event_id":""#)
        rng.appendUUID(to: &w)
        w.raw(#"","type":""#)
        w.json(type)
        w.raw(#"","customer_id":""#)
        w.write(customerID)
        w.raw(#"","ts":""#)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.maxFormattedLength) { buffer in
            w.json(UnsafeBufferPointer(rebasing: buffer[..<Timestamp.write(millis: ts, into: buffer.baseAddress!)]))
        }
        w.raw("\"")
        if type == Self.pageView {
            w.raw(#","page":""#)
            w.json(pick(Self.pages))
            w.raw("\"")
        }
        w.raw(#","session_id":"s-"#)
        w.write(customerID)
        w.raw("-")
        w.int(Int(ts / 1_800_000))
        w.raw(#"","user_agent":""#)
        w.json(Self.agents[Int(rng.next() % 4)])
        w.raw(#""}"#)
        return (customerID, w.bytes)
    }
}

/// Picks customer indexes (0-based) with a skew, one uniform draw per pick.
struct CustomerPicker: Sendable {
    let customers: Int
    /// `.zipf`: the cumulative probability of ranks 1…i+1 at index i (the last is 1).
    private let cumulative: [Double]?

    init(customers: Int, skew: CustomerSkew) {
        self.customers = max(1, customers)
        switch skew {
        case .square:
            cumulative = nil
        case .zipf(let exponent):
            var sums = [Double](repeating: 0, count: self.customers)
            var total = 0.0
            for rank in 1...self.customers {
                total += 1 / pow(Double(rank), exponent)
                sums[rank - 1] = total
            }
            cumulative = sums.map { $0 / total }
        }
    }

    /// The next customer's index.
    func next(_ rng: inout SplitMix64) -> Int {
        let u = rng.nextDouble()
        guard let cumulative else { return min(customers - 1, Int(Double(customers) * u * u)) }
        // The first index whose cumulative probability exceeds u.
        var low = 0, high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > u { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

/// A small, fast, seedable PRNG (SplitMix64).
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    private static let hexDigits = Array("0123456789abcdef".utf8)
    /// Appends a version-4-shaped UUID made of two draws: the 32 hex digits of the draws, digits 12 and 16
    /// replaced by `4` and `a`, in groups of 8-4-4-4-12.
    mutating func appendUUID(to out: inout JSONBytes) {
        let a = next(), b = next()
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { text in
            var n = 0
            for i in 0..<32 {
                switch i {
                case 8, 12, 16, 20:
                    text[n] = UInt8(ascii: "-")
                    n += 1
                default: break
                }
                let word = i < 16 ? a : b
                text[n] = i == 12 ? UInt8(ascii: "4") : i == 16 ? UInt8(ascii: "a") : Self.hexDigits[Int((word >> UInt64(60 - 4 * (i % 16))) & 0xF)]
                n += 1
            }
            out.json(UnsafeBufferPointer(text))
        }
    }
}
