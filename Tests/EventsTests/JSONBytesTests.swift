import Events
import Testing

/// The byte writer of output messages (and `JSONText`, which uses it) against an independent RFC 8259
/// escaper written here over Unicode scalars (the engine's earlier implementation).
@Suite("JSONBytes escaping and numbers")
struct JSONBytesTests {
    static func referenceEscape(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    @Test("strings: escapes, control characters, non-ASCII, long runs without escapes")
    func strings() {
        var rng = SystemRandomNumberGenerator()
        var samples = ["", "plain", "quote\"back\\slash", "line\nbreak\r\ttab", "\u{0}\u{1}\u{1f}\u{7f}", "é 中文 🚀", String(repeating: "x", count: 5_000) + "\""]
        let alphabet: [Character] = ["a", "\"", "\\", "\n", "\u{1}", "é", "🚀", " ", "\u{1f}", "z"]
        for _ in 0..<2_000 {
            samples.append(String((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
        }
        for s in samples {
            var w = JSONBytes()
            w.string(s)
            #expect(String(decoding: w.bytes, as: UTF8.self) == Self.referenceEscape(s), "\(s.debugDescription)")
            #expect(JSONText.string(s) == Self.referenceEscape(s))
        }
    }

    @Test("numbers and integers")
    func numbers() {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, 1, 31, 0.1 + 0.2, 1e-7, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .nan, .infinity, -.infinity]
        for _ in 0..<10_000 {
            let d = Double(bitPattern: UInt64.random(in: .min ... .max, using: &rng))
            values.append(d)
        }
        for d in values {
            var w = JSONBytes()
            w.number(d)
            #expect(String(decoding: w.bytes, as: UTF8.self) == (d.isFinite ? "\(d)" : "null"))
        }
        for n in [0, 7, 9, 10, -1, -10, 123_456_789, Int.min, Int.max] {
            var w = JSONBytes()
            w.int(n)
            #expect(String(decoding: w.bytes, as: UTF8.self) == String(n))
        }
    }
}
