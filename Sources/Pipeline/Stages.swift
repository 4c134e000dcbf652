import DequeModule
import Events
import Features
import Foundation
import Kafka
import Logging
import Metrics
import Scoring
import Store
import Synchronization

/// A consumer batch after the filter: relevant events in order, and what else it held.
struct FilteredBatch: Sendable {
    /// The consumer batch without its records (the events live on in `relevant`): its offsets,
    /// generation and bytes, for the commit and the release. Holding the records through the pipeline
    /// kept ~45 MiB of record arrays alive at the engine's peak (heaptrack, 1 M events).
    let source: ConsumerBatch<DecodedMessage>
    let sequence: Int
    let relevant: [Event]
    let validCount: Int
    let malformedCount: Int
}

/// A batch after enrichment: one update per customer the batch touched, as of its newest event.
struct EnrichedBatch: Sendable {
    let filtered: FilteredBatch
    var updates: [ProfileUpdate]
    /// Set by the scorer: the model set that scored the batch and, per member, the probability of each
    /// update (NaN where that model could not score it).
    var scoredBy: ModelSet?
    var probabilities: [[Double]] = []
    /// The positions of `updates` in customer order (`ProfileUpdates.customerOrder`), set beside the writer
    /// by the scorer stage; empty: the writer sorts.
    var customerOrder: [ProfileUpdates.Position] = []

    init(filtered: FilteredBatch, updates: [ProfileUpdate]) {
        self.filtered = filtered
        self.updates = updates
    }

    /// What publishing needs of the batch once it is committed.
    var scored: ScoredUpdates { ScoredUpdates(updates: updates, scoredBy: scoredBy, probabilities: probabilities) }
}

/// A committed batch's scored updates: its messages are built from them after the commit, batch by
/// batch, right before librdkafka copies them (messages built before the commit waited in the hand-offs
/// beside their batches: ~200,000 messages resident at the peak of the prediction bench, measured in a
/// core dump).
struct ScoredUpdates: Sendable {
    let updates: [ProfileUpdate]
    /// The model set that scored them (nil: not scored).
    let scoredBy: ModelSet?
    /// Per member of `scoredBy`, the probability of each update.
    let probabilities: [[Double]]
}

/// Stage 1: drops irrelevant types, routes malformed messages to the dead-letter topic (byte for byte,
/// with `error`, `source_partition` and `source_offset` headers; a copy too large for the producer keeps
/// its first 64 KiB and gains `original_size`). A DLQ outage is retried with backoff and holds the batch
/// (and so its offset commit) back: nothing is lost; a permanent refusal stalls it visibly.
struct EventFilter: Sendable {
    let producer: KafkaProducer
    let dlqTopic: String
    let status: SubscriberStatus
    let logger: Logger

    func filter(_ batch: ConsumerBatch<DecodedMessage>, sequence: Int) async throws -> FilteredBatch {
        var relevant: [Event] = []
        relevant.reserveCapacity(batch.records.count)
        var dead: [ProducerMessage] = []
        var valid = 0
        // Records read in place: iterating them copied each one (its event's strings retained and released).
        batch.records.withUnsafeBufferPointer { records in
            for record in records.indices {
                switch records[record].value {
                case .event(let event):
                    valid += 1
                    if event.isRelevantForPrediction { relevant.append(event) }
                case .malformed(let reason, let key, let payload, let originalSize):
                    var headers: [(name: String, value: [UInt8])] = [
                        ("error", Array(reason.description.utf8)),
                        ("source_partition", Array(String(records[record].partition).utf8)),
                        ("source_offset", Array(String(records[record].offset).utf8)),
                    ]
                    if let originalSize { headers.append(("original_size", Array(String(originalSize).utf8))) }
                    dead.append(ProducerMessage(topic: dlqTopic, key: key, value: payload ?? [], headers: headers))
                }
            }
        }
        if !dead.isEmpty {
            let dead = dead
            try await retrying("dead-letter \(dead.count) message(s) to \(dlqTopic)", stage: "dead-letter", status: status, logger: logger) {
                try await producer.send(dead)
            }
        }
        return FilteredBatch(source: batch.droppingRecords(), sequence: sequence, relevant: relevant, validCount: valid,
                             malformedCount: dead.count)
    }
}

