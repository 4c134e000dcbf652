import DequeModule
import Synchronization

/// The state of a `BoundedQueue` as a plain value: every transition returns what the caller must do
/// (resume a waiting sender or receiver), so it is tested without tasks.
struct BoundedQueueState<Element: Sendable>: ~Copyable {
    typealias Receiver = CheckedContinuation<Element?, any Error>
    typealias Sender = CheckedContinuation<Bool, Never>

    let capacity: Int
    /// A deque, so that a taken element leaves it at once: an array read from a head index kept taken
    /// elements until a compaction past 64 of them, which behind the committer and the publisher kept
    /// every scored batch of a prediction bench run alive (a core dump at the engine's peak, 2026-11-30).
    private var items: Deque<Element> = []
    /// nil while open; `.some(nil)` finished normally; `.some(error)` failed.
    private var finished: (any Error)?? = nil
    private var sender: Sender?
    private var receiver: Receiver?
    /// The receiver is gone (its stage ended, normally or not): sends are dropped instead of waiting
    /// for space that will never be made.
    private(set) var closed = false

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var count: Int { items.count }

    /// What `send` must do with its element.
    enum OfferAction {
        /// Hand the element straight to the waiting receiver; the send is done.
        case handOver(Receiver)
        /// The element was queued; the send is done.
        case queued
        /// The queue is full: the sender must `parkSender` and retry once woken.
        case full
        /// The receiver is gone: the element is dropped; the send is done.
        case dropped
    }

    mutating func offer(_ element: Element) -> OfferAction {
        if closed { return .dropped }
        if let r = receiver {
            receiver = nil
            return .handOver(r)
        }
        if count < capacity {
            items.append(element)
            return .queued
        }
        return .full
    }

    /// The sender waits until `take` makes space.
    mutating func parkSender(_ continuation: Sender) { sender = continuation }

    /// What `next` gets: an element (and a sender to wake), or the end; nil: `parkReceiver` and wait.
    enum TakeAction {
        case element(Element, wake: Sender?)
        case end(Result<Element?, any Error>)
    }

    mutating func take() -> TakeAction? {
        if let e = items.popFirst() {
            defer { sender = nil }
            return .element(e, wake: sender)
        }
        if let finished {
            if let error = finished { return .end(.failure(error)) }
            return .end(.success(nil))
        }
        return nil
    }

    /// The receiver waits for `offer` or `finish`.
    mutating func parkReceiver(_ continuation: Receiver) { receiver = continuation }

    /// The receiver is gone: drops what is queued and returns the waiting sender to release.
    mutating func close() -> Sender? {
        closed = true
        items.removeAll()
        defer { sender = nil }
        return sender
    }

    /// Marks the end (or a failure); returns the waiting receiver to resume.
    mutating func finish(_ error: (any Error)?) -> Receiver? {
        finished = .some(error)
        defer { receiver = nil }
        return receiver
    }
}

/// A FIFO hand-off between two pipeline stages holding at most `capacity` elements: `send` waits while
/// it is full (backpressure), `next` waits while it is empty. One sender and one receiver.
final class BoundedQueue<Element: Sendable>: Sendable {
    private let state: Mutex<BoundedQueueState<Element>>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        state = Mutex(BoundedQueueState(capacity: capacity))
    }

    /// Appends, waiting while the queue is full.
    func send(_ element: Element) async {
        while true {
            // Resumed with `true` when the element was taken, `false` when space was made (retry).
            let done: Bool = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let action = state.withLock { s -> BoundedQueueState<Element>.OfferAction in
                    let action = s.offer(element)
                    if case .full = action { s.parkSender(c) }
                    return action
                }
                switch action {
                case .handOver(let receiver):
                    receiver.resume(returning: element)
                    c.resume(returning: true)
                case .queued, .dropped:
                    c.resume(returning: true)
                case .full:
                    break
                }
            }
            if done { return }
        }
    }

    /// Called by the receiver when it stops taking (its stage ended): a sender waiting for space, and every
    /// later send, returns at once and its element is dropped. Without it, a stage that failed left the
    /// stage before it waiting forever on a full queue, and the pipeline could never finish.
    func close() {
        state.withLock { $0.close() }?.resume(returning: true)
    }

    /// Marks the end (or a failure) for the receiver.
    func finish(throwing error: (any Error)? = nil) {
        let r = state.withLock { $0.finish(error) }
        if let error { r?.resume(throwing: error) } else { r?.resume(returning: nil) }
    }

    /// A queued element if there is one, without waiting (nil when empty or finished).
    func nextAvailable() -> Element? {
        let action = state.withLock { s -> BoundedQueueState<Element>.TakeAction? in s.count > 0 ? s.take() : nil }
        guard case .element(let e, let wake)? = action else { return nil }
        wake?.resume(returning: false)
        return e
    }

    /// The next element, or nil after `finish()`.
    func next() async throws -> Element? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Element?, any Error>) in
            let action = state.withLock { s -> BoundedQueueState<Element>.TakeAction? in
                if let action = s.take() { return action }
                s.parkReceiver(c)
                return nil
            }
            switch action {
            case .element(let e, let wake)?:
                wake?.resume(returning: false)
                c.resume(returning: e)
            case .end(let result)?:
                c.resume(with: result)
            case nil:
                break
            }
        }
    }
}
