import Foundation
import Testing
import Events

/// `EventDecoder.withFields`: the counter's view of a valid event as bytes in the message.
@Suite("Event fields as bytes (withFields)")
struct EventFieldsTests {
    /// What a caller sees through `withFields`, each text read through its bytes.
    struct Seen: Equatable {
        var eventID, type, customerID: String
        var page: String?
        var timestamp: Int64
        var kind: EventKind
    }

    static func seen(_ bytes: [UInt8], nowMillis: Int64? = nil) -> Result<Seen, MalformedReason> {
        bytes.withUnsafeBytes { raw in
            EventDecoder.withFields(raw, nowMillis: nowMillis) { fields in
                func text(_ field: FieldText) -> String { field.withBytes { String(decoding: $0, as: UTF8.self) } }
                return Seen(eventID: text(fields.eventID), type: text(fields.type), customerID: text(fields.customerID),
                            page: fields.page.map(text), timestamp: fields.timestamp, kind: fields.kind)
            }
        }
    }

    @Test("every line of the reference dirty stream: bytes read the same as the decoded event, reasons the same")
    func agreesWithDecode() throws {
        var valid = 0
        for line in try Reference.lines("events_dirty.jsonl") {
            switch (EventDecoder.decode(line), Self.seen(line)) {
            case (.event(let event), .success(let seen)):
                valid += 1
                #expect(seen == Seen(eventID: event.eventID, type: event.type, customerID: event.customerID,
                                     page: event.page, timestamp: event.timestamp, kind: event.kind))
            case (.malformed(let reason), .failure(let other)):
                #expect(reason == other)
            case (let decoded, let seen):
                Issue.record("decode \(decoded) but withFields \(seen)")
            }
        }
        #expect(valid == 5_000)
    }

    @Test("escaped values are unescaped in the bytes, and an escaped type is classified by its value")
    func escapes() {
        let text = message(eventID: #""e\u002d1""#, type: #""page\u005fview""#, customerID: #""caf\u00e9""#,
                           page: #""\/pricing\ud83d\ude00""#)
        guard case .success(let seen) = Self.seen(Array(text.utf8)) else {
            Issue.record("rejected: \(text)")
            return
        }
        #expect(seen.eventID == "e-1")
        #expect(seen.type == "page_view")
        #expect(seen.kind == .pageView)
        #expect(seen.customerID == "café")
        #expect(seen.page == "/pricing😀")
    }

    @Test("the clock check rejects before the caller sees the fields")
    func clockCheck() {
        let text = message(ts: #""2026-02-03T10:42:00.000Z""#)
        let clock = EventDecoder.earliestTimestamp // years before the event: more than a day behind it
        var called = false
        let result = Array(text.utf8).withUnsafeBytes { raw in
            EventDecoder.withFields(raw, nowMillis: clock) { _ in called = true }
        }
        #expect(result.map { 0 } == .failure(.timestampOutOfRange))
        #expect(!called)
    }

    @Test("type words classify by exact bytes; near misses are other", arguments: [
        ("page_view", EventKind.pageView), ("support_call", .supportCall), ("complaint", .complaint),
        ("login", .login), ("order", .order), ("Page_view", .other), ("page_vie", .other), ("complaints", .other),
        ("", .other), ("page_view ", .other),
    ])
    func kinds(word: String, kind: EventKind) {
        var bytes = Array(word.utf8)
        #expect(bytes.withUnsafeMutableBufferPointer { EventKind(utf8: UnsafeBufferPointer($0)) } == kind)
        #expect(EventKind(type: word) == kind)
    }
}
