import Events
import Features
import Foundation
import Store
import Testing

/// The SQLite store copies its write-ahead log back from its own thread (`WALCheckpointer`): commits
/// never checkpoint below the backstop, and the log still stays small.
@Suite("SQLite write-ahead log checkpoints")
struct WALCheckpointTests {
    /// A store in a fresh folder, removed by `body`'s end.
    private func withStore(_ body: (SQLiteStore, _ path: String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.db").path
        let store = try SQLiteStore(path: path)
        try await body(store, path)
        try await store.close()
    }

    /// Row `r` of commit `c`: spread over the table, so each commit rewrites pages all over it, as random
    /// customers do.
    private func update(commit c: Int, row r: Int, rowsPerCommit: Int, customers: Int) -> ProfileUpdate {
        let id = "C\((c * 7_919 + r * 104_729) % customers)"
        var profile = Profile(customerID: id)
        profile.apply(Event(eventID: "e\(c)-\(r)", type: "page_view", customerID: id,
                            timestamp: 1_770_000_000_000 + Int64(c * rowsPerCommit + r), page: "/"))
        return ProfileUpdate(profile: profile, features: profile.features(), churnScore: 0.5, modelVersion: "m", scoredAt: profile.asOf)
    }

    private func logSize(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
    }

    @Test("under continuous commits the log is copied back and reused: it stays far below what the commits wrote, and every row reads back")
    func logStaysBounded() async throws {
        try await withStore { store, path in
            let scope = OffsetScope(subscriber: "prediction", topic: "t")
            let customers = 20_000, rowsPerCommit = 1_000, commits = 80
            var next: Int64 = 0
            var largestLog = 0
            for c in 0..<commits {
                let updates = (0..<rowsPerCommit).map { update(commit: c, row: $0, rowsPerCommit: rowsPerCommit, customers: customers) }
                try await store.commitProfiles(updates, offsets: [OffsetAdvance(partition: 0, expected: c == 0 ? nil : next, next: next + 1)],
                                               scope: scope)
                next += 1
                largestLog = max(largestLog, logSize(path))
                try await Task.sleep(for: .milliseconds(5))
            }
            // What the commits wrote to the log: every commit touches most of the table's pages.
            let pageSize = 4_096
            let dbPages = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / pageSize
            #expect(dbPages > 100, "the rows were copied into the database file (\(dbPages) pages)")
            let written = commits * min(rowsPerCommit, dbPages) * pageSize / 2
            #expect(largestLog < written / 4, "largest log \(largestLog) bytes; the commits wrote more than \(written)")
            #expect(try await store.profileCount() == customers)
            #expect(try await store.offsets(scope)[0] == next)
        }
    }

    @Test("commits at a steady rate (40 a second, as at 20,000 events/s): the log is started again from its beginning, within 64 MiB, instead of growing to the writer's 256 MiB backstop")
    func logRestartsUnderSteadyCommits() async throws {
        try await withStore { store, path in
            let scope = OffsetScope(subscriber: "prediction", topic: "t")
            let customers = 100_000, rowsPerCommit = 500, commits = 320
            // Built first: the commits follow their schedule, not the time it takes to build them.
            let groups = (0..<commits).map { c in
                (0..<rowsPerCommit).map { update(commit: c, row: $0, rowsPerCommit: rowsPerCommit, customers: customers) }
            }
            // The table first, in one transaction, so that every later commit rewrites pages all over it.
            let all = (0..<customers).map { i in
                ProfileUpdate(profile: Profile(customerID: "C\(i)"), features: Profile(customerID: "C\(i)").features(),
                              churnScore: nil, modelVersion: nil, scoredAt: nil)
            }
            try await store.commitProfiles(all, offsets: [OffsetAdvance(partition: 0, expected: nil, next: 0)], scope: scope)
            var largestLog = 0
            let clock = ContinuousClock(), start = clock.now
            for (c, updates) in groups.enumerated() {
                try await Task.sleep(until: start + .milliseconds(25 * c), clock: clock)
                try await store.commitProfiles(updates, offsets: [OffsetAdvance(partition: 0, expected: Int64(c), next: Int64(c + 1))], scope: scope)
                largestLog = max(largestLog, logSize(path))
            }
            // Each commit rewrites ~500 pages (~2 MiB of log): the 320 commits write ~640 MiB.
            #expect(largestLog < 64 << 20, "largest log \(largestLog >> 20) MiB")
            #expect(try await store.profileCount() == customers)
            #expect(try await store.offsets(scope)[0] == Int64(commits))
        }
    }

    @Test("closing the store stops the checkpoint thread at once: it does not wait out the pause between passes")
    func closeIsPrompt() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.db").path
        // Five stores closed 50 ms after opening, each while its thread waits for its first pass (200 ms
        // after its start): before, each close blocked its caller (a concurrency thread) until that pause ended.
        var slowest: Duration = .zero
        for _ in 0..<5 {
            let store = try SQLiteStore(path: path)
            try await Task.sleep(for: .milliseconds(50))
            let started = ContinuousClock.now
            try await store.close()
            slowest = max(slowest, ContinuousClock.now - started)
        }
        #expect(slowest < .milliseconds(100), "slowest close took \(slowest)")
    }
}
