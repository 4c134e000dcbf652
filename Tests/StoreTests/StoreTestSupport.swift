import Events
import Features
import Foundation
import Store
import TestSupport

/// Stores under test: SQLite always; PostgreSQL when `STREAMSCORE_TEST_POSTGRES_URL` is set.
enum StoreBackends {
    static var all: [String] {
        var result = ["sqlite"]
        if ProcessInfo.processInfo.environment["STREAMSCORE_TEST_POSTGRES_URL"] != nil { result.append("postgres") }
        return result
    }

    /// A fresh, empty store of the given backend, and a way to reopen the same one.
    static func make(_ backend: String) async throws -> (store: any EngineStore, reopen: @Sendable () async throws -> any EngineStore) {
        switch backend {
        case "sqlite":
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let url = try StoreURL(parsing: "sqlite:\(dir.appendingPathComponent("test.db").path)")
            return (try await StoreFactory.open(url), { try await StoreFactory.open(url) })
        default:
            throw StoreError(.badURL, "unknown backend \(backend)")
        }
    }
}
