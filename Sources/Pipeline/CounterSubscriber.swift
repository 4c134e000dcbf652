import Events
import Foundation
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Store
import Synchronization

/// The counter subscriber: counts valid events per page, per type and per UTC minute of event time,
/// aggregated in memory per batch and written with its offsets in ONE store transaction
/// (exactly-once, like the prediction subscriber). Memory is bounded by the batch, plus the table that
/// numbers types and pages for the life of the process (``CountedNames``: at most 65,536 names and 8 MiB
/// of their bytes, each also held once as a String); pages never become metric labels.
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

    /// What the poll thread keeps of a message for counting: no payload copy, and for the names only
    /// their number in `names` (a String only once `names` is full).
    enum CountedMessage: Sendable {
        case event(type: CountedNames.Name, page: CountedNames.Name?, minute: Int64)
        case malformed
    }
    private let names: CountedNames

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
        let names = CountedNames()
        self.names = names
        consumer = try KafkaConsumer(config: settings.kafka, settings: consumerSettings, hooks: hooks, logger: logger,
                                     onEvent: { status.handle($0) }) { view in
            // A null payload (tombstone) is not an event; the rules are the prediction subscriber's.
            guard let payload = view.payload else { return .malformed }
            let counted = EventDecoder.withFields(payload, nowMillis: Timestamp.nowMillis()) { fields -> CountedMessage in
                let type = names.typeName(fields.kind) ?? fields.withBytes(of: .type) { names.name($0, kind: fields.kind) }!
                guard fields.kind == .pageView, let page = fields.withBytes(of: .page, { names.name($0) }) else {
                    return .event(type: type, page: nil, minute: 0)
                }
                return .event(type: type, page: page, minute: Timestamp.minuteFloor(fields.timestamp))
            }
            return (try? counted.get()) ?? .malformed
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
        var counter = BatchCounter()
        for try await batch in consumer.batches {
            guard consumer.admit(batch) else { continue }
            defer { consumer.release(batch) }
            let started = ContinuousClock.now
            let counted = counter.count(batch.records.lazy.map(\.value), names: names)
            let delta = counted.delta, valid = counted.valid, malformed = counted.malformed
            if let newest = counted.newestMinute { newestMinute = max(newestMinute, newest) }
            let next = batch.nextOffsets
            let advances = batch.offsetAdvances(to: next)
            let storeStart = ContinuousClock.now
            // A batch polled under an assignment that was lost belongs to another member now.
            guard consumer.mayCommit(batch) else { continue }
            do {
                try await retrying("commit counters to \(store.location)", stage: "count", status: status, logger: logger) {
                    try await self.store.commitCounters(delta, offsets: advances, scope: self.scope)
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
            consumer.commit(next)
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

/// The event types and pages the counter has seen, each numbered once, so that the poll thread makes no
/// String per event and the counting task hashes none (perf of the counter, 1 M events: String
/// creation, allocation and hashing of `type` and `page` were ~15 % of the engine's CPU samples).
///
/// Bounded: at most ``maxNames`` names and ``maxBytes`` bytes of them are numbered; a name seen after that
/// travels as a String (``Name/text(_:)``), as every name did before. Lookups hash with the standard
/// library's seeded hasher, so chosen page names cannot make probe chains long.
///
/// `@unchecked Sendable`: `table` is read and written only by the consumer's poll thread (in the
/// transform); the numbered names are shared with the counting task through `published`, appended to
/// before the batch holding their first use is handed out.
final class CountedNames: @unchecked Sendable {
    /// A type or page as the poll thread hands it to the counting task.
    enum Name: Sendable, Equatable {
        /// The name's number.
        case id(Int32)
        /// A name that was not numbered (the table was full).
        case text(String)
    }

    /// The most names numbered.
    static let maxNames = 65_536
    /// The most bytes of numbered names.
    static let maxBytes = 8 << 20

    /// Unchecked: only the poll thread uses it (the runtime's access tracking was measurable per name).
    @exclusivity(unchecked) private var table: NameTable
    private let published = Mutex<[String]>([])

    /// A table numbering at most `maxNames` names of at most `maxBytes` bytes in all.
    init(maxNames: Int = CountedNames.maxNames, maxBytes: Int = CountedNames.maxBytes) {
        table = NameTable(maxNames: maxNames, maxBytes: maxBytes)
    }

    /// The numbers of the five type words once seen (index: `kindSlot`), so the common types are not
    /// hashed per event (the hashing of `type` and `page` was ~7 % of the counter's poll thread, `perf`
    /// 2026-11-30). Poll thread only.
    @exclusivity(unchecked) private var kindIDs = [Int32](repeating: -1, count: 5)

    private static func kindSlot(_ kind: EventKind) -> Int? {
        switch kind {
        case .pageView: 0
        case .supportCall: 1
        case .complaint: 2
        case .login: 3
        case .order: 4
        case .other: nil
        }
    }

    /// The number of a type word already seen (not of ``EventKind/other``), without looking at its bytes.
    func typeName(_ kind: EventKind) -> Name? {
        guard let slot = Self.kindSlot(kind), kindIDs[slot] >= 0 else { return nil }
        return .id(kindIDs[slot])
    }

    /// The name for these UTF-8 bytes (poll thread only); `kind` is the type these bytes classify as
    /// when they are a `type` (its number is then remembered for ``typeName(_:)``).
    func name(_ utf8: UnsafeBufferPointer<UInt8>, kind: EventKind = .other) -> Name {
        switch table.intern(utf8) {
        case .found(let id):
            if let slot = Self.kindSlot(kind) { kindIDs[slot] = id }
            return .id(id)
        case .added(let id):
            published.withLock { $0.append(String(decoding: utf8, as: UTF8.self)) }
            if let slot = Self.kindSlot(kind) { kindIDs[slot] = id }
            return .id(id)
        case .full: return .text(String(decoding: utf8, as: UTF8.self))
        }
    }

    /// Runs `body` with the numbered names (index = number).
    func withNames<R>(_ body: ([String]) -> R) -> R {
        published.withLock { body($0) }
    }
}

/// An open-addressing table numbering byte strings in the order they are first seen, up to a bound.
struct NameTable {
    /// The outcome of ``intern(_:)``.
    enum Outcome: Equatable {
        /// Seen before, with this number.
        case found(Int32)
        /// New, numbered now.
        case added(Int32)
        /// New, and the table is at its bound: not numbered.
        case full
    }

    private let maxNames: Int
    private let maxBytes: Int
    private var slots = [Int32](repeating: 0, count: 1 << 10) // 0 = empty, else number + 1
    private var hashes: [Int] = []
    private var bytes: [UInt8] = []
    private var starts: [Int] = [0]
    /// A direct-mapped cache in front of the table: number + 1 of the name last found at a cheap hash of
    /// its length and first and last 8 bytes, confirmed by comparing the bytes. The standard hasher was
    /// ~8 % of the counter's poll thread (`perf`, 2026-11-30); chosen names can only make the cache miss
    /// (each slot holds one name), never lengthen the table's probe chains.
    private var cache = [Int32](repeating: 0, count: NameTable.cacheSize)
    private static let cacheSize = 1 << 10
    /// Seeds the cache's hash per table.
    private let cacheSeed = UInt64.random(in: 1...UInt64.max)

    init(maxNames: Int, maxBytes: Int) {
        self.maxNames = maxNames
        self.maxBytes = maxBytes
    }

    /// The cache slot of `utf8`.
    @inline(__always)
    private func cacheSlot(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
        let n = utf8.count
        var head: UInt64 = 0, tail: UInt64 = 0
        if let p = utf8.baseAddress {
            if n >= 8 {
                head = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
                tail = UnsafeRawPointer(p + n - 8).loadUnaligned(as: UInt64.self)
            } else {
                for i in 0..<n { head = head << 8 | UInt64(p[i]) }
            }
        }
        var h = (head ^ cacheSeed) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 29) ^ tail ^ UInt64(n)) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: h >> (64 - 10))
    }

    /// Numbers `utf8`, or finds its number.
    mutating func intern(_ utf8: UnsafeBufferPointer<UInt8>) -> Outcome {
        let slot = cacheSlot(utf8)
        let cached = Int(cache[slot]) - 1
        if cached >= 0 && equals(cached, utf8) { return .found(Int32(cached)) }
        let outcome = internHashed(utf8)
        switch outcome {
        case .found(let id), .added(let id): cache[slot] = id + 1
        case .full: break
        }
        return outcome
    }

    private mutating func internHashed(_ utf8: UnsafeBufferPointer<UInt8>) -> Outcome {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(utf8))
        let hash = hasher.finalize()
        let mask = slots.count - 1
        var i = hash & mask
        while slots[i] != 0 {
            let id = Int(slots[i] - 1)
            if hashes[id] == hash && equals(id, utf8) { return .found(Int32(id)) }
            i = (i + 1) & mask
        }
        guard hashes.count < maxNames, bytes.count + utf8.count <= maxBytes else { return .full }
        let id = hashes.count
        hashes.append(hash)
        bytes.append(contentsOf: utf8)
        starts.append(bytes.count)
        slots[i] = Int32(id + 1)
        if hashes.count * 2 > slots.count { grow() }
        return .added(Int32(id))
    }

    private func equals(_ id: Int, _ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = starts[id], count = starts[id + 1] - start
        guard count == utf8.count else { return false }
        guard count > 0 else { return true }
        return bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + start, utf8.baseAddress!, count) == 0 }
    }

    private mutating func grow() {
        slots = [Int32](repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for (id, hash) in hashes.enumerated() {
            var i = hash & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = Int32(id + 1)
        }
    }
}

