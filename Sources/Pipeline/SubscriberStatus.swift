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
    }

    let processedCounter: Counter
    let malformedCounter: Counter
    let consumedCounter: Counter
    let lostCounter: Counter
    let batchSize: Recorder
    let storeLatency: Metrics.Timer
    let fencedCounter: Counter

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
        case .revoked:
            state.withLock { $0.assignedPartitions = [] }
        case .offsetOutOfRange(_, _, _, let gap):
            state.withLock { $0.lostToRetention += gap }
            lostCounter.increment(by: Int(gap))
        case .error:
            break
        }
    }
}

/// The next offsets this instance believes are stored, per partition: set from the store on
/// assignment, advanced after each commit, and sent as the `expected` values that fence commits.
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

    /// The advances for a batch: expected = what is stored now, next = after the batch.
    func advances(for next: [Int32: Int64]) -> [OffsetAdvance] {
        offsets.withLock { o in next.map { OffsetAdvance(partition: $0.key, expected: o[$0.key], next: $0.value) } }
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
