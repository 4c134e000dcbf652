import ArgumentParser

/// The sane range of a numeric flag. A value outside it — a typo, `nan`, `inf`, `1e-300` — fails with one
/// line naming the flag, instead of trapping later in a conversion or a duration (`produce --rate 1e-300`
/// made `.seconds(sent / rate)` overflow; `--http-read-timeout 10000000000` overflowed its nanoseconds).
/// NaN is in no range.
func requireFlag<T: Comparable>(_ flag: String, _ value: T, in range: ClosedRange<T>, _ unit: String = "") throws {
    if let message = flagRangeViolation(flag, value, in: range, unit) { throw ValidationError(message) }
}

/// The one-line message for a flag's value outside `range`, or nil when it is inside.
func flagRangeViolation<T: Comparable>(_ flag: String, _ value: T, in range: ClosedRange<T>, _ unit: String = "") -> String? {
    range.contains(value) ? nil : "\(flag) must be between \(range.lowerBound) and \(range.upperBound)\(unit.isEmpty ? "" : " \(unit)") (got \(value))"
}

/// Event or profile rates (`--rate`, `--rescore-rate`, `--demo-rate`), per second.
let rateRange: ClosedRange<Double> = 0.001...1_000_000_000
/// Partitions of a topic the embedded broker creates.
let partitionRange: ClosedRange<Int> = 1...10_000
