import DequeModule

/// Bounds on what a consumer holds in memory.
public struct ConsumerLimits: Sendable, Equatable {
    /// The most records in one batch.
    public var maxBatchRecords: Int
    /// The most records buffered between the poll thread and the reader.
    public var maxBufferedRecords: Int
    /// The most message bytes (payload + key) polled and not yet released: buffered, or admitted and
    /// still being processed. Bounds memory in bytes whatever the message sizes.
    public var maxOutstandingBytes: Int
    /// How long the poll thread holds (stops polling, librdkafka's own bounded prefetch keeps the rest)
    /// before it pauses the partitions. A pause makes librdkafka drop what it prefetched and fetch it
    /// again after the resume, which stalled the pipeline ~0.5 s per pause in the prediction bench
    /// (15 pauses in a 1 M-event run, 10.8 s of the reader waiting); a reader that is merely slower
    /// than the consumer drains the buffer within milliseconds, so only a long stall (a store outage)
    /// pauses, and rebalance callbacks wait at most this long meanwhile.
    public var pauseAfter: Duration

    /// Creates limits.
    public init(maxBatchRecords: Int, maxBufferedRecords: Int, maxOutstandingBytes: Int, pauseAfter: Duration = .seconds(1)) {
        self.maxBatchRecords = maxBatchRecords
        self.maxBufferedRecords = maxBufferedRecords
        self.maxOutstandingBytes = maxOutstandingBytes
        self.pauseAfter = pauseAfter
    }
}

/// The state a consumer shares between its poll thread and its reader: the assignment and its
/// generation, the admitted batches, the buffer of delivered batches with the reader's continuation,
/// byte accounting, and rewind requests.
///
/// A plain value whose transitions return what the caller must do (resume a continuation, pause or
/// resume the partitions); it performs no I/O, so it is tested without a broker. `ConsumerCore` keeps
/// it behind one `Mutex` and acts on the results outside the lock.
struct ConsumerStateMachine<Value: Sendable>: ~Copyable {
    typealias Waiter = CheckedContinuation<ConsumerBatch<Value>?, any Error>

    let limits: ConsumerLimits
    /// Partitions assigned to this member, sorted.
    private(set) var partitions: [Int32] = []
    /// Increases on every assignment change and rewind: a batch polled under an older generation is
    /// not admitted.
    private(set) var generation = 0
    /// Batches of a generation below this were polled under an assignment that was lost (the group
    /// gave the partitions away without a revoke handshake): they must never commit.
    private(set) var committableFrom = 0
    /// Admitted batches not yet released.
    private(set) var inFlight = 0
    /// Bytes of records buffered (delivered, not yet taken by the reader).
    private(set) var bufferedBytes = 0
    /// Bytes of admitted batches not yet released.
    private(set) var admittedBytes = 0
    /// Bytes the consumer answers for: buffered, or admitted and still being processed. (A batch the
    /// reader took but never admitted is the reader's own.)
    var outstandingBytes: Int { bufferedBytes + admittedBytes }
    /// Records buffered (delivered, not yet taken by the reader).
    private(set) var bufferedRecords = 0
    private(set) var peakBufferedRecords = 0
    private(set) var peakOutstandingBytes = 0
    private(set) var pauseCount = 0
    /// How many times the poll thread began holding (over a bound, not polling).
    private(set) var holdCount = 0
    /// When the current stretch over a bound began (nil while under them or paused).
    private var overLimitsSince: ContinuousClock.Instant?
    /// The owner asked to re-read the stored offsets (after a fenced commit).
    private(set) var rewindRequested = false
    private(set) var finished = false
    private(set) var failure: KafkaError?
    /// Delivered batches not yet taken. A deque, so that a taken batch leaves it at once: an array read
    /// from a head index kept taken batches (and every record in them) until a compaction past 64 of
    /// them — a core dump at the prediction bench's peak (2026-11-30) held ~230,000 decoded events,
    /// 199,000 of them referenced by this buffer and by the pipeline's batches.
    private var buffer: Deque<ConsumerBatch<Value>> = []
    private var waiter: Waiter?

    init(limits: ConsumerLimits) { self.limits = limits }

    // MARK: delivery (poll thread) and reading

    /// A batch leaves the poll thread: handed to a waiting reader, or buffered.
    mutating func deliver(_ batch: ConsumerBatch<Value>) -> Waiter? {
        if let waiter {
            self.waiter = nil
            return waiter
        }
        buffer.append(batch)
        bufferedRecords += batch.records.count
        bufferedBytes += batch.byteCount
        peakBufferedRecords = max(peakBufferedRecords, bufferedRecords)
        peakOutstandingBytes = max(peakOutstandingBytes, outstandingBytes)
        return nil
    }

