import CRdKafka
import Foundation
import Logging
import Synchronization

/// A message as librdkafka delivered it, valid only while the consumer's transform runs.
/// - Important: the buffers point into librdkafka's message, which is destroyed right after the
///   transform returns. Copy what must outlive it.
public struct KafkaMessageView {
    /// The partition.
    public let partition: Int32
    /// The offset within the partition.
    public let offset: Int64
    /// The key bytes, `nil` for a null key.
    public let key: UnsafeRawBufferPointer?
    /// The payload bytes, `nil` for a null payload (a tombstone).
    public let payload: UnsafeRawBufferPointer?
    /// The message timestamp in milliseconds since the epoch, if any.
    public var timestamp: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(native, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts
    }
    let native: UnsafeMutablePointer<rd_kafka_message_t>

    init(native: UnsafeMutablePointer<rd_kafka_message_t>) {
        self.native = native
        let m = native.pointee
        partition = m.partition
        offset = m.offset
        key = m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) }
        payload = m.payload.map { UnsafeRawBufferPointer(start: $0, count: m.len) }
    }

    /// The value of the last header called `name`, if present.
    public func header(_ name: String) -> [UInt8]? {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(native, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        guard let value else { return [] }
        return Array(UnsafeRawBufferPointer(start: value, count: size))
    }
}

/// One consumed record: where it came from and what the transform made of it.
public struct ConsumerRecord<Value: Sendable>: Sendable {
    /// The partition.
    public let partition: Int32
    /// The offset.
    public let offset: Int64
    /// The transformed message.
    public let value: Value
    /// The message's key and payload bytes (what the record's memory is accounted as).
    public let byteCount: Int

    /// Creates a record.
    public init(partition: Int32, offset: Int64, value: Value, byteCount: Int = 0) {
        self.partition = partition
        self.offset = offset
        self.value = value
        self.byteCount = byteCount
    }
}

/// A bounded batch of records, in poll order (so in offset order within each partition).
public struct ConsumerBatch<Value: Sendable>: Sendable {
    /// The records (empty in a copy made by ``droppingRecords()``).
    public internal(set) var records: [ConsumerRecord<Value>]
    /// The assignment generation the batch was polled in; it increases on every rebalance and rewind.
    public let generation: Int
    /// Per partition of the batch, the next offset the owner's store must hold for this batch to
    /// follow on from what is stored: the stored offset at assignment, then the end of the previous
    /// batch of that partition. Absent when nothing was stored for the partition. Commits use it as
    /// the fence's `expected` value, so a batch that follows a dropped one can never commit past it.
    public internal(set) var expectedOffsets: [Int32: Int64]
    /// Key and payload bytes of the records (what releasing the batch gives back to the consumer's bound).
    public internal(set) var byteCount: Int
    /// The next offset to read per partition after this batch (last offset + 1).
    public private(set) var nextOffsets: [Int32: Int64]

    /// Creates a batch.
    public init(records: [ConsumerRecord<Value>], generation: Int, expectedOffsets: [Int32: Int64] = [:]) {
        self.records = records
        self.generation = generation
        self.expectedOffsets = expectedOffsets
        byteCount = records.reduce(0) { $0 + $1.byteCount }
        nextOffsets = Self.nextOffsets(of: records)
    }

    /// The batch without its records: what committing and releasing it needs (generation, offsets, byte
    /// count), for an owner that keeps what it derived from the records and lets them go.
    public func droppingRecords() -> ConsumerBatch<Value> {
        var copy = self
        copy.records = []
        return copy
    }

    /// Keeps only the records `keep` accepts (the rest were revoked), with the offsets and bytes to match.
    mutating func filterRecords(_ keep: (ConsumerRecord<Value>) -> Bool) {
        records.removeAll { !keep($0) }
        byteCount = records.reduce(0) { $0 + $1.byteCount }
        nextOffsets = Self.nextOffsets(of: records)
    }

