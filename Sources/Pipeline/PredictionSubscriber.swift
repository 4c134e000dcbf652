import AsyncAlgorithms
import Dispatch
import Foundation
import Events
import Features
import Kafka
import Logging
import Scoring
import ServiceLifecycle
import Store
import Synchronization

/// Settings shared by the subscribers, validated once at start-up.
public struct SubscriberSettings: Sendable {
    /// Kafka client configuration (bootstrap servers plus `--kafka` overrides).
    public var kafka: KafkaConfig
    /// The log-feed topic.
    public var topic: String = "page-views"
    /// Consumer group prefix: groups are `<prefix>-prediction` and `<prefix>-counter`.
    public var groupPrefix: String = "streamscore"
    /// Dead-letter topic (default `<topic>.dlq`).
    public var dlqTopic: String?
    /// Output topic of the churn scores.
    public var scoresTopic: String = "churn-scores"
    /// The prediction-log topic (CONTRACT §5); nil turns the log off.
    public var predictionLogTopic: String? = "predictions"
    /// Reasons stored and published with each score (`--reasons K`, CONTRACT §6); 0 for none.
    public var reasons: Int = 0
    /// Most events per batch (consumer batch = scorer batch).
    public var batchSize: Int = 5_000
    /// Longest wait for a batch to fill.
    public var batchLinger: Duration = .milliseconds(5)
    /// Most events per counter-subscriber batch (counting is cheap: larger batches, fewer transactions).
    public var counterBatchSize: Int = 20_000
    /// Most records buffered between the poll thread and the pipeline: beyond it the poll thread stops
    /// polling (librdkafka's bounded prefetch holds the rest) and pauses the partitions after a second.
    public var maxBufferedRecords: Int = 20_000
    /// Most message bytes (key + payload) per subscriber that are polled and not yet committed (buffered,
    /// or in any stage of the pipeline) before the poll thread stops polling, as for `maxBufferedRecords`:
    /// memory is bounded in bytes too.
    public var maxOutstandingBytes: Int = 64 << 20
    /// Batches whose churn-scores deliveries may be in flight before their store commit.
    public var maxInFlightBatches: Int = 16
    /// Profiles kept in the enrichment cache.
    public var profileCacheCapacity: Int = 200_000
    /// The largest message the producer may send (`message.max.bytes`); a dead-letter copy that would
    /// not fit is cut to its first 64 KiB.
    public var maxProducerMessageBytes: Int { kafka.value(for: "message.max.bytes").flatMap { Int($0) } ?? 1_000_000 }

    /// Creates settings.
    public init(kafka: KafkaConfig) { self.kafka = kafka }

    /// The dead-letter topic in effect.
    public var effectiveDLQTopic: String { dlqTopic ?? "\(topic).dlq" }
}

/// Reads stored offsets synchronously for the consumer's assignment hook (which runs on the poll
/// thread, a dedicated OS thread, so blocking it is allowed). A store outage is retried with backoff
/// (100 ms … 5 s) for as long as it lasts, the subscriber reported as stalled at `assign` meanwhile: a
/// store restart during a rebalance must not end the process. It gives up only when `stopping` says so
/// (graceful shutdown) or on an error that retrying cannot fix.
func blockingRead<T: Sendable>(status: SubscriberStatus, stopping: StopFlag,
                               _ body: @escaping @Sendable () async throws -> T) throws -> T {
    var delay: Duration = .milliseconds(100)
    while true {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let r: Result<T, any Error>
            do { r = .success(try await body()) } catch { r = .failure(error) }
            result.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        switch result.withLock({ $0! }) {
        case .success(let value):
            status.clearStall("assign")
            return value
        case .failure(let error):
            let retriable = (error as? StoreError)?.isRetriable ?? false
            guard retriable, !stopping.isSet else { throw error }
            status.stall("assign", "reading stored offsets: \(error)")
            usleep(UInt32(delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000))
            delay = min(delay * 2, .seconds(5))
        }
    }
}

