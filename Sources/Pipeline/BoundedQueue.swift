import Synchronization

/// A FIFO hand-off between two pipeline stages holding at most `capacity` elements: `send` waits while
/// it is full (backpressure), `next` waits while it is empty. One sender and one receiver.
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var head = 0
        var finished: (any Error)?? = nil
        var sender: CheckedContinuation<Bool, Never>?
        var receiver: CheckedContinuation<Element?, any Error>?
        var count: Int { items.count - head }
    }
    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Appends, waiting while the queue is full.
    func send(_ element: Element) async {
        while true {
            // Resumed with `true` when the element was taken, `false` when space was made (retry).
            let done: Bool = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let (receiver, taken) = state.withLock { s -> (CheckedContinuation<Element?, any Error>?, Bool) in
                    if let r = s.receiver {
                        s.receiver = nil
                        return (r, true)
                    }
                    if s.count < capacity {
                        s.items.append(element)
                        return (nil, true)
                    }
                    s.sender = c
                    return (nil, false)
                }
                receiver?.resume(returning: element)
                if taken { c.resume(returning: true) }
            }
            if done { return }
        }
    }

    /// Marks the end (or a failure) for the receiver.
    func finish(throwing error: (any Error)? = nil) {
        let r = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
            s.finished = .some(error)
            defer { s.receiver = nil }
            return s.receiver
        }
        if let error { r?.resume(throwing: error) } else { r?.resume(returning: nil) }
    }

    /// The next element, or nil after `finish()`.
    func next() async throws -> Element? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Element?, any Error>) in
            let action = state.withLock { s -> (Result<Element?, any Error>?, CheckedContinuation<Bool, Never>?) in
                if s.count > 0 {
                    let e = s.items[s.head]
                    s.head += 1
                    if s.head > 64 && s.head * 2 > s.items.count {
                        s.items.removeFirst(s.head)
                        s.head = 0
                    }
                    let sender = s.sender
                    s.sender = nil
                    return (.success(e), sender)
                }
                if let finished = s.finished {
                    if let error = finished { return (.failure(error), nil) }
                    return (.success(nil), nil)
                }
                s.receiver = c
                return (nil, nil)
            }
            action.1?.resume(returning: false)
            if let result = action.0 { c.resume(with: result) }
        }
    }
}
