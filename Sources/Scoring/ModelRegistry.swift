import Foundation
import Synchronization

/// Holds the model set in service and swaps it, whole, on reload (CONTRACT §5).
///
/// `currentSet` is a cheap lock-protected read; a batch reads it once, so every score of a batch comes
/// from one set. `reload()` loads and verifies every model beside the running set and only then swaps;
/// on failure the running set stays in service, the error is kept (`lastError`, for `/models`) and
/// thrown for the caller to log. `watch(interval:onError:onReload:)` polls the files (the set file and
/// every member's model file) and reloads when one changes; the CLI also calls `reload()` on SIGHUP.
///
/// - Important: safe to share between tasks; loading happens outside the lock.
public final class ModelRegistry: Sendable {
    private struct State: Sendable {
        var set: ModelSet
        var fingerprint: [FileFingerprint?]
        /// The fingerprints of a file version that failed to load (not retried until they change again).
        var rejected: [FileFingerprint?]?
        var lastError: String?
        var reloads = 0
    }

    /// Size and modification time of a file.
    struct FileFingerprint: Sendable, Equatable {
        let size: UInt64
        let modified: Date
    }

    /// The model-set file, or the single model file of `--model`.
    public let url: URL
    /// Whether `url` is a model-set file (`--models`) rather than one PMML file (`--model`).
    public let isSetFile: Bool
    private let state: Mutex<State>

    /// `--model PATH`: a set of one champion (throws if the model cannot be loaded or fails verification).
    public init(contentsOf url: URL) throws {
        self.url = url
        isSetFile = false
        let set = try Self.load(url, isSetFile: false)
        state = Mutex(State(set: set, fingerprint: Self.fingerprints(set, url: url, isSetFile: false)))
    }

    /// `--models FILE`: a model set (throws `ModelSetError` naming the file, member and fix).
    public init(modelSet url: URL) throws {
        self.url = url
        isSetFile = true
        let set = try Self.load(url, isSetFile: true)
        state = Mutex(State(set: set, fingerprint: Self.fingerprints(set, url: url, isSetFile: true)))
    }

    /// The set in service.
    public var currentSet: ModelSet { state.withLock { $0.set } }

    /// The champion's model.
    public var current: CompiledModel { currentSet.champion.model }

    /// The file's path.
    public var path: String { url.path }

    /// Why the last reload failed (nil after a successful one).
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Sets swapped in since start.
    public var reloadCount: Int { state.withLock { $0.reloads } }

    /// Loads and verifies the file(s) again and swaps the set in; on failure keeps the running set and
    /// rethrows.
    @discardableResult
    public func reload() throws -> ModelSet {
        do {
            let set = try Self.load(url, isSetFile: isSetFile)
            let fingerprint = Self.fingerprints(set, url: url, isSetFile: isSetFile)
            state.withLock {
                $0.set = set
                $0.fingerprint = fingerprint
                $0.rejected = nil
                $0.lastError = nil
                $0.reloads += 1
            }
            return set
        } catch {
            let running = currentSet
            let fingerprint = Self.fingerprints(running, url: url, isSetFile: isSetFile)
            state.withLock {
                $0.rejected = fingerprint
                $0.lastError = "\(error)"
            }
            throw error
        }
    }

    /// Reloads when a file's size, modification time or content changed; returns whether a new set was
    /// swapped in. Throws the load error (once per changed file version) and keeps the running set.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        let running = currentSet
        let now = Self.fingerprints(running, url: url, isSetFile: isSetFile)
        let (known, rejected) = state.withLock { ($0.fingerprint, $0.rejected) }
        if now == known || now == rejected { return false }
        // Only size/mtime changed: compare contents, so a touch does not recompile.
        if !isSetFile, let data = try? Data(contentsOf: url), SHA256.hex(data) == running.champion.model.sha256 {
            state.withLock { $0.fingerprint = now }
            return false
        }
        try reload()
        return true
    }

    /// Polls the files every `interval` until the task is cancelled, reloading when one changes.
    /// Load failures are passed to `onError` (the running set stays in service).
    public func watch(interval: Duration = .seconds(2),
                      onError: @Sendable (any Error) -> Void = { _ in },
                      onReload: @Sendable (ModelSet) -> Void = { _ in }) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                if try reloadIfChanged() { onReload(currentSet) }
            } catch {
                onError(error)
            }
        }
    }

    private static func load(_ url: URL, isSetFile: Bool) throws -> ModelSet {
        if isSetFile { return try ModelSet.load(file: url) }
        return ModelSet.single(try CompiledModel.load(contentsOf: url), path: url.path)
    }

    /// The set file's fingerprint, then each member model file's.
    private static func fingerprints(_ set: ModelSet, url: URL, isSetFile: Bool) -> [FileFingerprint?] {
        var urls = isSetFile ? [url] : []
        urls += set.members.map { URL(fileURLWithPath: $0.path) }
        return urls.map(fingerprint)
    }

    private static func fingerprint(_ url: URL) -> FileFingerprint? {
        // Follow symlinks: a Kubernetes ConfigMap swaps `..data`, not the file the path names.
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path) else { return nil }
        let size = (attrs[.size] as? NSNumber)?.uint64Value ?? 0
        let modified = attrs[.modificationDate] as? Date ?? .distantPast
        return FileFingerprint(size: size, modified: modified)
    }
}
