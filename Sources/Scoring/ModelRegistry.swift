import Foundation
import Synchronization

/// Holds the model currently in service and swaps it atomically on reload.
///
/// `current` is a cheap lock-protected read. `reload()` loads and verifies the file beside the old
/// model and only then swaps; on failure the old model stays in service and the error is thrown for the
/// caller to log. `watch(interval:onError:)` polls the file and reloads when it changes; the CLI also
/// calls `reload()` on SIGHUP.
///
/// - Important: safe to share between tasks; loading happens outside the lock.
public final class ModelRegistry: Sendable {
    private struct State: Sendable {
        var model: CompiledModel
        var fingerprint: FileFingerprint?
        /// The fingerprint of a file version that failed to load (not retried until it changes again).
        var rejected: FileFingerprint?
    }

    /// Size and modification time of the model file.
    struct FileFingerprint: Sendable, Equatable {
        let size: UInt64
        let modified: Date
    }

    /// The model file.
    public let url: URL
    private let state: Mutex<State>

    /// Loads the model at `url` (throws if it cannot be loaded or fails verification).
    public init(contentsOf url: URL) throws {
        self.url = url
        let fingerprint = Self.fingerprint(url)
        let model = try CompiledModel.load(contentsOf: url)
        state = Mutex(State(model: model, fingerprint: fingerprint, rejected: nil))
    }

    /// The model in service.
    public var current: CompiledModel { state.withLock { $0.model } }

    /// The model file's path.
    public var path: String { url.path }

    /// Loads and verifies the file again and swaps it in; on failure keeps the old model and rethrows.
    @discardableResult
    public func reload() throws -> CompiledModel {
        let fingerprint = Self.fingerprint(url)
        do {
            let model = try CompiledModel.load(contentsOf: url)
            state.withLock {
                $0.model = model
                $0.fingerprint = fingerprint
                $0.rejected = nil
            }
            return model
        } catch {
            state.withLock { $0.rejected = fingerprint }
            throw error
        }
    }

    /// Reloads when the file's size, modification time or content hash changed; returns whether a new model
    /// was swapped in. Throws the load error (once per changed file version) and keeps the old model.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        guard let fingerprint = Self.fingerprint(url) else { return false }
        let (known, rejected, sha) = state.withLock { ($0.fingerprint, $0.rejected, $0.model.sha256) }
        if fingerprint == known || fingerprint == rejected { return false }
        // Size/mtime changed: compare content so a touch does not recompile.
        if let data = try? Data(contentsOf: url), SHA256.hex(data) == sha {
            state.withLock { $0.fingerprint = fingerprint }
            return false
        }
        try reload()
        return true
    }

    /// Polls the file every `interval` until the task is cancelled, reloading when it changes.
    /// Load failures are passed to `onError` (the old model stays in service).
    public func watch(interval: Duration = .seconds(2),
                      onError: @Sendable (any Error) -> Void = { _ in },
                      onReload: @Sendable (CompiledModel) -> Void = { _ in }) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                if try reloadIfChanged() { onReload(current) }
            } catch {
                onError(error)
            }
        }
    }

    private static func fingerprint(_ url: URL) -> FileFingerprint? {
        // Follow symlinks: a Kubernetes ConfigMap swaps `..data`, not the file the path names.
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path) else { return nil }
        let size = (attrs[.size] as? NSNumber)?.uint64Value ?? 0
        let modified = attrs[.modificationDate] as? Date ?? .distantPast
        return FileFingerprint(size: size, modified: modified)
    }
}
