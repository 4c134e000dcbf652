import CSV
import Events
import Features
import Foundation

/// A parsed `--store` URL: `sqlite:PATH` or
/// `postgres://user[:pw]@host[:port]/db[?sslmode=MODE][&sslrootcert=PATH]` (`postgresql://` too).
public enum StoreURL: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL server, with its TLS settings (`sslmode`, `sslrootcert`; default `sslmode=prefer`).
    case postgres(host: String, port: Int, user: String, password: String?, database: String, tls: PostgresTLS = .default)

    /// The parts of a PostgreSQL URL; nil for SQLite.
    public var postgresServer: (host: String, port: Int, user: String, password: String?, database: String, tls: PostgresTLS)? {
        guard case .postgres(let host, let port, let user, let password, let database, let tls) = self else { return nil }
        return (host, port, user, password, database, tls)
    }

    /// Parses a store URL.
    /// - Throws: `StoreError.badURL` naming the URL (password redacted), the part at fault and the accepted forms.
    public init(parsing text: String) throws {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw StoreError(.badURL, "store URL '\(text)' has no path: use sqlite:PATH, e.g. sqlite:streamscore.db") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty, let user = url.user, !user.isEmpty else {
                throw StoreError(.badURL, "store URL '\(Self.redacted(text))' is not postgres://user[:password]@host:port/database[?sslmode=MODE&sslrootcert=PATH]")
            }
            let db = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            guard !db.isEmpty else { throw StoreError(.badURL, "store URL '\(Self.redacted(text))' names no database: add /DBNAME") }
            // Errors about parameters show the URL without its query: a value there may be a secret.
            let tls = try PostgresTLS(query: url.queryItems ?? [], url: String(Self.redacted(text).prefix { $0 != "?" }))
            self = .postgres(host: host, port: url.port ?? 5432, user: user, password: url.password, database: db, tls: tls)
        } else {
            throw StoreError(.badURL, "store URL '\(Self.redacted(text))' is not supported: use sqlite:PATH or postgres://user[:password]@host:port/database")
        }
    }

    /// The URL with any password replaced by `***`; TLS parameters are shown when they are not the default.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let host, let port, let user, let password, let db, let tls):
            return "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(db)" + (tls == .default ? "" : "?\(tls)")
        }
    }

    /// The URL text with the password, and any query (which may hold one: `?password=`), replaced by `***`.
    static func redacted(_ text: String) -> String {
        var result = text
        if let at = text.lastIndex(of: "@") {
            let userStart = text.range(of: "://")?.upperBound ?? text.startIndex
            if let first = text.firstIndex(of: "@"), first < userStart {
                // Not a URL (an `@` before the `://`, e.g. `u:pw@h://x@y`): everything before the last `@` may be secret.
                result = "***" + String(text[at...])
            } else if let colon = text[userStart..<at].firstIndex(of: ":") {
                result = String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
            }
        }
        if let query = result.firstIndex(of: "?") { result = String(result[..<query]) + "?***" }
        return result
    }
}

/// TLS to a PostgreSQL server: the `sslmode` and `sslrootcert` parameters of the store URL, with libpq's
/// meanings.
///
/// | sslmode       | TLS                          | certificate check                                      |
/// |---------------|------------------------------|--------------------------------------------------------|
/// | `disable`     | never                        | —                                                      |
/// | `prefer`      | if the server offers it      | none; the chain against `sslrootcert` when given        |
/// | `require`     | always                       | none; the chain against `sslrootcert` when given        |
/// | `verify-ca`   | always                       | the chain, against `sslrootcert` or the system's CAs    |
/// | `verify-full` | always                       | the chain and the host name (or IP address)            |
///
/// `prefer` is the default (as in libpq): it encrypts whenever the server can, but, like `require`
/// without `sslrootcert`, does not authenticate the server; production should use `verify-full`.
/// `sslrootcert=system` names the system trust store explicitly. The file is read when the store opens.
public struct PostgresTLS: Sendable, Equatable, CustomStringConvertible {
    /// libpq's `sslmode` values (`allow` is not supported: it is `prefer` in the other order).
    public enum Mode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }
    /// The `sslmode`.
    public var mode: Mode
    /// The `sslrootcert`: a PEM file of trusted CA certificates, `system`, or nil (the system's CAs for the
    /// `verify-` modes, no check for `prefer` and `require`).
    public var rootCertificate: String?

    /// Creates TLS settings.
    public init(mode: Mode = .prefer, rootCertificate: String? = nil) {
        self.mode = mode
        self.rootCertificate = rootCertificate
    }

    /// libpq's default: `sslmode=prefer`, no `sslrootcert`.
    public static let `default` = PostgresTLS()

    /// `sslmode=MODE` and, when set, `&sslrootcert=PATH` (as in the URL).
    public var description: String {
        "sslmode=\(mode.rawValue)" + (rootCertificate.map { "&sslrootcert=\($0)" } ?? "")
    }

    static let grammar = "sslmode=disable|prefer|require|verify-ca|verify-full and sslrootcert=PATH"

    /// Reads the URL's query parameters; any other parameter is an error (a misspelt `sslmode` must not
    /// silently leave the connection unverified).
    init(query: [URLQueryItem], url: String) throws {
        self.init()
        var seen = Set<String>()
        for item in query {
            guard seen.insert(item.name).inserted else {
                throw StoreError(.badURL, "store URL '\(url)': parameter '\(item.name)' is given twice; give it once")
            }
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = Mode(rawValue: value) else {
                    throw StoreError(.badURL, "store URL '\(url)': sslmode '\(item.value ?? "")' is not supported; use sslmode=disable, prefer, require, verify-ca or verify-full (e.g. ?sslmode=verify-full&sslrootcert=/path/ca.pem)")
                }
                self.mode = mode
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else {
                    throw StoreError(.badURL, "store URL '\(url)': sslrootcert is empty; give the path of the CA's PEM file (sslrootcert=/path/ca.pem) or sslrootcert=system")
                }
                self.rootCertificate = value
            default:
                throw StoreError(.badURL, "store URL '\(url)': parameter '\(item.name)' is not supported; the parameters are \(Self.grammar)")
            }
        }
    }
}

