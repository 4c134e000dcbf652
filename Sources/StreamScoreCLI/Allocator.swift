#if canImport(Glibc)
import Glibc

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

/// The process's allocator settings, applied before any thread starts.
enum Allocator {
    /// glibc's `M_MMAP_THRESHOLD` (malloc.h).
    private static let mmapThresholdParameter: Int32 = -3

    /// Allocations of 1 MiB and more (a group's merged updates, a big batch's records) are mapped on their
    /// own and returned to the system when freed. glibc otherwise raises this threshold (up to 32 MiB) as
    /// large blocks are freed and serves them from its per-thread heaps, whose freed space stays resident.
    /// Measured in the prediction bench (1 M events, 2026-11-30, runs interleaved because this machine's
    /// speed drifts by ±15 % within minutes): at 1 MiB 116/111/118 k events/s, peak RSS 518/541/520 MiB;
    /// at 128 KiB 111/113/105 k/s, 546/501/565 MiB (page faults of buffers mapped and unmapped on every
    /// batch were 4.6 % of the engine's CPU samples, 0.7 % at 1 MiB); without the setting (glibc's dynamic threshold)
    /// 114–122 k/s, 547–625 MiB in three runs not interleaved.
    static func configure() {
        _ = glibcMallopt(mmapThresholdParameter, 1024 * 1024)
    }
}
#else
enum Allocator {
    static func configure() {}
}
#endif
