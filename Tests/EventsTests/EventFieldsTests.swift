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
                Seen(eventID: text(fields, .eventID)!, type: text(fields, .type)!, customerID: text(fields, .customerID)!,
                     page: text(fields, .page), timestamp: fields.timestamp, kind: fields.kind)
            }
        }
    }

    /// A text field read through its bytes.
    static func text(_ fields: borrowing EventFields, _ field: EventField) -> String? {
        fields.withBytes(of: field) { String(decoding: $0, as: UTF8.self) }
    }

    @Test("read through withFields' bytes, the dirty reference stream gives the oracle's rejections and counts",
          arguments: [("events_clean.jsonl", "oracle_clean"), ("events_dirty.jsonl", "oracle_dirty")])
    func oracle(stream: String, oracle: String) throws {
        var rejected: [Int: String] = [:]
        if oracle == "oracle_dirty" {
            for row in try Reference.csv("oracle_dirty/rejected.csv") { rejected[Int(row["line_no"] ?? "") ?? -1] = row["reason"] }
        }
        var byType: [String: Int] = [:], byPage: [String: Int] = [:], perMinute: [String: Int] = [:]
        for (index, line) in try Reference.lines(stream).enumerated() {
            switch Self.seen(line) {
            case .success(let seen):
                #expect(rejected[index + 1] == nil, "line \(index + 1) accepted, oracle: \(rejected[index + 1] ?? "")")
                byType[seen.type, default: 0] += 1
                if seen.kind == .pageView, let page = seen.page {
                    byPage[page, default: 0] += 1
                    perMinute[Timestamp.format(millis: Timestamp.minuteFloor(seen.timestamp)), default: 0] += 1
                }
            case .failure(let reason):
                #expect(reason.category == rejected[index + 1], "line \(index + 1): \(reason)")
            }
        }
        try Reference.expectCounts(oracle, types: byType, pages: byPage, minutes: perMinute)
    }

    @Test("escaped values are unescaped in the bytes, and an escaped type is classified by its value")
    func escapes() {
        let text = message(eventID: #""e\u002d1""#, type: #""page\u005fview""#, customerID: #""caf\u00e9""#,
                           page: #""\/pricing\ud83d\ude00""#)
        guard case .success(let seen) = Self.seen(Array(text.utf8)) else {
            Issue.record("rejected: \(text)")
            return
        }
        #expect(seen == Seen(eventID: "e-1", type: "page_view", customerID: "café", page: "/pricing😀",
                             timestamp: 1_769_942_520_000, kind: .pageView))
    }

    @Test("no page, no page bytes; ts is not text")
    func absentFields() {
        let text = message(type: #""login""#, page: nil)
        let result = Array(text.utf8).withUnsafeBytes { raw in
            EventDecoder.withFields(raw, nowMillis: nil) { fields in
                (fields.hasPage, fields.withBytes(of: .page) { $0.count }, fields.withBytes(of: .ts) { $0.count }, fields.kind)
            }
        }
        guard case .success(let (hasPage, page, ts, kind)) = result else {
            Issue.record("rejected: \(text)")
            return
        }
        #expect(!hasPage && page == nil && ts == nil && kind == .login)
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
        ("", .other), ("page_view ", .other), ("pag\u{E9}_view", .other),
    ])
    func kinds(word: String, kind: EventKind) {
        var bytes = Array(word.utf8)
        #expect(bytes.withUnsafeMutableBufferPointer { EventKind(utf8: UnsafeBufferPointer($0)) } == kind)
    }
}
