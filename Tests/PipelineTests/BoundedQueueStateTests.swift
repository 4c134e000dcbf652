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
}
