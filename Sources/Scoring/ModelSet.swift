import Foundation

// Model sets (CONTRACT §5): one champion, challengers that serve fixed shares of customers, and shadows
// that are scored and logged but never served. `ModelSetFile` is the validated JSON file (a pure value,
// also used by the CLI's promote/rollback); `ModelSet` is a loaded, immutable set of compiled models with
// its bucket-to-model table precomputed.

// MARK: - Roles and arms

/// The role of a model in a model set.
public enum ModelRole: String, Sendable, Codable, CaseIterable {
    /// Serves every bucket no challenger takes; exactly one per set.
    case champion
    /// Serves a fixed percentage of customers (its `percent`), chosen by `CustomerBucket`.
    case challenger
    /// Scored and logged for every customer, never served.
    case shadow
}

/// Which kind of model served a customer's score (`arm` in `profiles` and `churn-scores`).
public enum Arm: String, Sendable {
    /// The set's champion served the score.
    case champion
    /// One of the set's challengers served the score.
    case challenger
}

// MARK: - Buckets

/// Assigns each customer a stable bucket in `0..<100` (CONTRACT §5).
///
/// `bucket = FNV-1a-64(UTF-8 bytes of customer_id) mod 100`, with offset basis `0xcbf29ce484222325`,
/// prime `0x100000001b3` and wrapping unsigned 64-bit arithmetic. Example: `c-000001` → 38.
public enum CustomerBucket {
    /// The number of buckets (buckets are `0..<count`).
    public static let count = 100

    /// The FNV-1a-64 offset basis.
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The FNV-1a-64 prime.
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The bucket (`0..<100`) of `customerID`.
    public static func bucket(_ customerID: String) -> Int {
        Int(fnv1a64(customerID) % UInt64(count))
    }

    /// FNV-1a-64 of the UTF-8 bytes of `text`.
    static func fnv1a64(_ text: String) -> UInt64 {
        var hash = offsetBasis
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= prime
        }
        return hash
    }
}

// MARK: - Errors

/// An invalid model-set file, or a member model that cannot be loaded.
///
/// The description is one line naming the file, the entry and field at fault, and the fix, e.g.
/// `model set 'models.json': models[2] "b": percent must be an integer 1–99 for a challenger`.
public struct ModelSetError: Error, CustomStringConvertible, Sendable {
    /// Which rule was broken (for tests and callers that branch on it).
    enum Code: Sendable, Equatable {
        case unreadable, malformedJSON, notAnObject, missingModels, entryNotAnObject, unknownKey
        case missingName, invalidName, duplicateName, missingPath, missingRole, unknownRole
        case percentNotAllowed, invalidPercent, percentSumTooLarge, noChampion, secondChampion
        case unknownModel, alreadyChampion, modelLoadFailed
    }

    /// The model-set file concerned (as given to `parse` or `load`).
    public let file: String
    /// The entry concerned, e.g. `models[2] "b"`; nil when the error is about the whole file.
    public let entry: String?
    /// What is wrong and how to fix it.
    public let message: String
    /// The rule that was broken.
    let code: Code

    /// Creates an error; newlines in `message` are flattened so the description stays on one line.
    init(_ code: Code, file: String, entry: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.entry = entry
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Always false: trying again helps only once the file (or a model file) has changed.
    public var isRetriable: Bool { false }

    /// `model set 'FILE': ENTRY: MESSAGE` on one line.
    public var description: String {
        var s = "model set '\(ModelSetFile.display(file, quote: false))': "
        if let entry { s += entry + ": " }
        return s + message
    }
}

// MARK: - The file

/// A validated model-set file: `{"models":[{"name","path","role","percent"?}, …]}` (CONTRACT §5).
///
/// Every value of this type satisfies the contract's rules: exactly one champion; each challenger has an
/// integer `percent` in 1–99 and their sum is at most 99; champions and shadows have no `percent`; names are
/// 1–64 characters of `[A-Za-z0-9._-]` and unique. Paths are kept as written (relative to the file's folder
/// unless absolute); `ModelSet.load(file:)` resolves them.
public struct ModelSetFile: Sendable, Equatable {
    /// One `models[]` entry.
    public struct Entry: Sendable, Equatable {
        /// The model's name in the set (used in logs, `GET /models` and `arm` reporting).
        public let name: String
        /// The PMML file, as written in the set file.
        public let path: String
        /// The model's role.
        public let role: ModelRole
        /// The share of buckets a challenger serves (1–99); nil for the champion and shadows.
        public let percent: Int?