/// Retries `body` until it succeeds or the task is cancelled: retriable errors with exponential
/// backoff (50 ms … 5 s), permanent ones (`KafkaError.isPermanent`: too large, unknown topic, denied)
/// every 30 s, since only an operator can fix them. A fence is never retried. While it keeps failing
/// (from the third attempt, or at once for a permanent error) the subscriber reports `stage` as
/// stalled, so `/readyz`, the stalled gauge and the log say which output or store is refusing; so does
/// an attempt that has not returned after `slowAttempt`.
@discardableResult
func retrying<T: Sendable>(_ what: String, stage: String, status: SubscriberStatus?, logger: Logger,
                           slowAttempt: Duration = .seconds(5), attemptDeadline: Duration = .seconds(30),
                           _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    var delay: Duration = .milliseconds(50)
    var attempt = 0
    while true {
        // An attempt that hangs (a locked SQLite file waits out its busy timeout, a PostgreSQL server
        // that stopped answering) is reported like one that fails, once it has taken `slowAttempt`.
        let slow = status.map { status in
            AttemptTimers.shared.schedule(after: slowAttempt) { status.stall(stage, "\(what): no answer after \(slowAttempt)") }
        }
        defer { if let slow { AttemptTimers.shared.cancel(slow) } }
        do {
            let result = try await attemptWithDeadline(attemptDeadline, body)
            if let slow { AttemptTimers.shared.cancel(slow) }
            status?.clearStall(stage)
            return result
        } catch let error as StoreError where error.kind == .fenced {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            attempt += 1
            try Task.checkCancellation()
            let permanent = (error as? KafkaError)?.isPermanent ?? false
            if permanent || attempt >= 3 {
                status?.stall(stage, "\(what): \(error)")
            }
            if attempt == 1 || attempt % 10 == 0 || permanent {
                logger.error("retrying", metadata: ["what": "\(what)", "attempt": "\(attempt)", "permanent": "\(permanent)", "error": "\(error)"])
            }
            try await Task.sleep(for: permanent ? .seconds(30) : delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}

/// Runs one attempt in its own task and gives up on it when it has not finished after `deadline` (a client
/// library waiting forever, e.g. on a database connection after a server restart): the attempt is
/// cancelled and abandoned — not awaited, since a library that ignores cancellation would hang us again —
/// and `AttemptTimedOut` is thrown, to be retried like any outage. The caller's own cancellation is
/// passed on.
func attemptWithDeadline<T: Sendable>(_ deadline: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = AttemptOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.start(continuation, deadline: deadline, body)
        }
    } onCancel: {
        outcome.finish(.failure(CancellationError()))
    }
}

/// The first of an attempt's result, its deadline and its caller's cancellation, delivered once.
final class AttemptOutcome<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, done: Bool, attempt: Task<Void, Never>?, timer: Int?)>((nil, false, nil, nil))

    func start(_ continuation: CheckedContinuation<T, any Error>, deadline: Duration, _ body: @escaping @Sendable () async throws -> T) {
        let alreadyDone = state.withLock { s -> Bool in
            s.continuation = continuation
            return s.done
        }
        if alreadyDone {
            continuation.resume(throwing: CancellationError())
            return
        }
        let attempt = Task {
            do { self.finish(.success(try await body())) } catch { self.finish(.failure(error)) }
        }
        let timer = AttemptTimers.shared.schedule(after: deadline) { self.finish(.failure(AttemptTimedOut(deadline: deadline))) }
        let finished = state.withLock { s -> Bool in
            s.attempt = attempt
            s.timer = timer
            return s.done
        }
        // Finished before the timer was recorded: `finish` could not cancel it.
        if finished { AttemptTimers.shared.cancel(timer) }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, attempt, timer) = state.withLock { s -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Int?) in
            guard !s.done else { return (nil, nil, nil) }
            s.done = true
            defer { s.continuation = nil }
            return (s.continuation, s.attempt, s.timer)
        }
        if let timer { AttemptTimers.shared.cancel(timer) }
        if case .failure = result { attempt?.cancel() }
        continuation?.resume(with: result)
    }
}