    /// Per partition, the last offset + 1. A table indexed by partition number (small, dense) instead of
    /// a hash update per record: the counter's batches hold 20,000 records.
    static func nextOffsets(of records: [ConsumerRecord<Value>]) -> [Int32: Int64] {
        var last: [Int64] = []
        var partitions: [Int32] = []
        for record in records {
            let p = Int(record.partition)
            // Kafka numbers partitions from 0, densely; anything else takes the hashing path.
            guard p >= 0 && p < 1 << 16 else { return nextOffsetsHashed(of: records) }
            if p >= last.count { last.append(contentsOf: repeatElement(-1, count: p + 1 - last.count)) }
            if last[p] < 0 { partitions.append(record.partition) }
            last[p] = record.offset
        }
        var result = [Int32: Int64](minimumCapacity: partitions.count)
        for p in partitions { result[p] = last[Int(p)] + 1 }
        return result
    }

    private static func nextOffsetsHashed(of records: [ConsumerRecord<Value>]) -> [Int32: Int64] {
        var result: [Int32: Int64] = [:]
        for record in records { result[record.partition] = record.offset + 1 }
        return result
    }
}

/// Something the consumer reports beside batches.
public enum ConsumerEvent: Sendable {
    /// A stored start offset lay below the log start: `gap` messages were lost to retention.
    /// The consumer continues from `logStart`; this is never silent.
    case offsetOutOfRange(partition: Int32, requested: Int64, logStart: Int64, gap: Int64)
    /// A stored offset lies beyond the log end (the topic was re-created, or the stored offsets were
    /// edited): nothing is skipped, the partition stays paused until the stored offset is fixed and the
    /// engine restarted.
    case offsetBeyondLogEnd(partition: Int32, stored: Int64, logEnd: Int64)
    /// Partitions were assigned, with the start offsets used (`nil` = beginning of the log).
    case assigned([Int32: Int64?])
    /// Partitions were revoked (`lost`: taken away without a handshake).
    case revoked([Int32], lost: Bool)
    /// The consumer re-read the stored offsets and repositioned its partitions (after a fence).
    case rewound([Int32: Int64?])
    /// A consumer error reported by librdkafka.
    case error(KafkaError)
}

/// The owner's hooks into rebalances.
public struct AssignmentHooks: Sendable {
    /// Called on the poll thread, synchronously, before newly assigned partitions are fetched, and
    /// again on a rewind. Returns the next offset to read for each partition (from the owner's store);
    /// a partition missing from the result starts at the beginning of its log.
    public var onAssign: @Sendable ([Int32]) throws -> [Int32: Int64]
    /// Called on the poll thread, synchronously, before partitions are taken away: in-flight work for
    /// them has been committed or abandoned when this runs (or the wait for it timed out).
    public var onRevoke: @Sendable ([Int32]) -> Void
    /// Creates hooks.
    public init(onAssign: @escaping @Sendable ([Int32]) throws -> [Int32: Int64] = { _ in [:] },
                onRevoke: @escaping @Sendable ([Int32]) -> Void = { _ in }) {
        self.onAssign = onAssign
        self.onRevoke = onRevoke
    }
}

/// Settings of a `KafkaConsumer`.
public struct KafkaConsumerSettings: Sendable {
    /// The topic to subscribe to.
    public var topic: String
    /// The consumer group id.
    public var groupID: String
    /// The most records in one batch.
    public var maxBatchSize: Int = 1_000
    /// How long a batch may keep growing while the reader is busy (an idle reader gets it at once).
    public var maxBatchLinger: Duration = .milliseconds(5)
    /// The most records buffered between the poll thread and the batch sequence's reader. When the
    /// next batch would exceed it, the assigned partitions are paused until the buffer drains to half.
    public var maxBufferedRecords: Int = 20_000
    /// The most message bytes polled and not yet released (buffered or being processed); beyond it the
    /// poll thread holds and then pauses the same way.
    public var maxOutstandingBytes: Int = 64 << 20
    /// How long the poll thread stops polling at a bound before it pauses the partitions (see
    /// `ConsumerLimits.pauseAfter`).
    public var pauseAfter: Duration = .seconds(1)
    /// librdkafka's prefetch (`queued.max.messages.kbytes`, KiB) unless the user's properties set it. While
    /// the reader is slower than the fetch, librdkafka's queue stays full, so this is resident memory; but
    /// once it is full librdkafka 2.0.2 stops fetching for ~1 s, so it must hold a second of what the
    /// reader takes: 32 MiB (~150,000 events) for the prediction pipeline (in its bench 256 MiB made the
    /// engine's peak RSS 1,355 MiB and 32 MiB 852 MiB at the same throughput, 8 MiB cost a third of the
    /// throughput); the counter reads ~0.9 M events/s and keeps 256 MiB (at 32 MiB it fell from 899 k to
    /// 434 k events/s; docs/operations.md).
    public var prefetchKiB: Int = 32_768
    /// How long a revocation waits for admitted batches to commit before it proceeds (their commits
    /// are then fenced by the stored offsets if the new owner got there first).
    public var revokeWait: Duration = .seconds(10)
    /// Creates settings.
    public init(topic: String, groupID: String) {
        self.topic = topic
        self.groupID = groupID
    }
}

