/// Writing JSON text by hand for the engine's outputs (churn-scores messages, HTTP answers), where
/// doubles must keep full precision.
public enum JSONText {
    /// A JSON string literal for `s` (RFC 8259 escaping; the one escaper is `JSONBytes.string`).
    public static func string(_ s: String) -> String {
        var w = JSONBytes(capacity: s.utf8.count + 2)
        w.string(s)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// A double in shortest round-trip form (`null` if not finite).
    public static func number(_ d: Double) -> String { d.isFinite ? "\(d)" : "null" }
}

/// Writes JSON straight into bytes (the hot path of output messages): strings escaped byte by byte (a
/// string with nothing to escape is copied whole), doubles in the same shortest round-trip form as
/// `JSONText.number`.
public struct JSONBytes: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer with room for `capacity` bytes.
    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Lets `body` write JSON at the end of `buffer`: the writer takes the buffer over meanwhile (no copy).
    public static func append(to buffer: inout [UInt8], _ body: (inout JSONBytes) -> Void) {
        var writer = JSONBytes(capacity: 0)
        swap(&writer.bytes, &buffer)
        body(&writer)
        swap(&writer.bytes, &buffer)
    }

    /// Raw text (a key with its quotes and colon, a brace, a comma).
    @inline(__always)
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A JSON string literal (RFC 8259 escaping, as `JSONText.string`).
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            var start = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                switch b {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// A double in shortest round-trip form (`null` if not finite), as `JSONText.number`.
    public mutating func number(_ d: Double) {
        guard d.isFinite else { return raw("null") }
        // The digits of `description`, written from the standard library's stack buffer through
        // `_writeASCII` below: `description` allocated a String for the 17 or more characters most
        // probabilities have.
        d.write(to: &self)
    }

    /// An integer.
    public mutating func int(_ n: Int) {
        if n >= 0 && n < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(n))
            return
        }
        var text = String(n)
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Already-encoded JSON bytes.
    public mutating func json(_ text: some Collection<UInt8>) { bytes.append(contentsOf: text) }
}

extension JSONBytes: TextOutputStream {
    /// Appends `string`'s UTF-8 as it is (no quoting: use ``string(_:)`` for a JSON string).
    public mutating func write(_ string: String) { bytes.append(contentsOf: string.utf8) }
    /// Appends ASCII text as it is: what `Double.write(to:)` hands over.
    public mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: buffer) }
}