/// An attempt did not finish within its deadline and was cancelled.
struct AttemptTimedOut: Error, CustomStringConvertible {
    let deadline: Duration
    var description: String { "no result within \(deadline); cancelled and retried" }
}

/// Stage 2: profile enrichment. A bounded in-memory profile cache in front of the store; misses are
/// bulk-loaded once per batch; rolling counters are updated; one feature vector per touched customer.
actor ProfileEnricher {
    private struct Entry {
        var profile: Profile
        var lastSequence: Int

        /// - Returns: whether this is the batch's first event for the customer.
        mutating func apply(_ event: Event, sequence: Int) -> Bool {
            let first = lastSequence != sequence
            _ = profile.apply(event)
            lastSequence = sequence
            return first
        }

        /// The update of this profile, built in place (reading the entry out of the dictionary would copy it).
        mutating func update() -> ProfileUpdate {
            ProfileUpdate(profile: profile, features: profile.features(), churnScore: nil, modelVersion: nil, scoredAt: profile.asOf)
        }
    }
    /// By the id's bytes (`CustomerID`), not by `String`'s canonical equivalence.
    private var cache: [CustomerID: Entry] = [:]
    private let store: any EngineStore
    private let status: SubscriberStatus
    private let capacity: Int
    private let committedSequence: Atomic<Int>
    /// The consumer generation of the batches whose updates the cache holds. A new generation (a
    /// rebalance, or a rewind after a fenced commit) means some cached updates may never be committed,
    /// or another instance changed the profiles: the cache is dropped and re-read from the store.
    private var cacheGeneration = -1
    private let latency = Metrics.Timer(label: "streamscore_stage_seconds", dimensions: [("stage", "enrich")], preferredDisplayUnit: .seconds)

    init(store: any EngineStore, status: SubscriberStatus, capacity: Int) {
        self.store = store
        self.status = status
        self.capacity = max(capacity, 1_000)
        committedSequence = Atomic(-1)
    }

    /// Called by the writer after each store commit.
    nonisolated func markCommitted(_ sequence: Int) { committedSequence.store(sequence, ordering: .releasing) }

    var cachedProfiles: Int { cache.count }

    func enrich(_ batch: FilteredBatch) async throws -> EnrichedBatch {
        let started = ContinuousClock.now
        if batch.source.generation != cacheGeneration {
            cache.removeAll()
            cacheGeneration = batch.source.generation
        }
        evictIfNeeded()
        // One lookup per event: the entry's position stays valid while only values change (no insertion
        // or removal until the next batch), so the positions found while looking for missing customers
        // are the ones the events are applied at — unless missing customers were inserted, which moves
        // entries: then each event is looked up again. Events are read in place (iterating them copied
        // each one: its strings retained and released).
        var missing: [String] = []
        var wanted = Set<CustomerID>()
        var positions: [Dictionary<CustomerID, Entry>.Index?] = []
        positions.reserveCapacity(batch.relevant.count)
        batch.relevant.withUnsafeBufferPointer { events in
            for i in events.indices {
                let id = CustomerID(events[i].customerID)
                let position = cache.index(forKey: id)
                positions.append(position)
                if position == nil && wanted.insert(id).inserted { missing.append(events[i].customerID) }
            }
        }
        if !missing.isEmpty {
            let missing = missing, store = store
            let loaded = try await retrying("load \(missing.count) profiles from \(store.location)", stage: "enrich", status: status,
                                            logger: Logger(label: "streamscore.enrich")) {
                try await store.loadProfiles(missing)
            }
            for id in missing {
                // Not yet touched by this batch (see below); set to it by the first event applied.
                let key = CustomerID(id)
                cache[key] = Entry(profile: loaded[key] ?? Profile(customerID: id), lastSequence: batch.sequence - 1)
            }
            positions = batch.relevant.map { cache.index(forKey: CustomerID($0.customerID)) }
        }
        // Apply in arrival order; remember each touched customer once, in first-touch order (an entry
        // last changed by an earlier batch is this batch's first touch).
        var touched: [Dictionary<CustomerID, Entry>.Index] = []
        batch.relevant.withUnsafeBufferPointer { events in
            for i in events.indices {
                guard let position = positions[i] else { continue }
                // Mutated in place: copying the entry out and back would copy its day buckets on every event
                // (the cache still references them).
                if cache.values[position].apply(events[i], sequence: batch.sequence) { touched.append(position) }
            }
        }
        var updates: [ProfileUpdate] = []
        updates.reserveCapacity(touched.count)
        for position in touched { updates.append(cache.values[position].update()) }
        latency.recordInterval(since: started)
        return EnrichedBatch(filtered: batch, updates: updates)
    }

    /// Drops customers from the cache (their static attributes changed in the store).
    func forget(_ ids: [String]) {
        for id in ids { cache.removeValue(forKey: CustomerID(id)) }
    }

    /// Evicts profiles whose last change is committed, until the cache is back under 90% of capacity.
    private func evictIfNeeded() {
        guard cache.count > capacity else { return }
        let committed = committedSequence.load(ordering: .acquiring)
        let target = capacity * 9 / 10
        var victims: [CustomerID] = []
        for (id, entry) in cache where entry.lastSequence <= committed {
            victims.append(id)
            if cache.count - victims.count <= target { break }
        }
        for id in victims { cache.removeValue(forKey: id) }
    }
}

