import Events
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Store

/// The counter subscriber: counts valid events per page, per type and per UTC minute of event time,
/// aggregated in memory per batch and written with its offsets in ONE store transaction
/// (exactly-once, like the prediction subscriber). Memory is bounded by the batch: nothing is kept
/// between batches, and pages never become metric labels.
public final class CounterSubscriber: Service, Sendable {
    /// Live figures.
    public let status: SubscriberStatus
    private let consumer: KafkaConsumer<CountedMessage>
    private let store: any EngineStore
    private let scope: OffsetScope
    private let tracker: OffsetTracker
    private let lagGauges: LagGauges
    private let logger: Logger
    private let latency = Metrics.Timer(label: "streamscore_stage_seconds", dimensions: [("stage", "count")], preferredDisplayUnit: .seconds)
    /// Keep minute counts for this long of event time (nil = keep all).
    private let minuteRetention: Duration?
    private let stopping: StopFlag

    /// What the poll thread keeps of a message for counting: no payload copy at all.
    enum CountedMessage: Sendable {
        case event(type: String, page: String?, timestamp: Int64)
        case malformed
    }

    /// Creates the consumer (group `<prefix>-counter`).
    /// - Throws: `KafkaError` for a bad Kafka property.
    public init(settings: SubscriberSettings, store: any EngineStore, minuteRetention: Duration? = nil, logger: Logger) throws {
        let group = "\(settings.groupPrefix)-counter"
        let scope = OffsetScope(subscriber: "counter", topic: settings.topic)
        let status = SubscriberStatus(name: "counter", group: group)
        let tracker = OffsetTracker()
        let lagGauges = LagGauges(subscriber: "counter")
        self.lagGauges = lagGauges
        self.status = status
        self.store = store
        self.scope = scope
        self.tracker = tracker
        self.logger = logger
        self.minuteRetention = minuteRetention
        let stopping = StopFlag()
        self.stopping = stopping
        var consumerSettings = KafkaConsumerSettings(topic: settings.topic, groupID: group)
        // Counting is cheap per event: larger batches mean fewer transactions.
        consumerSettings.maxBatchSize = settings.counterBatchSize
        consumerSettings.maxBatchLinger = max(settings.batchLinger, .milliseconds(20))
        consumerSettings.maxBufferedRecords = max(settings.maxBufferedRecords, settings.counterBatchSize * 4)
        consumerSettings.maxOutstandingBytes = settings.maxOutstandingBytes
        // Counting reads ~0.9 M events/s: a second of it must fit librdkafka's prefetch (see `prefetchKiB`).
        consumerSettings.prefetchKiB = 262_144
        let hooks = AssignmentHooks(
            onAssign: { partitions in
                let stored = try blockingRead(status: status, stopping: stopping) { try await store.offsets(scope) }
                tracker.reset(to: stored, partitions: partitions)
                return stored.filter { partitions.contains($0.key) }
            },
            onRevoke: { partitions in
                tracker.forget(partitions)
                lagGauges.clear(partitions)
            })
        consumer = try KafkaConsumer(config: settings.kafka, settings: consumerSettings, hooks: hooks, logger: logger,
                                     onEvent: { status.handle($0) }) { view in
            switch DecodedMessage.decode(view) {
            case .event(let e): return .event(type: e.type, page: e.isPageView ? e.page : nil, timestamp: e.timestamp)
            case .malformed: return .malformed
            }
        }
    }

    /// Runs until graceful shutdown or cancellation.
    public func run() async throws {
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.countLoop() }
                group.addTask {
                    while !Task.isCancelled {
                        let lag = computeLag(self.consumer, tracker: self.tracker, gauges: self.lagGauges)
                        self.status.update { $0.lag = lag ?? -1 }
                        try? await Task.sleep(for: .milliseconds(250))
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            self.stopping.set()
            self.consumer.requestStop()
        }
        consumer.shutdown()
    }

    private func countLoop() async throws {
        var newestMinute: Int64 = .min
        for try await batch in consumer.batches {
            guard consumer.admit(batch) else { continue }
            defer { consumer.release(batch) }
            let started = ContinuousClock.now
            var delta = CounterDelta()
            var valid = 0, malformed = 0
            for record in batch.records {
                switch record.value {
                case .event(let type, let page, let ts):
                    valid += 1
                    delta.types[type, default: 0] += 1
                    if let page {
                        delta.pages[page, default: 0] += 1
                        let minute = Timestamp.minuteFloor(ts)
                        delta.minutes[minute, default: 0] += 1
                        newestMinute = max(newestMinute, minute)
                    }
                case .malformed:
                    malformed += 1
                }
            }
            let advances = batch.offsetAdvances
            let finalDelta = delta
            let storeStart = ContinuousClock.now
            // A batch polled under an assignment that was lost belongs to another member now.
            guard consumer.mayCommit(batch) else { continue }
            do {
                try await retrying("commit counters to \(store.location)", stage: "count", status: status, logger: logger) {
                    try await self.store.commitCounters(finalDelta, offsets: advances, scope: self.scope)
                }
            } catch let error as StoreError where error.kind == .fenced {
                logger.error("counter commit fenced: the stored offsets are not where this batch starts; batch dropped, rewinding to the stored offsets",
                             metadata: ["error": "\(error)"])
                status.recordFenced()
                consumer.rewind()
                continue
            }
            status.storeLatency.recordInterval(since: storeStart)
            tracker.committed(advances)
            consumer.commit(batch.nextOffsets)
            status.recordCommitted(processed: valid, malformed: malformed)
            latency.recordInterval(since: started)
            if let retention = minuteRetention, newestMinute != .min {
                // Retention follows the newest minute seen, but never past the wall clock: event times
                // are at most 24 h ahead (CONTRACT §1), and that day must not erase the counts behind it.
                let anchor = min(newestMinute, Timestamp.minuteFloor(Timestamp.nowMillis()))
                let keepMillis = retention.components.seconds * 1000
                _ = try? await store.pruneMinutes(before: anchor - keepMillis)
            }
        }
    }
}
