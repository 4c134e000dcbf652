import Foundation

/// Decodes one raw message of the `page-views` feed into an ``Event`` or a ``MalformedReason``.
///
/// A purpose-built, single-pass validating scanner over the raw bytes: no Foundation on the hot
/// path and Swift `String`s are created only for the kept fields. Rules (see
/// `docs/events-and-features.md`):
/// - more than ``maxMessageBytes`` bytes → ``MalformedReason/tooLarge`` (checked first);
/// - any malformed UTF-8 anywhere → ``MalformedReason/invalidUTF8`` (takes precedence over JSON errors);
/// - not RFC 8259 JSON → ``MalformedReason/badJSON``. Strict: no comments, `NaN`, trailing commas,
///   single quotes, leading zeros, byte-order mark or unescaped control characters; escapes are
///   validated and a `\u` escape of a lone surrogate is rejected. Like Foundation, numbers that
///   overflow a Double and nesting deeper than 512 are rejected too;
/// - valid JSON that is not an object → ``MalformedReason/notObject``;
/// - then the fields, in the order `event_id`, `type`, `customer_id`, `ts`, `page`. A known field
///   that appears twice is rejected (``MalformedReason/duplicateField(_:)``), keys are compared
///   after unescaping. Unknown fields are ignored (but must be valid JSON).
///
/// - Important: Pure and thread-safe; the input bytes are only read during the call.
public enum EventDecoder {
    /// The largest accepted message, in bytes (64 KiB).
    public static let maxMessageBytes = 65_536
    /// The longest accepted `event_id` / `customer_id`, in Unicode scalars.
    public static let maxIDLength = 128