/// Counts one batch's messages into a delta: numbered names through tables kept between batches (each
/// batch's counts are moved out before it returns), runs of one minute before the dictionary (events
/// arrive roughly in time order).
struct BatchCounter {
    private var types = NameCounts(), pages = NameCounts()

    /// The batch's delta, its valid and malformed messages, and its newest page-view minute.
    mutating func count(_ messages: some Sequence<CounterSubscriber.CountedMessage>, names: CountedNames)
        -> (delta: CounterDelta, valid: Int, malformed: Int, newestMinute: Int64?) {
        var delta = CounterDelta()
        var valid = 0, malformed = 0
        var newest: Int64?
        var minute: Int64 = .min, minuteRun = 0
        for message in messages {
            switch message {
            case .event(let type, let page, let eventMinute):
                valid += 1
                types.add(type, into: &delta.types)
                if let page {
                    pages.add(page, into: &delta.pages)
                    if eventMinute != minute {
                        if minuteRun > 0 { delta.minutes[minute, default: 0] += minuteRun }
                        minute = eventMinute
                        minuteRun = 0
                        newest = max(newest ?? .min, minute)
                    }
                    minuteRun += 1
                }
            case .malformed:
                malformed += 1
            }
        }
        if minuteRun > 0 { delta.minutes[minute, default: 0] += minuteRun }
        names.withNames { names in
            types.drain(into: &delta.types, names: names)
            pages.drain(into: &delta.pages, names: names)
        }
        return (delta, valid, malformed, newest)
    }
}

/// Per-batch counts of numbered names, in a table indexed by number (kept between batches, only the
/// touched entries reset), and of unnumbered ones straight into the delta.
struct NameCounts {
    private var counts: [Int] = []
    private var touched: [Int32] = []

    /// Counts one occurrence.
    mutating func add(_ name: CountedNames.Name, into delta: inout [UTF8Key: Int]) {
        switch name {
        case .id(let id):
            let i = Int(id)
            if i >= counts.count { counts.append(contentsOf: repeatElement(0, count: i + 1 - counts.count)) }
            if counts[i] == 0 { touched.append(id) }
            counts[i] += 1
        case .text(let text):
            delta[UTF8Key(text), default: 0] += 1
        }
    }

    /// Moves the batch's counts into `delta` by name and resets them.
    mutating func drain(into delta: inout [UTF8Key: Int], names: [String]) {
        for id in touched {
            let i = Int(id)
            delta[UTF8Key(names[i]), default: 0] += counts[i]
            counts[i] = 0
        }
        touched.removeAll(keepingCapacity: true)
    }
}