        /// Creates an entry (validated when the file is built with `init(models:file:)`).
        public init(name: String, path: String, role: ModelRole, percent: Int? = nil) {
            self.name = name
            self.path = path
            self.role = role
            self.percent = percent
        }
    }

    /// The entries in file order (challengers' bucket ranges follow this order).
    public let models: [Entry]
    /// The file the set was read from (used in error messages).
    public let file: String

    /// The keys an entry may have, in the order `encoded()` writes them.
    static let entryKeys = ["name", "path", "role", "percent"]
    /// The longest allowed model name.
    static let maxNameLength = 64

    /// Validates `models` against every rule of CONTRACT §5.
    ///
    /// - Throws: `ModelSetError` naming `file`, the first offending entry and the fix.
    public init(models: [Entry], file: String) throws {
        try Self.validate(models, file: file)
        self.models = models
        self.file = file
    }

    /// A file already known to be valid.
    private init(valid models: [Entry], file: String) {
        self.models = models
        self.file = file
    }

    /// The champion's entry.
    public var champion: Entry {
        // Validation guarantees exactly one champion.
        models.first { $0.role == .champion } ?? models[0]
    }

    // MARK: Parsing

    /// Parses and validates a model-set file's bytes; `file` names it in errors.
    ///
    /// The JSON is read strictly (`StrictJSONParser`: no trailing commas, no duplicate keys). Unknown keys
    /// and unknown roles are rejected. A `percent` must be written as an integer (`20`, not `20.0` or `"20"`).
    ///
    /// - Throws: `ModelSetError` with a one-line message naming `file`, the entry and field, and the fix.
    public static func parse(_ data: Data, file: String) throws -> ModelSetFile {
        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(data)
        } catch {
            throw ModelSetError(.malformedJSON, file: file,
                                "not valid JSON: line \(error.line), column \(error.column): \(error.message); fix the syntax")
        }
        guard case .object(let top) = root else {
            throw ModelSetError(.notAnObject, file: file,
                                "the top level must be an object {\"models\":[…]}, not \(root.kind)")
        }
        if let extra = top.keys.filter({ $0 != "models" }).sorted().first {
            throw ModelSetError(.unknownKey, file: file,
                                "unknown key \(display(extra)); the only top-level key is \"models\"")
        }
        guard case .array(let items)? = top["models"] else {
            throw ModelSetError(.missingModels, file: file,
                                "\"models\" must be an array of {\"name\",\"path\",\"role\",\"percent\"?} objects")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            entries.append(try entry(item, index: i, file: file))
        }
        try validate(entries, file: file)
        return ModelSetFile(valid: entries, file: file)
    }

    /// Converts one `models[]` item into an entry, checking keys and types (semantic rules come later).
    private static func entry(_ item: JSONValue, index i: Int, file: String) throws -> Entry {
        guard case .object(let fields) = item else {
            throw ModelSetError(.entryNotAnObject, file: file, entry: "models[\(i)]",
                                "must be an object {\"name\",\"path\",\"role\",\"percent\"?}, not \(item.kind)")
        }
        var name: String?
        if case .string(let s)? = fields["name"] { name = s }
        let at = location(i, name)
        if let extra = fields.keys.filter({ !entryKeys.contains($0) }).sorted().first {
            throw ModelSetError(.unknownKey, file: file, entry: at,
                                "unknown key \(display(extra)); allowed keys are name, path, role, percent")
        }
        guard let name else {
            throw ModelSetError(.missingName, file: file, entry: at,
                                "\"name\" is required and must be a string of 1–64 characters [A-Za-z0-9._-]")
        }
        guard case .string(let path)? = fields["path"], !path.isEmpty else {
            throw ModelSetError(.missingPath, file: file, entry: at,
                                "\"path\" is required and must be a non-empty string (the PMML file, relative to the set file's folder unless absolute)")
        }
        guard case .string(let roleText)? = fields["role"] else {
            throw ModelSetError(.missingRole, file: file, entry: at,
                                "\"role\" is required: champion, challenger or shadow")
        }
        guard let role = ModelRole(rawValue: roleText) else {
            throw ModelSetError(.unknownRole, file: file, entry: at,
                                "unknown role \(display(roleText)); use champion, challenger or shadow")
        }
        var percent: Int?
        if let value = fields["percent"] {
            guard role == .challenger else {
                throw percentNotAllowed(role, file: file, at: at)
            }
            guard case .int(let p) = value, (1...99).contains(p) else {
                throw invalidPercent(file: file, at: at)
            }
            percent = p
        }
        return Entry(name: name, path: path, role: role, percent: percent)
    }

