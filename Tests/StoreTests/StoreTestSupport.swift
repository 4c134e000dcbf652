import Events
import Features
import Foundation
import Store

/// Paths of the shared oracles (`<repo>/../shared`).
enum Shared {
    static let root: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.deletingLastPathComponent().appendingPathComponent("shared")
    }()
    static func reference(_ name: String) -> URL { root.appendingPathComponent("reference").appendingPathComponent(name) }

    /// Lines of a JSONL file as bytes.
    static func lines(_ name: String) throws -> [[UInt8]] {
        let data = try Data(contentsOf: reference(name))
        return data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init).filter { !$0.isEmpty }
    }

    /// A CSV with a header as dictionaries (no quoted fields in the oracle files).
    static func csv(_ name: String) throws -> [[String: String]] {
        let text = try String(contentsOf: reference(name), encoding: .utf8)
        var rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows.removeFirst()
        return rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }
}

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
