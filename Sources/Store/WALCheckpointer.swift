import Foundation
import GRDBSQLite
import Synchronization

/// Copies the SQLite write-ahead log back into the database file from its own connection and thread,
/// so that no store commit pays for it.
///
/// With SQLite's automatic checkpoint, the commit that crosses the threshold copies the log's pages into
/// the database and syncs it before it returns. Measured in the prediction bench at 20,000 events/s
/// (6 partitions, 2026-11-29): with the automatic checkpoint every 16,384 pages a commit took 8.0 ms on
/// average and the stored latency was p50 29.9 / p99 120 ms; with it off, 1.7 ms and 14.0 / 62.9 ms.
/// A passive checkpoint from another connection runs beside the writer (it never blocks it). The writer
/// checkpoints only as a bound for when this thread falls behind (``install(onWriter:busyTimeout:)``).
///
/// A passive checkpoint alone does not keep the log short under steady commits: SQLite reuses the log
/// from its start only when a write transaction begins while every frame is copied, and commits
/// landing during each pass prevent that. The log then grew to the backstop, where a commit
/// checkpointed 256 MiB itself and the next log reset truncated the file (measured with a C probe of
/// 500-row commits at 40/s beside this thread, 2026-11-30: commit p99 24–27 ms, max 62–78 ms, two writer
/// checkpoints at 65,577 and 65,715 frames in 10 s; `WALCheckpointTests` reproduces the growth). So
/// once the log holds ``restartFrames`` after a pass, a `RESTART` checkpoint copies the few frames
/// committed during it, waiting at most ``restartWait`` for the writer or older readers, and the next
/// commit starts the log again from its beginning (same probe: p99 7–9 ms, max 8–10 ms). In the
/// engine a restart held the writer back for its last copy and the database sync (~18 ms when a commit
/// waited for it, before the catch-up below); the prediction bench's stored latency at 20,000 events/s on 6 partitions, six runs
/// each interleaved with the previous build: p99 53–86 ms (mean 67) against 89–113 (mean 101), p50
/// 10.9–18.4 against 10.4–17.4 ms; restarting from 16,384 frames instead: p99 59–96 ms. When commits
/// follow each other with no gap (a backlog), the restart rarely gets in between and the backstop works
/// as before; letting the writer restart the log itself was tried and made commits wait ~18 ms for the
/// copy and the database sync 84 times in a 15 s latency run.
///
/// The restart still held the writer while it copied what was committed during the pass before it
/// (~4,000 frames of 4 KiB at 20,000 events/s: a pass takes ~25 ms) and synced the database: 15 ms on
/// average, up to 57 ms (a probe timing each checkpoint in the latency bench, 2026-11-30), and the
/// commits that waited for it made the stored latency's p99. So passive passes come first, each copying
/// what was committed during the one before, until a pass had fewer than ``caughtUpFrames`` new frames
/// (at most ``catchUpPasses``): the restart then took 2–7 ms on average. Latency bench at 20,000
/// events/s, 6 partitions, three interleaved runs each: p99 23–28 ms against 38–52 ms without.
///
/// SQLite syncs the database file at the end of a pass only when the pass copied the whole log, which a
/// passive pass under steady commits never does; so the restart, which does copy it all, synced every
/// page the passes since the last restart had copied (those of the 5,000–7,000 frames logged between
/// restarts at 20,000 events/s) and the log's frames committed since its last sync, while holding the
/// writer. On a machine whose disk took longer for it, restarts held the writer 6–15 ms on average (p90
/// 13–31 ms) and the stored latency's p99 was 23–73 ms (`strace -T` of `fdatasync` on the checkpoint
/// thread beside a probe timing each restart, 2026-11-30: the syncs were most of the longer restarts).
/// So each catch-up pass starts by syncing both files itself (``syncFiles``: an `fdatasync` of each,
/// holding no SQLite lock), and the restart syncs only what the last pass copied and what was committed
/// after it: restarts held the writer 3.0–6.4 ms on average (p90 6–15 ms). Latency bench at 20,000
/// events/s, 6 partitions, interleaved with the build before (2026-11-30): p99 15.8–25.1 ms in 13 of 16
/// runs (26.8, 40.2, 47.6 the others) against 23.1 in 1 of 23 and 26.6–73.3 in the rest. Under a backlog
/// (commits of ``backlogRows`` or more) the files are not synced first: each pass then copies most of
/// the table, and the restart rarely finds a gap between commits anyway (1 M-event bench, four
/// interleaved pairs: 132–139 against 133–149 k events/s, 10.7–11.8 against 10.4–11.8 µs CPU per event).
///
/// On a busy disk the catch-up did not end: with two other writers syncing 1 MiB writes to the same disk
/// (`WALCheckpointTests`), a pass took longer than the commits it copied, all 20 passes ran (1.1–1.7 s)
/// and the log grew to 116–236 MiB; and a restart that found a commit outlasting ``restartWait`` gave up
/// until the next cycle, 200 ms and a pass later (a probe printing each cycle's passes, their time, the
/// log's frames and the restart's result, 2026-11-30). In the machine's slower phases the test without
/// the other writers failed too (74–104 MiB), in the run the probe caught by a busy restart. So under
/// steady commits the passes stop once the log holds ``catchUpLimitFrames``, and a busy restart is tried
/// again at once after a pass, up to ``restartRetries`` times. Interleaved runs, six each (2026-11-30): with the other writers 51–80 MiB
/// against 58–244 (over 96 MiB in 5 of 6), without them 51–88 against 42–104 MiB. At 20,000 events/s
/// in the engine the catch-up ended at 6,700–11,200 frames, below the limit (same probe, latency bench).
/// A restart waiting 500 ms instead of retrying was tried and not kept: it held the checkpoint lock
/// while the commits went on (log up to 251 MiB with the other writers). Under a backlog neither
/// applies: the writer's backstop bounds the log there.
///
/// What made those restarts busy: the same probe with each busy-handler call and each commit's start and
/// end stamped showed the commits following each other 4–6 ms apart (the test's writer behind its
/// schedule) while SQLite's timeout handler slept 10–20 ms between tries, so the restart gave up without
/// having tried in any of the gaps. Under steady commits the handler now polls every millisecond: busy
/// restarts in 0 of 8 runs of the two tests, interleaved with 3 of 8 (1, 2 and 4 busy restarts) with
/// SQLite's handler. The steady test still failed in slower phases and on CI (59–68 MiB in 7 runs of
/// 2026-12-01, over 64 MiB in 4): this thread alone gives no bound. So the writer restarts the log itself
/// when a commit leaves ``writerRestartFrames`` in it (``install(onWriter:busyTimeout:)``), waiting for a
/// pass of this thread in progress (``checkpoint(_:_:_:_:)``): both tests 57–58 MiB in 8 runs each. In
/// the latency bench at 20,000 events/s (6 partitions), in a slow phase where the stored latency's p99 was
/// 154–213 ms, the writer restarted the log 2–3 times per 15 s run, each 45–84 ms; p99 154–162 against
/// 162–213 ms in three interleaved runs of the build before. No backlog commit did (1 M-event bench).
final class WALCheckpointer: Sendable {
    /// How often the log is copied back.
    static let interval: DispatchTimeInterval = .milliseconds(200)
    /// Frames (4 KiB pages) in the log after a passive pass from which the log is restarted (16 MiB).
    static let restartFrames: Int32 = 4_096
    /// How long a restart waits for the writer's transaction or older readers (milliseconds; under steady
    /// commits polled each millisecond, a little longer with the polls' own time). While it
    /// waits for readers it holds the write lock: a read transaction older than the log's last frame
    /// (none of the engine's reads lasts that long) delays the next commit by up to this much.
    static let restartWait: Int32 = 50
    /// Most passive passes right after a pass that found the log long, before the restart.
    static let catchUpPasses = 20
    /// A pass that had fewer new frames than this to copy leaves little for the restart.
    static let caughtUpFrames: Int32 = 64
    /// Under steady commits, from this many frames in the log (48 MiB) the catch-up passes stop and the
    /// restart comes at once: on a busy disk a pass can take longer than the commits it copies, and the
    /// passes then do not shorten (see the type's notes).
    static let catchUpLimitFrames: Int32 = 12_288
    /// Restarts tried again at once, each after a passive pass, under steady commits when one was busy.
    static let restartRetries = 5

