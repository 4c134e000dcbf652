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
        case "postgres":
            // A fresh schema per store in the test database (.ci/postgres.sh drops those of earlier runs).
            let url = try StoreURL(parsing: ProcessInfo.processInfo.environment["STREAMSCORE_TEST_POSTGRES_URL"] ?? "")
            let schema = "sstest_\(Int(Date().timeIntervalSince1970))_\(UUID().uuidString.prefix(8).lowercased())"
            let store = try await PostgresStore(url: url, schema: schema)
            return (store, { try await PostgresStore(url: url, schema: schema) })
        default:
            throw StoreError(.badURL, "unknown backend \(backend)")
        }
    }
}

/// Runs trusted SQL through the `psql` client as a separate session (the store under test has no SQL
/// back door) and returns the first column of each row; `schema` sets the search path first.
func psql(_ url: String, _ sql: String, schema: String? = nil) throws -> [String] {
    let text = (schema.map { "SET search_path TO \"\($0)\"; " } ?? "") + sql
    let result = try runTool("/usr/bin/psql", [url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", text])
    guard result.status == 0 else { throw StoreError(.queryFailed, "psql failed (status \(result.status))") }
    return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
}
