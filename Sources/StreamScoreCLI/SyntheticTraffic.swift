import Bench

// The synthetic traffic generator lives in the Bench module (the bench needs it in-process and may not
// import this target). `RunCommand.swift` (the `--demo` load and its live line) uses these two names
// without importing Bench; they go once it does.

/// The synthetic traffic generator (`Bench.SyntheticTraffic`).
typealias SyntheticTraffic = Bench.SyntheticTraffic

/// Seconds of a duration as a Double.
func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
