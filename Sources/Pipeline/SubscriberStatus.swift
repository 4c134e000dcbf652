import Kafka
import Metrics
import Store
import Synchronization

/// Live figures of one subscriber, shared with `/status`, the dashboard and the live line.
public final class SubscriberStatus: Sendable {
    /// `counter` or `prediction`.
    public let name: String
    /// The consumer group.
    public let group: String
    private let state = Mutex(Snapshot())

    /// A consistent copy of the figures.
    public struct Snapshot: Sendable, Equatable {
        /// Partitions assigned to this instance.
        public var assignedPartitions: [Int32] = []
        /// Valid events whose effects are committed.
        public var processed: Int = 0
        /// Malformed messages skipped (and, for prediction, dead-lettered).
        public var malformed: Int = 0
        /// Messages behind the log end, summed over assigned partitions; -1 until known (before the
        /// first assignment, or while a partition's log end is not yet known).
        public var lag: Int64 = -1
        /// Profiles scored (prediction only).
        public var scored: Int = 0
        /// Store commits rejected because another instance owns the partition.
        public var fenced: Int = 0
        /// Messages lost to retention before they were read (offset out of range).
        public var lostToRetention: Int64 = 0
        /// Whether the consumer has been assigned partitions at least once.
        public var everAssigned = false
        /// Why the subscriber is not making progress, per stage (e.g. `dead-letter`, `write`, `assign`,
        /// `partition 3`): the last error of an output or store that keeps failing. Empty while healthy.
        public var stalls: [String: String] = [:]
        /// Whether the subscriber makes progress: assigned (at least once) and no stage stalled.
        public var isReady: Bool { everAssigned && stalls.isEmpty }
    }

    let processedCounter: Counter
    let malformedCounter: Counter
    let consumedCounter: Counter
    let lostCounter: Counter
    let batchSize: Recorder
    let storeLatency: Metrics.Timer
    let fencedCounter: Counter
    let stalledGauge: Gauge

    /// Creates the status of a subscriber and its metrics.
    public init(name: String, group: String) {
        self.name = name
        self.group = group
        let dims = [("subscriber", name)]
        processedCounter = Counter(label: "streamscore_events_processed_total", dimensions: dims)
        malformedCounter = Counter(label: "streamscore_events_malformed_total", dimensions: dims)
        consumedCounter = Counter(label: "streamscore_events_consumed_total", dimensions: dims)
        lostCounter = Counter(label: "streamscore_events_lost_to_retention_total", dimensions: dims)
        batchSize = Recorder(label: "streamscore_batch_size", dimensions: dims, aggregate: true)
        fencedCounter = Counter(label: "streamscore_commits_fenced_total", dimensions: dims)
        stalledGauge = Gauge(label: "streamscore_subscriber_stalled", dimensions: dims)
        storeLatency = Metrics.Timer(label: "streamscore_store_transaction_seconds", dimensions: dims, preferredDisplayUnit: .seconds)
    }

    /// The current figures.
    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ body: (inout Snapshot) -> Void) { state.withLock { body(&$0) } }

    func recordCommitted(processed: Int, malformed: Int) {
        state.withLock {
            $0.processed += processed
            $0.malformed += malformed
        }
        processedCounter.increment(by: processed)
        malformedCounter.increment(by: malformed)
        consumedCounter.increment(by: processed + malformed)
        batchSize.record(processed + malformed)
    }

    /// Marks `stage` as stalled by `error` (an output refused, the store unreachable): `/readyz` answers
    /// 503 naming it until `clearStall(stage)`.
    func stall(_ stage: String, _ error: String) {
        let changed = state.withLock { s -> Bool in
            defer { s.stalls[stage] = error }
            return s.stalls[stage] == nil
        }
        if changed { stalledGauge.record(1) }
    }

    /// The stage makes progress again.
    func clearStall(_ stage: String) {
        let empty = state.withLock { s -> Bool in
            guard s.stalls.removeValue(forKey: stage) != nil else { return false }
            return s.stalls.isEmpty
        }
        if empty { stalledGauge.record(0) }
    }

    private func clearPartitionStalls(_ partitions: some Sequence<Int32>) {
        for p in partitions { clearStall("partition \(p)") }
    }

    func recordFenced() {
        state.withLock { $0.fenced += 1 }
        fencedCounter.increment()
    }

    func handle(_ event: ConsumerEvent) {
        switch event {
        case .assigned(let offsets):
            state.withLock {
                $0.assignedPartitions = offsets.keys.sorted()
                $0.everAssigned = true
            }
            clearPartitionStalls(offsets.keys)
        case .rewound(let offsets):
            clearPartitionStalls(offsets.keys)
        case .revoked(let partitions, _):
            state.withLock { $0.assignedPartitions.removeAll { partitions.contains($0) } }
            clearPartitionStalls(partitions)
        case .offsetOutOfRange(_, _, _, let gap):
            state.withLock { $0.lostToRetention += gap }
            lostCounter.increment(by: Int(gap))
        case .offsetBeyondLogEnd(let partition, let stored, let logEnd):
            stall("partition \(partition)", "stored offset \(stored) is beyond the log end \(logEnd); fix subscriber_offsets, then restart")
        case .error:
            break
        }
    }
}

