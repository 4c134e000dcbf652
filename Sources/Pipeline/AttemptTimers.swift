import Foundation
import Synchronization

/// One thread that runs the actions of the store and output attempts' timers (an attempt reported as
/// slow, an attempt abandoned at its deadline) when they fall due, unless cancelled first.
///
/// Almost every timer is cancelled a few milliseconds after it is set (the attempt answered), so a timer
/// costs a lock and a dictionary entry, and the thread wakes only when the earliest one falls due. A
/// sleeping task per timer cost a task, a clock registration and a wake-up to run its cancellation: at
/// 20,000 events/s (6 partitions) two per store commit and two per batch published, ~800 a second;
/// `perf` of the latency bench (2026-11-30) put them and the attempts' bookkeeping at ~3 % of the
/// engine's CPU samples.
final class AttemptTimers: Sendable {
    static let shared = AttemptTimers()

    private struct Timer {
        let due: ContinuousClock.Instant
        let action: @Sendable () -> Void
    }
    private struct State {
        var timers: [Int: Timer] = [:]
        var next = 0
        /// The due time the thread waits for (nil: it waits until woken).
        var waitingUntil: ContinuousClock.Instant?
        var started = false
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    /// Runs `action` on the timer thread after `delay`, unless ``cancel(_:)`` comes first.
    /// - Returns: the timer's token for ``cancel(_:)``.
    func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Int {
        let due = ContinuousClock.now + delay
        let (token, start, signal) = state.withLock { s -> (Int, Bool, Bool) in
            s.next += 1
            s.timers[s.next] = Timer(due: due, action: action)
            let start = !s.started
            s.started = true
            // The thread sleeps until the earliest due time it knew of: only an earlier one wakes it.
            let signal = s.waitingUntil.map { due < $0 } ?? true
            if signal { s.waitingUntil = due }
            return (s.next, start, signal)
        }
        if start {
            let thread = Thread { [self] in run() }
            thread.name = "attempt-timers"
            thread.start()
        } else if signal {
            wake.signal()
        }
        return token
    }

    /// Cancels a timer; nothing happens if it already ran.
    func cancel(_ token: Int) {
        _ = state.withLock { $0.timers.removeValue(forKey: token) }
    }

    private func run() {
        while true {
            let now = ContinuousClock.now
            let (due, earliest) = state.withLock { s -> ([@Sendable () -> Void], ContinuousClock.Instant?) in
                var dueTokens: [Int] = []
                var earliest: ContinuousClock.Instant?
                for (token, timer) in s.timers {
                    if timer.due <= now {
                        dueTokens.append(token)
                    } else if earliest.map({ timer.due < $0 }) ?? true {
                        earliest = timer.due
                    }
                }
                let due = dueTokens.compactMap { s.timers.removeValue(forKey: $0)?.action }
                s.waitingUntil = earliest
                return (due, earliest)
            }
            for action in due { action() }
            if let earliest {
                let wait = earliest - ContinuousClock.now
                let nanoseconds = max(0, wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000)
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(min(nanoseconds, 60_000_000_000))))
            } else {
                wake.wait()
            }
        }
    }
}
