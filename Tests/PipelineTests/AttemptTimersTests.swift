import Foundation
import Logging
@testable import Pipeline
import Synchronization
import Testing

/// The timers of store and output attempts: due order, cancellation, an earlier timer set while the
/// thread waits for a later one, and the two behaviours built on them (an attempt reported slow, an
/// attempt abandoned at its deadline), with short durations instead of 5 s and 30 s.
@Suite("Attempt timers and deadlines", .serialized, .timeLimit(.minutes(1)))
struct AttemptTimersTests {
    @Test("timers run in due order, a cancelled one never; an earlier timer set later still runs on time")
    func dueOrderAndCancel() async throws {
        let ran = Mutex<[String]>([])
        let timers = AttemptTimers.shared
        // The thread waits for the 2 s timer first; the 30 ms one set after it must wake it.
        let far = timers.schedule(after: .seconds(2)) { ran.withLock { $0.append("far") } }
        try await Task.sleep(for: .milliseconds(20))
        let setAt = ContinuousClock.now
        let firedAt = Mutex<ContinuousClock.Instant?>(nil)
        _ = timers.schedule(after: .milliseconds(60)) { ran.withLock { $0.append("60") } }
        _ = timers.schedule(after: .milliseconds(30)) {
            firedAt.withLock { $0 = .now }
            ran.withLock { $0.append("30") }
        }
        let cancelled = timers.schedule(after: .milliseconds(40)) { ran.withLock { $0.append("cancelled") } }
        timers.cancel(cancelled)
        try await Task.sleep(for: .milliseconds(300))
        #expect(ran.withLock { $0 } == ["30", "60"])
        let lateness = try #require(firedAt.withLock { $0 }) - setAt
        #expect(lateness >= .milliseconds(30) && lateness < .milliseconds(250), "the 30 ms timer ran after \(lateness)")
        timers.cancel(far)
        timers.cancel(far)  // twice, or after it ran: no effect
    }

    @Test("an attempt without an answer is abandoned at its deadline: AttemptTimedOut, and its task is cancelled")
    func deadline() async throws {
        let bodyCancelled = Mutex(false)
        let started = ContinuousClock.now
        await #expect(throws: AttemptTimedOut.self) {
            try await attemptWithDeadline(.milliseconds(100)) { () async throws -> Int in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    bodyCancelled.withLock { $0 = true }
                    throw error
                }
                return 1
            }
        }
        let took = ContinuousClock.now - started
        #expect(took >= .milliseconds(100) && took < .seconds(5), "gave up after \(took)")
        try await Task.sleep(for: .milliseconds(100))
        #expect(bodyCancelled.withLock { $0 })
        #expect(try await attemptWithDeadline(.seconds(5)) { 7 } == 7)
    }

    @Test("an attempt slower than slowAttempt is reported as a stall of its stage while it runs, cleared when it answers")
    func slowAttempt() async throws {
        let status = SubscriberStatus(name: "prediction", group: "g")
        let task = Task {
            try await retrying("commit 3 profiles to test.db", stage: "write", status: status, logger: Logger(label: "test"),
                               slowAttempt: .milliseconds(50)) { () async throws -> Int in
                try await Task.sleep(for: .milliseconds(400))
                return 3
            }
        }
        try await Task.sleep(for: .milliseconds(250))
        #expect(status.snapshot.stalls["write"]?.contains("commit 3 profiles to test.db: no answer after") == true,
                "stalls: \(status.snapshot.stalls)")
        #expect(try await task.value == 3)
        #expect(status.snapshot.stalls.isEmpty)
        // An attempt that answers in time is never reported.
        _ = try await retrying("quick", stage: "write", status: status, logger: Logger(label: "test"), slowAttempt: .milliseconds(100)) { 1 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(status.snapshot.stalls.isEmpty)
    }
}
