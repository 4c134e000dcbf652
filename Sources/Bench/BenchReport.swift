import Foundation
import Prometheus

/// A performance goal (docs/benchmarks.md) and what this run measured for it.
struct GoalResult {
    /// Which way the value must lie from the target.
    enum Bound {
        /// value ≥ target
        case atLeast(Double)
        /// value ≤ target
        case atMost(Double)
        /// A figure shown beside the goals, without one.
        case none
    }

    /// What is measured, with the goal's conditions.
    let name: String
    /// The measured value, in the bound's unit.
    let value: Double
    /// The value as printed.
    let valueText: String
    /// The goal.
    let bound: Bound
    /// The goal as printed (`≥ 150 k/s`).
    let targetText: String
    /// Why the run is not the goal's own measurement (smaller sizes, another rate), or nil.
    let note: String?

    /// `met`, `not met`, or `(no goal)`.
    var verdict: String {
        switch bound {
        case .atLeast(let target): return value >= target ? "met" : "not met"
        case .atMost(let target): return value <= target ? "met" : "not met"
        case .none: return "(no goal)"
        }
    }
}

/// Collects and prints the figures and goals of one `streamscore bench` process.
///
/// - Important: used from the bench's single task only.
final class BenchReport {
    /// Name and printed value of every figure, in order.
    private(set) var figures: [(String, String)] = []
    /// Every goal measured, in order.
    private(set) var goals: [GoalResult] = []
    private let metrics: PrometheusCollectorRegistry?

    /// A report reading stage timers from `metrics` (nil: none).
    init(metrics: PrometheusCollectorRegistry?) { self.metrics = metrics }

    /// Sum and count of each `*_seconds` timer in the metrics registry, by name and labels.
    func stageTimers() -> [String: (sum: Double, count: Double)] {
        guard let text = metrics?.emitToString() else { return [:] }
        var timers: [String: (sum: Double, count: Double)] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            let name = String(parts[0])
            if name.contains("_seconds_sum") {
                timers[name.replacingOccurrences(of: "_seconds_sum", with: ""), default: (0, 0)].sum = value
            } else if name.contains("_seconds_count") {
                timers[name.replacingOccurrences(of: "_seconds_count", with: ""), default: (0, 0)].count = value
            }
        }
        return timers
    }

    /// Mean time per call of each stage timer since `before` (a `stageTimers()` result).
    func stageMeans(since before: [String: (sum: Double, count: Double)]) {
        let now = stageTimers()
        for key in now.keys.sorted() {
            let sum = now[key]!.sum - (before[key]?.sum ?? 0), count = now[key]!.count - (before[key]?.count ?? 0)
            guard count > 0 else { continue }
            add("mean \(key)", String(format: "%.2f ms over %.0f batches", sum / count * 1000, count))
        }
    }

    /// Prints the run's time and machine.
    func header() {
        let host = ProcessInfo.processInfo.hostName
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let mem = ProcessInfo.processInfo.physicalMemory / (1 << 30)
        printLine("streamscore bench — \(ISO8601DateFormatter().string(from: Date())) — host \(host), \(cpus) cores, \(mem) GiB")
    }

    /// Records and prints a figure.
    func add(_ name: String, _ value: String) {
        figures.append((name, value))
        printLine(String(format: "  %-58@ %@", name as NSString, value as NSString))
    }

    /// Records a goal's measurement (printed in the goals table at the end).
    func goal(_ name: String, value: Double, _ valueText: String, _ bound: GoalResult.Bound, target targetText: String,
              note: String? = nil) {
        goals.append(GoalResult(name: name, value: value, valueText: valueText, bound: bound, targetText: targetText, note: note))
    }

    /// Prints a section's title.
    func section(_ title: String) { printLine("\n== \(title)") }

    /// Prints the table of figures and the table of goals.
    func footer() {
        printLine("\n| figure | value |\n|---|---|")
        for (name, value) in figures { printLine("| \(name) | \(value) |") }
        guard !goals.isEmpty else { return }
        printLine("\n== Goals\n\n| goal | value | target | |\n|---|---|---|---|")
        for g in goals {
            printLine("| \(g.name) | \(g.valueText) | \(g.targetText) | \(g.verdict)\(g.note.map { " (\($0))" } ?? "") |")
        }
    }
}

/// Writes a line to stdout at once (unbuffered, so that progress shows while a section runs).
func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Seconds of a duration as a Double.
public func seconds(_ d: Duration) -> Double { d / .seconds(1) }

/// The median (NaN for none).
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// The `p` quantile (0…1) of sorted values, nearest rank.
func quantile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// `1.28 M/s` or `226 k/s`.
func formatRate(_ perSecond: Double) -> String {
    perSecond >= 1_000_000 ? String(format: "%.2f M/s", perSecond / 1e6) : String(format: "%.0f k/s", perSecond / 1e3)
}

/// `1,000,000`.
func formatCount(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return out
}

/// Best-of-N wall time of `body` in seconds (single thread, so one core).
func bestOf(_ rounds: Int, _ body: () throws -> Int) rethrows -> (seconds: Double, check: Int) {
    var best = Double.infinity
    var check = 0
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        check = try body()
        best = min(best, seconds(ContinuousClock.now - start))
    }
    return (best, check)
}
