/// Immutable contiguous storage for compiled model data, read through a raw pointer in hot loops
/// (no bounds checks, no array retain/release per access).
///
/// `@unchecked Sendable`: the memory is initialised once in `init`, never written afterwards, and freed in
/// `deinit`, so concurrent reads are safe.
final class Flat<T: Sendable>: @unchecked Sendable {
    /// The first element.
    let base: UnsafeMutablePointer<T>
    /// Number of elements.
    let count: Int

    /// Creates the instance.
    init(_ elements: [T]) {
        count = elements.count
        base = .allocate(capacity: Swift.max(elements.count, 1))
        elements.withUnsafeBufferPointer { src in
            if let p = src.baseAddress { base.initialize(from: p, count: elements.count) }
        }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    @inline(__always) subscript(i: Int) -> T { base[i] }
}
