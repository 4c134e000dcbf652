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
        var bytes: [UInt8] = []
        appendCustomerID(index, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `C`, then `index + 1` in decimal with at least six digits.
    private static func appendCustomerID(_ index: Int, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "C"))
        appendDecimal(UInt64(index + 1), minimumDigits: 6, to: &out)
    }

    private static func appendDecimal(_ value: UInt64, minimumDigits: Int, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = value, count = 0
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            if count < minimumDigits { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: minimumDigits - count)) }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[(20 - count)...]))
        }
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
        // The bytes are written directly (the load producer makes 20,000 a second beside the engine it
        // measures; built as interpolated Strings they cost it ~7 µs each, `perf`, 2026-12-01). The draws
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
        var json: [UInt8] = []
        json.reserveCapacity(256)
        json.append(contentsOf: #"{"event_id":""#.utf8)
        rng.appendUUID(to: &json)
        json.append(contentsOf: #"","type":""#.utf8)
        json.append(contentsOf: type)
        json.append(contentsOf: #"","customer_id":""#.utf8)
        var customerID: [UInt8] = []
        customerID.reserveCapacity(8)
        Self.appendCustomerID(customer, to: &customerID)
        json.append(contentsOf: customerID)
        json.append(contentsOf: #"","ts":""#.utf8)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.maxFormattedLength) { buffer in
            let length = Timestamp.write(millis: ts, into: buffer.baseAddress!)
            json.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<length]))
        }
        json.append(UInt8(ascii: "\""))
        if type == Self.pageView {
            json.append(contentsOf: #","page":""#.utf8)
            json.append(contentsOf: pick(Self.pages))
            json.append(UInt8(ascii: "\""))
        }
        json.append(contentsOf: #","session_id":"s-"#.utf8)
        json.append(contentsOf: customerID)
        json.append(UInt8(ascii: "-"))
        let halfHour = ts / 1_800_000
        if halfHour < 0 { json.append(UInt8(ascii: "-")) }
        Self.appendDecimal(halfHour.magnitude, minimumDigits: 1, to: &json)
        json.append(contentsOf: #"","user_agent":""#.utf8)
        json.append(contentsOf: Self.agents[Int(rng.next() % 4)])
        json.append(contentsOf: #""}"#.utf8)
        return (String(decoding: customerID, as: UTF8.self), json)
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
    mutating func appendUUID(to out: inout [UInt8]) {
        let a = next(), b = next()
        for i in 0..<32 {
            switch i {
            case 8, 20: out.append(UInt8(ascii: "-"))
            case 12: out.append(contentsOf: [UInt8(ascii: "-"), UInt8(ascii: "4")]); continue
            case 16: out.append(contentsOf: [UInt8(ascii: "-"), UInt8(ascii: "a")]); continue
            default: break
            }
            let word = i < 16 ? a : b
            out.append(Self.hexDigits[Int((word >> UInt64(60 - 4 * (i % 16))) & 0xF)])
        }
    }
}