/// Set once a subscriber's graceful shutdown begins; read by work that would otherwise wait forever.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    /// Whether shutdown has begun.
    var isSet: Bool { flag.load(ordering: .acquiring) }
    /// Marks shutdown.
    func set() { flag.store(true, ordering: .releasing) }
}

/// The prediction subscriber: KafkaConsumer → EventFilter → ProfileEnricher → BatchedScorer →
/// ProfileWriter, each hand-off bounded, with exactly-once state in the store.
public final class PredictionSubscriber: Service, Sendable {
    /// Live figures.
    public let status: SubscriberStatus
    private let consumer: KafkaConsumer<DecodedMessage>
    private let filter: EventFilter
    private let enricher: ProfileEnricher
    private let scorer: BatchedScorer
    private let references: AttributeReferenceCache
    private let reasons: Int
    private let writer: ProfileWriter
    private let tracker: OffsetTracker
    private let lagGauges: LagGauges
    private let logger: Logger
    /// In a class: a closure kept in the Mutex itself came back from every `withLock { $0 }` wrapped in
    /// one more pair of reabstraction thunks (the generic storage's form and back, written back by the
    /// `inout` access), so the n-th call ran through 2n thunks. `perf` of the latency bench, 2026-11-30:
    /// ~10 % of the engine's samples in those thunks by the end of a 15 s run (~5,000 commits).
    private final class CommitHook: Sendable {
        let body: @Sendable ([Int64]) -> Void
        init(_ body: @escaping @Sendable ([Int64]) -> Void) { self.body = body }
    }
    private let commitHook = Mutex<CommitHook?>(nil)
    private let maxInFlightBatches: Int
    private let stopping: StopFlag
    /// Most batches and relevant events committed in one store transaction: the store's
    /// `groupCommitLimit`. Groups only form while the store is behind, so a light load commits as before.
    private let groupLimit: GroupCommitLimit

    /// Registers a hook called after each committed batch with the event times (ms) of its relevant
    /// events (the benchmark measures produce-to-commit latency with it).
    public func onCommit(_ hook: @escaping @Sendable ([Int64]) -> Void) {
        let box = CommitHook(hook)
        commitHook.withLock { $0 = box }
    }

    /// Creates the consumer (joining the group) and the stages.
    /// - Throws: `KafkaError` for a bad Kafka property.
    public init(settings: SubscriberSettings, store: any EngineStore, registry: ModelRegistry,
                producer: KafkaProducer, modelStats: ModelStats = ModelStats(), logger: Logger) throws {
        let group = "\(settings.groupPrefix)-prediction"
        let scope = OffsetScope(subscriber: "prediction", topic: settings.topic)
        let status = SubscriberStatus(name: "prediction", group: group)
        let tracker = OffsetTracker()
        let enricher = ProfileEnricher(store: store, status: status, capacity: settings.profileCacheCapacity)
        let lagGauges = LagGauges(subscriber: "prediction")
        let stopping = StopFlag()
        self.stopping = stopping
        self.lagGauges = lagGauges
        self.status = status
        self.tracker = tracker
        self.enricher = enricher
        self.logger = logger
        groupLimit = store.groupCommitLimit
        maxInFlightBatches = settings.maxInFlightBatches
        filter = EventFilter(producer: producer, dlqTopic: settings.effectiveDLQTopic, status: status, logger: logger)
        scorer = BatchedScorer(registry: registry, stats: modelStats, logger: logger)
        references = AttributeReferenceCache(store: store)
        reasons = settings.reasons
        writer = ProfileWriter(store: store, producer: producer, scoresTopic: settings.scoresTopic, predictionLogTopic: settings.predictionLogTopic,
                               registry: registry, scope: scope, tracker: tracker, status: status, logger: logger)
        var consumerSettings = KafkaConsumerSettings(topic: settings.topic, groupID: group)
        consumerSettings.maxBatchSize = settings.batchSize
        consumerSettings.maxBatchLinger = settings.batchLinger
        consumerSettings.maxBufferedRecords = settings.maxBufferedRecords
        consumerSettings.maxOutstandingBytes = settings.maxOutstandingBytes
        let hooks = AssignmentHooks(
            onAssign: { partitions in
                // Also on a rewind. The enricher drops its cache when the new generation's first batch arrives.
                let stored = try blockingRead(status: status, stopping: stopping) { try await store.offsets(scope) }
                tracker.reset(to: stored, partitions: partitions)
                return stored.filter { partitions.contains($0.key) }
            },
            onRevoke: { partitions in
                tracker.forget(partitions)
                lagGauges.clear(partitions)
            })
        let dlqLimit = settings.maxProducerMessageBytes
        consumer = try KafkaConsumer(config: settings.kafka, settings: consumerSettings, hooks: hooks, logger: logger,
                                     onEvent: { status.handle($0) },
                                     transform: { DecodedMessage.decode($0, deadLetterLimit: dlqLimit) })
    }