    /// Checks the rules that do not depend on JSON types.
    private static func validate(_ entries: [Entry], file: String) throws {
        var firstIndex: [String: Int] = [:]
        var championIndex: Int?
        var percentSum = 0
        for (i, e) in entries.enumerated() {
            let at = location(i, e.name)
            let bytes = e.name.utf8
            guard (1...maxNameLength).contains(bytes.count), bytes.allSatisfy(isNameByte) else {
                throw ModelSetError(.invalidName, file: file, entry: at,
                                    "name must be 1–64 characters of A-Z a-z 0-9 . _ - (rename the model)")
            }
            if let j = firstIndex[e.name] {
                throw ModelSetError(.duplicateName, file: file, entry: at,
                                    "duplicate name (also models[\(j)]); give every model a unique name")
            }
            firstIndex[e.name] = i
            if e.path.isEmpty {
                throw ModelSetError(.missingPath, file: file, entry: at,
                                    "\"path\" must be a non-empty string (the PMML file)")
            }
            switch e.role {
            case .champion:
                if let j = championIndex {
                    throw ModelSetError(.secondChampion, file: file, entry: at,
                                        "a second champion (\(location(j, entries[j].name)) is one); exactly one model may be champion, make the other a challenger or shadow")
                }
                championIndex = i
                if e.percent != nil { throw percentNotAllowed(.champion, file: file, at: at) }
            case .shadow:
                if e.percent != nil { throw percentNotAllowed(.shadow, file: file, at: at) }
            case .challenger:
                guard let p = e.percent, (1...99).contains(p) else { throw invalidPercent(file: file, at: at) }
                percentSum += p
                if percentSum > 99 {
                    throw ModelSetError(.percentSumTooLarge, file: file, entry: at,
                                        "challenger percents add up to \(percentSum) here; their sum must be at most 99 so the champion keeps a bucket, lower them")
                }
            }
        }
        if championIndex == nil {
            throw ModelSetError(.noChampion, file: file,
                                "no champion; exactly one model must have \"role\":\"champion\"")
        }
    }

    private static func percentNotAllowed(_ role: ModelRole, file: String, at: String) -> ModelSetError {
        let why = role == .champion ? "it serves every bucket no challenger takes" : "shadows are scored and logged, never served"
        return ModelSetError(.percentNotAllowed, file: file, entry: at,
                             "a \(role.rawValue) must not have \"percent\" (\(why)); remove it")
    }

    private static func invalidPercent(file: String, at: String) -> ModelSetError {
        ModelSetError(.invalidPercent, file: file, entry: at, "percent must be an integer 1–99 for a challenger")
    }

    /// `[A-Za-z0-9._-]`.
    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// `models[i] "name"` (the name escaped and shortened for display), or `models[i]` without a name.
    static func location(_ index: Int, _ name: String?) -> String {
        guard let name else { return "models[\(index)]" }
        return "models[\(index)] \(display(name))"
    }

    /// Text safe to print on one line: control characters escaped; quoted text (names, keys, roles) is cut
    /// at 80 characters, unquoted text (paths) is kept whole.
    static func display(_ text: String, quote: Bool = true) -> String {
        var s = quote ? "\"" : ""
        for (n, scalar) in text.unicodeScalars.enumerated() {
            if quote, n == 80 { s += "…"; break }
            switch scalar {
            case "\"" where quote: s += "\\\""
            case "\\" where quote: s += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: s += "\\u{\(String(scalar.value, radix: 16))}"
            default: s.unicodeScalars.append(scalar)
            }
        }
        return quote ? s + "\"" : s
    }

    // MARK: Writing

    /// The file as JSON, one entry per line, keys in the order name, path, role, percent; ends with a newline.
    ///
    /// `ModelSetFile.parse(encoded(), file:)` gives back an equal value.
    public func encoded() -> Data {
        var out = "{\n  \"models\": [\n"
        for (i, e) in models.enumerated() {
            out += "    {\"name\": \(Self.jsonString(e.name)), \"path\": \(Self.jsonString(e.path)), \"role\": \(Self.jsonString(e.role.rawValue))"
            if let p = e.percent { out += ", \"percent\": \(p)" }
            out += i == models.count - 1 ? "}\n" : "},\n"
        }
        out += "  ]\n}\n"
        return Data(out.utf8)
    }

