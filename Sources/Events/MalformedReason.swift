/// The outcome of decoding one message: a valid ``Event`` or the reason it is malformed.
public enum DecodeResult: Sendable, Equatable {
    /// The message is a valid event.
    case event(Event)
    /// The message is malformed; it goes to the dead-letter topic with `reason.description`.
    case malformed(MalformedReason)

    /// The result of ``EventDecoder/withFields(_:nowMillis:_:)`` that made the event.
    init(_ result: Result<Event, MalformedReason>) {
        switch result {
        case .success(let event): self = .event(event)
        case .failure(let reason): self = .malformed(reason)
        }
    }

    /// The event, or `nil` when malformed.
    public var event: Event? {
        if case .event(let event) = self { return event }
        return nil
    }

    /// The reason, or `nil` when valid.
    public var malformedReason: MalformedReason? {
        if case .malformed(let reason) = self { return reason }
        return nil
    }
}

/// A required or typed field of the event format.
public enum EventField: String, Sendable, Equatable, Hashable, CaseIterable {
    /// `event_id`
    case eventID = "event_id"
    /// `type`
    case type = "type"
    /// `customer_id`
    case customerID = "customer_id"
    /// `ts`
    case ts = "ts"
    /// `page`
    case page = "page"
}

/// Why a message is malformed.
///
/// ``description`` is a short, stable, payload-free text (the DLQ `error` header);
/// ``category`` is the coarse class used in metrics and the reference oracle
/// (`too_large`, `invalid_utf8`, `bad_json`, `not_object`, `bad_event_id`, `bad_type`,
/// `bad_customer_id`, `bad_ts`, `bad_page`).
public enum MalformedReason: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// More than ``EventDecoder/maxMessageBytes`` bytes.
    case tooLarge
    /// Not strict UTF-8 (overlong forms, surrogates, code points above U+10FFFF, stray bytes).
    case invalidUTF8
    /// Not valid JSON per RFC 8259 (plus the limits documented on ``EventDecoder``).
    case badJSON
    /// Valid JSON whose top-level value is not an object.
    case notObject
    /// A required field is absent.
    case missingField(EventField)
    /// A field has a JSON type other than string (including `null`).
    case notAString(EventField)
    /// `event_id`, `type` or `customer_id` is the empty string.
    case emptyField(EventField)
    /// `event_id` or `customer_id` has more than ``EventDecoder/maxIDLength`` Unicode scalars.
    case fieldTooLong(EventField)
    /// A known field occurs more than once in the object.
    case duplicateField(EventField)
    /// `type`, `customer_id` or `page` holds U+0000 (written `\u0000`): PostgreSQL's text cannot store it
    /// and SQLite's text binding ends at it, so the stored key would differ from the event's.
    case nulCharacter(EventField)
    /// `ts` is not an RFC 3339 date-time as accepted by ``Timestamp/parse(_:)``.
    case badTimestamp
    /// `ts` lies before 2000-01-01 or more than 24 hours after the engine's clock.
    case timestampOutOfRange

    /// The coarse category (stable, snake_case).
    public var category: String {
        switch self {
        case .tooLarge: return "too_large"
        case .invalidUTF8: return "invalid_utf8"
        case .badJSON: return "bad_json"
        case .notObject: return "not_object"
        case .badTimestamp, .timestampOutOfRange: return "bad_ts"
        case .missingField(let field), .notAString(let field), .emptyField(let field),
             .fieldTooLong(let field), .duplicateField(let field), .nulCharacter(let field):
            return "bad_" + field.rawValue
        }
    }

    /// Short human-readable reason, e.g. `missing field customer_id`; never contains payload bytes.
    public var description: String {
        switch self {
        case .tooLarge: return "too_large"
        case .invalidUTF8: return "invalid_utf8"
        case .badJSON: return "bad_json"
        case .notObject: return "not_object"
        case .missingField(let field): return "missing field \(field.rawValue)"
        case .notAString(let field): return "bad field \(field.rawValue): not a string"
        case .emptyField(let field): return "bad field \(field.rawValue): empty"
        case .fieldTooLong(let field): return "bad field \(field.rawValue): longer than 128 characters"
        case .duplicateField(let field): return "bad field \(field.rawValue): duplicate"
        case .nulCharacter(let field): return "bad field \(field.rawValue): contains U+0000"
        case .badTimestamp: return "bad field ts: not RFC 3339"
        case .timestampOutOfRange: return "ts out of range"
        }
    }
}