/// The next offsets stored per partition, as this instance last read or wrote them: set from the store
/// on assignment and rewind, advanced after each commit; the lag figures use it. (The fence's
/// `expected` values come from each batch, `ConsumerBatch.expectedOffsets`.)
final class OffsetTracker: Sendable {
    private let offsets = Mutex<[Int32: Int64]>([:])

    func reset(to stored: [Int32: Int64], partitions: [Int32]) {
        offsets.withLock { o in
            for p in partitions { o[p] = stored[p] }
        }
    }

    func forget(_ partitions: [Int32]) {
        offsets.withLock { o in for p in partitions { o.removeValue(forKey: p) } }
    }

    func committed(_ advances: [OffsetAdvance]) {
        offsets.withLock { o in for a in advances { o[a.partition] = a.next } }
    }

    var current: [Int32: Int64] { offsets.withLock { $0 } }
}

/// Computes lag = high watermark − stored next offset (log start when nothing is stored), summed;
/// `nil` while nothing is assigned or a partition's watermarks are not known yet.
func computeLag<V>(_ consumer: KafkaConsumer<V>, tracker: OffsetTracker, gauges: LagGauges) -> Int64? {
    let stored = tracker.current
    let assigned = consumer.assignedPartitions
    let watermarks = consumer.watermarks()
    guard !assigned.isEmpty, assigned.allSatisfy({ (watermarks[$0]?.high ?? -1) >= 0 }) else { return nil }
    var total: Int64 = 0
    for (partition, marks) in watermarks where marks.high >= 0 {
        let next = stored[partition] ?? max(marks.low, 0)
        let lag = max(0, marks.high - next)
        gauges.set(partition: partition, lag: lag)
        total += lag
    }
    return total
}

/// One lag gauge per partition (a bounded label set: partitions, never pages or customers).
final class LagGauges: Sendable {
    private let subscriber: String
    private let gauges = Mutex<[Int32: Gauge]>([:])
    init(subscriber: String) { self.subscriber = subscriber }
    func set(partition: Int32, lag: Int64) {
        let gauge = gauges.withLock { g in
            if let existing = g[partition] { return existing }
            let created = Gauge(label: "streamscore_consumer_lag", dimensions: [("subscriber", subscriber), ("partition", "\(partition)")])
            g[partition] = created
            return created
        }
        gauge.record(Double(lag))
    }
    /// Zeroes the gauges of partitions this instance no longer owns (their new owner reports them).
    func clear(_ partitions: [Int32]) {
        for p in partitions { gauges.withLock { $0[p] }?.record(0) }
    }
}

extension ConsumerBatch {
    /// The offset advances that commit this batch: from the offsets the batch follows on from
    /// (`expectedOffsets`) to the offsets after it. A batch polled after one that was dropped carries
    /// the dropped batch's end as `expected`, so its commit is fenced rather than skipping events.
    var offsetAdvances: [OffsetAdvance] { offsetAdvances(to: nextOffsets) }

    /// ``offsetAdvances`` for the batch's `nextOffsets`, already computed.
    func offsetAdvances(to next: [Int32: Int64]) -> [OffsetAdvance] {
        next.map { OffsetAdvance(partition: $0.key, expected: expectedOffsets[$0.key], next: $0.value) }
    }
}