    /// A JSON string literal (RFC 8259 escaping; `/` and non-ASCII characters are written as is).
    static func jsonString(_ text: String) -> String {
        var s = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: s.unicodeScalars.append(scalar)
            }
        }
        return s + "\""
    }

    // MARK: Promotion

    /// The file with `name` promoted to champion.
    ///
    /// The named challenger or shadow becomes the champion and loses its `percent`; the old champion becomes
    /// a shadow, so it keeps being scored and logged. Every entry keeps its place in the file (later
    /// challengers' bucket ranges move down when a challenger is promoted).
    ///
    /// Rollback is "promote the previous champion": it restores who serves, but not the promoted model's
    /// former role and percent; the CLI keeps a backup of the file for an exact restore.
    ///
    /// - Throws: `ModelSetError` when no model has that name or it is already the champion.
    public func promoting(_ name: String) throws -> ModelSetFile {
        guard let index = models.firstIndex(where: { $0.name == name }) else {
            let names = models.map(\.name).joined(separator: ", ")
            throw ModelSetError(.unknownModel, file: file,
                                "no model named \(Self.display(name)); use one of: \(names)")
        }
        if models[index].role == .champion {
            throw ModelSetError(.alreadyChampion, file: file, entry: Self.location(index, name),
                                "is already the champion; promote a challenger or shadow")
        }
        let promoted = models.map { e -> Entry in
            if e.name == name { return Entry(name: e.name, path: e.path, role: .champion) }
            if e.role == .champion { return Entry(name: e.name, path: e.path, role: .shadow) }
            return e
        }
        return try ModelSetFile(models: promoted, file: file)
    }
}

// MARK: - JSON tree

/// A parsed JSON value, enough to validate a model-set file field by field.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int`.
    case int(Int)
    /// Any other number.
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// An object; duplicate keys are rejected by the parser, so a dictionary loses nothing.
    case object([String: JSONValue])

    /// What kind of value this is, for messages.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A strict RFC 8259 parser for small configuration files.
///
/// Foundation's parsers accept trailing commas and silently keep one of two duplicate keys (the decoder
/// the first, `JSONSerialization` the last), and both read `20.0` as an integer. A model-set file decides
/// which model serves which customer, so it is read strictly: those are errors here, reported with the
/// line and column. A leading UTF-8 byte-order mark is skipped.
struct StrictJSONParser {
    /// A syntax error at a byte offset.
    struct Failure: Error {
        /// The 1-based line and column of the error.
        let line: Int, column: Int
        /// What is wrong.
        let message: String
    }

    /// The deepest nesting accepted (a model-set file needs 3).
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var i = 0

    private init(_ data: Data) {
        bytes = [UInt8](data)
    }