    /// Under steady commits, from this many frames in the log after a commit (56 MiB) the writer restarts
    /// the log itself (``install(onWriter:busyTimeout:)``): the bound that holds when this thread falls
    /// behind. Above ``catchUpLimitFrames`` and the 6,700–11,200 frames at which the catch-up ended at
    /// 20,000 events/s in the engine, so that normally this thread alone restarts the log.
    static let writerRestartFrames: Int32 = 14_336
    /// Under a backlog, from this many frames (256 MiB) the writer copies the log back itself, as SQLite's
    /// automatic checkpoint did: there the log is bounded by this backstop (see ``backlogRows``).
    static let writerBackstopFrames: Int32 = 65_536
    /// How long the writer's own restart waits (milliseconds) for readers older than the log's last frame
    /// (it waits for a pass of this thread in progress apart, ``checkpoint(_:_:_:_:)``).
    static let writerRestartWait: Int32 = 50
    /// After a busy restart (a reader outlasted ``writerRestartWait``), frames the log grows by before the
    /// writer tries again (16 MiB): a long read (a scan of the whole table) then holds the writer once per
    /// 16 MiB of log, not once per commit.
    static let writerRetryFrames: Int32 = 4_096
    /// The writer restarts the log itself only after commits of fewer profile rows than this (steady
    /// traffic: at 20,000 events/s commits held at most ~700 events). Larger ones come back to back (a
    /// backlog, a bulk rewrite), where the restart's copy and sync cost throughput: `make bench`'s SQLite
    /// steady state (commits of 3,000 rows back to back) gave 63 / 71 k rows/s with the writer restarting
    /// every 56 MiB against 82 / 77 k without, two interleaved pairs (2026-12-01); there the writer's
    /// backstop (``writerBackstopFrames``) bounds the log as before.
    static let writerRestartRows = 1_024

