import Events

/// The profile updates of one commit: the updates of consecutive batches (runs, in order), and a plan that
/// writes each customer once, in ascending `customer_id` order (UTF-8 byte order), as upserting every update one
/// by one in order would leave the row (``ProfileUpdate/merging(_:with:)``).
///
/// The stores read the updates in place through the plan: only customers that occur more than once get a
/// folded copy. Folding a group commit's batches by copying every update into a dictionary-indexed array,
/// then sorting the ids for the store, cost the writer ~30 ms of its ~300 ms per group of ~50,000 events
/// (`perf`, prediction bench, 2026-11-30): copies of every update (retains of its strings and buckets) and
/// String hashing. The plan is a merge of the runs in customer order (the pipeline's scorer stage computes
/// each batch's order beside the writer: `customerOrder(_:)`).
public struct ProfileUpdates: Sendable {
    /// Where a customer's update is: `runs[run][index]`, or `folded[index]` when `run` is -1; while the plan
    /// is made, with its id's `prefix` (compared in place: looking it up per comparison missed the caches).
    private struct Ref: Sendable {
        var prefix: UInt64 = 0
        var length: Int32 = 0
        var run: Int32
        var index: Int32
    }

    /// The updates as given, batch by batch.
    public let runs: [[ProfileUpdate]]
    private let folded: [ProfileUpdate]
    private let order: [Ref]

    /// The number of customers (rows to write).
    public var count: Int { order.count }

    /// One batch's updates (a customer may occur more than once).
    public init(_ updates: [ProfileUpdate]) { self.init(runs: [updates]) }

    /// A position in a run and its id's `prefix`, in the run's customer order (`customerOrder(_:)`).
    public struct Position: Sendable {
        public let prefix: UInt64
        /// The id's length in UTF-8 bytes: ids of at most 8 bytes compare by `prefix` and `length` alone.
        public let length: Int32
        public let index: Int32
    }

    /// Byte order of two ids by their prefixes and lengths, reading the ids (`id(a)`, `id(b)`) only when
    /// both are longer than 8 bytes and their prefixes are equal.
    @inline(__always) static func compare(_ prefixA: UInt64, _ lengthA: Int32, _ prefixB: UInt64, _ lengthB: Int32,
                                          _ idA: () -> String, _ idB: () -> String) -> Int {
        if prefixA != prefixB { return prefixA < prefixB ? -1 : 1 }
        // Equal first 8 bytes (zero-padded): a shorter id of at most 8 bytes is a prefix of the other.
        if lengthA <= 8 || lengthB <= 8 { return Int(lengthA) - Int(lengthB) }
        return CustomerID.compareBytes(idA(), idB())
    }

    /// Consecutive batches' updates; `orders[r]`, when given (`customerOrder(_:)` of run `r`, computed
    /// beside the writer), saves sorting that run here — and reading its updates, which are cold in the
    /// cache by the time the writer merges them.
    public init(runs: [[ProfileUpdate]], orders: [[Position]] = []) {
        self.runs = runs
        var folded: [ProfileUpdate] = []
        var order: [Ref] = []
        Self.withBuffers(runs) { buffers in
            @inline(__always) func less(_ a: Ref, _ b: Ref) -> Bool {
                Self.compare(a.prefix, a.length, b.prefix, b.length, { buffers[Int(a.run)][Int(a.index)].profile.customerID },
                             { buffers[Int(b.run)][Int(b.index)].profile.customerID }) < 0
            }
            // Each run in customer order, then the runs merged two by two; on equal ids the left (earlier)
            // one first, so equal ids end up adjacent in the order they were given.
            var lists: [[Ref]] = buffers.indices.map { r in
                let runOrder = r < orders.count && orders[r].count == buffers[r].count ? orders[r] : Self.customerOrder(buffers[r])
                return runOrder.map { Ref(prefix: $0.prefix, length: $0.length, run: Int32(r), index: $0.index) }
            }
            while lists.count > 1 {
                var next: [[Ref]] = []
                next.reserveCapacity((lists.count + 1) / 2)
                for pair in stride(from: 0, to: lists.count, by: 2) {
                    guard pair + 1 < lists.count else {
                        next.append(lists[pair])
                        continue
                    }
                    let left = lists[pair], right = lists[pair + 1]
                    var merged: [Ref] = []
                    merged.reserveCapacity(left.count + right.count)
                    var i = 0, j = 0
                    while i < left.count && j < right.count {
                        if less(right[j], left[i]) {
                            merged.append(right[j])
                            j += 1
                        } else {
                            merged.append(left[i])
                            i += 1
                        }
                    }
                    merged.append(contentsOf: left[i...])
                    merged.append(contentsOf: right[j...])
                    next.append(merged)
                }
                lists = next
            }
            // Fold each stretch of one customer's updates into one.
            let refs = lists.first ?? []
            order.reserveCapacity(refs.count)
            var start = 0
            while start < refs.count {
                var end = start + 1
                while end < refs.count && !less(refs[start], refs[end]) { end += 1 }
                if end - start == 1 {
                    order.append(Ref(run: refs[start].run, index: refs[start].index))
                } else {
                    var update = buffers[Int(refs[start].run)][Int(refs[start].index)]
                    for r in refs[(start + 1)..<end] { update = ProfileUpdate.merging(update, with: buffers[Int(r.run)][Int(r.index)]) }
                    order.append(Ref(run: -1, index: Int32(folded.count)))
                    folded.append(update)
                }
                start = end
            }
        }
        self.folded = folded
        self.order = order
    }