/// A group consumer with one dedicated poll thread that decodes messages in place and delivers bounded
/// batches through an `AsyncSequence` with backpressure (pausing partitions when its reader falls
/// behind). Offsets are not auto-committed: the owner stores them with its state and calls `commit`.
///
/// - Important: iterate `batches` from one task only.
public final class KafkaConsumer<Value: Sendable>: Sendable {
    private let core: ConsumerCore<Value>

    /// librdkafka settings the consumer applies before the user's: no auto-commit, explicit error on
    /// an out-of-range offset, and queue sizes that avoid librdkafka 2.0.2's ~1 s fetch stalls (the
    /// prefetch in bytes comes from `KafkaConsumerSettings.prefetchKiB`).
    public static var defaultProperties: [(String, String)] {
        [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "error"),
            ("enable.partition.eof", "false"),
            ("queued.min.messages", "1000000"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
            ("partition.assignment.strategy", "range"),
            // librdkafka's mock cluster answers an empty fetch only after the full wait (no wake-up on
            // new data), so a 500 ms default becomes 500 ms of latency; a few ms cost little on real Kafka
            // (empty fetches of an idle consumer only). Measured with a C consumer (now − CreateTime) at
            // 20,000 events/s on the mock, 6 partitions: p50/p99 8.0/16.4 ms at 10 ms, 4.8/9.3 at 5,
            // 2.9/20.7 at 2 (64 partitions: 7.6/32.8 at 10, 6.6/30.7 at 5, 21/122 at 1 — the mock then
            // spends its time on empty fetches). The engine's stored latency in the prediction bench
            // (2026-11-30, five interleaved pairs, 6 partitions): p50 7.9–9.4 ms at 3 against 9.5–11.7 at 5,
            // p99 15.7–22.0 against 17.2–20.5; 64 partitions 21.0–22.8 / 76–82 against 23.0–24.7 / 86–88;
            // at 20,000 events/s the engine used 7–9 points of a core more, the broker 1–5.
            ("fetch.wait.max.ms", "3"),
        ]
    }

    /// Creates the consumer, subscribes and starts the poll thread.
    /// - Parameters:
    ///   - transform: runs on the poll thread for every message; must not block.
    ///   - onEvent: runs on the poll thread for assignments, revocations and errors.
    /// - Throws: `KafkaError` for a bad property or a failed subscription.
    public init(config: KafkaConfig, settings: KafkaConsumerSettings, hooks: AssignmentHooks = AssignmentHooks(),
                logger: Logger,
                onEvent: @escaping @Sendable (ConsumerEvent) -> Void = { _ in },
                transform: @escaping @Sendable (borrowing KafkaMessageView) -> Value) throws {
        core = try ConsumerCore(config: config, settings: settings, hooks: hooks, logger: logger,
                                onEvent: onEvent, transform: transform)
        core.start()
    }

    deinit {
        core.shutdown()
    }

    /// The batches, until `shutdown()`; throws if the assignment hook failed.
    public var batches: Batches { Batches(core: core) }

    /// Asks the group coordinator to record these next offsets (asynchronously). Our offsets of record
    /// live in the store; Kafka's committed offsets serve lag monitoring and tools.
    public func commit(_ offsets: [Int32: Int64]) {
        core.commit(offsets)
    }

    /// Admits a batch into processing. Returns `false` when a rebalance happened since it was polled:
    /// drop it (the partition's next owner replays it from the stored offsets). An admitted batch must
    /// be `release`d once its state is committed (or abandoned); a revocation waits for that.
    /// - Important: this fence is what makes store commits exactly-once across rebalances.
    public func admit(_ batch: ConsumerBatch<Value>) -> Bool { core.admit(batch) }