/// Reads the CRM export (`customer_id,tenure_days,plan,monthly_charges`, RFC 4180 quoting allowed,
/// columns in any order, extra columns ignored, blank lines skipped) and validates every row.
public enum CustomerCSV {
    /// The plans the contract allows.
    public static let plans: Set<String> = ["basic", "standard", "premium"]

    /// Parses the file's bytes (read with `CSVReader`: a byte order mark is skipped, a record is at most
    /// 16 MiB).
    /// - Throws: `StoreError.badImport` naming the file, the line and the column of the first bad row, or
    ///   the line where an unterminated quoted field or an over-long record starts.
    public static func parse(_ data: Data, file: String) throws -> [CustomerRecord] {
        let reader = CSVReader(data: data, name: file)
        func nextRecord() throws -> CSVRecord? {
            do throws(CSVError) {
                return try reader.next()
            } catch {
                throw StoreError(.badImport, error.description)
            }
        }
        guard let header = try nextRecord() else { throw StoreError(.badImport, "\(file): empty file; expected header customer_id,tenure_days,plan,monthly_charges") }
        var index: [String: Int] = [:]
        for (i, name) in header.fields.enumerated() { index[name.trimmingCharacters(in: .whitespaces)] = i }
        let required = ["customer_id", "tenure_days", "plan", "monthly_charges"]
        for column in required where index[column] == nil {
            throw StoreError(.badImport, "\(file): header lacks column '\(column)'; expected customer_id,tenure_days,plan,monthly_charges")
        }
        var result: [CustomerRecord] = []
        var seen = Set<CustomerID>()
        while let record = try nextRecord() {
            if record.fields.count == 1 && record.fields[0].isEmpty { continue }  // blank line
            func field(_ name: String) throws -> String {
                guard let i = index[name], i < record.fields.count else {
                    throw StoreError(.badImport, "\(file) line \(record.line): column '\(name)' is missing (\(record.fields.count) fields)")
                }
                return record.fields[i]
            }
            func bad(_ column: String, _ why: String) -> StoreError {
                StoreError(.badImport, "\(file) line \(record.line), column '\(column)': \(why)")
            }
            let id = try field("customer_id")
            guard !id.isEmpty, id.unicodeScalars.count <= 128 else { throw bad("customer_id", "must be 1–128 characters") }
            // As in events: no store can hold U+0000 in a key (SQLite's text binding ends at it: `a<NUL>b` was
            // imported as customer `a`), and ids are their bytes (`CustomerID`).
            guard !id.utf8.contains(0) else { throw bad("customer_id", "must not contain U+0000") }
            guard seen.insert(CustomerID(id)).inserted else { throw bad("customer_id", "duplicate id '\(id)'") }
            guard let tenure = Int(try field("tenure_days")), tenure >= 0 else { throw bad("tenure_days", "not a whole number ≥ 0") }
            let plan = try field("plan")
            guard plans.contains(plan) else { throw bad("plan", "'\(plan)' is not basic, standard or premium") }
            guard let charges = Double(try field("monthly_charges")), charges.isFinite, charges >= 0 else {
                throw bad("monthly_charges", "not a number ≥ 0")
            }
            result.append(CustomerRecord(customerID: id, attributes: StaticAttributes(tenureDays: tenure, plan: plan, monthlyCharges: charges)))
        }
        return result
    }
}

/// Opens the store a URL names.
public enum StoreFactory {
    /// Opens and migrates the store.
    /// - Throws: `StoreError` naming the URL and the fix.
    public static func open(_ url: StoreURL) async throws -> any EngineStore {
        switch url {
        case .sqlite(let path):
            return try SQLiteStore(path: path)
        case .postgres:
            return try await PostgresStore(url: url)
        }
    }
}
