// Deterministic fuzzing of EventDecoder, shared by FuzzTests and (via a symlink) the EventsBench
// executable of the development package. No `import Testing` here.
import Events
import Foundation
import TestSupport   // SplitMix64

/// The outcome of a fuzz run.
struct FuzzReport: Sendable, CustomStringConvertible {
    var inputs = 0
    var validJSON = 0
    var events = 0
    var malformedByCategory: [String: Int] = [:]
    /// Inputs where Foundation reads the bytes as UTF-16/32 (a NUL among the first 4 bytes).
    var excludedEncodingSniffing = 0
    /// Accepted events whose field values were not compared with Foundation's (U+FEFF present).
    var excludedBOMValues = 0
    /// Inputs compared after removing a BOM, trailing commas or overflowing numbers that Foundation
    /// never converts (documented Foundation leniencies).
    var comparedModuloLeniency = 0
    var disagreements: [String] = []
    var disagreementCount = 0

    var description: String {
        "inputs=\(inputs) validJSON=\(validJSON) events=\(events) excludedUTF16=\(excludedEncodingSniffing) "
            + "bomValues=\(excludedBOMValues) moduloLeniency=\(comparedModuloLeniency) disagreements=\(disagreementCount) malformed=\(malformedByCategory.sorted { $0.key < $1.key })"
    }
}

/// Generates random and mutated inputs and checks the decoder against Foundation.
enum DecoderFuzzer {
    /// Hand-made seeds that exercise escapes, numbers, nesting and edge values.
    static let extraSeeds: [String] = [
        #"{"event_id":"e\u00e9","type":"page_view","customer_id":"C\ud83d\ude00","ts":"2026-02-01T10:42:00.1234567+02:00","page":"/a\/b\"c\\\n"}"#,
        #"{"ts":"2024-02-29T23:59:59-05:30","page":"/pricing","type":"complaint","customer_id":"x","event_id":"1","properties":{"n":[0,-0,1.5e-3,1E+2,true,false,null,{"k":[]}]}}"#,
        #" { "event_id" : "a" , "type" : "login" , "customer_id" : "b" , "ts" : "2026-02-01T10:42:00Z" } "#,
        #"[1,2.0,"x",{"a":null}]"#,
        #"{"a":{"b":{"c":{"d":[[[[1]]]]}}}}"#,
        #"{"event_id":"e","type":"support_call","customer_id":"c","ts":"2026-02-01T10:42:00.000Z","session_id":"\u0000\u001f\u007f"}"#,
        #""just a string""#, "12345", "-0.5e10", "true", "null",
    ]

    static let significant: [[UInt8]] = [
        "{", "}", "[", "]", "\"", ",", ":", "\\", " ", "\t", "\n", "\r", "0", "1", "-", "+", ".", "e", "E", "t", "f", "n",
        "u", "/", "\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u00e9", "\\x", "NaN", "Infinity", "1e400", "01", "1.",
        "true", "false", "null", "{}", "[]", ",}", ",]", "//", "'", "\u{7F}", "é", "😀",
    ].map { Array($0.utf8) }

