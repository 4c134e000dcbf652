/// The profile updates of one commit: the updates of consecutive batches (runs, in order), and a plan that
/// writes each customer once, in ascending `customer_id` order (byte order), as upserting every update one
/// by one in order would leave the row (``ProfileUpdate/merging(_:with:)``).
///
/// The stores read the updates in place through the plan: only customers that occur more than once get a
/// folded copy. Folding a group commit's batches by copying every update into a dictionary-indexed array,
/// then sorting the ids for the store, cost the writer ~30 ms of its ~300 ms per group of ~50,000 events
/// (`perf`, prediction bench, 2026-11-30): copies of every update (retains of its strings and buckets) and
/// String hashing. When each run is already in ascending order (the pipeline's scorer sorts its batches),
/// the plan is a merge of the runs; otherwise it sorts.
public struct ProfileUpdates: Sendable {
    /// Where a customer's update is: `runs[run][index]`, or `folded[index]` when `run` is -1.
    private struct Ref: Sendable {
        var run: Int32
        var index: Int32
    }

    /// The updates as given, batch by batch.
    public let runs: [[ProfileUpdate]]
    private let folded: [ProfileUpdate]
    private let order: [Ref]

    /// The number of customers (rows to write).
    public var count: Int { order.count }
    /// Whether there is nothing to write.
    public var isEmpty: Bool { order.isEmpty }

    /// One batch's updates (a customer may occur more than once).
    public init(_ updates: [ProfileUpdate]) { self.init(runs: [updates]) }

    /// Consecutive batches' updates.
    public init(runs: [[ProfileUpdate]]) {
        self.runs = runs
        var folded: [ProfileUpdate] = []
        var order: [Ref] = []
        Self.withBuffers(runs) { buffers in
            func key(_ r: Ref) -> String { buffers[Int(r.run)][Int(r.index)].profile.customerID }
            var all = Self.inOrder(buffers)
            if all == nil {
                // Not each run in order: all updates sorted by (customer, run, index), a total order.
                var refs: [Ref] = []
                refs.reserveCapacity(buffers.reduce(0) { $0 + $1.count })
                for (r, buffer) in buffers.enumerated() {
                    for i in buffer.indices { refs.append(Ref(run: Int32(r), index: Int32(i))) }
                }
                refs.sort { a, b in
                    let ka = key(a), kb = key(b)
                    if ka != kb { return ka < kb }
                    return (a.run, a.index) < (b.run, b.index)
                }
                all = refs
            }
            // Equal keys are adjacent, in the order they were given: fold each such stretch into one update.
            let refs = all!
            order.reserveCapacity(refs.count)
            var start = 0
            while start < refs.count {
                var end = start + 1
                let id = key(refs[start])
                while end < refs.count && key(refs[end]) == id { end += 1 }
                if end - start == 1 {
                    order.append(refs[start])
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

    /// The updates as values (copies), in ascending `customer_id` order.
    public var merged: [ProfileUpdate] {
        var result: [ProfileUpdate] = []
        result.reserveCapacity(count)
        forEach { result.append($0.pointee) }
        return result
    }

    /// The merge of runs that are each strictly ascending (two by two, left before right on equal keys: the
    /// given order), or nil when one is not.
    private static func inOrder(_ buffers: [UnsafeBufferPointer<ProfileUpdate>]) -> [Ref]? {
        for buffer in buffers where buffer.count > 1 {
            for i in 1..<buffer.count where !(buffer[i - 1].profile.customerID < buffer[i].profile.customerID) { return nil }
        }
        var lists = buffers.enumerated().map { r, buffer in buffer.indices.map { Ref(run: Int32(r), index: Int32($0)) } }
        func key(_ r: Ref) -> String { buffers[Int(r.run)][Int(r.index)].profile.customerID }
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
                    // Left first on equal keys: the earlier batch's update is folded first.
                    if key(right[j]) < key(left[i]) {
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
        return lists.first ?? []
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