    /// The positions of `updates` in ascending `customer_id` byte order (equal ids in their given order):
    /// what `init(runs:orders:)` needs of each run, for a stage beside the writer to compute. The updates
    /// themselves are not moved (sorting the structs in place was mostly `memmove`: `perf`, 2026-11-30).
    public static func customerOrder(_ updates: [ProfileUpdate]) -> [Position] {
        updates.withUnsafeBufferPointer { customerOrder($0) }
    }

    private static func customerOrder(_ buffer: UnsafeBufferPointer<ProfileUpdate>) -> [Position] {
        var order = buffer.indices.map { i in
            Position(prefix: prefix(buffer[i].profile.customerID), length: Int32(clamping: buffer[i].profile.customerID.utf8.count), index: Int32(i))
        }
        order.sort { a, b in
            let c = compare(a.prefix, a.length, b.prefix, b.length, { buffer[Int(a.index)].profile.customerID }, { buffer[Int(b.index)].profile.customerID })
            return c != 0 ? c < 0 : a.index < b.index
        }
        return order
    }

    /// The first 8 UTF-8 bytes of `id`, big-endian, zero-padded: ids compare as these first, then
    /// `CustomerID.compareBytes` on a tie. Byte order is `customer_id`'s order in both stores (SQLite's BINARY
    /// collation, PostgreSQL's `COLLATE "C"`).
    @inline(__always) static func prefix(_ id: String) -> UInt64 {
        var key: UInt64 = 0
        var n = 0
        for byte in id.utf8 {
            guard n < 8 else { break }
            key = key << 8 | UInt64(byte)
            n += 1
        }
        return n == 0 ? 0 : key << (8 * UInt64(8 - n))
    }

    /// Calls `body` with each customer's update, in ascending `customer_id` order, read in place.
    public func forEach<E: Error>(_ body: (UnsafePointer<ProfileUpdate>) throws(E) -> Void) throws(E) {
        try forEach(in: 0..<count, body)
    }

    /// `forEach` over the customers at positions `range` of that order.
    public func forEach<E: Error>(in range: Range<Int>, _ body: (UnsafePointer<ProfileUpdate>) throws(E) -> Void) throws(E) {
        try Self.withBuffers(runs + [folded]) { (buffers) throws(E) in
            let folded = buffers[buffers.count - 1]
            for position in range {
                let ref = order[position]
                try body(ref.run < 0 ? folded.baseAddress! + Int(ref.index) : buffers[Int(ref.run)].baseAddress! + Int(ref.index))
            }
        }
    }

    /// The ids of the customers whose update has a score, in ascending order.
    public var scoredCustomerIDs: [String] {
        var ids: [String] = []
        ids.reserveCapacity(count)
        forEach { u in if u.pointee.churnScore != nil { ids.append(u.pointee.profile.customerID) } }
        return ids
    }

    /// Calls `body` with a buffer pointer to each run.
    private static func withBuffers<R, E: Error>(_ runs: [[ProfileUpdate]], _ body: ([UnsafeBufferPointer<ProfileUpdate>]) throws(E) -> R) throws(E) -> R {
        var buffers: [UnsafeBufferPointer<ProfileUpdate>] = []
        buffers.reserveCapacity(runs.count)
        func nest(_ r: Int) throws(E) -> R {
            guard r < runs.count else { return try body(buffers) }
            return try runs[r].withUnsafeBufferPointer { (buffer) throws(E) -> R in
                buffers.append(buffer)
                return try nest(r + 1)
            }
        }
        return try nest(0)
    }
}

extension ProfileUpdate {
    /// `earlier` and then `later` (same customer) folded into one, exactly as upserting both in that order
    /// leaves the row: the attributes of the first, the score (and its model version and time) of the
    /// last that has one, the model name, arm and reasons of the last scored one, everything else of the
    /// last.
    public static func merging(_ earlier: ProfileUpdate, with later: ProfileUpdate) -> ProfileUpdate {
        var merged = later
        merged.profile.attributes = earlier.profile.attributes
        merged.churnScore = later.churnScore ?? earlier.churnScore
        merged.modelVersion = later.modelVersion ?? earlier.modelVersion
        if later.churnScore == nil {
            merged.modelName = earlier.modelName
            merged.arm = earlier.arm
            merged.reasons = earlier.reasons
        }
        merged.scoredAt = later.scoredAt ?? earlier.scoredAt
        return merged
    }
}