    /// Decodes one message.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> DecodeResult {
        DecodeResult(withFields(bytes, nowMillis: nil) { $0.event })
    }

    /// The earliest accepted event time, `2000-01-01T00:00:00Z` (CONTRACT §1).
    public static let earliestTimestamp: Int64 = 946_684_800_000
    /// How far after the engine's clock an event time may lie: 24 hours (CONTRACT §1).
    public static let maxFutureMillis: Int64 = 86_400_000

    /// Decodes one message and checks its `ts` against the engine's clock: an event time before
    /// ``earliestTimestamp`` or more than ``maxFutureMillis`` after `nowMillis` is
    /// ``MalformedReason/timestampOutOfRange`` (one far-future event would otherwise hold the per-minute
    /// retention and its customer's windows hostage).
    public static func decode(_ bytes: UnsafeRawBufferPointer, nowMillis: Int64) -> DecodeResult {
        DecodeResult(withFields(bytes, nowMillis: nowMillis) { $0.event })
    }

    /// Validates one message exactly as ``decode(_:nowMillis:)`` does (without the clock check when
    /// `nowMillis` is nil) and passes a valid event's fields to `body` as text inside the message, so a
    /// caller that keeps only some fields makes no String for the others (the counter subscriber).
    /// - Returns: `body`'s result, or why the message is malformed (`body` is then not called).
    public static func withFields<R>(_ bytes: UnsafeRawBufferPointer, nowMillis: Int64?,
                                     _ body: (borrowing EventFields) -> R) -> Result<R, MalformedReason> {
        let count = bytes.count
        if count > maxMessageBytes { return .failure(.tooLarge) }
        guard count > 0, let raw = bytes.baseAddress else { return .failure(.badJSON) }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        var decoder = TopLevelDecoder(scanner: JSONScanner(base: base, count: count))
        do {
            return try decoder.decode(nowMillis: nowMillis, body)
        } catch {
            return .failure(UTF8Check.isValid(base, count: count) ? .badJSON : .invalidUTF8)
        }
    }

    /// ``MalformedReason/timestampOutOfRange`` when `millis` lies outside the accepted range, else nil.
    public static func timeRangeViolation(_ millis: Int64, nowMillis: Int64) -> MalformedReason? {
        millis < earliestTimestamp || millis > nowMillis &+ maxFutureMillis ? .timestampOutOfRange : nil
    }

    /// Decodes one message held in an array.
    public static func decode(_ bytes: [UInt8]) -> DecodeResult {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// Decodes one message held in `Data`.
    public static func decode(_ data: Data) -> DecodeResult {
        data.withUnsafeBytes { decode($0) }
    }

    /// Decodes one message held in any contiguous byte collection (e.g. an `ArraySlice<UInt8>`).
    public static func decode(_ bytes: some Collection<UInt8>) -> DecodeResult {
        if let result = bytes.withContiguousStorageIfAvailable({ decode(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return decode(Array(bytes))
    }

    /// Checks that `bytes` are one strict RFC 8259 JSON text (any top-level value), returning the
    /// first syntax error. This is the decoder's own grammar, exposed for differential testing.
    package static func jsonSyntaxError(_ bytes: UnsafeRawBufferPointer) -> JSONSyntaxError? {
        guard bytes.count > 0, let raw = bytes.baseAddress else {
            return JSONSyntaxError(kind: .unexpectedEnd, offset: 0)
        }
        var scanner = JSONScanner(base: raw.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        do {
            try scanner.validateDocument()
            return nil
        } catch {
            return error
        }
    }
}

/// Scans the top-level object, capturing the known fields, then builds the event.
struct TopLevelDecoder {
    /// The byte scanner (owns the position).
    var scanner: JSONScanner
    /// Where `event_id` was found.
    var eventID = FieldSlot.absent
    /// Where `type` was found.
    var type = FieldSlot.absent
    /// Where `customer_id` was found.
    var customerID = FieldSlot.absent
    /// Where `ts` was found.
    var ts = FieldSlot.absent
    /// Where `page` was found.
    var page = FieldSlot.absent

    /// Creates a decoder over a fresh scanner.
    init(scanner: JSONScanner) { self.scanner = scanner }

    /// Validates the whole message and its known fields, then passes the fields of a valid event to
    /// `body` (constructed once, borrowed: no copies of the field set); throws on a JSON syntax error.
    mutating func decode<R>(nowMillis: Int64?, _ body: (borrowing EventFields) -> R) throws(JSONSyntaxError) -> Result<R, MalformedReason> {
        scanner.skipWhitespace()
        guard scanner.byte(scanner.pos) == UInt8(ascii: "{") else {
            try scanner.validateDocument()
            return .failure(.notObject)
        }
        try scanObject()
        scanner.skipWhitespace()
        guard scanner.pos == scanner.end else { throw scanner.fail(.trailingData, scanner.pos) }
        return validate(nowMillis: nowMillis, body)
    }

    private mutating func scanObject() throws(JSONSyntaxError) {
        scanner.pos += 1
        scanner.skipWhitespace()
        if scanner.byte(scanner.pos) == UInt8(ascii: "}") {
            scanner.pos += 1
            return
        }
        while true {
            guard scanner.byte(scanner.pos) == UInt8(ascii: "\"") else {
                throw scanner.fail(.unexpectedByte, scanner.pos)
            }
            scanner.pos += 1
            let key = try scanner.scanString()
            scanner.skipWhitespace()
            guard scanner.byte(scanner.pos) == UInt8(ascii: ":") else {
                throw scanner.fail(.unexpectedByte, scanner.pos)
            }
            scanner.pos += 1
            scanner.skipWhitespace()
            let field = reader.knownField(key)
            let value: FieldSlot
            if field != nil && scanner.byte(scanner.pos) == UInt8(ascii: "\"") {
                scanner.pos += 1
                value = .string(try scanner.scanString())
            } else {
                try scanner.skipValue(outerDepth: 1)
                value = .notString
            }
            if let field { record(field, value) }
            scanner.skipWhitespace()
            let c = scanner.byte(scanner.pos)
            if c == UInt8(ascii: ",") {
                let comma = scanner.pos
                scanner.pos += 1
                scanner.skipWhitespace()
                if scanner.byte(scanner.pos) == UInt8(ascii: "}") { throw scanner.fail(.trailingComma, comma) }
                continue
            }
            if c == UInt8(ascii: "}") {
                scanner.pos += 1
                return
            }
            throw scanner.fail(.unexpectedByte, scanner.pos)
        }
    }

    private mutating func record(_ field: EventField, _ value: FieldSlot) {
        @inline(__always) func merge(_ slot: inout FieldSlot) {
            if case .absent = slot { slot = value } else { slot = .duplicate }
        }
        switch field {
        case .eventID: merge(&eventID)
        case .type: merge(&type)
        case .customerID: merge(&customerID)
        case .ts: merge(&ts)
        case .page: merge(&page)
        }
    }

    /// Checks the known fields of a scanned object against the event rules (the order of the checks
    /// decides which reason a message with several faults gets). `mutating` only so that `decode` passes
    /// `self` by reference: as a non-mutating call it copied the whole decoder (137 bytes) per message
    /// (see ``TokenReader``).
    mutating func validate<R>(nowMillis: Int64?, _ body: (borrowing EventFields) -> R) -> Result<R, MalformedReason> {
        let eventIDToken: StringToken
        switch reader.requiredToken(eventID, .eventID, maxScalars: EventDecoder.maxIDLength) {
        case .ok(let token): eventIDToken = token
        case .bad(let reason): return .failure(reason)
        }
        let typeToken: StringToken
        switch reader.requiredToken(type, .type, maxScalars: nil, storedAsText: true) {
        case .ok(let token): typeToken = token
        case .bad(let reason): return .failure(reason)
        }
        let customerIDToken: StringToken
        switch reader.requiredToken(customerID, .customerID, maxScalars: EventDecoder.maxIDLength, storedAsText: true) {
        case .ok(let token): customerIDToken = token
        case .bad(let reason): return .failure(reason)
        }
        let millis: Int64
        switch ts {
        case .absent: return .failure(.missingField(.ts))
        case .notString: return .failure(.notAString(.ts))
        case .duplicate: return .failure(.duplicateField(.ts))
        case .string(let token):
            guard let parsed = reader.text(token).withBytes({ Timestamp.parse(utf8: $0) }) else { return .failure(.badTimestamp) }
            millis = parsed
        }
        let kind = reader.text(typeToken).withBytes { EventKind(utf8: $0) }
        let pageToken: StringToken?
        switch page {
        case .absent:
            if kind == .pageView { return .failure(.missingField(.page)) }
            pageToken = nil
        case .notString: return .failure(.notAString(.page))
        case .duplicate: return .failure(.duplicateField(.page))
        case .string(let token):
            if reader.containsNUL(token) { return .failure(.nulCharacter(.page)) }
            pageToken = token
        }
        if let nowMillis, let reason = EventDecoder.timeRangeViolation(millis, nowMillis: nowMillis) {
            return .failure(reason)
        }
        let fields = EventFields(base: scanner.base, eventIDToken: eventIDToken, typeToken: typeToken,
                                 customerIDToken: customerIDToken, pageToken: pageToken, timestamp: millis, kind: kind)
        return .success(body(fields))
    }

    /// The checks over the message's bytes.
    private var reader: TokenReader { TokenReader(base: scanner.base) }
}

/// The token checks the decoder makes, over the message's bytes only: the decoder calls them through this
/// 8-byte value because as non-mutating methods of `TopLevelDecoder` each call copied the whole decoder
/// (137 bytes: `memcpy` per key, ~8 % of the counter's poll thread, `perf` 2026-11-30).
struct TokenReader {
    /// The message's first byte.
    let base: UnsafePointer<UInt8>

    /// Which known field a key names (compared after unescaping).
    func knownField(_ key: StringToken) -> EventField? {
        let length = key.end - key.start
        if key.hasEscape {
            // Rare: an escaped key such as "customer\u005fid". Unescape (bounded) and compare.
            guard length <= 6 * 11 else { return nil }
            let bytes = unescape(key)
            return bytes.withUnsafeBufferPointer { match($0.baseAddress, $0.count) }
        }
        return match(base + key.start, length)
    }

    @inline(__always)
    private func match(_ p: UnsafePointer<UInt8>?, _ count: Int) -> EventField? {
        guard let p else { return nil }
        @inline(__always) func equals(_ literal: StaticString) -> Bool {
            memcmp(p, literal.utf8Start, count) == 0
        }
        switch count {
        case 2: return equals("ts") ? .ts : nil
        case 4: return equals("type") ? .type : equals("page") ? .page : nil
        case 8: return equals("event_id") ? .eventID : nil
        case 11: return equals("customer_id") ? .customerID : nil
        default: return nil
        }
    }

    /// Unescapes a validated string token into bytes.
    func unescape(_ token: StringToken) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: token.end - token.start) { buffer, initialized in
            guard let out = buffer.baseAddress else { initialized = 0; return }
            initialized = Unescaper.unescape(base, token.start, token.end, into: out)
        }
    }

    /// A required non-empty string field's token, or the reason it is not one.
    func requiredToken(_ slot: FieldSlot, _ field: EventField, maxScalars: Int?, storedAsText: Bool = false) -> FieldCheck {
        switch slot {
        case .absent: return .bad(.missingField(field))
        case .notString: return .bad(.notAString(field))
        case .duplicate: return .bad(.duplicateField(field))
        case .string(let token):
            if token.end == token.start { return .bad(.emptyField(field)) }
            if storedAsText && containsNUL(token) { return .bad(.nulCharacter(field)) }
            // Only long byte sequences can exceed the limit; count scalars exactly.
            if let maxScalars, token.end - token.start > maxScalars, scalarCount(token) > maxScalars {
                return .bad(.fieldTooLong(field))
            }
            return .ok(token)
        }
    }

    /// Whether the token's text holds U+0000: only through an escape (validated JSON has no raw control
    /// bytes), so a token without escapes is not read.
    func containsNUL(_ token: StringToken) -> Bool {
        token.hasEscape && unescape(token).contains(0)
    }

    /// The Unicode scalars of a validated string token: its UTF-8 bytes that are not continuation bytes.
    func scalarCount(_ token: StringToken) -> Int {
        @inline(__always) func count(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
            var scalars = 0
            for i in 0..<n where p[i] & 0xC0 != 0x80 { scalars += 1 }
            return scalars
        }
        if !token.hasEscape { return count(base + token.start, token.end - token.start) }
        return unescape(token).withUnsafeBufferPointer { count($0.baseAddress!, $0.count) }
    }

    func text(_ token: StringToken) -> FieldText { FieldText(base: base, token: token) }
}

/// The known fields of a valid event, as text inside the message: readable only within
/// ``EventDecoder/withFields(_:nowMillis:_:)``'s closure (the value cannot be copied, and its texts are
/// handed out only to closures, as `withUnsafeBytes` hands out its buffer).
public struct EventFields: ~Copyable {
    let base: UnsafePointer<UInt8>
    let eventIDToken: StringToken
    let typeToken: StringToken
    let customerIDToken: StringToken
    let pageToken: StringToken?
    /// `ts` in milliseconds since the epoch.
    public let timestamp: Int64
    /// The classified `type`.
    public let kind: EventKind

    /// Whether the event has a `page`.
    public var hasPage: Bool { pageToken != nil }

    /// Calls `body` with the UTF-8 bytes of a text field (unescaped; valid UTF-8), or returns nil for
    /// `ts` (not text) and for an absent `page`. The buffer is valid only during the call.
    public func withBytes<R>(of field: EventField, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        text(field).map { $0.withBytes(body) }
    }

    /// The value of a text field as a String, or nil as for ``withBytes(of:_:)``.
    public func string(_ field: EventField) -> String? { text(field)?.string }

    /// The event with its Strings made.
    public var event: Event {
        Event(eventID: FieldText(base: base, token: eventIDToken).string, type: FieldText(base: base, token: typeToken).string,
              customerID: FieldText(base: base, token: customerIDToken).string, timestamp: timestamp,
              page: pageToken.map { FieldText(base: base, token: $0).string }, kind: kind)
    }

    private func text(_ field: EventField) -> FieldText? {
        switch field {
        case .eventID: FieldText(base: base, token: eventIDToken)
        case .type: FieldText(base: base, token: typeToken)
        case .customerID: FieldText(base: base, token: customerIDToken)
        case .page: pageToken.map { FieldText(base: base, token: $0) }
        case .ts: nil
        }
    }
}

/// One validated JSON string value inside a message: its bytes, unescaped on demand.
struct FieldText {
    let base: UnsafePointer<UInt8>
    let token: StringToken

    /// Calls `body` with the value's UTF-8 bytes (valid UTF-8; unescaped into a temporary buffer when
    /// the JSON text has escapes).
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let length = token.end - token.start
        if !token.hasEscape { return body(UnsafeBufferPointer(start: base + token.start, count: length)) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(length, 1)) { buffer in
            let n = Unescaper.unescape(base, token.start, token.end, into: buffer.baseAddress!)
            return body(UnsafeBufferPointer(start: buffer.baseAddress, count: n))
        }
    }

    /// The value as a String.
    var string: String {
        let length = token.end - token.start
        if !token.hasEscape {
            return String(decoding: UnsafeBufferPointer(start: base + token.start, count: length), as: UTF8.self)
        }
        return String(unsafeUninitializedCapacity: length) { buffer in
            guard let out = buffer.baseAddress else { return 0 }
            return Unescaper.unescape(base, token.start, token.end, into: out)
        }
    }
}

/// The outcome of checking one required string field.
enum FieldCheck {
    /// The field's token.
    case ok(StringToken)
    /// Why the field is unacceptable.
    case bad(MalformedReason)
}

/// Unescapes validated JSON string content.
enum Unescaper {
    /// Writes the unescaped bytes of `base[start..<end]` (validated string content) to `out`, which
    /// must have room for `end - start` bytes (unescaping never grows). Returns the byte count.
    static func unescape(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var i = start
        var n = 0
        @inline(__always) func put(_ b: UInt8) { out[n] = b; n += 1 }
        @inline(__always) func hex(_ at: Int) -> UInt32 {
            var value: UInt32 = 0
            for k in 0..<4 { value = value << 4 | (hexValue(base[at + k]) ?? 0) }
            return value
        }
        while i < end {
            let b = base[i]
            if b != UInt8(ascii: "\\") {
                put(b)
                i += 1
                continue
            }
            let e = base[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): put(0x08)
            case UInt8(ascii: "f"): put(0x0C)
            case UInt8(ascii: "n"): put(0x0A)
            case UInt8(ascii: "r"): put(0x0D)
            case UInt8(ascii: "t"): put(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex(i)
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    // The scanner guarantees a following \uDC00–\uDFFF.
                    let low = hex(i + 2)
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                if scalar < 0x80 {
                    put(UInt8(scalar))
                } else if scalar < 0x800 {
                    put(UInt8(0xC0 | scalar >> 6)); put(UInt8(0x80 | scalar & 0x3F))
                } else if scalar < 0x10000 {
                    put(UInt8(0xE0 | scalar >> 12)); put(UInt8(0x80 | scalar >> 6 & 0x3F)); put(UInt8(0x80 | scalar & 0x3F))
                } else {
                    put(UInt8(0xF0 | scalar >> 18)); put(UInt8(0x80 | scalar >> 12 & 0x3F))
                    put(UInt8(0x80 | scalar >> 6 & 0x3F)); put(UInt8(0x80 | scalar & 0x3F))
                }
            default: put(e) // \" \\ \/
            }
        }
        return n
    }
}
