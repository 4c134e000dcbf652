@testable import Pipeline
import Testing

/// The pipeline's bounded hand-off as a plain value: transitions tested without tasks.
@Suite("Bounded queue state machine (no tasks)")
struct BoundedQueueStateTests {
    struct Failure: Error {}

    @Test("offers queue up to the capacity, then report full; takes are FIFO and empty the queue")
    func capacityAndOrder() {
        var q = BoundedQueueState<Int>(capacity: 2)
        let a = q.offer(1), b = q.offer(2), c = q.offer(3)
        let queuedTwice: Bool
        if case .queued = a, case .queued = b { queuedTwice = true } else { queuedTwice = false }
        #expect(queuedTwice)
        let full: Bool
        if case .full = c { full = true } else { full = false }
        #expect(full, "a third element waits: backpressure")
        var got: [Int] = []
        while case .element(let e, _)? = q.take() { got.append(e) }
        #expect(got == [1, 2])
        let count = q.count
        #expect(count == 0)
    }

    @Test("finish: what is queued is still delivered, then the end (or the failure)")
    func finishing() {
        var q = BoundedQueueState<Int>(capacity: 4)
        _ = q.offer(7)
        _ = q.finish(nil)
        var first: Int?
        if case .element(let e, _)? = q.take() { first = e }
        #expect(first == 7)
        var ended = false
        if case .end(.success(nil))? = q.take() { ended = true }
        #expect(ended)

        var f = BoundedQueueState<Int>(capacity: 1)
        _ = f.finish(Failure())
        var failed = false
        if case .end(.failure(let error))? = f.take(), error is Failure { failed = true }
        #expect(failed)
    }

    @Test("an empty, open queue makes the receiver wait; capacity is at least one")
    func waiting() {
        var q = BoundedQueueState<Int>(capacity: 0)
        let none = q.take() == nil
        let capacity = q.capacity
        #expect(none)
        #expect(capacity == 1)
    }

    @Test("close (the receiver is gone): what is queued is dropped, later offers are dropped instead of reporting full")
    func closing() {
        var q = BoundedQueueState<Int>(capacity: 1)
        _ = q.offer(1)
        let full: Bool
        if case .full = q.offer(2) { full = true } else { full = false }
        #expect(full)
        _ = q.close()
        let dropped: Bool
        if case .dropped = q.offer(3) { dropped = true } else { dropped = false }
        #expect(dropped, "a sender must not wait for space that will never be made")
        let count = q.count
        #expect(count == 0)
    }

    @Test("a sender waiting on a full queue returns when the receiver's stage ends and closes it")
    func closeReleasesWaitingSender() async throws {
        let queue = BoundedQueue<Int>(capacity: 1)
        await queue.send(1)
        let sender = Task { await queue.send(2) }  // full: parks
        try await Task.sleep(for: .milliseconds(50))
        queue.close()
        // Without `close` this would wait forever (the test would hang, then time out).
        await sender.value
        await queue.send(3)  // dropped at once
    }

    /// An element whose release can be observed.
    final class Batch: Sendable {}

    @Test("a taken element is no longer held by the queue: it is freed when the receiver lets it go")
    func takenElementsAreNotRetained() {
        var q = BoundedQueueState<Batch>(capacity: 8)
        weak var first: Batch?
        do {
            let a = Batch(), b = Batch()
            first = a
            _ = q.offer(a)
            _ = q.offer(b)
        }
        #expect(first != nil, "still queued")
        do {
            guard case .element(let taken, _)? = q.take() else { Issue.record("nothing queued"); return }
            #expect(taken === first)
        }
        // Taken elements stayed in the queue's array until a compaction past 64 of them: in the prediction
        // bench that kept every scored batch of a run (updates and events) alive behind the committer and
        // the publisher (a core dump at the engine's peak).
        #expect(first == nil, "the queue let the taken element go")
        let rest = q.count
        #expect(rest == 1)
    }
}