    /// Ends the processing of an admitted batch.
    public func release(_ batch: ConsumerBatch<Value>) { core.release(batch) }

    /// Whether an admitted batch may still commit its state: false once the assignment it was polled
    /// under was lost (the partitions went to another member without a revoke handshake).
    public func mayCommit(_ batch: ConsumerBatch<Value>) -> Bool { core.mayCommit(generation: batch.generation) }

    /// Asks the poll thread to re-read the stored offsets (through the assignment hook) and reposition
    /// every assigned partition there, after the owner's commit was fenced. Batches polled before are
    /// not admitted; the poll thread first waits for admitted ones to finish.
    public func rewind() { core.requestRewind() }

    /// The partitions currently assigned to this member.
    public var assignedPartitions: [Int32] { core.assignedPartitions }

    /// Low and high watermarks per assigned partition, from librdkafka's cache (no network round trip).
    public func watermarks() -> [Int32: (low: Int64, high: Int64)] { core.watermarks() }

    /// The largest number of records that were ever buffered at once (for tests and metrics).
    public var peakBufferedRecords: Int { core.withState { $0.peakBufferedRecords } }

    /// The most message bytes that were ever outstanding (buffered or being processed) at once.
    public var peakOutstandingBytes: Int { core.withState { $0.peakOutstandingBytes } }

    /// How many times backpressure paused the partitions.
    public var pauseCount: Int { core.withState { $0.pauseCount } }

    /// How many times the poll thread held at a bound (stopped polling for a while) without pausing.
    public var holdCount: Int { core.withState { $0.holdCount } }

    /// Asks the poll thread to stop without waiting: it leaves the group (running the revoke hook, which
    /// waits for admitted batches), destroys the handle and ends `batches`.
    public func requestStop() { core.requestStop() }

    /// Stops polling, leaves the group (running the revoke hook) and destroys the handle. Idempotent;
    /// blocks until the poll thread has finished.
    public func shutdown() {
        core.shutdown()
    }

    /// The batch sequence.
    public struct Batches: AsyncSequence, Sendable {
        let core: ConsumerCore<Value>
        /// Makes the iterator.
        public func makeAsyncIterator() -> Iterator { Iterator(core: core) }

        /// The batch iterator.
        public struct Iterator: AsyncIteratorProtocol {
            let core: ConsumerCore<Value>
            /// The next batch, or `nil` after shutdown.
            public mutating func next() async throws -> ConsumerBatch<Value>? {
                try await core.next()
            }
        }
    }
}

/// Owns the `rd_kafka_t` of one consumer and its poll thread.
///
/// `@unchecked Sendable`: the shared state is one `ConsumerStateMachine` behind `state`; the handle is
/// behind `handle` for the calls made from other threads (`commit`, `watermarks`), and the poll thread
/// destroys it under that lock, so no other thread can use it after it is gone; the batch under
/// construction, the per-partition stored-offset chain and the pause flags are touched only on the poll
/// thread.
final class ConsumerCore<Value: Sendable>: @unchecked Sendable, RdKafkaCallbackContext {
    let logger: Logger
    let settings: KafkaConsumerSettings
    let hooks: AssignmentHooks
    let onEvent: @Sendable (ConsumerEvent) -> Void
    let transform: @Sendable (borrowing KafkaMessageView) -> Value
    // `@exclusivity(unchecked)` on the stored properties the poll thread touches per message: only that
    // thread uses them (the handle is set once in `init`), and the runtime's access tracking for class
    // properties (`swift_beginAccess`, a thread-local access set) was ~6 % of the counter's poll thread
    // (`perf`, 2026-11-30).
    /// The handle for the poll thread (which owns it until it destroys it); set once in `init`.
    @exclusivity(unchecked) private var rkStorage: OpaquePointer?
    private var rk: OpaquePointer { rkStorage! }
    /// The handle for other threads: nil once destroyed.
    private let handle = Mutex<SharedHandle?>(nil)
    private let state: Mutex<ConsumerStateMachine<Value>>
    private let stopRequested = Atomic<Bool>(false)
    private let threadDone = DispatchSemaphore(value: 0)
    private let lifecycle = Mutex<(started: Bool, closed: Bool)>((false, false))

