import Foundation
import Testing
import Events

/// Builds an event message from raw JSON value fragments (`nil` omits the field).
func message(eventID: String? = #""e-1""#, type: String? = #""page_view""#, customerID: String? = #""C1""#,
             ts: String? = #""2026-02-01T10:42:00.000Z""#, page: String? = #""/pricing""#, extra: String = "") -> String {
    var members: [String] = []
    if let eventID { members.append(#""event_id":"# + eventID) }
    if let type { members.append(#""type":"# + type) }
    if let customerID { members.append(#""customer_id":"# + customerID) }
    if let ts { members.append(#""ts":"# + ts) }
    if let page { members.append(#""page":"# + page) }
    if !extra.isEmpty { members.append(extra) }
    return "{" + members.joined(separator: ",") + "}"
}

func decode(_ text: String) -> DecodeResult { EventDecoder.decode(Array(text.utf8)) }
func category(_ text: String) -> String? { decode(text).malformedReason?.category }
func category(bytes: [UInt8]) -> String? { EventDecoder.decode(bytes).malformedReason?.category }

/// `2026-02-01T10:42:00.000Z` in epoch milliseconds.
let feb1 = Int64(1_769_942_520_000)

@Suite("Decoder rules")
struct DecoderRuleTests {
    @Test("a complete event decodes into its fields")
    func baseline() throws {
        let event = try #require(decode(message(extra: #""session_id":"s1","referrer":"r","user_agent":"ua""#)).event)
        #expect(event == Event(eventID: "e-1", type: "page_view", customerID: "C1", timestamp: feb1, page: "/pricing"))
        #expect(event.kind == .pageView && event.isRelevantForPrediction && event.isPageView)
    }

    @Test("keys in any order, whitespace everywhere, nested unknown fields, Data and slice inputs")
    func layout() throws {
        let text = " \t\r\n{ \"properties\" : {\"a\":[1,-2.5e-3,true,false,null,{\"b\":\"\\u00e9\"},[]],\"c\":{}} ,\n\"ts\":\"2026-02-01T10:42:00Z\" ,\"page\" :\"/\", \"customer_id\":\"C1\",\"type\":\"page_view\",\"event_id\":\"x\" } \n"
        let event = try #require(decode(text).event)
        #expect(event.timestamp == feb1 && event.customerID == "C1" && event.page == "/")
        #expect(EventDecoder.decode(Data(text.utf8)).event == event)
        let padded = Array("xx".utf8) + Array(text.utf8)
        #expect(EventDecoder.decode(padded[2...]).event == event)
    }

    @Test("escapes are unescaped, including surrogate pairs and escaped keys")
    func escapes() throws {
        let event = try #require(decode(message(customerID: #""caf\u00e9\ud83d\ude00""#, ts: #""2026\u002d02-01T10:42:00.000Z""#,
                                                page: #""/a\/b\"c\\d\b\f\n\r\t\u0041\u65e5""#)).event)
        #expect(event.customerID == "café😀")
        #expect(event.timestamp == feb1)
        #expect(event.page == "/a/b\"c\\d\u{08}\u{0C}\n\r\tA日")
        let escapedKey = #"{"event_id":"e","type":"login","customer\u005fid":"C9","\u0074s":"2026-02-01T10:42:00Z"}"#
        #expect(decode(escapedKey).event?.customerID == "C9")
        // Raw (unescaped) non-ASCII is kept as is.
        #expect(decode(message(page: "\"/product/日本語-plan\"")).event?.page == "/product/日本語-plan")
    }

    @Test("lone or mis-ordered surrogate escapes are bad JSON")
    func loneSurrogates() {
        for value in [#""\ud800""#, #""\udc00""#, #""\ud800x""#, #""\ud800\u0041""#, #""\ude00\ud83d""#, #""\ud800\ud800""#] {
            #expect(category(message(page: value)) == "bad_json", "\(value)")
            #expect(category(message(extra: #""x":"# + value)) == "bad_json", "\(value)")
        }
    }

    @Test("U+0000 in type, customer_id or page (stored as text) is malformed, naming the field; elsewhere and U+0001 are fine")
    func nulCharacter() {
        #expect(decode(message(customerID: #""a\u0000b""#)).malformedReason == .nulCharacter(.customerID))
        #expect(decode(message(customerID: #""a\u0000b""#)).malformedReason?.description == "bad field customer_id: contains U+0000")
        #expect(category(message(customerID: #""\u0000""#)) == "bad_customer_id")
        #expect(decode(message(type: #""page\u0000view""#)).malformedReason == .nulCharacter(.type))
        #expect(decode(message(page: #""/pricing\u0000""#)).malformedReason == .nulCharacter(.page))
        #expect(decode(message(type: #""login""#, page: #""\u0000""#)).malformedReason == .nulCharacter(.page))
        #expect(decode(message(eventID: #""e\u0000""#)).event != nil, "event_id is not stored")
        #expect(decode(message(extra: #""session_id":"\u0000""#)).event != nil)
        #expect(decode(message(customerID: #""a\u0001b""#)).event?.customerID == "a\u{1}b")
        #expect(decode(message(customerID: #""a\\u0000b""#)).event?.customerID == #"a\u0000b"#, "an escaped backslash, not U+0000")
    }

    @Test("ids: 128 Unicode scalars accepted, 129 rejected (scalars, not bytes or graphemes)")
    func idLength() {
        let a128 = String(repeating: "a", count: 128)
        #expect(decode(message(eventID: "\"\(a128)\"", customerID: "\"\(a128)\"")).event != nil)
        #expect(category(message(eventID: "\"\(a128)a\"")) == "bad_event_id")
        #expect(category(message(customerID: "\"\(a128)a\"")) == "bad_customer_id")
        #expect(decode(message(customerID: "\"\(String(repeating: "é", count: 128))\"")).event != nil) // 256 bytes
        #expect(decode(message(customerID: "\"\(String(repeating: "😀", count: 128))\"")).event != nil) // 512 bytes
        #expect(category(message(customerID: "\"\(String(repeating: "é", count: 129))\"")) == "bad_customer_id")
        #expect(decode(message(customerID: "\"\(String(repeating: #"\u00e9"#, count: 128))\"")).event != nil) // escaped
        #expect(category(message(customerID: "\"\(String(repeating: #"\u00e9"#, count: 129))\"")) == "bad_customer_id")
        // 65 × (e + U+0301) = 65 grapheme clusters but 130 scalars → too long.
        #expect(category(message(customerID: "\"\(String(repeating: "e\u{301}", count: 65))\"")) == "bad_customer_id")
        #expect(decode(message(customerID: "\"\(String(repeating: "e\u{301}", count: 64))\"")).event != nil)
        #expect(decode(message(customerID: "\"x\"")).event?.customerID == "x")
        #expect(decode(message(type: #""a_type_longer_than_one_hundred_and_twenty_eight_\#(a128)""#, page: nil)).event != nil)
    }

    @Test("exactly 65,536 bytes accepted, 65,537 too large")
    func sizeLimit() throws {
        let base = message(extra: #""pad":"""#)
        let fill = 65_536 - base.utf8.count
        let exact = message(extra: #""pad":""# + String(repeating: "A", count: fill) + #"""#)
        #expect(exact.utf8.count == 65_536)
        #expect(decode(exact).event != nil)
        let over = message(extra: #""pad":""# + String(repeating: "A", count: fill + 1) + #"""#)
        #expect(decode(over).malformedReason == .tooLarge)
        #expect(category(bytes: [UInt8](repeating: 0xFF, count: 70_000)) == "too_large") // size is checked first
    }

    @Test("strict UTF-8: every invalid kind is invalid_utf8, wherever it is",
          arguments: [[0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xE0, 0x9F, 0xBF],
                      [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80],
                      [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3, 0x28]] as [[UInt8]])
    func invalidUTF8(sequence: [UInt8]) {
        let prefix = Array(#"{"event_id":"e","type":"page_view","customer_id":"C1","ts":"2026-02-01T10:42:00Z","page":"/p"#.utf8)
        #expect(category(bytes: prefix + sequence + Array(#""}"#.utf8)) == "invalid_utf8")        // in a kept field
        #expect(category(bytes: Array(#"{"x"#.utf8) + sequence + Array(#"":1}"#.utf8)) == "invalid_utf8") // in a key
        #expect(category(bytes: sequence + Array("{}".utf8)) == "invalid_utf8")                       // outside strings
        #expect(category(bytes: Array("{,".utf8) + sequence) == "invalid_utf8")                       // beats bad JSON
    }

    @Test("valid multi-byte UTF-8 boundaries are accepted")
    func validUTF8() {
        for scalar in ["\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFD}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}", "\u{7F}"] {
            #expect(decode(message(page: "\"/\(scalar)\"")).event?.page == "/\(scalar)")
        }
    }

    @Test("bad JSON per RFC 8259", arguments: [
        "", " ", "\n", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "{\"a\":[1,]}",
        "{\"a\":1}{}", "{\"a\":1} x", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":-Infinity}", "{\"a\":01}", "{\"a\":-01}",
        "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":-}", "{\"a\":0x10}", "{\"a\":1e400}",
        "{\"a\":-1e400}", "{\"a\":tru}", "{\"a\":True}", "{\"a\":nul}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\U0041\"}", "{\"a\":\"\t\"}", "{\"a\":\"\n\"}", "{\"a\":\"\u{1F}\"}", "{\"a\":\"abc}", "// c\n{}", "{/* c */}",
        "{\"a\":[}", "{\"a\":{]}", "{\"a\":[1 2]}", "{\"a\":{\"b\":1 \"c\":2}}", "{,}", "{\"a\":1,,\"b\":2}", "[1,]",
        "\u{FEFF}{}", "{\"a\":1}\u{0}",
    ])
    func badJSON(text: String) {
        #expect(category(text) == "bad_json", "\(text.debugDescription)")
    }

    @Test("numbers: grammar edge cases and Double range, like Foundation")
    func numbers() {
        for number in ["0", "-0", "1e308", "-1.7976931348623157e308", "1e-400", "0e99999", "123456789012345678901234567890",
                       String(repeating: "9", count: 300), "1E+2", "1e-2", "0.000", "-0.0e-0"] {
            #expect(decode(message(extra: "\"n\":\(number)")).event != nil, "\(number)")
        }
        #expect(category(message(extra: "\"n\":1\(String(repeating: "0", count: 309))")) == "bad_json")
        #expect(category(message(extra: "\"n\":1.7976931348623159e308")) == "bad_json")
    }

    @Test("nesting: 512 levels accepted, 513 rejected (the top-level object counts)")
    func depth() {
        func nested(_ levels: Int) -> String { // the top-level object is level 1
            message(extra: "\"deep\":" + String(repeating: "[", count: levels - 1) + String(repeating: "]", count: levels - 1))
        }
        #expect(decode(nested(512)).event != nil)
        #expect(category(nested(513)) == "bad_json")
        #expect(category(String(repeating: "[", count: 100_00)) == "bad_json")
        let objects = message(extra: "\"deep\":" + String(repeating: "{\"k\":", count: 511) + "1" + String(repeating: "}", count: 511))
        #expect(decode(objects).event != nil)
    }

    @Test("deep mixed nesting (beyond the 64-level fast path) agrees with Foundation")
    func deepMixedNesting() {
        var opens = "", closes = ""
        for level in 0..<300 {
            if level % 3 == 0 { opens += "{\"k\":"; closes = "}" + closes } else { opens += "["; closes = "]" + closes }
        }
        let valid = message(extra: "\"deep\":" + opens + "1" + closes)
        #expect(decode(valid).event != nil)
        #expect((try? JSONSerialization.jsonObject(with: Data(valid.utf8))) != nil)
        for position in [10, 100, 150, 250] { // swap one closing bracket for the other kind
            var bytes = Array(valid.utf8)
            let index = bytes.count - 1 - position
            bytes[index] = bytes[index] == UInt8(ascii: "]") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            #expect(category(bytes: bytes) == "bad_json")
            #expect((try? JSONSerialization.jsonObject(with: Data(bytes))) == nil)
        }
    }

    @Test("top-level values other than an object are not_object",
          arguments: ["[]", "[1,2]", " \"x\" ", "1", "-2.5", "true", "false", "null", #"["C1","2026-02-01T10:42:00Z"]"#])
    func notObject(text: String) {
        #expect(decode(text).malformedReason == .notObject)
    }

    @Test("invalid JSON that is not an object is bad_json, not not_object")
    func notObjectNeedsValidJSON() {
        #expect(category("[1,]") == "bad_json")
        #expect(category("page_view C1 /p") == "bad_json")
    }

    @Test("missing and wrong-typed required fields")
    func requiredFields() {
        #expect(decode(message(eventID: nil)).malformedReason == .missingField(.eventID))
        #expect(decode(message(type: nil)).malformedReason == .missingField(.type))
        #expect(decode(message(customerID: nil)).malformedReason == .missingField(.customerID))
        #expect(decode(message(ts: nil)).malformedReason == .missingField(.ts))
        #expect(decode(message(customerID: nil)).malformedReason?.description == "missing field customer_id")
        for wrong in ["null", "42", "true", "[\"x\"]", "{\"a\":\"b\"}", "1.5"] {
            #expect(decode(message(eventID: wrong)).malformedReason == .notAString(.eventID))
            #expect(decode(message(type: wrong)).malformedReason == .notAString(.type))
            #expect(decode(message(customerID: wrong)).malformedReason == .notAString(.customerID))
            #expect(decode(message(ts: wrong)).malformedReason == .notAString(.ts))
            #expect(decode(message(page: wrong)).malformedReason == .notAString(.page))
        }
        #expect(decode(message(eventID: "\"\"")).malformedReason == .emptyField(.eventID))
        #expect(decode(message(type: "\"\"")).malformedReason == .emptyField(.type))
        #expect(decode(message(customerID: "\"\"")).malformedReason == .emptyField(.customerID))
        #expect(category(message(customerID: "\"\"")) == "bad_customer_id")
        #expect(decode(message(ts: "\"\"")).malformedReason == .badTimestamp)
        #expect(category(message(ts: "1772227238567")) == "bad_ts")
        // Fields are checked in order: event_id, type, customer_id, ts, page.
        #expect(decode(message(eventID: nil, customerID: "1")).malformedReason == .missingField(.eventID))
        #expect(decode(message(customerID: "1", ts: "\"no\"")).malformedReason == .notAString(.customerID))
        #expect(decode("{}").malformedReason == .missingField(.eventID))
    }

    @Test("page: required string for page_view, optional for others, any string allowed")
    func page() throws {
        #expect(decode(message(page: nil)).malformedReason == .missingField(.page))
        #expect(decode(message(page: nil)).malformedReason?.category == "bad_page")
        let login = try #require(decode(message(type: #""login""#, page: nil)).event)
        #expect(login.page == nil && login.kind == .login && !login.isRelevantForPrediction)
        #expect(decode(message(type: #""order""#, page: #""/checkout""#)).event?.page == "/checkout")
        #expect(decode(message(type: #""order""#, page: "null")).malformedReason == .notAString(.page))
        #expect(decode(message(type: #""order""#, page: "7")).malformedReason == .notAString(.page))
        #expect(decode(message(page: #""""#)).event?.page == "")
        #expect(decode(message(type: #""newsletter_open""#, page: nil)).event?.kind == .other)
        #expect(decode(message(type: #""support_call""#, page: nil)).event?.isSupportCall == true)
        #expect(decode(message(type: #""complaint""#, page: nil)).event?.isComplaint == true)
        #expect(decode(message(type: #""Page_View""#, page: nil)).event?.kind == .other) // case-sensitive
    }

    @Test("duplicate known keys are rejected; duplicate unknown keys are ignored")
    func duplicates() {
        #expect(decode(message(extra: #""customer_id":"C2""#)).malformedReason == .duplicateField(.customerID))
        #expect(decode(message(extra: #""customer\u005fid":"C2""#)).malformedReason == .duplicateField(.customerID))
        #expect(decode(message(extra: #""ts":"2026-02-01T10:42:00Z""#)).malformedReason == .duplicateField(.ts))
        #expect(decode(message(extra: #""page":null"#)).malformedReason == .duplicateField(.page))
        #expect(decode(message(extra: #""event_id":1"#)).malformedReason?.category == "bad_event_id")
        #expect(decode(message(extra: #""x":1,"x":2,"x":{}"#)).event != nil)
    }

    @Test("field values inside nested objects are not fields")
    func nestedNamesIgnored() {
        #expect(decode(message(customerID: nil, extra: #""properties":{"customer_id":"C1"}"#)).malformedReason == .missingField(.customerID))
        #expect(decode(message(extra: #""properties":{"customer_id":5,"ts":[]}"#)).event != nil)
    }

    @Test("malformed reasons have stable descriptions and the oracle's categories")
    func descriptions() {
        #expect(MalformedReason.tooLarge.description == "too_large")
        #expect(MalformedReason.missingField(.customerID).description == "missing field customer_id")
        #expect(MalformedReason.notAString(.ts).description == "bad field ts: not a string")
        #expect(MalformedReason.badTimestamp.category == "bad_ts")
        #expect(MalformedReason.duplicateField(.page).category == "bad_page")
        #expect(Set([MalformedReason.tooLarge, .invalidUTF8, .badJSON, .notObject, .missingField(.eventID), .emptyField(.type),
                     .fieldTooLong(.customerID), .badTimestamp, .notAString(.page)].map(\.category))
                == ["too_large", "invalid_utf8", "bad_json", "not_object", "bad_event_id", "bad_type", "bad_customer_id", "bad_ts", "bad_page"])
    }
}

@Suite("Decoder examples fixture")
struct DecoderExamplesTests {
    @Test("every example in Fixtures/decoder-examples.tsv decodes to its expected category")
    func examples() throws {
        let url = try #require(Bundle.module.url(forResource: "decoder-examples", withExtension: "tsv", subdirectory: "Fixtures"))
        let text = try String(contentsOf: url, encoding: .utf8)
        var checked = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let result = decode(String(parts[1]))
            #expect((result.malformedReason?.category ?? "ok") == String(parts[0]), "\(parts[1])")
            checked += 1
        }
        #expect(checked >= 19)
    }
}

/// CONTRACT §1: a `ts` before 2000-01-01 or more than 24 hours after the engine's clock is malformed.
@Suite("Decoder: ts range against the engine's clock")
struct TimestampRangeTests {
    func check(_ ts: String, now: Int64) -> DecodeResult {
        let bytes = Array(message(ts: "\"\(ts)\"").utf8)
        return bytes.withUnsafeBytes { EventDecoder.decode($0, nowMillis: now) }
    }

    @Test("the far future and the distant past are 'ts out of range'; the bounds themselves are accepted")
    func bounds() throws {
        let now = feb1
        #expect(check("9999-12-31T00:00:00Z", now: now).malformedReason == .timestampOutOfRange)
        #expect(check("1999-12-31T23:59:59.999Z", now: now).malformedReason == .timestampOutOfRange)
        #expect(check("2000-01-01T00:00:00Z", now: now).event != nil)
        // now + 24 h exactly is accepted, one millisecond more is not.
        #expect(check("2026-02-02T10:42:00.000Z", now: now).event != nil)
        #expect(check("2026-02-02T10:42:00.001Z", now: now).malformedReason == .timestampOutOfRange)
        #expect(MalformedReason.timestampOutOfRange.description == "ts out of range")
        #expect(MalformedReason.timestampOutOfRange.category == "bad_ts")
        // The clock-free decoder keeps its grammar-only behaviour.
        #expect(decode(message(ts: "\"9999-12-31T00:00:00Z\"")).event != nil)
    }

    @Test("the engine's clock is the wall clock")
    func clock() {
        let wall = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(abs(Timestamp.nowMillis() - wall) < 2_000)
    }
}