    /// Drops these customers from the enrichment cache, so their next event reads the stored profile
    /// (static attributes changed by the CRM).
    public func forgetCached(_ customerIDs: [String]) async { await enricher.forget(customerIDs) }

    /// The most records the consumer ever buffered (bounded by `maxBufferedRecords`).
    public var peakBufferedRecords: Int { consumer.peakBufferedRecords }

    /// The most message bytes that were ever polled and not yet committed at once.
    public var peakOutstandingBytes: Int { consumer.peakOutstandingBytes }

    /// How many times backpressure paused the partitions.
    public var pauseCount: Int { consumer.pauseCount }

    /// How many times backpressure stopped the polling (without pausing, when the pipeline caught up within a second).
    public var holdCount: Int { consumer.holdCount }

    /// Runs until graceful shutdown (SIGTERM) or cancellation; drains and commits in-flight batches.
    public func run() async throws {
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.runStages() }
                group.addTask { await self.reportLag() }
                try await group.next()
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            self.stopping.set()
            self.consumer.requestStop()
        }
        consumer.shutdown()
    }

    private func reportLag() async {
        while !Task.isCancelled {
            let lag = computeLag(consumer, tracker: tracker, gauges: lagGauges)
            status.update { $0.lag = lag ?? -1 }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }


    /// Commits consecutive batches of one generation in one transaction, then hands their messages on.
    private func commitGroup(_ group: [EnrichedBatch], toPublisher: BoundedQueue<CommittedBatch>) async throws {
        guard let last = group.last else { return }
        defer { for batch in group { consumer.release(batch.filtered.source) } }
        // Batches polled under an assignment that was lost belong to another member now.
        guard consumer.mayCommit(last.filtered.source) else { return }
        guard let committed = try await writer.commit(group) else {
            // Everything polled after these batches follows on from them: re-read the stored offsets and
            // start again from there (the enricher drops its cache with the new generation).
            enricher.markCommitted(last.filtered.sequence)
            consumer.rewind()
            return
        }
        enricher.markCommitted(last.filtered.sequence)
        var next: [Int32: Int64] = [:]
        for batch in group {
            if let hook = commitHook.withLock({ $0 }) { hook.body(batch.filtered.relevant.map(\.timestamp)) }
            next.merge(batch.filtered.source.nextOffsets) { _, later in later }
            status.recordCommitted(processed: batch.filtered.validCount, malformed: batch.filtered.malformedCount)
        }
        consumer.commit(next)
        await toPublisher.send(committed)
    }

    /// Runs one stage: when it ends, its output is finished (with the stage's error, if any) and its input,
    /// if it has one, is closed, so that neither neighbour waits for it forever. A failing stage also stops
    /// the consumer: the batches the stages before it still send are dropped unreleased, so the poll
    /// thread would otherwise hold at its bound and the reading loop wait for batches forever, never
    /// reaching the task group's error. Stopping ends the batch stream (the revocation waits at most 10 s
    /// for those batches) and the error surfaces.
    private func stage<In, Out>(from input: BoundedQueue<In>?, feeding output: BoundedQueue<Out>?,
                                _ body: () async throws -> Void) async throws {
        defer { input?.close() }
        do {
            try await body()
            output?.finish()
        } catch {
            output?.finish(throwing: error)
            consumer.requestStop()
            throw error
        }
    }

    /// Publishes the next committed group (its batches are let go before the hand-off to the confirmer).
    private func publishNext(from queue: BoundedQueue<CommittedBatch>) async throws -> PublishedBatch? {
        guard let committed = try await queue.next() else { return nil }
        return try await writer.publish(committed)
    }

    /// Stage 1–2 in this task, 3 and 4 in their own, joined by rendezvous channels (so a slow stage
    /// makes the one before it wait, and the consumer pause); deliveries are awaited in a fifth task,
    /// at most `maxInFlightBatches` behind the store commits.
    private func runStages() async throws {
        let toScorer = AsyncThrowingChannel<EnrichedBatch, any Error>()
        // Room for a few scored batches: those that queue up while the store commits are committed together.
        let toCommitter = BoundedQueue<EnrichedBatch>(capacity: groupLimit.batches)
        let toPublisher = BoundedQueue<CommittedBatch>(capacity: 1)
        // Committed groups whose deliveries are awaited (each up to the group limit's events).
        let toConfirmer = BoundedQueue<PublishedBatch>(capacity: max(2, maxInFlightBatches / 8))
        try await writer.recover()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Its input is a rendezvous channel, which needs no closing.
                try await self.stage(from: nil as BoundedQueue<EnrichedBatch>?, feeding: toCommitter) {
                    for try await var batch in toScorer {
                        // The batch's customer order, here beside the enricher and the writer: the writer's
                        // group is then a merge of sorted runs, in the order the store writes (`ProfileUpdates`).
                        batch.customerOrder = ProfileUpdates.customerOrder(batch.updates)
                        // The population's references for reasons (read at most once a minute; without them the
                        // contract's fallbacks apply).
                        let population = self.reasons > 0 ? try? await self.references.current() : nil
                        self.scorer.score(&batch, reasons: self.reasons, population: population)
                        await toCommitter.send(batch)
                    }
                }
            }
            group.addTask {
                try await self.stage(from: toCommitter, feeding: toPublisher) {
                    while let first = try await toCommitter.next() {
                        // Group commit: the batches already waiting (same assignment generation) join this one.
                        var group = [first]
                        var events = first.filtered.relevant.count
                        while events < self.groupLimit.events, group.count < self.groupLimit.batches,
                              let next = toCommitter.nextAvailable() {
                            if next.filtered.source.generation != first.filtered.source.generation {
                                try await self.commitGroup(group, toPublisher: toPublisher)
                                group = []
                                events = 0
                            }
                            group.append(next)
                            events += next.filtered.relevant.count
                        }
                        try await self.commitGroup(group, toPublisher: toPublisher)
                    }
                }
            }
            group.addTask {
                // Enqueues each committed group's messages without waiting for their delivery, so that
                // several groups' deliveries overlap.
                try await self.stage(from: toPublisher, feeding: toConfirmer) {
                    while let published = try await self.publishNext(from: toPublisher) {
                        await toConfirmer.send(published)
                    }
                }
            }
            group.addTask {
                try await self.stage(from: toConfirmer, feeding: nil as BoundedQueue<PublishedBatch>?) {
                    while let published = try await toConfirmer.next() {
                        try await self.writer.confirm(published)
                    }
                    await self.writer.deleteAcknowledged()
                }
            }
            var sequence = 0
            do {
                for try await batch in consumer.batches {
                    guard consumer.admit(batch) else { continue }
                    sequence += 1
                    let filtered: FilteredBatch
                    do {
                        filtered = try await filter.filter(batch, sequence: sequence)
                    } catch {
                        consumer.release(batch)
                        throw error
                    }
                    // From here on only the filtered batch is referenced (its source without the records),
                    // so the records can go while the batch waits for the scorer.
                    do {
                        await toScorer.send(try await enricher.enrich(filtered))
                    } catch {
                        consumer.release(filtered.source)
                        throw error
                    }
                }
                toScorer.finish()
            } catch {
                toScorer.fail(error)
                throw error
            }
            try await group.waitForAll()
        }
    }
}