/// Stage 3: the batched scorer. The model set in service (read once per batch; reloads swap whole sets
/// between batches) scores every update with every member; each customer's served score is its arm's.
struct BatchedScorer: Sendable {
    let registry: ModelRegistry
    let stats: ModelStats
    let logger: Logger
    private let latency = Metrics.Timer(label: "streamscore_stage_seconds", dimensions: [("stage", "score")], preferredDisplayUnit: .seconds)
    private let rows = Counter(label: "streamscore_scorer_rows_total")
    private let errors = Counter(label: "streamscore_scoring_errors_total")

    init(registry: ModelRegistry, stats: ModelStats, logger: Logger) {
        self.registry = registry
        self.stats = stats
        self.logger = logger
    }

    func score(_ batch: inout EnrichedBatch, reasons: Int = 0, population: AttributeReferences? = nil) {
        guard !batch.updates.isEmpty else { return }
        let started = ContinuousClock.now
        let set = registry.currentSet
        var failures: [(member: Int, row: Int, error: ScoringError)] = []
        // No second reference to `batch.updates` may live past here: the writes below would copy the
        // whole array (every update's strings and buckets retained) instead of changing it in place.
        let probabilities = SetScoring.probabilities(set, batch.updates.map(\.features)) { member, row, error in
            failures.append((member, row, error))
        }
        for f in failures.prefix(3) {
            logger.warning("cannot score profile", metadata: ["customer_id": "\(batch.updates[f.row].profile.customerID)",
                                                              "model": "\(set.members[f.member].name)", "error": "\(f.error)"])
        }
        let count = batch.updates.count
        var served: [Int] = []
        served.reserveCapacity(count)
        for i in batch.updates.indices {
            let (index, arm) = set.served(for: batch.updates[i].profile.customerID)
            served.append(index)
            let p = probabilities[index][i]
            guard !p.isNaN else { continue }
            let member = set.members[index]
            batch.updates[i].churnScore = p
            batch.updates[i].modelVersion = member.model.version
            batch.updates[i].modelName = member.name
            batch.updates[i].arm = arm.rawValue
            if reasons > 0 {
                batch.updates[i].reasons = ScoreReasons.json(ScoreReasons.reasons(model: member.model, features: batch.updates[i].features,
                                                                                   probability: p, population: population, k: reasons))
            }
        }
        batch.scoredBy = set
        batch.probabilities = probabilities
        stats.record(set, probabilities: probabilities, served: served)
        rows.increment(by: count)
        if !failures.isEmpty { errors.increment(by: failures.count) }
        latency.recordInterval(since: started)
    }
}

