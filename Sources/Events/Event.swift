import Foundation
/// One valid event from the `page-views` feed, reduced to the fields StreamScore uses.
///
/// Produced by ``EventDecoder``; the optional fields `session_id`, `referrer`, `user_agent` and
/// `properties` are validated as JSON but not kept.
public struct Event: Sendable, Equatable, Hashable {
    /// The event's unique id (`event_id`), 1–128 Unicode scalars.
    public let eventID: String
    /// The event type (`type`) exactly as sent, e.g. `page_view`; never empty.
    public let type: String
    /// The customer (`customer_id`), 1–128 Unicode scalars.
    public let customerID: String
    /// Event time (`ts`) in milliseconds since the Unix epoch, UTC; sub-millisecond digits truncated.
    public let timestamp: Int64
    /// The URL path (`page`); always present for `page_view`, optional for other types.
    public let page: String?
    /// The classified ``type``.
    public let kind: EventKind

    /// Creates an event; ``kind`` is derived from `type`.
    public init(eventID: String, type: String, customerID: String, timestamp: Int64, page: String?) {
        self.init(eventID: eventID, type: type, customerID: customerID, timestamp: timestamp, page: page, kind: EventKind(type: type))
    }

    /// Creates an event whose `kind` the decoder already classified.
    init(eventID: String, type: String, customerID: String, timestamp: Int64, page: String?, kind: EventKind) {
        self.eventID = eventID
        self.type = type
        self.customerID = customerID
        self.timestamp = timestamp
        self.page = page
        self.kind = kind
    }

    /// `true` for `page_view`.
    public var isPageView: Bool { kind == .pageView }
    /// `true` for `support_call`.
    public var isSupportCall: Bool { kind == .supportCall }
    /// `true` for `complaint`.
    public var isComplaint: Bool { kind == .complaint }
    /// `true` for the types that change a profile and its churn score: `page_view`, `support_call`,
    /// `complaint`. Every other type (`login`, `order`, …) is only counted.
    public var isRelevantForPrediction: Bool { kind.isRelevantForPrediction }
}

/// The event types StreamScore distinguishes; any other `type` string is ``other``.
public enum EventKind: Sendable, Equatable, Hashable {
    /// `page_view`
    case pageView
    /// `support_call`
    case supportCall
    /// `complaint`
    case complaint
    /// `login`
    case login
    /// `order`
    case order
    /// Any other type word.
    case other

    /// Classifies a `type` string (exact, case-sensitive match).
    public init(type: String) {
        var type = type
        self = type.withUTF8 { EventKind(utf8: $0) }
    }

    /// Classifies a `type` given as UTF-8 bytes: byte equality with the type words, which for these
    /// ASCII words is the same as String equality (no other scalar sequence is canonically equivalent).
    public init(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        @inline(__always) func equals(_ word: StaticString) -> Bool {
            bytes.count == word.utf8CodeUnitCount && memcmp(bytes.baseAddress!, word.utf8Start, bytes.count) == 0
        }
        switch bytes.count {
        case 9 where equals("page_view"): self = .pageView
        case 12 where equals("support_call"): self = .supportCall
        case 9 where equals("complaint"): self = .complaint
        case 5 where equals("login"): self = .login
        case 5 where equals("order"): self = .order
        default: self = .other
        }
    }

    /// `true` for ``pageView``, ``supportCall`` and ``complaint``.
    public var isRelevantForPrediction: Bool {
        switch self {
        case .pageView, .supportCall, .complaint: return true
        case .login, .order, .other: return false
        }
    }
}
