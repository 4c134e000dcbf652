import Events
import Features
import Foundation
import Store

/// Synthetic events (~200 B each) as separate byte buffers.
func syntheticEvents(_ count: Int, customers: Int) -> [[UInt8]] {
    var traffic = SyntheticTraffic(customers: customers, seed: 11, startMillis: 1_767_225_600_000, meanGapMillis: 50)
    return (0..<count).map { _ in traffic.next().json }
}

/// Decode and feature update on one core; the SQLite store's batch insert of new profiles and its steady
/// state (upserts of existing profiles, what the pipeline does once every customer has a profile).
struct CoreBench {
    /// Synthetic events of the decode, feature and insert measurements.
    let events: Int
    /// Profiles of the steady state.
    let customers: Int
    /// Whether to measure decode and feature update (`core`), or the SQLite sections only (`sqlite`).
    let decodeAndFeatures: Bool

    /// Runs the sections and adds their figures and goals to `report`.
    func run(_ report: BenchReport) async throws {
        let lines = syntheticEvents(events, customers: 100_000)
        let decoded = lines.compactMap { EventDecoder.decode($0).event }
        if decodeAndFeatures { try decodeAndFeatures(report, lines: lines, decoded: decoded) }
        try await sqliteInsert(report, decoded: decoded)
        try await sqliteSteadyState(report)
    }

    private func decodeAndFeatures(_ report: BenchReport, lines: [[UInt8]], decoded: [Event]) throws {
        report.section("Events and features: \(events) synthetic events on one core")
        let meanBytes = lines.reduce(0) { $0 + $1.count } / max(lines.count, 1)
        let decode = bestOf(3) {
            var valid = 0
            for line in lines { if case .event = EventDecoder.decode(line) { valid += 1 } }
            return valid
        }
        let decodeRate = Double(lines.count) / decode.seconds
        report.add("decode + validate (mean \(meanBytes) B), events/s", formatRate(decodeRate))
        report.goal("event decode + validate, one core, events/s", value: decodeRate, formatRate(decodeRate), .atLeast(1_000_000), target: "≥ 1 M/s")
        let update = bestOf(3) {
            var profiles: [String: Profile] = [:]
            var changed = 0
            for e in decoded where profiles[e.customerID, default: Profile(customerID: e.customerID)].apply(e) { changed += 1 }
            return changed
        }
        report.add("feature update (profile lookup + rolling counters), events/s", formatRate(Double(decoded.count) / update.seconds))
    }

    private func sqliteInsert(_ report: BenchReport, decoded: [Event]) async throws {
        report.section("SQLite store: batch insert of 1,000 new profiles with offsets, one transaction each")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(path: dir.appendingPathComponent("bench.db").path)
        var profiles: [String: Profile] = [:]
        for e in decoded.prefix(200_000) { profiles[e.customerID, default: Profile(customerID: e.customerID)].apply(e) }
        let all = Array(profiles.values)
        let batches = stride(from: 0, to: min(all.count, 100_000), by: 1_000).map { i in
            all[i..<min(all.count, i + 1_000)].map { p in ProfileUpdate(profile: p, features: p.features(), churnScore: 0.5, modelVersion: "bench", scoredAt: p.asOf) }
        }
        var writer = OffsetChain(store: store, topic: "bench")
        var elapsed = Duration.zero
        var rows = 0
        for batch in batches {
            elapsed += try await writer.commit(batch)
            rows += batch.count
        }
        report.add("SQLite upsert, batches of 1,000 (\(batches.count) batches), rows/s", formatRate(Double(rows) / seconds(elapsed)))
        report.add("SQLite upsert, ms per 1,000-row transaction", String(format: "%.2f ms", seconds(elapsed) / Double(max(batches.count, 1)) * 1000))
        try await store.close()
    }

    /// `customers` profiles stored first (not timed), then batches of 3,000 distinct existing profiles, each
    /// changed by one event, picked with the synthetic stream's skew; only the transactions are timed.
    private func sqliteSteadyState(_ report: BenchReport) async throws {
        let batchSize = min(3_000, customers), batchCount = 100
        report.section("SQLite store, steady state: \(formatCount(customers)) profiles, then \(batchCount) upserts of \(formatCount(batchSize)) existing profiles (the stream's skew), one transaction each")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(path: dir.appendingPathComponent("steady.db").path)
        var writer = OffsetChain(store: store, topic: "bench-steady")
        var profiles = (0..<customers).map { Profile(customerID: SyntheticTraffic.customerID($0)) }
        var clock: Int64 = 1_767_225_600_000
        var eventNumber = 0
        let pages = ["/", "/pricing", "/help", "/account/billing", "/account/cancel"]
        func touch(_ index: Int) {
            eventNumber += 1
            clock += 7
            profiles[index].apply(Event(eventID: "bench-\(eventNumber)", type: "page_view", customerID: profiles[index].customerID,
                                        timestamp: clock, page: pages[eventNumber % pages.count]))
        }
        func updates(_ indexes: [Int]) -> [ProfileUpdate] {
            indexes.map { i in
                let p = profiles[i]
                return ProfileUpdate(profile: p, features: p.features(), churnScore: 0.5, modelVersion: "bench", scoredAt: p.asOf,
                                     modelName: "bench", arm: "champion")
            }
        }
        for start in stride(from: 0, to: customers, by: 5_000) {
            let indexes = Array(start..<min(customers, start + 5_000))
            for i in indexes { touch(i) }
            _ = try await writer.commit(updates(indexes))
        }
        let picker = CustomerPicker(customers: customers, skew: .square)
        var rng = SplitMix64(seed: 29)
        var elapsed = Duration.zero
        var rows = 0
        for _ in 0..<batchCount {
            var chosen = Set<Int>()
            var indexes: [Int] = []
            while indexes.count < batchSize {
                let i = picker.next(&rng)
                if chosen.insert(i).inserted { indexes.append(i) }
            }
            for i in indexes { touch(i) }
            let batch = updates(indexes)
            elapsed += try await writer.commit(batch)
            rows += batch.count
        }
        try await store.close()
        let rate = Double(rows) / seconds(elapsed)
        report.add("SQLite steady-state upsert, batches of \(formatCount(batchSize)) existing profiles, rows/s", formatRate(rate))
        report.add("SQLite steady-state upsert, ms per transaction", String(format: "%.2f ms", seconds(elapsed) / Double(batchCount) * 1000))
        report.goal("SQLite steady state: upsert of 3,000 existing profiles per transaction (100,000 stored), rows/s",
                    value: rate, formatRate(rate), .atLeast(500_000), target: "≥ 500 k/s",
                    note: customers == 100_000 ? nil : "run with \(formatCount(customers)) profiles")
    }

    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-bench-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Commits batches of profile updates with offsets that continue each other (partition 0), as one
/// subscriber's writer does.
struct OffsetChain {
    /// The store written to.
    let store: SQLiteStore
    /// The offsets' subscriber and topic.
    let scope: OffsetScope
    private var next: Int64?

    /// Offsets of `topic`, from the start.
    init(store: SQLiteStore, topic: String) {
        self.store = store
        scope = OffsetScope(subscriber: "bench", topic: topic)
    }

    /// Commits one batch in one transaction; returns how long the store took.
    mutating func commit(_ batch: [ProfileUpdate]) async throws -> Duration {
        let advance = OffsetAdvance(partition: 0, expected: next, next: (next ?? 0) + Int64(batch.count))
        let start = ContinuousClock.now
        try await store.commitProfiles(batch, offsets: [advance], scope: scope)
        next = advance.next
        return ContinuousClock.now - start
    }
}
