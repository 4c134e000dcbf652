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
}

/// A bounded batch of records, in poll order (so in offset order within each partition).
public struct ConsumerBatch<Value: Sendable>: Sendable {
    /// The records.
    public var records: [ConsumerRecord<Value>]
    /// The assignment generation the batch was polled in; it increases on every rebalance.
    public let generation: Int
    /// The next offset to read per partition after this batch (last offset + 1).
    public var nextOffsets: [Int32: Int64] {
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
    /// Partitions were assigned, with the start offsets used (`nil` = beginning of the log).
    case assigned([Int32: Int64?])
    /// Partitions were revoked.
    case revoked([Int32])
    /// A consumer error reported by librdkafka.
    case error(KafkaError)
}

/// The owner's hooks into rebalances.
public struct AssignmentHooks: Sendable {
    /// Called on the poll thread, synchronously, before newly assigned partitions are fetched.
    /// Returns the next offset to read for each partition (from the owner's store); a partition
    /// missing from the result starts at the beginning of its log.
    public var onAssign: @Sendable ([Int32]) throws -> [Int32: Int64]
    /// Called on the poll thread, synchronously, before partitions are taken away: in-flight work for
    /// them must be committed (or fenced so that it never commits) before this returns.
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
    /// How long a batch may wait for more records once it has one.
    public var maxBatchLinger: Duration = .milliseconds(5)
    /// The most records buffered between the poll thread and the batch sequence's reader. When the
    /// next batch would exceed it, the assigned partitions are paused until the buffer drains to half.
    public var maxBufferedRecords: Int = 20_000
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
    /// an out-of-range offset, and queue sizes that avoid librdkafka 2.0.2's ~1 s fetch stalls.
    public static var defaultProperties: [(String, String)] {
        [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "error"),
            ("enable.partition.eof", "false"),
            ("queued.min.messages", "1000000"),
            ("queued.max.messages.kbytes", "262144"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
            ("partition.assignment.strategy", "range"),
            // librdkafka's mock cluster answers an empty fetch only after the full wait (no wake-up on
            // new data), so a 500 ms default becomes 500 ms of latency; 10 ms costs little on real Kafka.
            ("fetch.wait.max.ms", "10"),
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
    public func admit(_ batch: ConsumerBatch<Value>) -> Bool { core.admit(generation: batch.generation) }

    /// Ends the processing of an admitted batch.
    public func release(_ batch: ConsumerBatch<Value>) { core.release() }

    /// The partitions currently assigned to this member.
    public var assignedPartitions: [Int32] { core.assignedPartitions }

    /// Low and high watermarks per assigned partition, from librdkafka's cache (no network round trip).
    public func watermarks() -> [Int32: (low: Int64, high: Int64)] { core.watermarks() }

    /// The largest number of records that were ever buffered at once (for tests and metrics).
    public var peakBufferedRecords: Int { core.peakBuffered }

    /// How many times backpressure paused the partitions.
    public var pauseCount: Int { core.pauseCount }

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

/// The state shared by the poll thread and the batch reader.
struct BufferState<Value: Sendable>: ~Copyable {
    var buffer: [ConsumerBatch<Value>] = []
    var bufferedRecords = 0
    var waiter: CheckedContinuation<ConsumerBatch<Value>?, any Error>?
    var finished = false
    var failure: KafkaError?
    var peakBuffered = 0
    var pauseCount = 0
}

/// Owns the `rd_kafka_t` of one consumer and its poll thread.
/// `@unchecked Sendable`: `rk` is only used through thread-safe librdkafka calls; `pollState` and the
/// batch under construction are touched only on the poll thread; everything else is behind mutexes.
final class ConsumerCore<Value: Sendable>: @unchecked Sendable, RdKafkaCallbackContext {
    let logger: Logger
    let settings: KafkaConsumerSettings
    let hooks: AssignmentHooks
    let onEvent: @Sendable (ConsumerEvent) -> Void
    let transform: @Sendable (borrowing KafkaMessageView) -> Value
    private var rk: OpaquePointer?
    private let state = Mutex(BufferState<Value>())
    private let assignment = Mutex<(partitions: [Int32], generation: Int, startOffsets: [Int32: Int64], inFlight: Int)>(([], 0, [:], 0))
    private let stopRequested = Atomic<Bool>(false)
    private let threadDone = DispatchSemaphore(value: 0)
    private let lifecycle = Mutex<(started: Bool, closed: Bool)>((false, false))

    // Poll-thread-only state.
    private var building: [ConsumerRecord<Value>] = []
    private var paused = false

    init(config: KafkaConfig, settings: KafkaConsumerSettings, hooks: AssignmentHooks, logger: Logger,
         onEvent: @escaping @Sendable (ConsumerEvent) -> Void,
         transform: @escaping @Sendable (borrowing KafkaMessageView) -> Value) throws {
        self.logger = logger
        self.settings = settings
        self.hooks = hooks
        self.onEvent = onEvent
        self.transform = transform
        var cfg = config.withDefaults(KafkaConsumer<Value>.defaultProperties)
        cfg.set("group.id", settings.groupID)
        let opaque = Unmanaged.passUnretained(self as AnyObject).toOpaque()
        let handle = try makeHandle(type: RD_KAFKA_CONSUMER, config: cfg, context: opaque) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        }
        rk = handle
        rd_kafka_poll_set_consumer(handle)
        let topics = rd_kafka_topic_partition_list_new(1)
        rd_kafka_topic_partition_list_add(topics, settings.topic, RD_KAFKA_PARTITION_UA)
        let err = rd_kafka_subscribe(handle, topics)
        rd_kafka_topic_partition_list_destroy(topics)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_destroy(handle)
            rk = nil
            throw KafkaError(.consume, "subscribe to '\(settings.topic)'", rdError: err)
        }
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
        if wasRunning { threadDone.wait() }
    }

    // MARK: poll thread

    private func pollLoop() {
        guard let rk else { return }
        let linger = settings.maxBatchLinger
        let lingerMs = Int32(clamping: linger.components.seconds * 1000 + linger.components.attoseconds / 1_000_000_000_000_000)
        while !stopRequested.load(ordering: .acquiring) {
            let (buffered, hasFailure) = state.withLock { ($0.bufferedRecords, $0.failure != nil) }
            if hasFailure { break }
            if buffered + settings.maxBatchSize > settings.maxBufferedRecords {
                if !paused { setPaused(true) }
                serve(rk, timeoutMs: 50)
                continue
            }
            if paused && buffered <= settings.maxBufferedRecords / 2 { setPaused(false) }
            // One blocking poll, then fill up to the batch size within the linger time: zero-timeout
            // polls while messages are queued locally, a timed wait only when the queue is empty.
            guard let first = rd_kafka_consumer_poll(rk, 100) else { continue }
            handle(first)
            let deadline = ContinuousClock.now + linger
            var sinceClockCheck = 0
            while building.count < settings.maxBatchSize {
                if let message = rd_kafka_consumer_poll(rk, 0) {
                    handle(message)
                    sinceClockCheck += 1
                    if sinceClockCheck < 256 { continue }
                }
                sinceClockCheck = 0
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero { break }
                let ms = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
                if let message = rd_kafka_consumer_poll(rk, max(1, min(lingerMs, ms))) { handle(message) }
            }
            deliverBuilding()
        }
        building.removeAll()
        // Leaving the group runs the revoke callback on this thread.
        rd_kafka_consumer_close(rk)
        rd_kafka_destroy(rk)
        self.rk = nil
        finish(failure: nil)
    }

    /// Serves callbacks (rebalances, logs, errors) while paused; messages should not arrive.
    private func serve(_ rk: OpaquePointer, timeoutMs: Int32) {
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
        building.append(ConsumerRecord(partition: view.partition, offset: view.offset, value: value))
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

    /// The stored offset is below the log start: report the gap loudly, then continue at the log start.
    private func recoverOutOfRange(partition: Int32) {
        guard let rk else { return }
        var low: Int64 = 0, high: Int64 = 0
        let qerr = rd_kafka_query_watermark_offsets(rk, settings.topic, partition, &low, &high, 5_000)
        let requested = assignment.withLock { $0.startOffsets[partition] } ?? -1
        guard qerr == RD_KAFKA_RESP_ERR_NO_ERROR else {
            logger.error("offset out of range and watermarks unavailable", metadata: ["partition": "\(partition)"])
            return
        }
        let target = requested > high ? high : low
        let gap = requested >= 0 && requested < low ? low - requested : 0
        logger.error("stored offset is out of range; messages lost to retention",
                     metadata: ["topic": "\(settings.topic)", "partition": "\(partition)", "requested": "\(requested)",
                                "log_start": "\(low)", "log_end": "\(high)", "gap": "\(gap)"])
        onEvent(.offsetOutOfRange(partition: partition, requested: requested, logStart: low, gap: gap))
        let list = rd_kafka_topic_partition_list_new(1)
        rd_kafka_topic_partition_list_add(list, settings.topic, partition).pointee.offset = target
        if let error = rd_kafka_seek_partitions(rk, list, 5_000) { rd_kafka_error_destroy(error) }
        rd_kafka_topic_partition_list_destroy(list)
        assignment.withLock { $0.startOffsets[partition] = target }
    }

    private func deliverBuilding() {
        guard !building.isEmpty else { return }
        let generation = assignment.withLock { $0.generation }
        let batch = ConsumerBatch(records: building, generation: generation)
        building = []
        building.reserveCapacity(settings.maxBatchSize)
        let waiter = state.withLock { s -> CheckedContinuation<ConsumerBatch<Value>?, any Error>? in
            if let waiter = s.waiter {
                s.waiter = nil
                return waiter
            }
            s.buffer.append(batch)
            s.bufferedRecords += batch.records.count
            s.peakBuffered = max(s.peakBuffered, s.bufferedRecords)
            return nil
        }
        waiter?.resume(returning: batch)
    }

    private func setPaused(_ pause: Bool) {
        guard let rk else { return }
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if pause {
            rd_kafka_pause_partitions(rk, list)
            state.withLock { $0.pauseCount += 1 }
        } else {
            rd_kafka_resume_partitions(rk, list)
        }
        paused = pause
    }

    fileprivate func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                               _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let partitions = (0..<Int(list.pointee.cnt)).map { list.pointee.elems[$0].partition }
        if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            let stored: [Int32: Int64]
            do {
                stored = try hooks.onAssign(partitions)
            } catch {
                let failure = KafkaError(.assignment, "reading start offsets for \(settings.topic) \(partitions): \(error)")
                logger.error("assignment failed", metadata: ["error": "\(failure)"])
                finish(failure: failure)
                return
            }
            var used: [Int32: Int64?] = [:]
            for i in 0..<Int(list.pointee.cnt) {
                let p = list.pointee.elems[i].partition
                let offset = stored[p]
                list.pointee.elems[i].offset = offset ?? Int64(RD_KAFKA_OFFSET_BEGINNING)
                used[p] = offset
            }
            assignment.withLock {
                $0.partitions = partitions.sorted()
                $0.generation += 1
                $0.startOffsets = stored
            }
            rd_kafka_assign(rk, list)
            paused = false
            logger.info("partitions assigned", metadata: ["topic": "\(settings.topic)", "partitions": "\(partitions.sorted())"])
            onEvent(.assigned(used))
        } else {
            // Drop what was polled but not handed out; the next owner replays it from the store's offsets.
            let revoked = Set(partitions)
            building.removeAll { revoked.contains($0.partition) }
            state.withLock { s in
                s.buffer = s.buffer.compactMap { batch in
                    var b = batch
                    b.records.removeAll { revoked.contains($0.partition) }
                    return b.records.isEmpty ? nil : b
                }
                s.bufferedRecords = s.buffer.reduce(0) { $0 + $1.records.count }
            }
            // Fence: batches polled before this point are no longer admitted; wait for admitted ones.
            assignment.withLock { $0.generation += 1 }
            var waited = 0
            while assignment.withLock({ $0.inFlight }) > 0 {
                usleep(1_000)
                waited += 1
                if waited % 5_000 == 0 {
                    logger.warning("revocation waiting for in-flight batches", metadata: ["seconds": "\(waited / 1_000)"])
                }
            }
            hooks.onRevoke(partitions)
            assignment.withLock { $0.partitions.removeAll { revoked.contains($0) } }
            rd_kafka_assign(rk, nil)
            logger.info("partitions revoked", metadata: ["topic": "\(settings.topic)", "partitions": "\(partitions.sorted())"])
            onEvent(.revoked(partitions))
        }
    }