    /// The reader asks for the next batch: a result now, or nil when it must wait (`park`).
    mutating func take() -> Result<ConsumerBatch<Value>?, KafkaError>? {
        if let batch = buffer.popFirst() {
            bufferedRecords -= batch.records.count
            bufferedBytes -= batch.byteCount
            return .success(batch)
        }
        if let failure { return .failure(failure) }
        if finished { return .success(nil) }
        return nil
    }

    /// Whether the reader is parked, waiting for a batch.
    var readerIsWaiting: Bool { waiter != nil }

    /// The reader waits: `deliver` or `finish` resumes it.
    mutating func park(_ continuation: Waiter) { waiter = continuation }

    /// Ends the batch sequence (with a failure, or normally); returns the waiter to resume.
    mutating func finish(failure: KafkaError?) -> Waiter? {
        if self.failure == nil { self.failure = failure }
        finished = true
        defer { waiter = nil }
        return waiter
    }

    // MARK: processing

    /// Admits a batch into processing unless a rebalance or rewind happened since it was polled; its
    /// bytes count until it is released.
    mutating func admit(_ batch: borrowing ConsumerBatch<Value>) -> Bool {
        guard batch.generation == generation else { return false }
        inFlight += 1
        admittedBytes += batch.byteCount
        peakOutstandingBytes = max(peakOutstandingBytes, outstandingBytes)
        return true
    }

    /// Ends the processing of an admitted batch (committed or abandoned).
    mutating func release(_ batch: borrowing ConsumerBatch<Value>) {
        inFlight -= 1
        admittedBytes -= batch.byteCount
    }

    /// Whether a batch of `generation` may still commit its state.
    func mayCommit(generation: Int) -> Bool { generation >= committableFrom }

    // MARK: flow control (poll thread)

    /// What to do with the partitions' fetching, given whether they are paused now.
    /// `hold`: over a bound, do not poll now (ask again shortly).
    enum Flow: Equatable { case keep, hold, pause, resume }

    /// Before the next batch would overflow the record or byte bound: holds (no polling) for up to
    /// `pauseAfter`, then pauses; resumes once both have drained to half.
    mutating func flow(paused: Bool, now: ContinuousClock.Instant = .now) -> Flow {
        if isOverLimits {
            guard !paused else { return .keep }
            guard let since = overLimitsSince else {
                overLimitsSince = now
                holdCount += 1
                return .hold
            }
            if now - since < limits.pauseAfter { return .hold }
            overLimitsSince = nil
            pauseCount += 1
            return .pause
        }
        overLimitsSince = nil
        if paused && bufferedRecords <= limits.maxBufferedRecords / 2 && outstandingBytes <= limits.maxOutstandingBytes / 2 {
            return .resume
        }
        return .keep
    }

    /// Whether the next batch would overflow a bound: the poll thread then serves callbacks only.
    var isOverLimits: Bool {
        bufferedRecords + limits.maxBatchRecords > limits.maxBufferedRecords || outstandingBytes > limits.maxOutstandingBytes
    }

    // MARK: assignment (poll thread)

    /// Partitions were assigned: a new generation.
    mutating func assigned(_ newPartitions: [Int32]) {
        partitions = Array(Set(partitions).union(newPartitions)).sorted()
        generation += 1
    }

    /// A revocation begins: buffered records of those partitions are dropped and a new generation
    /// starts, so batches polled before it are not admitted. When the assignment was `lost`, batches
    /// already admitted must not commit either.
    mutating func revoking(_ revoked: [Int32], lost: Bool) {
        let gone = Set(revoked)
        dropBuffered { gone.contains($0) }
        generation += 1
        if lost { committableFrom = generation }
    }

    /// The revocation is complete.
    mutating func revoked(_ revoked: [Int32]) {
        let gone = Set(revoked)
        partitions.removeAll { gone.contains($0) }
    }

    /// The owner's commit was fenced: ask the poll thread to re-read the stored offsets.
    mutating func requestRewind() { rewindRequested = true }

    /// The poll thread starts a requested rewind: a new generation, every buffered batch dropped.
    /// Returns false when none was requested.
    mutating func beginRewind() -> Bool {
        guard rewindRequested else { return false }
        dropBuffered { _ in true }
        generation += 1
        return true
    }

    /// Admitted batches have drained: requests made until now are covered by the offsets read next.
    mutating func rewindDrained() { rewindRequested = false }

    private mutating func dropBuffered(where drop: (Int32) -> Bool) {
        var kept: Deque<ConsumerBatch<Value>> = []
        for var batch in buffer {
            let before = batch.byteCount
            batch.filterRecords { !drop($0.partition) }
            bufferedBytes -= before - batch.byteCount
            if !batch.records.isEmpty { kept.append(batch) }
        }
        buffer = kept
        bufferedRecords = kept.reduce(0) { $0 + $1.records.count }
    }
}
