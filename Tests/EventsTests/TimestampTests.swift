import Foundation
import Testing
import Events
import TestSupport   // SplitMix64

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test("accepted forms convert to UTC milliseconds", arguments: [
        ("2026-02-01T10:42:00.000Z", feb1),
        ("2026-02-01T10:42:00Z", feb1),
        ("2026-02-01T10:42:00.1Z", feb1 + 100),
        ("2026-02-01T10:42:00.12Z", feb1 + 120),
        ("2026-02-01T10:42:00.1234567Z", feb1 + 123),
        ("2026-02-01T10:42:00.999999999999Z", feb1 + 999),
        ("2026-02-01T12:42:00.000+02:00", feb1),
        ("2026-02-01T05:12:00-05:30", feb1),
        ("2026-02-01T10:42:00-00:00", feb1),
        ("2026-02-01T10:42:00+00:00", feb1),
        ("2026-02-02T10:41:00+23:59", feb1),
        ("2026-03-01T01:00:00+02:00", Int64(1_772_319_600_000)),
        ("2024-02-29T00:00:00Z", Int64(1_709_164_800_000)),
        ("2000-02-29T12:00:00Z", Int64(951_825_600_000)),
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("1969-12-31T23:59:59.999Z", Int64(-1)),
        ("2026-12-31T23:59:59.999Z", Int64(1_798_761_599_999)),
    ])
    func accepted(text: String, millis: Int64) {
        #expect(Timestamp.parse(text) == millis, "\(text)")
        #expect(decode(message(ts: "\"\(text)\"")).event?.timestamp == millis)
    }

    @Test("rejected forms", arguments: [
        "2026-02-01t10:42:00Z", "2026-02-01T10:42:00z", "2026-02-01 10:42:00Z", "2026-02-01  10:42:00Z",
        "2026-02-01T10:42Z", "2026-02-01T10:42:00", "2026-02-01", "2026-2-01T10:42:00Z", "26-02-01T10:42:00Z",
        "2026-13-01T10:42:00Z", "2026-00-01T10:42:00Z", "2026-01-00T10:42:00Z", "2026-01-32T10:42:00Z",
        "2026-02-30T10:00:00.000Z", "2025-02-29T10:00:00Z", "1900-02-29T10:00:00Z", "2100-02-29T10:00:00Z",
        "2026-04-31T10:00:00Z", "2026-02-01T24:00:00Z", "2026-02-01T10:60:00Z", "2026-02-01T10:42:60Z",
        "2026-02-01T10:42:00.Z", "2026-02-01T10:42:00,5Z", "2026-02-01T10:42:00+0200", "2026-02-01T10:42:00+02",
        "2026-02-01T10:42:00+24:00", "2026-02-01T10:42:00+02:60", "2026-02-01T10:42:00Z ", " 2026-02-01T10:42:00Z",
        "2026-02-01T10:42:00ZZ", "2026-02-01T10:42:00.5.5Z", "+2026-02-01T10:42:00Z", "2026-02-01T10:42:00.000UTC",
        "yesterday", "", "2026-02-01T1０:42:00Z", "2026-02-01T10:42:00.000+02:00:00",
    ])
    func rejected(text: String) {
        #expect(Timestamp.parse(text) == nil, "\(text)")
        #expect(decode(message(ts: "\"\(text)\"")).malformedReason == .badTimestamp, "\(text)")
    }

    @Test("format, minute floor and UTC day")
    func helpers() {
        #expect(Timestamp.format(millis: feb1) == "2026-02-01T10:42:00.000Z")
        #expect(Timestamp.format(millis: feb1 + 59_999) == "2026-02-01T10:42:59.999Z")
        #expect(Timestamp.format(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(millis: -1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.format(millis: 951_825_600_000) == "2000-02-29T12:00:00.000Z")
        #expect(Timestamp.format(millis: Timestamp.parse("0000-01-01T00:00:00Z") ?? 0) == "0000-01-01T00:00:00.000Z")
        #expect(Timestamp.format(millis: Timestamp.parse("9999-12-31T23:59:59.999Z") ?? 0) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.parse("0000-01-01T00:00:00+00:01").map { Timestamp.format(millis: $0) } == "-0001-12-31T23:59:00.000Z")
        #expect(!Timestamp.format(millis: .min).isEmpty && !Timestamp.format(millis: .max).isEmpty) // no trap
        #expect(Timestamp.format(millis: .min).utf8.count <= Timestamp.maxFormattedLength)
        #expect(Timestamp.format(millis: .max).utf8.count <= Timestamp.maxFormattedLength)
        #expect(Timestamp.minuteFloor(feb1 + 59_999) == feb1)
        #expect(Timestamp.minuteFloor(-1) == -60_000)
        #expect(Timestamp.utcDay(feb1) == 20_485)
        #expect(Timestamp.utcDay(-1) == -1)
        #expect(Timestamp.utcDay(0) == 0)
        #expect(Timestamp.isLeapYear(2024) && Timestamp.isLeapYear(2000) && !Timestamp.isLeapYear(1900) && !Timestamp.isLeapYear(2026))
        var millis = Int64(-86_400_000) * 800
        while millis < Int64(86_400_000) * 40_000 { // round trip over ~110 years, every ~37 hours
            #expect(Timestamp.parse(Timestamp.format(millis: millis)) == millis)
            millis += 133_333_337
        }
    }

    @Test("format equals Foundation's formatter for 20,000 random times (1600–9999), from the stack buffer too")
    func formatMatchesFoundation() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
        let low: Int64 = -11_676_096_000_000   // 1600-01-01
        let high: Int64 = 253_402_300_799_999  // 9999-12-31T23:59:59.999
        var rng = SplitMix64(seed: 12)
        var mismatches = 0
        for _ in 0..<20_000 {
            let millis = low + Int64(rng.next() % UInt64(high - low))
            // Whole milliseconds are exact in a Double at these magnitudes.
            let expected = formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
            let text = Timestamp.format(millis: millis)
            let fromStack = Timestamp.withFormatted(millis: millis) { String(decoding: $0, as: UTF8.self) }
            if text != expected || fromStack != expected { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}