    private func finish(failure: KafkaError?) {
        let waiter = state.withLock { s -> CheckedContinuation<ConsumerBatch<Value>?, any Error>? in
            if s.failure == nil { s.failure = failure }
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        if let failure { waiter?.resume(throwing: failure) } else { waiter?.resume(returning: nil) }
    }

    // MARK: reader side

    func next() async throws -> ConsumerBatch<Value>? {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { s -> Result<ConsumerBatch<Value>?, KafkaError>? in
                if !s.buffer.isEmpty {
                    let batch = s.buffer.removeFirst()
                    s.bufferedRecords -= batch.records.count
                    return .success(batch)
                }
                if let failure = s.failure { return .failure(failure) }
                if s.finished { return .success(nil) }
                s.waiter = continuation
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    var assignedPartitions: [Int32] { assignment.withLock { $0.partitions } }

    func admit(generation: Int) -> Bool {
        assignment.withLock { a in
            guard a.generation == generation else { return false }
            a.inFlight += 1
            return true
        }
    }

    func release() {
        assignment.withLock { $0.inFlight -= 1 }
    }
    var peakBuffered: Int { state.withLock { $0.peakBuffered } }
    var pauseCount: Int { state.withLock { $0.pauseCount } }

    func commit(_ offsets: [Int32: Int64]) {
        guard !offsets.isEmpty, let rk, !stopRequested.load(ordering: .acquiring) else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))
        for (partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, settings.topic, partition).pointee.offset = offset
        }
        _ = rd_kafka_commit(rk, list, 1)
        rd_kafka_topic_partition_list_destroy(list)
    }

    func watermarks() -> [Int32: (low: Int64, high: Int64)] {
        guard let rk else { return [:] }
        var result: [Int32: (low: Int64, high: Int64)] = [:]
        for partition in assignedPartitions {
            var low: Int64 = -1, high: Int64 = -1
            if rd_kafka_get_watermark_offsets(rk, settings.topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR {
                result[partition] = (low, high)
            }
        }
        return result
    }
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
        rebalance(rk, err, list)
    }
}