/// Stage 4: the profile writer. Commits profiles, rolling state, offsets and an outbox entry (the
/// customers whose new scores must still reach `churn-scores`) in ONE store transaction, and only then
/// publishes: the broker's acknowledgement is off the path that makes a profile stored. An entry is
/// deleted in a later commit once its messages are delivered; a crash in between leaves it in the
/// store, and the next start re-publishes it (at-least-once for `churn-scores`, exactly-once for the
/// store).
final class ProfileWriter: Sendable {
    let store: any EngineStore
    let producer: KafkaProducer
    let scoresTopic: String
    /// The prediction-log topic, or nil when turned off.
    let predictionLogTopic: String?
    let registry: ModelRegistry
    let scope: OffsetScope
    let tracker: OffsetTracker
    let status: SubscriberStatus
    let logger: Logger
    /// Prefix of this process's outbox ids (unique across instances and restarts).
    private let instance = String(UUID().uuidString.prefix(13))
    private let newestScores = NewestScores()
    /// Outbox entries whose messages are delivered, deleted with the next commit.
    private let acknowledged = Mutex<[String]>([])
    private let latency = Metrics.Timer(label: "streamscore_stage_seconds", dimensions: [("stage", "write")], preferredDisplayUnit: .seconds)

    init(store: any EngineStore, producer: KafkaProducer, scoresTopic: String, predictionLogTopic: String?, registry: ModelRegistry,
         scope: OffsetScope, tracker: OffsetTracker, status: SubscriberStatus, logger: Logger) {
        self.store = store
        self.producer = producer
        self.scoresTopic = scoresTopic
        self.predictionLogTopic = predictionLogTopic
        self.registry = registry
        self.scope = scope
        self.tracker = tracker
        self.status = status
        self.logger = logger
    }

    /// A scored customer's messages (CONTRACT §2, §5): its churn-scores message and, when the log is on
    /// and `format` is given, its prediction-log message (`row` of `probabilities`).
    func appendMessages(to out: inout OutgoingMessages, customerID id: String, score: Double, modelVersion: String, modelName: String,
                        arm: String, scoredAt: String, reasons: String?, features: FeatureVector, format: PredictionLogFormat?,
                        probabilities: [[Double]], row: Int) {
        ChurnScoreMessage.append(to: &out, topic: scoresTopic, customerID: id, score: score, modelVersion: modelVersion, modelName: modelName,
                                 arm: arm, scoredAt: scoredAt, reasons: reasons)
        guard let predictionLogTopic, let format else { return }
        out.append(topic: predictionLogTopic, key: id) { buffer in
            JSONBytes.append(to: &buffer) { w in
                SetScoring.writeLogValue(into: &w, customerID: id, scoredAt: scoredAt, servedBy: modelName, features: features,
                                         format: format, probabilities: probabilities, row: row)
            }
        }
    }

    /// Updates whose messages share one buffer: ~720 KB, a size the allocator reuses from its heap (glibc's
    /// mmap threshold starts at 128 KiB and rises to the size of the first mapped block freed). A batch's
    /// single buffer (3.6 MB at 5,000 updates) was mapped fresh and faulted in page by page: 40 % of the
    /// engine's page faults in the 1 M-event run (`perf record -e page-faults`, 2026-11-30, with the
    /// threshold then fixed at 1 MiB).
    static let messageChunk = 1_000

    /// The messages of a batch's updates `rows`: a churn-scores message per profile whose score changed,
    /// and (unless turned off) a prediction-log message per scored customer.
    func messages(_ batch: ScoredUpdates, rows: Range<Int>) -> OutgoingMessages {
        let perCustomer = predictionLogTopic == nil ? 1 : 2
        // Keys and values of `run --demo`'s messages (kcat, 2026-11-30): churn-scores 182 bytes, prediction log 518.
        var out = OutgoingMessages(messages: rows.count * perCustomer, bytes: rows.count * (predictionLogTopic == nil ? 200 : 720))
        let format = batch.scoredBy.map(PredictionLogFormat.init)
        // By index: iterating the elements would copy each update (retaining all its strings and buckets).
        for i in rows {
            guard let score = batch.updates[i].churnScore else { continue }
            appendMessages(to: &out, customerID: batch.updates[i].profile.customerID, score: score,
                           modelVersion: batch.updates[i].modelVersion ?? "", modelName: batch.updates[i].modelName ?? "",
                           arm: batch.updates[i].arm ?? "", scoredAt: batch.updates[i].scoredAt.map { Timestamp.format(millis: $0) } ?? "",
                           reasons: batch.updates[i].reasons, features: batch.updates[i].features, format: format,
                           probabilities: batch.probabilities, row: i)
        }
        return out
    }

