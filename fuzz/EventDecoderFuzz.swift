// libFuzzer harness for the event decoder (Sources/Events). Compiled into the `Events` module
// itself, together with Sources/Events/*.swift, by fuzz/run.sh; it is not part of the package build.
//
// Every input goes through `EventDecoder.decode(_:)` and `EventDecoder.decode(_:nowMillis:)`; the
// invariants below are the decoder's documented contract (docs/events-and-features.md and the doc
// comments on EventDecoder). A violation traps via `fatalError`, which libFuzzer reports as a crash.
import Foundation

/// The engine clocks tried for the `nowMillis` variant: 2026-11-29T00:00:00Z, and the first
/// accepted instant (so that "at most 24 h in the future" is tight right at the lower bound).
private let fuzzClocks: [Int64] = [1_795_910_400_000, EventDecoder.earliestTimestamp]

/// Epoch milliseconds of 0000-01-01T00:00:00Z minus 24 h and of 9999-12-31T23:59:59.999Z plus 24 h:
/// the widest range a `ts` that `Timestamp.parse` accepts can map to (year 0000–9999, offset ±23:59).
private let loosestTimestamp: Int64 = -62_167_219_200_000 - 86_400_000
private let latestTimestamp: Int64 = 253_402_300_799_999 + 86_400_000

@inline(never)
private func violated(_ what: String, _ bytes: UnsafeRawBufferPointer) -> Never {
    let preview = bytes.prefix(256).map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }
    fatalError("EventDecoder invariant violated: \(what) (\(bytes.count) bytes: \(preview.joined()))")
}

/// Checks a decoded event against the field rules.
private func checkEvent(_ event: Event, _ bytes: UnsafeRawBufferPointer) {
    let eventIDScalars = event.eventID.unicodeScalars.count
    guard eventIDScalars >= 1, eventIDScalars <= EventDecoder.maxIDLength else {
        violated("event_id has \(eventIDScalars) scalars", bytes)
    }
    let customerIDScalars = event.customerID.unicodeScalars.count
    guard customerIDScalars >= 1, customerIDScalars <= EventDecoder.maxIDLength else {
        violated("customer_id has \(customerIDScalars) scalars", bytes)
    }
    guard !event.type.isEmpty else { violated("empty type", bytes) }
    guard event.kind == EventKind(type: event.type) else { violated("kind does not match type", bytes) }
    if event.kind == .pageView, event.page == nil { violated("page_view without page", bytes) }
    guard event.timestamp >= loosestTimestamp, event.timestamp <= latestTimestamp else {
        violated("ts \(event.timestamp) outside any RFC 3339 year 0000-9999", bytes)
    }
    // The formatter's output parses back to the same instant whenever the UTC year has 4 digits
    // (`YYYY-MM-DDTHH:MM:SS.mmmZ`, 24 bytes; an offset can move a year-0000/9999 ts outside that).
    let formatted = Timestamp.format(millis: event.timestamp)
    let roundTrips = formatted.utf8.count == 24 && formatted.first != "-"
    if roundTrips {
        guard Timestamp.parse(formatted) == event.timestamp else {
            violated("ts \(event.timestamp) does not round-trip through Timestamp.format (\(formatted))", bytes)
        }
    }
    // Re-encoding the decoded fields gives a message that decodes to the same event.
    var message = "{\"event_id\":" + JSONText.string(event.eventID)
        + ",\"type\":" + JSONText.string(event.type)
        + ",\"customer_id\":" + JSONText.string(event.customerID)
    if let page = event.page { message += ",\"page\":" + JSONText.string(page) }
    if roundTrips {
        message += ",\"ts\":\"" + formatted + "\"}"
        let again = EventDecoder.decode(Array(message.utf8))
        guard again == .event(event) else {
            violated("re-encoded event decodes to \(again)", bytes)
        }
    }
}

/// One fuzz input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let result = EventDecoder.decode(bytes)

    // Deterministic: the same bytes through another entry point give the same verdict.
    if size <= 4096 {
        let again = EventDecoder.decode(Array(bytes))
        guard again == result else { violated("[UInt8] entry point disagrees: \(again) vs \(result)", bytes) }
    }

    // Size rule: more than 64 KiB is always too_large (checked first), never otherwise.
    if size > EventDecoder.maxMessageBytes {
        guard result == .malformed(.tooLarge) else { violated("oversized message gave \(result)", bytes) }
    } else {
        guard result != .malformed(.tooLarge) else { violated("too_large for \(size) bytes", bytes) }
        if size == 0, result != .malformed(.badJSON) { violated("empty message gave \(result)", bytes) }

        // UTF-8 rule, checked against the standard library's validator: malformed UTF-8 anywhere
        // is invalid_utf8 (precedence over JSON errors), and valid UTF-8 never is.
        let validUTF8 = String(validating: bytes, as: UTF8.self) != nil
        if validUTF8 != (result != .malformed(.invalidUTF8)) {
            violated("UTF-8 valid=\(validUTF8) but result \(result)", bytes)
        }

        // The verdict agrees with the decoder's own JSON grammar.
        let syntax = EventDecoder.jsonSyntaxError(bytes)
        switch result {
        case .malformed(.badJSON), .malformed(.invalidUTF8):
            guard syntax != nil else { violated("\(result) but the grammar accepts the JSON", bytes) }
        default:
            guard syntax == nil else { violated("\(result) but the grammar rejects it (\(syntax!))", bytes) }
        }
    }

    if case .event(let event) = result { checkEvent(event, bytes) }
    if result == .malformed(.timestampOutOfRange) { violated("the plain decode checked the clock", bytes) }

    // The clocked variant: the plain verdict, except an event whose ts lies outside
    // [2000-01-01, now + 24 h] becomes ts out of range.
    for now in fuzzClocks {
        let clocked = EventDecoder.decode(bytes, nowMillis: now)
        switch result {
        case .event(let event):
            let inRange = event.timestamp >= EventDecoder.earliestTimestamp
                && event.timestamp <= now + EventDecoder.maxFutureMillis
            if inRange {
                guard clocked == result else { violated("clocked decode changed an in-range event: \(clocked)", bytes) }
            } else {
                guard clocked == .malformed(.timestampOutOfRange) else {
                    violated("ts \(event.timestamp) outside [2000, now+24h] for now=\(now) gave \(clocked)", bytes)
                }
            }
        case .malformed:
            guard clocked == result else { violated("clocked decode changed a malformed verdict: \(clocked)", bytes) }
        }
        if case .event(let event) = clocked {
            guard event.timestamp >= EventDecoder.earliestTimestamp,
                  event.timestamp <= now + EventDecoder.maxFutureMillis
            else { violated("accepted ts \(event.timestamp) out of range for now=\(now)", bytes) }
        }
    }
    return 0
}
