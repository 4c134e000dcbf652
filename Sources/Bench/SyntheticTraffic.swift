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
        return "C" + String(repeating: "0", count: max(0, 6 - number.count)) + number
    }

    private static let pages: [(String, Double)] = [
        ("/", 0.22), ("/pricing", 0.06), ("/pricing/enterprise", 0.02), ("/product/mesh-pro", 0.09),
        ("/product/analytics", 0.08), ("/product/integrations", 0.06), ("/product/api", 0.05),
        ("/help", 0.05), ("/help/billing", 0.04), ("/help/getting-started", 0.04), ("/blog/release-notes", 0.04),
        ("/account", 0.08), ("/account/billing", 0.05), ("/account/settings", 0.05), ("/account/team", 0.03),
        ("/account/cancel", 0.02), ("/account/cancel/confirm", 0.01), ("/account/cancellation-policy", 0.01),
    ]
    private static let types: [(String, Double)] = [
        ("page_view", 0.90), ("login", 0.04), ("order", 0.02), ("support_call", 0.025), ("complaint", 0.008), ("email_click", 0.007),
    ]
    private static let agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "Mozilla/5.0 (Macintosh) Safari/18.1",
                                 "okhttp/4.12.0", "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"]

    private mutating func pick(_ table: [(String, Double)]) -> String {
        var u = rng.nextDouble()
        for (value, weight) in table {
            if u < weight { return value }
            u -= weight
        }
        return table[0].0
    }

    /// The next event's customer id and JSON bytes.
    public mutating func next() -> (customerID: String, json: [UInt8]) {
        // Skewed activity: a few customers produce most events.
        let customer = Self.customerID(picker.next(&rng))
        let ts: Int64
        if meanGapMillis > 0 {
            clock += -meanGapMillis * log(max(1e-12, 1 - rng.nextDouble()))
            ts = Int64(clock)
        } else {
            ts = Int64(Date().timeIntervalSince1970 * 1000)
        }
        let type = pick(Self.types)
        var json = "{\"event_id\":\"\(rng.uuid())\",\"type\":\"\(type)\",\"customer_id\":\"\(customer)\",\"ts\":\"\(Timestamp.format(millis: ts))\""
        if type == "page_view" { json += ",\"page\":\"\(pick(Self.pages))\"" }
        json += ",\"session_id\":\"s-\(customer)-\(ts / 1_800_000)\",\"user_agent\":\"\(Self.agents[Int(rng.next() % 4)])\"}"
        return (customer, Array(json.utf8))
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
    mutating func uuid() -> String {
        let a = next(), b = next()
        let hex = String(a, radix: 16).leftPadded(16) + String(b, radix: 16).leftPadded(16)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-4" + String(c[13..<16]) + "-a" + String(c[17..<20]) + "-" + String(c[20..<32])
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