    /// The messages for stored rows (re-publishing after a crash): churn-scores as stored, and the
    /// prediction log recomputed from the stored features with the set in service now.
    func messages(rows: [ProfileRow]) -> OutgoingMessages {
        let rows = rows.filter { $0.churn_score != nil }
        var out = OutgoingMessages()
        let set = registry.currentSet
        let probabilities = predictionLogTopic == nil ? [] : SetScoring.probabilities(set, rows.map(\.features))
        let format = PredictionLogFormat(set)
        for (i, row) in rows.enumerated() {
            guard let score = row.churn_score else { continue }
            appendMessages(to: &out, customerID: row.customer_id, score: score, modelVersion: row.model_version ?? "",
                           modelName: row.model_name ?? "", arm: row.arm ?? "", scoredAt: row.scored_at ?? "", reasons: row.reasons,
                           features: row.features, format: format, probabilities: probabilities, row: i)
        }
        return out
    }

    /// Step 1: one store transaction with the profiles, offsets and outbox entry of consecutive batches
    /// (a group commit: batches that queued up while the store was busy share one transaction, which
    /// writes each page once), and the deletion of entries delivered since the last commit.
    /// - Returns: nil when the commit was fenced (another instance owns a partition, or a batch follows
    ///   one that was dropped): every batch of the group is dropped.
    func commit(_ batches: [EnrichedBatch]) async throws -> CommittedBatch? {
        let started = ContinuousClock.now
        // Each customer once, read in place from the batches: a merge of the batches in customer order.
        let updates = ProfileUpdates(runs: batches.map(\.updates), orders: batches.map(\.customerOrder))
        // Every scored customer has a churn-scores message to publish (a merged update has a score when any
        // of the batches scored its customer).
        let customers = updates.scoredCustomerIDs
        let outbox = customers.isEmpty ? nil : OutboxEntry(id: "\(instance)-\(batches[0].filtered.sequence)", subscriber: scope.subscriber, customerIDs: customers)
        let delivered = acknowledged.withLock { a -> [String] in
            defer { a.removeAll() }
            return a
        }
        let advances = Self.advances(batches)
        let storeStart = ContinuousClock.now
        let store = store, scope = scope
        do {
            try await retrying("commit \(updates.count) profiles to \(store.location)", stage: "write", status: status, logger: logger) {
                try await store.commitProfiles(updates, offsets: advances, scope: scope, outbox: outbox, acknowledged: delivered)
            }
        } catch let error as StoreError where error.kind == .fenced {
            acknowledged.withLock { $0.append(contentsOf: delivered) }
            logger.error("commit fenced: the stored offsets are not where this batch starts; batch dropped, rewinding to the stored offsets", metadata: ["error": "\(error)"])
            status.recordFenced()
            return nil
        } catch {
            acknowledged.withLock { $0.append(contentsOf: delivered) }
            throw error
        }
        status.storeLatency.recordInterval(since: storeStart)
        tracker.committed(advances)
        let scored = batches.reduce(0) { n, b in n + b.updates.reduce(0) { $0 + ($1.churnScore == nil ? 0 : 1) } }
        status.update { $0.scored += scored }
        latency.recordInterval(since: started)
        let scores = batches.map { b in
            BatchScores(sequence: b.filtered.sequence, customers: b.updates.compactMap { $0.churnScore == nil ? nil : $0.profile.customerID })
        }
        return CommittedBatch(scores: scores, batches: outbox == nil ? [] : batches.map(\.scored), outboxID: outbox?.id)
    }