    /// From this many profile rows in the writer's latest commit, the catch-up passes do not sync the
    /// files first: such commits are a backlog's group commits (up to 90,000 events each in the 1 M-event
    /// bench; at 20,000 events/s commits held at most ~700 events), whose passes copy tens of MiB each.
    static let backlogRows = 4_096

    private let path: String
    /// Profile rows of the writer's latest commit (``noteCommit(rows:)``).
    private let lastCommitRows = Atomic<Int>(0)
    /// Held for each checkpoint (``checkpoint(_:_:_:_:)``).
    private let checkpoints = Mutex(())
    /// Frames from which the writer next restarts the log (``writerRestartFrames``, further after a busy try).
    private let writerNextRestart = Atomic<Int32>(WALCheckpointer.writerRestartFrames)
    /// The writer connection's busy timeout, restored after its own restart.
    private let writerBusyTimeout = Atomic<Int32>(0)
    /// Signalled by `shutdown`: the thread's wait between passes ends at once instead of after `interval`.
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    /// Creates the checkpointer of the database at `path` (not started).
    init(path: String) {
        self.path = path
    }

    /// Opens its connection and starts its thread.
    /// - Throws: `StoreError.unavailable` naming the file when its connection cannot be opened: without
    ///   it the writer would copy the log back itself, 256 MiB at a time, inside a commit.
    func start() throws {
        var handle: OpaquePointer?
        let opened = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard opened == SQLITE_OK, let db = handle else {
            let reason = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(opened))
            sqlite3_close(handle)
            throw StoreError(.unavailable, "sqlite store '\(path)': its checkpoint connection cannot be opened: \(reason); check the file's permissions and the process's open-file limit (ulimit -n)")
        }
        sqlite3_busy_timeout(db, Self.restartWait)
        // A connection learns that the database is in WAL mode when it first reads it; until then a
        // checkpoint call does nothing (log size -1).
        guard sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nil, nil, nil) == SQLITE_OK else {
            let reason = String(cString: sqlite3_errmsg(db))
            sqlite3_close(db)
            throw StoreError(.unavailable, "sqlite store '\(path)': its checkpoint connection cannot read it: \(reason); check that it is a StreamScore database")
        }
        let connection = Connection(db)
        started.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            while wake.wait(timeout: .now() + Self.interval) == .timedOut {
                var logFrames: Int32 = 0, copied: Int32 = 0
                _ = checkpoint(connection.db, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied)
                guard logFrames >= Self.restartFrames else { continue }
                // Catch up first: each pass copies what was committed during the one before, so the
                // passes shorten until the restart below has little left to copy while it holds the writer.
                var previous = logFrames
                // Commits of a backlog's size follow each other with no gap for the restart, and each pass
                // then copies most of the table: syncing it every time only costs, and the writer's backstop
                // bounds the log there (see ``backlogRows``).
                let steady = lastCommitRows.load(ordering: .relaxed) < Self.backlogRows
                let limit = steady ? Self.catchUpLimitFrames : .max
                // Under steady commits the restart waits for the writer by polling every millisecond, at most
                // `restartWait` times: SQLite's own timeout handler sleeps 1, 2, 5, 10, 15, 20 ms between tries
                // and missed the few milliseconds between commits that followed each other (see the type's
                // notes). Under a backlog, where the restart rarely finds a gap, SQLite's handler as before.
                if steady {
                    sqlite3_busy_handler(connection.db, { _, tries in
                        guard tries < WALCheckpointer.restartWait else { return 0 }
                        usleep(1_000)
                        return 1
                    }, nil)
                } else {
                    sqlite3_busy_timeout(connection.db, Self.restartWait)
                }
                for _ in 0..<Self.catchUpPasses {
                    // What the pass before copied, and the log up to now, go to disk without holding the writer.
                    if steady { Self.syncFiles(path) }
                    _ = checkpoint(connection.db, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied)
                    if logFrames - previous < Self.caughtUpFrames || logFrames >= limit { break }
                    previous = logFrames
                }
                // Busy (the writer or a reader did not finish within `restartWait`): under steady commits tried
                // again at once, after a pass copying what came meanwhile; else after the next pass.
                var restart = checkpoint(connection.db, SQLITE_CHECKPOINT_RESTART, &logFrames, &copied)
                var retries = 0
                while restart == SQLITE_BUSY, steady, retries < Self.restartRetries, started.load(ordering: .relaxed) {
                    retries += 1
                    _ = checkpoint(connection.db, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied)
                    restart = checkpoint(connection.db, SQLITE_CHECKPOINT_RESTART, &logFrames, &copied)
                }
            }
            sqlite3_close(connection.db)
            done.signal()
        }
        thread.name = "sqlite-checkpoint"
        thread.start()
    }

    /// `fdatasync` of the database file and its log, each through a descriptor of its own (a file that
    /// cannot be opened, such as a log not created yet, is skipped: SQLite syncs it when it checkpoints).
    static func syncFiles(_ path: String) {
        for file in [path, path + "-wal"] {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            _ = fdatasync(fd)
            close(fd)
        }
    }

    /// Bounds the log from the writer's side: installs on the writer's connection `db` a hook that SQLite
    /// calls after each commit with the frames in the log. After commits of fewer than
    /// ``writerRestartRows`` rows (steady traffic), from
    /// ``writerRestartFrames`` the writer restarts the log itself (a `RESTART` checkpoint copying what this
    /// thread has not, waiting at most ``writerRestartWait`` for older readers), so the log stays within
    /// that bound and one commit even when this thread falls behind (a slow disk or a starved core; see
    /// the type's notes), unless a reader holds an old snapshot (``writerRetryFrames``).
    /// After larger commits, a passive checkpoint from ``writerBackstopFrames``.
    /// Replaces SQLite's automatic checkpoint on that connection. The connection's busy timeout
    /// (`busyTimeout`, milliseconds) is restored after the restart.
    /// - Important: the hook refers to this checkpointer unretained; the caller keeps it alive as long as
    ///   the connection.
    func install(onWriter db: OpaquePointer, busyTimeout: Int32) {
        writerBusyTimeout.store(busyTimeout, ordering: .relaxed)
        sqlite3_wal_hook(db, { context, db, _, frames in
            guard let context, let db else { return SQLITE_OK }
            Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().writerCommitted(db, frames: frames)
            // The commit has happened: any other answer would report it as failed.
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// The writer's hook (see ``install(onWriter:busyTimeout:)``), after a commit that left `frames` in the log.
    private func writerCommitted(_ db: OpaquePointer, frames: Int32) {
        let steady = lastCommitRows.load(ordering: .relaxed) < Self.writerRestartRows
        if frames < Self.writerRestartFrames { writerNextRestart.store(Self.writerRestartFrames, ordering: .relaxed) }
        guard frames >= (steady ? writerNextRestart.load(ordering: .relaxed) : Self.writerBackstopFrames) else { return }
        var logFrames: Int32 = 0, copied: Int32 = 0
        if steady {
            sqlite3_busy_timeout(db, Self.writerRestartWait)
            let restart = checkpoint(db, SQLITE_CHECKPOINT_RESTART, &logFrames, &copied)
            sqlite3_busy_timeout(db, writerBusyTimeout.load(ordering: .relaxed))
            writerNextRestart.store(restart == SQLITE_BUSY ? frames + Self.writerRetryFrames : Self.writerRestartFrames, ordering: .relaxed)
        } else {
            _ = checkpoint(db, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied)
        }
    }

    /// One checkpoint of `mode` on `db`, one at a time between this thread and the writer: SQLite answers a
    /// checkpoint that finds another in progress with `SQLITE_BUSY` at once, without calling the busy
    /// handler, so the writer's restart waits here for a pass in progress instead (before, it found one
    /// in 30 of 36 tries in `WALCheckpointTests` and the log grew on, up to 75 MiB).
    private func checkpoint(_ db: OpaquePointer, _ mode: Int32, _ logFrames: inout Int32, _ copied: inout Int32) -> Int32 {
        checkpoints.withLock { _ in sqlite3_wal_checkpoint_v2(db, nil, mode, &logFrames, &copied) }
    }

    /// Called by the writer with the number of profile rows it committed.
    func noteCommit(rows: Int) {
        lastCommitRows.store(rows, ordering: .relaxed)
    }

    /// Stops the thread and closes its connection (waits only for a checkpoint in progress).
    func shutdown() {
        guard started.exchange(false, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        done.wait()
    }

    /// The raw handle, handed to the checkpoint thread, which alone uses it.
    private final class Connection: @unchecked Sendable {
        let db: OpaquePointer
        init(_ db: OpaquePointer) { self.db = db }
    }
}
