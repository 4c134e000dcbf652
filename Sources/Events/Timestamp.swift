#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 timestamps as milliseconds since the Unix epoch (UTC), and UTC calendar helpers.
///
/// Accepted `ts` grammar (strict subset of RFC 3339 §5.6):
/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` or `…±HH:MM`, with an uppercase `T` and `Z` (lowercase
/// `t`/`z` and a space separator are rejected), a real calendar date (leap years by the Gregorian
/// rule), hour 00–23, minute 00–59, second 00–59 (leap second `60` rejected, Unix time has none),
/// offset hours 00–23 and minutes 00–59 (`-00:00` accepted as UTC), and a fraction of one or more
/// digits of any length truncated (not rounded) to milliseconds.
public enum Timestamp {
    /// Milliseconds in one day.
    public static let millisPerDay: Int64 = 86_400_000
    /// Milliseconds in one minute.
    public static let millisPerMinute: Int64 = 60_000
    /// Every time `parse` can return: 0000-01-01T00:00:00+23:59 to 9999-12-31T23:59:59.999-23:59 (a day
    /// either side of the four-digit years, for the offsets). Differences of two such times never overflow.
    public static let parseableRange: ClosedRange<Int64> = (-62_167_219_200_000 - millisPerDay)...(253_402_300_799_999 + millisPerDay)

    /// The wall clock in milliseconds since the epoch (a coarse clock: a few ns per call).
    public static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Parses an RFC 3339 timestamp (see the type's grammar) into epoch milliseconds.
    public static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// Parses the UTF-8 bytes of an RFC 3339 timestamp into epoch milliseconds.
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = bytes.count
        guard n >= 20, let p = bytes.baseAddress else { return nil }
        @inline(__always) func digit(_ i: Int) -> Int? {
            let d = p[i] &- UInt8(ascii: "0")
            return d < 10 ? Int(d) : nil
        }
        @inline(__always) func two(_ i: Int) -> Int? {
            guard let a = digit(i), let b = digit(i + 1) else { return nil }
            return a * 10 + b
        }
        guard let y1 = two(0), let y2 = two(2), p[4] == UInt8(ascii: "-"),
              let month = two(5), p[7] == UInt8(ascii: "-"),
              let day = two(8), p[10] == UInt8(ascii: "T"),
              let hour = two(11), p[13] == UInt8(ascii: ":"),
              let minute = two(14), p[16] == UInt8(ascii: ":"),
              let second = two(17)
        else { return nil }
        let year = y1 * 100 + y2
        guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var i = 19
        var millis = 0
        if p[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            while i < n, let d = digit(i) {
                if i - fractionStart < 3 { millis = millis * 10 + d }
                i += 1
            }
            let digits = i - fractionStart
            guard digits > 0 else { return nil }
            if digits == 1 { millis *= 100 } else if digits == 2 { millis *= 10 }
        }
        guard i < n else { return nil }
        var offsetMinutes = 0
        let zone = p[i]
        if zone == UInt8(ascii: "Z") {
            i += 1
        } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            guard i + 6 <= n, let oh = two(i + 1), p[i + 3] == UInt8(ascii: ":"), let om = two(i + 4),
                  oh <= 23, om <= 59
            else { return nil }
            offsetMinutes = (oh * 60 + om) * (zone == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == n else { return nil }
        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        let seconds = Int64(hour * 3600 + minute * 60 + second - offsetMinutes * 60)
        return days * millisPerDay + seconds * 1000 + Int64(millis)
    }

    /// Formats epoch milliseconds as RFC 3339 UTC with three fraction digits,
    /// e.g. `2026-02-01T10:42:00.000Z`.
    public static func format(millis: Int64) -> String {
        String(unsafeUninitializedCapacity: maxFormattedLength) { write(millis: millis, into: $0.baseAddress!) }
    }

    /// The most bytes `write(millis:into:)` writes (a sign, a nine-digit year and 20 more).
    public static let maxFormattedLength = 32

    /// Calls `body` with the text `format(millis:)` returns, from a stack buffer (no allocation: the
    /// store binds it and the message encoders copy it).
    public static func withFormatted<R>(millis: Int64, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxFormattedLength) { buffer in
            let count = write(millis: millis, into: buffer.baseAddress!)
            return try body(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Writes the text of `format(millis:)` at `out` (room for `maxFormattedLength` bytes); returns its length.
    public static func write(millis: Int64, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let day = utcDay(millis)
        let msOfDay = (millis % millisPerDay + millisPerDay) % millisPerDay // no overflow at the extremes
        let (year, month, dayOfMonth) = civilFromDays(day)
        let ms = Int(msOfDay % 1000)
        let totalSeconds = Int(msOfDay / 1000)
        var n = 0
        /// Writes `value` (≥ 0) zero-padded to at least `width` digits.
        func put(_ value: Int, width: Int) {
            var digits = 1, v = value
            while v >= 10 { v /= 10; digits += 1 }
            let count = max(digits, width)
            v = value
            for i in stride(from: count - 1, through: 0, by: -1) {
                out[n + i] = UInt8(ascii: "0") &+ UInt8(v % 10)
                v /= 10
            }
            n += count
        }
        func char(_ c: Unicode.Scalar) {
            out[n] = UInt8(ascii: c)
            n += 1
        }
        if year < 0 { char("-") }
        put(abs(year), width: 4)
        char("-"); put(month, width: 2)
        char("-"); put(dayOfMonth, width: 2)
        char("T"); put(totalSeconds / 3600, width: 2)
        char(":"); put(totalSeconds / 60 % 60, width: 2)
        char(":"); put(totalSeconds % 60, width: 2)
        char("."); put(ms, width: 3)
        char("Z")
        return n
    }

    /// The start of the UTC minute containing `millis`.
    public static func minuteFloor(_ millis: Int64) -> Int64 {
        floorDiv(millis, millisPerMinute) * millisPerMinute
    }

    /// The UTC calendar day containing `millis`, as days since 1970-01-01 (negative before).
    public static func utcDay(_ millis: Int64) -> Int64 {
        floorDiv(millis, millisPerDay)
    }

    /// Whether `year` is a Gregorian leap year.
    public static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    /// Days in `month` (1–12) of `year`.
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day number (inverse of `daysFromCivil`).
    static func civilFromDays(_ days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = Int(days) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