    /// The offset advances of consecutive batches: per partition, from the first batch's expected offset
    /// to the last batch's end.
    static func advances(_ batches: [EnrichedBatch]) -> [OffsetAdvance] {
        guard batches.count > 1 else { return batches.first?.filtered.source.offsetAdvances ?? [] }
        var merged: [Int32: OffsetAdvance] = [:]
        var order: [Int32] = []
        for batch in batches {
            for a in batch.filtered.source.offsetAdvances {
                if let first = merged[a.partition] {
                    merged[a.partition] = OffsetAdvance(partition: a.partition, expected: first.expected, next: a.next)
                } else {
                    merged[a.partition] = a
                    order.append(a.partition)
                }
            }
        }
        return order.compactMap { merged[$0] }
    }

    /// Step 2, after the commit: builds each batch's messages and enqueues them without waiting for their
    /// delivery, so that several groups' deliveries overlap. librdkafka holds its own copy until delivery:
    /// the messages are let go batch by batch (a re-send rebuilds them from the store).
    func publish(_ committed: CommittedBatch) async throws -> PublishedBatch {
        guard committed.outboxID != nil else { return PublishedBatch(scores: committed.scores, outboxID: nil, pending: []) }
        for batch in committed.scores { newestScores.enqueued(batch) }
        var pending: [PendingDeliveries] = []
        for batch in committed.batches {
            for start in stride(from: 0, to: batch.updates.count, by: Self.messageChunk) {
                let messages = messages(batch, rows: start..<min(start + Self.messageChunk, batch.updates.count)), producer = producer
                guard !messages.isEmpty else { continue }
                pending.append(try await retrying("enqueue \(messages.count) scores for \(scoresTopic)", stage: "publish", status: status, logger: logger) {
                    try await producer.enqueue(messages)
                })
            }
        }
        return PublishedBatch(scores: committed.scores, outboxID: committed.outboxID, pending: pending)
    }

    /// Step 3: waits for the delivery, then marks the outbox entry for deletion. On a delivery failure it
    /// re-sends the group's customers' scores as stored now (as a restart would), leaving out customers a
    /// newer batch has re-scored since.
    func confirm(_ published: PublishedBatch) async throws {
        defer { for batch in published.scores { newestScores.finished(batch) } }
        if !published.pending.isEmpty {
            do {
                for pending in published.pending { _ = try await pending.delivered() }
            } catch {
                let superseded = newestScores.superseded(in: published.scores)
                var seen = Set<CustomerID>()
                let ids = published.scores.flatMap(\.customers).filter { !superseded.contains(CustomerID($0)) && seen.insert(CustomerID($0)).inserted }
                let store = store, producer = producer
                let rows = try await retrying("read \(ids.count) profiles to re-send", stage: "publish", status: status, logger: logger) {
                    try await store.profileRows(ids)
                }
                let messages = messages(rows: rows)
                try await retrying("re-send \(messages.count) scores to \(scoresTopic)", stage: "publish", status: status, logger: logger) {
                    try await producer.send(messages)
                }
            }
        }
        if let id = published.outboxID { acknowledged.withLock { $0.append(id) } }
    }

    /// At start-up, before the first batch: re-publishes what an earlier run committed but did not see
    /// delivered (each customer's score as stored now), then deletes those entries.
    func recover() async throws {
        let store = store, subscriber = scope.subscriber
        let entries = try await retrying("read the outbox of \(store.location)", stage: "publish", status: status, logger: logger) {
            try await store.pendingOutbox(subscriber: subscriber)
        }
        guard !entries.isEmpty else { return }
        var seen = Set<CustomerID>()
        let ids = entries.flatMap(\.customerIDs).filter { seen.insert(CustomerID($0)).inserted }
        let rows = try await retrying("read \(ids.count) profiles to re-publish", stage: "publish", status: status, logger: logger) {
            try await store.profileRows(ids)
        }
        let messages = messages(rows: rows)
        let producer = producer
        try await retrying("re-publish \(messages.count) scores to \(scoresTopic)", stage: "publish", status: status, logger: logger) {
            try await producer.send(messages)
        }
        let entryIDs = entries.map(\.id)
        try await retrying("delete \(entryIDs.count) outbox entries", stage: "publish", status: status, logger: logger) {
            try await store.deleteOutbox(entryIDs)
        }
        logger.notice("re-published scores committed but not acknowledged before the last stop",
                      metadata: ["batches": "\(entries.count)", "messages": "\(messages.count)"])
    }