    /// Parses one JSON document.
    static func parse(_ data: Data) throws(Failure) -> JSONValue {
        var p = StrictJSONParser(data)
        if p.bytes.starts(with: [0xef, 0xbb, 0xbf]) { p.i = 3 }
        let value = try p.value(depth: 0)
        p.skipSpace()
        if p.i < p.bytes.count { throw p.fail("unexpected \(p.describe(p.i)) after the JSON value") }
        return value
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end of file") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected \(describe(i))")
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONValue {
        if depth > Self.maxDepth { throw fail("nested more than \(Self.maxDepth) levels deep") }
        i += 1
        var fields: [String: JSONValue] = [:]
        skipSpace()
        if peek(UInt8(ascii: "}")) { i += 1; return .object(fields) }
        while true {
            skipSpace()
            if peek(UInt8(ascii: "}")) { throw fail("trailing comma before '}'") }
            guard peek(UInt8(ascii: "\"")) else { throw fail("expected a quoted key, found \(describe(i))") }
            let keyAt = i
            let key = try string()
            if fields[key] != nil {
                throw fail("duplicate key \(ModelSetFile.display(key)); keep only one", at: keyAt)
            }
            skipSpace()
            guard peek(UInt8(ascii: ":")) else { throw fail("expected ':' after a key, found \(describe(i))") }
            i += 1
            fields[key] = try value(depth: depth)
            skipSpace()
            if peek(UInt8(ascii: ",")) { i += 1; continue }
            if peek(UInt8(ascii: "}")) { i += 1; return .object(fields) }
            throw fail("expected ',' or '}', found \(describe(i))")
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSONValue {
        if depth > Self.maxDepth { throw fail("nested more than \(Self.maxDepth) levels deep") }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if peek(UInt8(ascii: "]")) { i += 1; return .array(items) }
        while true {
            skipSpace()
            if peek(UInt8(ascii: "]")) { throw fail("trailing comma before ']'") }
            items.append(try value(depth: depth))
            skipSpace()
            if peek(UInt8(ascii: ",")) { i += 1; continue }
            if peek(UInt8(ascii: "]")) { i += 1; return .array(items) }
            throw fail("expected ',' or ']', found \(describe(i))")
        }
    }

    /// A string starting at the opening quote; escapes decoded, UTF-8 validated.
    private mutating func string() throws(Failure) -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("unterminated string", at: start) }
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string", at: start) }
                return s
            case UInt8(ascii: "\\"):
                i += 1
                guard i < bytes.count else { throw fail("unterminated string", at: start) }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = UInt32(try hex4())
                    if (0xd800...0xdbff).contains(code) {
                        guard peek(UInt8(ascii: "\\")), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        i += 2
                        let low = UInt32(try hex4())
                        guard (0xdc00...0xdfff).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                    } else if (0xdc00...0xdfff).contains(code) {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string", at: i - 2)
                }
            case 0..<0x20:
                throw fail("control character in a string (write it as an escape such as \\n)")
            default:
                out.append(b)
                i += 1
            }
        }
    }

    /// Four hex digits of a `\u` escape.
    private mutating func hex4() throws(Failure) -> UInt16 {
        var v: UInt16 = 0
        for _ in 0..<4 {
            guard i < bytes.count, let d = Self.hexValue(bytes[i]) else { throw fail("expected 4 hex digits after \\u") }
            v = v << 4 | UInt16(d)
            i += 1
        }
        return v
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`
    private mutating func number() throws(Failure) -> JSONValue {
        let start = i
        if peek(UInt8(ascii: "-")) { i += 1 }
        if peek(UInt8(ascii: "0")) {
            i += 1
        } else {
            guard digits() > 0 else { throw fail("invalid number", at: start) }
        }
        var integral = true
        if peek(UInt8(ascii: ".")) {
            integral = false
            i += 1
            guard digits() > 0 else { throw fail("invalid number: digits must follow '.'", at: start) }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            integral = false
            i += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { i += 1 }
            guard digits() > 0 else { throw fail("invalid number: digits must follow the exponent", at: start) }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let n = Int(text) { return .int(n) }
        return .number(Double(text) ?? .nan)
    }

    /// Skips ASCII digits; returns how many.
    private mutating func digits() -> Int {
        let start = i
        while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
        return i - start
    }

    private mutating func literal(_ word: String) throws(Failure) {
        let w = Array(word.utf8)
        guard bytes.count - i >= w.count, bytes[i..<(i + w.count)].elementsEqual(w) else {
            throw fail("unexpected \(describe(i))")
        }
        i += w.count
    }

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0a, 0x0d: i += 1
            default: return
            }
        }
    }

    private func peek(_ b: UInt8) -> Bool { i < bytes.count && bytes[i] == b }

    /// The byte at `offset`, for messages.
    private func describe(_ offset: Int) -> String {
        guard offset < bytes.count else { return "end of file" }
        let b = bytes[offset]
        if (0x21..<0x7f).contains(b) { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16)
    }

    private func fail(_ message: String, at offset: Int? = nil) -> Failure {
        let end = min(offset ?? i, bytes.count)
        var line = 1, column = 1
        for b in bytes[..<end] {
            if b == 0x0a { line += 1; column = 1 } else { column += 1 }
        }
        return Failure(line: line, column: column, message: message)
    }
}

// MARK: - The loaded set

/// A loaded, immutable model set: every member's model compiled and verified, and each of the 100 buckets
/// mapped to the member that serves it.
///
/// Challengers take consecutive bucket ranges in file order starting at 0; every other bucket belongs to the
/// champion. Shadows never serve. A running service swaps whole `ModelSet` values on reload.
///
/// - Important: immutable, so safe to share between tasks without locks.
public final class ModelSet: Sendable {
    /// One model of the set.
    public struct Member: Sendable {
        /// The model's name in the set.
        public let name: String
        /// The model's role.
        public let role: ModelRole
        /// The share of buckets a challenger serves; nil for the champion and shadows.
        public let percent: Int?
        /// The absolute path of the PMML file.
        public let path: String
        /// The compiled model.
        public let model: CompiledModel
    }

    /// The members in file order.
    public let members: [Member]
    /// The index of the champion in `members`.
    public let championIndex: Int
    /// The absolute path of the model-set file; nil for a set made with `single(_:path:)` (`--model`).
    public let file: String?
    /// For each bucket, the index in `members` of the model serving it.
    private let table: [Int]
    /// Member index by name.
    private let indexByName: [String: Int]

    /// Builds the bucket table; `members` must have exactly one champion and challenger percents ≤ 99.
    private init(members: [Member], file: String?) {
        let champion = members.firstIndex { $0.role == .champion }
        precondition(champion != nil, "a model set needs a champion (validated by ModelSetFile)")
        let championIndex = champion ?? 0
        var table = [Int](repeating: championIndex, count: CustomerBucket.count)
        var next = 0
        for (i, m) in members.enumerated() where m.role == .challenger {
            let end = min(next + (m.percent ?? 0), CustomerBucket.count)
            if next < end { for b in next..<end { table[b] = i } }
            next = end
        }
        var indexByName: [String: Int] = [:]
        for (i, m) in members.enumerated() where indexByName[m.name] == nil { indexByName[m.name] = i }
        self.members = members
        self.championIndex = championIndex
        self.file = file
        self.table = table
        self.indexByName = indexByName
    }

    /// The champion.
    public var champion: Member { members[championIndex] }

    /// The index in `members` of the model serving `bucket` (`0..<100`).
    public func servedIndex(bucket: Int) -> Int {
        precondition((0..<CustomerBucket.count).contains(bucket), "bucket \(bucket) is outside 0..<100")
        return table[bucket]
    }

    /// The member serving `customerID` and its arm.
    public func served(for customerID: String) -> (index: Int, arm: Arm) {
        let index = table[CustomerBucket.bucket(customerID)]
        return (index, members[index].role == .challenger ? .challenger : .champion)
    }

    /// The member named `name`, if any.
    public func member(named name: String) -> Member? {
        indexByName[name].map { members[$0] }
    }

    /// Reads, validates and loads the model-set file at `url`: every member's model is compiled and verified
    /// before the set is returned (all or nothing).
    ///
    /// Member paths are relative to the file's folder unless absolute.
    ///
    /// - Throws: `ModelSetError` naming the file (and, for a model that fails to load, the member and the
    ///   model's path).
    public static func load(file url: URL) throws -> ModelSet {
        let setPath = absolutePath(url.path)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: setPath))
        } catch {
            throw ModelSetError(.unreadable, file: url.path, "cannot read the file (\(error.localizedDescription)); check the path")
        }
        let parsed = try ModelSetFile.parse(data, file: url.path)
        let folder = URL(fileURLWithPath: setPath).deletingLastPathComponent().path
        var loaded: [String: CompiledModel] = [:]
        var members: [Member] = []
        for (i, e) in parsed.models.enumerated() {
            let path = e.path.hasPrefix("/") ? absolutePath(e.path) : absolutePath(folder + "/" + e.path)
            let model: CompiledModel
            if let known = loaded[path] {
                model = known
            } else {
                do {
                    model = try CompiledModel.load(contentsOf: URL(fileURLWithPath: path))
                } catch {
                    throw ModelSetError(.modelLoadFailed, file: url.path, entry: ModelSetFile.location(i, e.name),
                                        "cannot load model '\(ModelSetFile.display(path, quote: false))': \(error); fix or replace the model file")
                }
                loaded[path] = model
            }
            members.append(Member(name: e.name, role: e.role, percent: e.percent, path: path, model: model))
        }
        return ModelSet(members: members, file: setPath)
    }

    /// The set `--model PATH` stands for: one champion named after the file's last path component.
    public static func single(_ model: CompiledModel, path: String) -> ModelSet {
        let absolute = absolutePath(path)
        let name = URL(fileURLWithPath: absolute).lastPathComponent
        return ModelSet(members: [Member(name: name, role: .champion, percent: nil, path: absolute, model: model)],
                        file: nil)
    }

    /// `path` made absolute against the working directory, with `.` and `..` components removed.
    static func absolutePath(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in full.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