    // Poll-thread-only state.
    @exclusivity(unchecked) private var building: [ConsumerRecord<Value>] = []
    @exclusivity(unchecked) private var paused = false
    /// Partitions held paused because their stored offset lies beyond the log end.
    private var stalled: Set<Int32> = []
    /// Per partition, the next offset the store holds before the next delivered record of it.
    private var storedChain: [Int32: Int64] = [:]

    init(config: KafkaConfig, settings: KafkaConsumerSettings, hooks: AssignmentHooks, logger: Logger,
         onEvent: @escaping @Sendable (ConsumerEvent) -> Void,
         transform: @escaping @Sendable (borrowing KafkaMessageView) -> Value) throws {
        self.logger = logger
        self.settings = settings
        self.hooks = hooks
        self.onEvent = onEvent
        self.transform = transform
        state = Mutex(ConsumerStateMachine(limits: ConsumerLimits(
            maxBatchRecords: settings.maxBatchSize, maxBufferedRecords: settings.maxBufferedRecords,
            maxOutstandingBytes: settings.maxOutstandingBytes, pauseAfter: settings.pauseAfter)))
        var cfg = config.withDefaults(KafkaConsumer<Value>.defaultProperties + [("queued.max.messages.kbytes", "\(settings.prefetchKiB)")])
        cfg.set("group.id", settings.groupID)
        if let strategy = cfg.value(for: "partition.assignment.strategy"), strategy.contains("cooperative") {
            throw KafkaError(.configuration, "partition.assignment.strategy=\(strategy) is not supported: the engine's rebalance fence needs eager assignment (use range or roundrobin)")
        }
        let opaque = Unmanaged.passUnretained(self as AnyObject).toOpaque()
        let created = try makeHandle(type: RD_KAFKA_CONSUMER, config: cfg, context: opaque) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        }
        rkStorage = created
        let shared = SharedHandle(rk: created)
        handle.withLock { $0 = shared }
        rd_kafka_poll_set_consumer(rk)
        let topics = rd_kafka_topic_partition_list_new(1)
        rd_kafka_topic_partition_list_add(topics, settings.topic, RD_KAFKA_PARTITION_UA)
        let err = rd_kafka_subscribe(rk, topics)
        rd_kafka_topic_partition_list_destroy(topics)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            handle.withLock { $0 = nil }
            rd_kafka_destroy(rk)
            throw KafkaError(.consume, "subscribe to '\(settings.topic)'", rdError: err)
        }
    }

    func withState<T>(_ body: (inout ConsumerStateMachine<Value>) -> T) -> T {
        state.withLock { body(&$0) }
    }

    func start() {
        // The thread retains self until it finishes; shutdown() waits for it.
        lifecycle.withLock { $0.started = true }
        let thread = Thread { [self] in
            self.pollLoop()
            self.threadDone.signal()
        }
        thread.name = "kafka-consumer-\(settings.groupID)"
        thread.start()
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
    }

    func shutdown() {
        let wasRunning = lifecycle.withLock { state -> Bool in
            defer { state.closed = true }
            return state.started && !state.closed
        }
        stopRequested.store(true, ordering: .releasing)
        if wasRunning {
            threadDone.wait()
        } else if lifecycle.withLock({ !$0.started }) {
            destroyHandle()
        }
    }

    private func destroyHandle() {
        let owned = handle.withLock { h -> SharedHandle? in
            defer { h = nil }
            return h
        }
        if let owned { rd_kafka_destroy(owned.rk) }
    }

    // MARK: poll thread

    private func pollLoop() {
        let linger = settings.maxBatchLinger
        while !stopRequested.load(ordering: .acquiring) {
            if state.withLock({ $0.failure != nil }) { break }
            if state.withLock({ $0.beginRewind() }) {
                rewind()
                continue
            }
            switch state.withLock({ $0.flow(paused: paused) }) {
            case .hold:
                usleep(500)
                continue
            case .pause: setPaused(true)
            case .resume: setPaused(false)
            case .keep: break
            }
            if paused {
                serve(timeoutMs: 50)
                continue
            }
            // One blocking poll, then fill up to the batch size: zero-timeout polls while messages are
            // queued locally. When the local queue is empty, an idle reader gets what there is at once
            // (lingering would only add latency: 5 ms on every batch at 20,000 events/s); while the
            // reader is busy the batch keeps growing, up to the linger time, instead of queueing behind
            // it as many small batches (measured at 20,000 events/s: batches of 60–120 events waited
            // 30–60 ms in that queue, each paying a store commit).
            guard let first = rd_kafka_consumer_poll(rk, 100) else { continue }
            handle(first)
            let deadline = ContinuousClock.now + linger
            var sinceClockCheck = 0
            while building.count < settings.maxBatchSize {
                if let message = rd_kafka_consumer_poll(rk, 0) {
                    handle(message)
                    sinceClockCheck += 1
                    if sinceClockCheck < 256 { continue }
                } else if state.withLock({ $0.readerIsWaiting }) {
                    break
                }
                sinceClockCheck = 0
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero { break }
                // 1 ms: notice soon when the reader becomes idle.
                if let message = rd_kafka_consumer_poll(rk, 1) { handle(message) }
            }
            deliverBuilding()
        }
        building.removeAll()
        // Leaving the group runs the revoke callback on this thread.
        rd_kafka_consumer_close(rk)
        destroyHandle()
        finish(failure: nil)
    }

    /// Serves callbacks (rebalances, logs, errors) while paused; messages should not arrive.
    private func serve(timeoutMs: Int32) {
        if let message = rd_kafka_consumer_poll(rk, timeoutMs) {
            handle(message)
            deliverBuilding()
        }
    }

    private func handle(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            handleError(err, message: message)
            return
        }
        let view = KafkaMessageView(native: message)
        let value = transform(view)
        let bytes = (view.payload?.count ?? 0) + (view.key?.count ?? 0)
        building.append(ConsumerRecord(partition: view.partition, offset: view.offset, value: value, byteCount: bytes))
    }

    private func handleError(_ err: rd_kafka_resp_err_t, message: UnsafeMutablePointer<rd_kafka_message_t>) {
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        let partition = message.pointee.partition
        if err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE {
            recoverOutOfRange(partition: partition)
            return
        }
        let reason = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
        let error = KafkaError(.consume, "partition \(partition): \(reason)", rdError: err)
        logger.warning("consumer error", metadata: ["error": "\(error)"])
        onEvent(.error(error))
    }

    /// The stored offset is out of the log's range. Below the log start: report the gap loudly, then
    /// continue at the log start. Beyond the log end: report it and keep the partition paused; nothing
    /// is skipped (a guess either way could lose or double-count events).
    private func recoverOutOfRange(partition: Int32) {
        var low: Int64 = 0, high: Int64 = 0
        let qerr = rd_kafka_query_watermark_offsets(rk, settings.topic, partition, &low, &high, 5_000)
        let requested = storedChain[partition] ?? -1
        guard qerr == RD_KAFKA_RESP_ERR_NO_ERROR else {
            logger.error("offset out of range and watermarks unavailable", metadata: ["partition": "\(partition)"])
            return
        }
        if requested > high {
            logger.error("stored offset is beyond the log end; partition held paused (fix the stored offset, then restart)",
                         metadata: ["topic": "\(settings.topic)", "partition": "\(partition)", "stored": "\(requested)", "log_end": "\(high)"])
            stalled.insert(partition)
            withPartitions([partition]) { rd_kafka_pause_partitions(rk, $0) }
            onEvent(.offsetBeyondLogEnd(partition: partition, stored: requested, logEnd: high))
            return
        }
        let gap = requested >= 0 && requested < low ? low - requested : 0
        logger.error("stored offset is out of range; messages lost to retention",
                     metadata: ["topic": "\(settings.topic)", "partition": "\(partition)", "requested": "\(requested)",
                                "log_start": "\(low)", "log_end": "\(high)", "gap": "\(gap)"])
        onEvent(.offsetOutOfRange(partition: partition, requested: requested, logStart: low, gap: gap))
        seek([partition: low])
    }

    private func deliverBuilding() {
        guard !building.isEmpty else { return }
        let generation = state.withLock { $0.generation }
        var batch = ConsumerBatch(records: building, generation: generation)
        let next = batch.nextOffsets
        var expected: [Int32: Int64] = [:]
        for (partition, offset) in next {
            if let stored = storedChain[partition] { expected[partition] = stored }
            storedChain[partition] = offset
        }
        batch.expectedOffsets = expected
        building = []
        building.reserveCapacity(settings.maxBatchSize)
        state.withLock { $0.deliver(batch) }?.resume(returning: batch)
    }

    private func withPartitions(_ partitions: [Int32], offsets: [Int32: Int64] = [:],
                                _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void) {
        let list = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))!
        for p in partitions {
            rd_kafka_topic_partition_list_add(list, settings.topic, p).pointee.offset = offsets[p] ?? Int64(RD_KAFKA_OFFSET_INVALID)
        }
        body(list)
        rd_kafka_topic_partition_list_destroy(list)
    }

    private func seek(_ offsets: [Int32: Int64]) {
        guard !offsets.isEmpty else { return }
        withPartitions(Array(offsets.keys), offsets: offsets) { list in
            if let error = rd_kafka_seek_partitions(rk, list, 5_000) {
                logger.error("seek failed", metadata: ["error": "\(String(cString: rd_kafka_error_string(error)))"])
                rd_kafka_error_destroy(error)
            }
        }
    }

    private func setPaused(_ pause: Bool) {
        let partitions = state.withLock { $0.partitions }.filter { !stalled.contains($0) }
        if !partitions.isEmpty {
            withPartitions(partitions) { list in
                if pause { rd_kafka_pause_partitions(rk, list) } else { rd_kafka_resume_partitions(rk, list) }
            }
        }
        paused = pause
    }

    /// Waits for admitted batches to be released, for at most `limit`; returns whether they were.
    private func waitForInFlight(limit: Duration, what: String) -> Bool {
        let deadline = ContinuousClock.now + limit
        var nextWarning = ContinuousClock.now + .seconds(2)
        while state.withLock({ $0.inFlight }) > 0 {
            let now = ContinuousClock.now
            if now >= deadline {
                logger.warning("\(what): admitted batches still in flight; proceeding (their commits are fenced by the stored offsets)")
                return false
            }
            if now >= nextWarning {
                logger.notice("\(what): waiting for in-flight batches")
                nextWarning = now + .seconds(5)
            }
            usleep(1_000)
        }
        return true
    }

    /// Reads the stored offsets again and repositions every assigned partition there (after a fenced
    /// commit): what was polled since is dropped, the chain of expected offsets restarts from the store.
    private func rewind() {
        building.removeAll()
        _ = waitForInFlight(limit: settings.revokeWait, what: "rewind")
        state.withLock { $0.rewindDrained() }
        let partitions = state.withLock { $0.partitions }
        guard !partitions.isEmpty else { return }
        let stored: [Int32: Int64]
        do {
            stored = try hooks.onAssign(partitions)
        } catch {
            fail(KafkaError(.assignment, "re-reading stored offsets for \(settings.topic) \(partitions): \(error)"))
            return
        }
        var targets: [Int32: Int64] = [:]
        var used: [Int32: Int64?] = [:]
        for p in partitions {
            targets[p] = stored[p] ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
            used[p] = stored[p]
            storedChain[p] = stored[p]
            if stored[p] == nil { storedChain.removeValue(forKey: p) }
        }
        stalled.subtract(partitions)
        seek(targets)
        if paused { setPaused(true) } else { setPaused(false) }
        logger.notice("rewound to the stored offsets", metadata: ["topic": "\(settings.topic)", "offsets": "\(stored)"])
        onEvent(.rewound(used))
    }

    fileprivate func rebalance(_ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let partitions = (0..<Int(list.pointee.cnt)).map { list.pointee.elems[$0].partition }
        if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            let stored: [Int32: Int64]
            do {
                stored = try hooks.onAssign(partitions)
            } catch {
                fail(KafkaError(.assignment, "reading start offsets for \(settings.topic) \(partitions): \(error)"))
                return
            }
            var used: [Int32: Int64?] = [:]
            for i in 0..<Int(list.pointee.cnt) {
                let p = list.pointee.elems[i].partition
                let offset = stored[p]
                list.pointee.elems[i].offset = offset ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
                used[p] = offset
                if let offset { storedChain[p] = offset } else { storedChain.removeValue(forKey: p) }
                stalled.remove(p)
            }
            state.withLock { $0.assigned(partitions) }
            rd_kafka_assign(rk, list)
            paused = false
            logger.info("partitions assigned", metadata: ["topic": "\(settings.topic)", "partitions": "\(partitions.sorted())"])
            onEvent(.assigned(used))
        } else {
            // Drop what was polled but not handed out; the next owner replays it from the store's offsets.
            let lost = rd_kafka_assignment_lost(rk) != 0
            let revoked = Set(partitions)
            building.removeAll { revoked.contains($0.partition) }
            state.withLock { $0.revoking(partitions, lost: lost) }
            // A lost assignment already belongs to another member: admitted batches must not commit, and
            // there is nothing to wait for. Otherwise let them commit, within a bound.
            if !lost { _ = waitForInFlight(limit: settings.revokeWait, what: "revocation") }
            hooks.onRevoke(partitions)
            state.withLock { $0.revoked(partitions) }
            for p in partitions {
                storedChain.removeValue(forKey: p)
                stalled.remove(p)
            }
            rd_kafka_assign(rk, nil)
            logger.info("partitions revoked", metadata: ["topic": "\(settings.topic)", "partitions": "\(partitions.sorted())", "lost": "\(lost)"])
            onEvent(.revoked(partitions, lost: lost))
        }
    }

    private func fail(_ failure: KafkaError) {
        logger.error("consumer failed", metadata: ["error": "\(failure)"])
        finish(failure: failure)
    }

    private func finish(failure: KafkaError?) {
        guard let waiter = state.withLock({ $0.finish(failure: failure) }) else { return }
        let result = state.withLock { $0.failure }
        if let result { waiter.resume(throwing: result) } else { waiter.resume(returning: nil) }
    }

    // MARK: reader side

    func next() async throws -> ConsumerBatch<Value>? {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { s -> Result<ConsumerBatch<Value>?, KafkaError>? in
                if let result = s.take() { return result }
                s.park(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    var assignedPartitions: [Int32] { state.withLock { $0.partitions } }

    func admit(_ batch: ConsumerBatch<Value>) -> Bool { state.withLock { $0.admit(batch) } }

    func release(_ batch: ConsumerBatch<Value>) { state.withLock { $0.release(batch) } }

    func mayCommit(generation: Int) -> Bool { state.withLock { $0.mayCommit(generation: generation) } }

    func requestRewind() { state.withLock { $0.requestRewind() } }

    func commit(_ offsets: [Int32: Int64]) {
        guard !offsets.isEmpty, !stopRequested.load(ordering: .acquiring) else { return }
        handle.withLock { shared in
            guard let rk = shared?.rk else { return }
            let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))
            for (partition, offset) in offsets {
                rd_kafka_topic_partition_list_add(list, settings.topic, partition).pointee.offset = offset
            }
            _ = rd_kafka_commit(rk, list, 1)
            rd_kafka_topic_partition_list_destroy(list)
        }
    }

    func watermarks() -> [Int32: (low: Int64, high: Int64)] {
        let partitions = assignedPartitions
        return handle.withLock { shared in
            guard let rk = shared?.rk else { return [:] }
            var result: [Int32: (low: Int64, high: Int64)] = [:]
            for partition in partitions {
                var low: Int64 = -1, high: Int64 = -1
                if rd_kafka_get_watermark_offsets(rk, settings.topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR {
                    result[partition] = (low, high)
                }
            }
            return result
        }
    }
}

/// A consumer handle reachable from other threads. `@unchecked Sendable`: the calls made through it
/// (`rd_kafka_commit`, `rd_kafka_get_watermark_offsets`) are thread-safe in librdkafka, and it is used only
/// under `ConsumerCore.handle`'s lock, under which the poll thread also destroys it.
struct SharedHandle: @unchecked Sendable {
    let rk: OpaquePointer
}

/// The rebalance callback: runs on the poll thread inside `rd_kafka_consumer_poll`.
private let consumerRebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = { rk, err, list, opaque in
    guard let rk, let list, let opaque else { return }
    let context = Unmanaged<AnyObject>.fromOpaque(opaque).takeUnretainedValue()
    guard let core = context as? any RebalanceHandling else {
        rd_kafka_assign(rk, nil)
        return
    }
    core.handleRebalance(rk, err, list)
}

/// Erases the consumer's generic value type for the C callback.
protocol RebalanceHandling: AnyObject {
    func handleRebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>)
}

extension ConsumerCore: RebalanceHandling {
    func handleRebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        rebalance(err, list)
    }
}