    /// At shutdown, after the last delivery: deletes the entries delivered since the last commit (if this
    /// fails, the next start merely re-publishes them).
    func deleteAcknowledged() async {
        let ids = acknowledged.withLock { a -> [String] in
            defer { a.removeAll() }
            return a
        }
        do {
            try await store.deleteOutbox(ids)
        } catch {
            logger.warning("could not delete delivered outbox entries; the next start re-publishes them", metadata: ["error": "\(error)"])
        }
    }
}

/// The customers a batch scored (in order), by its sequence number: what delivery tracking keeps of a
/// committed batch.
struct BatchScores: Sendable {
    let sequence: Int
    let customers: [String]
}

/// The batches whose scores are in flight (enqueued, not yet confirmed), in order. A batch that must
/// re-send its scores leaves out those a newer unfinished batch also carries, so a re-sent score never
/// lands after a newer score of the same customer. Kept per batch, not per customer: a per-customer map
/// cost two hash updates for every score published (~1.5 % of the engine's CPU in the prediction bench,
/// `perf`, 2026-11-30), for a question asked only after a delivery failure.
final class NewestScores: Sendable {
    private let inFlight = Mutex<Deque<BatchScores>>([])

    func enqueued(_ batch: BatchScores) {
        inFlight.withLock { $0.append(batch) }
    }

    /// Customers of consecutive `batches` (committed together) whose newer score is already enqueued by a
    /// later, unfinished batch.
    func superseded(in batches: [BatchScores]) -> Set<CustomerID> {
        guard let sequence = batches.last?.sequence else { return [] }
        let newer = inFlight.withLock { f in f.filter { $0.sequence > sequence } }
        var later = Set<CustomerID>()
        for batch in newer { later.formUnion(batch.customers.map { CustomerID($0) }) }
        return Set(batches.flatMap(\.customers).map { CustomerID($0) }.filter { later.contains($0) })
    }

    func finished(_ batch: BatchScores) {
        inFlight.withLock { f in
            if let i = f.firstIndex(where: { $0.sequence == batch.sequence }) { f.remove(at: i) }
        }
    }
}

/// Consecutive batches whose state is committed (in one transaction), with what their messages are
/// built from and their outbox entry (nil, and no batches, when nothing was scored).
struct CommittedBatch: Sendable {
    let scores: [BatchScores]
    let batches: [ScoredUpdates]
    let outboxID: String?
}

/// A committed group whose messages are enqueued, with their pending deliveries (one per chunk of each batch).
struct PublishedBatch: Sendable {
    let scores: [BatchScores]
    let outboxID: String?
    let pending: [PendingDeliveries]
}

/// The `churn-scores` message, for the stream's writer and for rescoring alike.
enum ChurnScoreMessage {
    static func append(to out: inout OutgoingMessages, topic: String, customerID id: String, score: Double, modelVersion: String,
                       modelName: String, arm: String, scoredAt: String, reasons: String?) {
        out.append(topic: topic, key: id) { buffer in
            JSONBytes.append(to: &buffer) { w in
                w.raw("{\"customer_id\":")
                w.string(id)
                w.raw(",\"churn_score\":")
                w.number(score)
                w.raw(",\"model_version\":")
                w.string(modelVersion)
                w.raw(",\"model_name\":")
                w.string(modelName)
                w.raw(",\"arm\":")
                w.string(arm)
                w.raw(",\"scored_at\":")
                w.string(scoredAt)
                if let reasons {
                    w.raw(",\"reasons\":")
                    w.json(reasons.utf8)
                }
                w.raw("}")
            }
        }
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let d = ContinuousClock.now - start
        recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