    static let badUTF8: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0x81], [0xC3], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
        [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5], [0xF8], [0xFE], [0xFF],
        [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0x00], [0x1F], [0xEF, 0xBB, 0xBF], [0xC2, 0xA0], [0xF4, 0x8F, 0xBF, 0xBF],
    ]

    /// Runs `count` inputs built from `seeds` plus ``extraSeeds``.
    static func run(count: Int, seed: UInt64, seeds realSeeds: [[UInt8]]) -> FuzzReport {
        var rng = SplitMix64(seed: seed)
        let seeds = realSeeds + extraSeeds.map { Array($0.utf8) }
        var report = FuzzReport()
        for _ in 0..<count {
            let input = makeInput(&rng, seeds: seeds)
            check(input, into: &report)
        }
        return report
    }

    static func makeInput(_ rng: inout SplitMix64, seeds: [[UInt8]]) -> [UInt8] {
        switch rng.next() % 16 {
        case 0: // random bytes from a JSON-heavy alphabet
            let length = Int(rng.next() % 48)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                let piece = significant[Int(rng.next() % UInt64(significant.count))]
                bytes += rng.next() % 8 == 0 ? [UInt8(truncatingIfNeeded: rng.next())] : piece
            }
            return bytes
        case 1: // a random JSON value, possibly mutated
            var bytes: [UInt8] = []
            randomValue(&rng, depth: 0, into: &bytes)
            if rng.next() % 2 == 0 { mutate(&bytes, &rng) }
            return bytes
        default: // 1–4 mutations of a real event
            var bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
            let rounds = 1 + Int(rng.next() % 4)
            for _ in 0..<rounds { mutate(&bytes, &rng) }
            return bytes
        }
    }

    static func randomValue(_ rng: inout SplitMix64, depth: Int, into out: inout [UInt8]) {
        let choice = depth > 4 ? rng.next() % 5 : rng.next() % 7
        switch choice {
        case 0: out += Array(["true", "false", "null"][Int(rng.next() % 3)].utf8)
        case 1: out += Array(["0", "-1", "3.25", "1e5", "-2E-3", "123456789012345678901", "1e308", "0.5e-400"][Int(rng.next() % 8)].utf8)
        case 2, 3, 4:
            let strings = ["", "a", "page_view", "2026-02-01T10:42:00.000Z", "\\u00e9\\n", "日本", "\\ud83d\\ude00", "\\\"q\\\""]
            out += Array(("\"" + strings[Int(rng.next() % UInt64(strings.count))] + "\"").utf8)
        case 5:
            out.append(UInt8(ascii: "["))
            for k in 0..<Int(rng.next() % 4) {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                randomValue(&rng, depth: depth + 1, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        default:
            out.append(UInt8(ascii: "{"))
            let keys = ["event_id", "type", "customer_id", "ts", "page", "x", "customer\\u005fid"]
            for k in 0..<Int(rng.next() % 6) {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                out += Array(("\"" + keys[Int(rng.next() % UInt64(keys.count))] + "\":").utf8)
                randomValue(&rng, depth: depth + 1, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        func position(_ extra: Int = 0) -> Int { Int(rng.next() % UInt64(bytes.count + extra)) }
        if bytes.isEmpty {
            bytes = significant[Int(rng.next() % UInt64(significant.count))]
            return
        }
        switch rng.next() % 10 {
        case 0: // bit flip
            let i = position()
            bytes[i] ^= UInt8(1) << UInt8(rng.next() % 8)
        case 1: // random byte
            bytes[position()] = UInt8(truncatingIfNeeded: rng.next())
        case 2: // truncation
            bytes.removeSubrange(position()...)
        case 3, 4: // insert JSON-significant bytes
            bytes.insert(contentsOf: significant[Int(rng.next() % UInt64(significant.count))], at: position(1))
        case 5: // insert (mostly invalid) UTF-8
            bytes.insert(contentsOf: badUTF8[Int(rng.next() % UInt64(badUTF8.count))], at: position(1))
        case 6: // delete a short range
            let i = position()
            bytes.removeSubrange(i..<min(bytes.count, i + 1 + Int(rng.next() % 4)))
        case 7: // duplicate a range elsewhere
            let i = position()
            let j = min(bytes.count, i + 1 + Int(rng.next() % 24))
            let chunk = Array(bytes[i..<j])
            bytes.insert(contentsOf: chunk, at: position(1))
        case 8: // replace a byte with a structural one
            let structural = Array("{}[]\":,\\ 0-.e".utf8)
            bytes[position()] = structural[Int(rng.next() % UInt64(structural.count))]
        default: // swap two bytes
            let i = position(), j = position()
            bytes.swapAt(i, j)
        }
    }

    /// Foundation's verdict on whether `bytes` are JSON.
    static func foundationAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    }

    static func containsBOM(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 3 else { return false }
        for i in 0..<(bytes.count - 2) where bytes[i] == 0xEF && bytes[i + 1] == 0xBB && bytes[i + 2] == 0xBF {
            return true
        }
        return false
    }

    static func ours(_ bytes: [UInt8]) -> JSONSyntaxError? {
        bytes.withUnsafeBytes { EventDecoder.jsonSyntaxError($0) }
    }

    static func check(_ input: [UInt8], into report: inout FuzzReport) {
        report.inputs += 1
        let result = EventDecoder.decode(input) // must not crash
        let syntax = ours(input)
        if syntax == nil { report.validJSON += 1 }
        func disagree(_ what: String) {
            report.disagreementCount += 1
            if report.disagreements.count < 20 {
                report.disagreements.append(what + " input=" + input.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined())
            }
        }
        // 1. The decoder's verdict is consistent with its own JSON grammar and with the stdlib's UTF-8 validator.
        let utf8Valid = String(validating: input, as: UTF8.self) != nil
        switch result {
        case .event(let event):
            report.events += 1
            if syntax != nil { disagree("event from invalid JSON") }
            // Unescaped values agree with Foundation's parse. Foundation (CFString) silently drops
            // U+FEFF from strings and keys, so inputs holding its UTF-8 form EF BB BF are not compared.
            if containsBOM(input) {
                report.excludedBOMValues += 1
            } else if let object = try? JSONSerialization.jsonObject(with: Data(input), options: []) as? [String: Any] {
                if object["event_id"] as? String != event.eventID || object["type"] as? String != event.type
                    || object["customer_id"] as? String != event.customerID || object["page"] as? String != event.page
                    || (object["ts"] as? String).flatMap(Timestamp.parse) != event.timestamp {
                    disagree("field values differ from Foundation")
                }
            } else if input.count >= 4, !input.prefix(4).contains(0) {
                disagree("Foundation cannot parse an accepted event")
            }
        case .malformed(let reason):
            report.malformedByCategory[reason.category, default: 0] += 1
            switch reason {
            case .tooLarge: return
            case .invalidUTF8: if utf8Valid || syntax == nil { disagree("invalid_utf8 verdict") }
            case .badJSON: if !utf8Valid || syntax == nil { disagree("bad_json verdict") }
            default: if syntax != nil { disagree("field error on invalid JSON \(reason)") }
            }
        }
        if !utf8Valid && syntax == nil { disagree("invalid UTF-8 passed the grammar") }
        // 2. Differential: valid JSON per us ⇔ per Foundation, modulo documented leniencies.
        if input.prefix(4).contains(0) {
            report.excludedEncodingSniffing += 1 // Foundation sniffs UTF-16/32 from NULs in the first bytes
            return
        }
        let foundation = foundationAccepts(input)
        var candidate = input
        var verdict = syntax
        var lenient = false
        if foundation {
            if candidate.starts(with: [0xEF, 0xBB, 0xBF]) { // Foundation skips a UTF-8 BOM
                candidate.removeFirst(3)
                verdict = ours(candidate)
                lenient = true
            }
            while let error = verdict, error.kind == .trailingComma || error.kind == .numberOutOfRange {
                if error.kind == .trailingComma { // Foundation accepts trailing commas
                    candidate[error.offset] = UInt8(ascii: " ")
                } else {
                    // Foundation converts numbers lazily: an overflowing number under a key that a
                    // duplicate key later overwrites is never checked. Neutralise it (0 + spaces).
                    candidate[error.offset] = UInt8(ascii: "0")
                    var i = error.offset + 1
                    while i < candidate.count, "0123456789+-.eE".utf8.contains(candidate[i]) {
                        candidate[i] = UInt8(ascii: " ")
                        i += 1
                    }
                }
                verdict = ours(candidate)
                lenient = true
            }
        }
        if lenient { report.comparedModuloLeniency += 1 }
        if foundation != (verdict == nil) {
            disagree("differential: foundation=\(foundation) ours=\(String(describing: verdict))")
        }
    }
}
