// A strict, allocation-free, single-pass RFC 8259 JSON validator over raw bytes.
//
// It validates every byte (structure, numbers, escapes, UTF-8 inside strings) and, for the top-level
// object, reports where the values of the known event fields are, so that the decoder creates Swift
// Strings only for those. Nesting is handled iteratively (no recursion), bounded at
// `JSONScanner.maxDepth` levels like Foundation's parser.

/// A JSON syntax error found by the scanner (internal detail; callers see ``MalformedReason/badJSON``
/// or ``MalformedReason/invalidUTF8``).
package struct JSONSyntaxError: Error, Sendable, Equatable {
    /// What went wrong.
    package enum Kind: Sendable, Equatable {
        /// Input ended inside a value.
        case unexpectedEnd
        /// A byte that cannot appear at this position.
        case unexpectedByte
        /// `,` directly before `}` or `]` (accepted by Foundation, forbidden by RFC 8259).
        case trailingComma
        /// Containers nested more than `JSONScanner.maxDepth` deep.
        case tooDeep
        /// Unknown escape or malformed `\u` escape.
        case invalidEscape
        /// A `\u` escape of a lone or mis-ordered UTF-16 surrogate.
        case loneSurrogate
        /// An unescaped control character (U+0000–U+001F) in a string.
        case controlCharacter
        /// Malformed UTF-8 inside a string.
        case invalidUTF8
        /// Number grammar violation (leading zero, missing digits, …).
        case invalidNumber
        /// A number whose magnitude overflows a Double (Foundation rejects these too).
        case numberOutOfRange
        /// Non-whitespace after the top-level value.
        case trailingData
    }

    /// What went wrong.
    package let kind: Kind
    /// Byte offset where it was detected.
    package let offset: Int
}

/// Location of a string's content (between the quotes) in the input.
struct StringToken {
    /// Offset of the first content byte.
    var start: Int
    /// Offset of the closing quote.
    var end: Int
    /// Whether the content contains backslash escapes.
    var hasEscape: Bool
}

/// A value found for one of the known top-level fields.
enum FieldSlot {
    /// Not seen.
    case absent
    /// A string value.
    case string(StringToken)
    /// A value of another JSON type (including `null`).
    case notString
    /// Seen more than once.
    case duplicate
}

/// Bit stack of open containers (1 = object, 0 = array). No allocation below 64 levels.
struct ContainerStack {
    private var low: UInt64 = 0
    private var spill: [UInt64] = []
    /// Number of open containers.
    private(set) var count = 0

    /// No container open.
    var isEmpty: Bool { count == 0 }

    /// Opens a container.
    mutating func push(isObject: Bool) {
        if count < 64 {
            if isObject { low |= (1 as UInt64) << UInt64(count) } else { low &= ~((1 as UInt64) << UInt64(count)) }
        } else {
            let index = count - 64
            let word = index >> 6
            if word >= spill.count { spill.append(0) }
            let bit = (1 as UInt64) << UInt64(index & 63)
            if isObject { spill[word] |= bit } else { spill[word] &= ~bit }
        }
        count += 1
    }

    /// Closes the innermost container.
    mutating func pop() { count -= 1 }

    /// Whether the innermost open container is an object.
    var topIsObject: Bool {
        let index = count - 1
        if index < 64 { return (low >> UInt64(index)) & 1 == 1 }
        let spillIndex = index - 64
        return (spill[spillIndex >> 6] >> UInt64(spillIndex & 63)) & 1 == 1
    }
}

/// The scanner. `base` must be valid for `end` bytes for the scanner's whole life.
struct JSONScanner {
    /// Maximum container nesting depth (same as Foundation's `JSONSerialization`: 512).
    static let maxDepth = 512

    /// The input.
    let base: UnsafePointer<UInt8>
    /// The input's length.
    let end: Int
    /// The current offset.
    var pos: Int = 0

    /// A scanner at offset 0 of `count` bytes at `base`.
    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.end = count
    }

    /// The byte at `i`, or 0 past the end (0 is never valid where a byte is examined, so the
    /// sentinel can only turn into an error).
    @inline(__always)
    func byte(_ i: Int) -> UInt8 { i < end ? base[i] : 0 }

    /// An error of `kind` at `at` (an unexpected byte past the end becomes `unexpectedEnd`).
    @inline(__always)
    func fail(_ kind: JSONSyntaxError.Kind, _ at: Int) -> JSONSyntaxError {
        JSONSyntaxError(kind: at >= end && kind == .unexpectedByte ? .unexpectedEnd : kind, offset: at)
    }

    /// Skips RFC 8259 whitespace (space, tab, LF, CR).
    @inline(__always)
    mutating func skipWhitespace() {
        while pos < end {
            let b = base[pos]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 } else { return }
        }
    }

    // MARK: strings

    /// Scans a string whose opening quote is at `pos - 1`; leaves `pos` after the closing quote.
    @inline(__always)
    mutating func scanString() throws(JSONSyntaxError) -> StringToken {
        let start = pos
        var escaped = false
        while true {
            // 8 bytes at a time while no byte is special (< 0x20, '"', '\\', >= 0x80).
            while pos &+ 8 <= end {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self))
                let ones: UInt64 = 0x0101_0101_0101_0101
                let highs: UInt64 = 0x8080_8080_8080_8080
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let special = ((word &- ones &* 0x20) | (quote &- ones) | (backslash &- ones)) & ~word & highs
                    | (word & highs)
                if special == 0 {
                    pos &+= 8
                } else {
                    pos &+= special.trailingZeroBitCount >> 3
                    break
                }
            }
            guard pos < end else { throw fail(.unexpectedEnd, pos) }
            let b = base[pos]
            if b == 0x22 {
                let token = StringToken(start: start, end: pos, hasEscape: escaped)
                pos &+= 1
                return token
            } else if b == 0x5C {
                escaped = true
                try scanEscape()
            } else if b < 0x20 {
                throw fail(.controlCharacter, pos)
            } else if b < 0x80 {
                pos &+= 1
            } else {
                guard let length = UTF8Check.sequenceLength(base, pos, end) else {
                    throw fail(.invalidUTF8, pos)
                }
                pos &+= length
            }
        }
    }

    /// Validates the escape at `pos` (a backslash) and moves past it.
    @inline(__always)
    mutating func scanEscape() throws(JSONSyntaxError) {
        switch byte(pos + 1) {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            pos += 2
        case UInt8(ascii: "u"):
            guard let unit = hex4(pos + 2) else { throw fail(.invalidEscape, pos) }
            if unit >= 0xD800 && unit <= 0xDBFF {
                guard byte(pos + 6) == UInt8(ascii: "\\"), byte(pos + 7) == UInt8(ascii: "u"),
                      let low = hex4(pos + 8), low >= 0xDC00, low <= 0xDFFF
                else { throw fail(.loneSurrogate, pos) }
                pos += 12
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                throw fail(.loneSurrogate, pos)
            } else {
                pos += 6
            }
        default:
            throw fail(.invalidEscape, pos)
        }
    }

    /// Four hex digits at `i`, or nil.
    @inline(__always)
    func hex4(_ i: Int) -> UInt32? {
        guard i + 4 <= end else { return nil }
        var value: UInt32 = 0
        for k in 0..<4 {
            guard let digit = hexValue(base[i + k]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }

    // MARK: values

    /// Consumes `true`, `false` or `null` starting at `pos`.
    @inline(__always)
    mutating func scanLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        let bytes = literal.utf8Start
        for k in 0..<count where byte(pos + k) != bytes[k] {
            throw fail(.unexpectedByte, pos + k)
        }
        pos += count
    }

    /// Consumes a number starting at `pos` (a `-` or a digit).
    mutating func scanNumber() throws(JSONSyntaxError) {
        let start = pos
        if byte(pos) == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        let first = byte(pos)
        if first == UInt8(ascii: "0") {
            pos += 1
        } else if first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") {
            pos += 1
            while isDigit(byte(pos)) { pos += 1 }
        } else {
            throw fail(.invalidNumber, pos)
        }
        let intDigits = pos - intStart
        var hasExponent = false
        if byte(pos) == UInt8(ascii: ".") {
            pos += 1
            guard isDigit(byte(pos)) else { throw fail(.invalidNumber, pos) }
            while isDigit(byte(pos)) { pos += 1 }
        }
        let e = byte(pos)
        if e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            hasExponent = true
            pos += 1
            let sign = byte(pos)
            if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(byte(pos)) else { throw fail(.invalidNumber, pos) }
            while isDigit(byte(pos)) { pos += 1 }
        }
        // Rare slow path: only a number with an exponent or more than 308 integer digits can
        // overflow a Double; reject those that do (as Foundation does).
        if hasExponent || intDigits > 308 {
            let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
            if let value = Double(text), !value.isFinite {
                throw fail(.numberOutOfRange, start)
            }
        }
    }

    /// Consumes `"key"` `:` and following whitespace; `pos` is at the opening quote.
    @inline(__always)
    mutating func scanKeyAndColon() throws(JSONSyntaxError) {
        guard byte(pos) == UInt8(ascii: "\"") else { throw fail(.unexpectedByte, pos) }
        pos += 1
        _ = try scanString()
        skipWhitespace()
        guard byte(pos) == UInt8(ascii: ":") else { throw fail(.unexpectedByte, pos) }
        pos += 1
        skipWhitespace()
    }

    /// Consumes one complete JSON value of any kind starting at `pos` (whitespace already
    /// skipped). `outerDepth` is the number of containers already open around it.
    mutating func skipValue(outerDepth: Int) throws(JSONSyntaxError) {
        var stack = ContainerStack()
        nextValue: while true {
            let b = byte(pos)
            switch b {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = b == UInt8(ascii: "{")
                guard outerDepth + stack.count < Self.maxDepth else { throw fail(.tooDeep, pos) }
                stack.push(isObject: isObject)
                pos += 1
                skipWhitespace()
                if byte(pos) == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    pos += 1
                    stack.pop()
                } else {
                    if isObject { try scanKeyAndColon() }
                    continue nextValue
                }
            case UInt8(ascii: "\""):
                pos += 1
                _ = try scanString()
            case UInt8(ascii: "t"): try scanLiteral("true")
            case UInt8(ascii: "f"): try scanLiteral("false")
            case UInt8(ascii: "n"): try scanLiteral("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
            default: throw fail(.unexpectedByte, pos)
            }
            // After a complete value: close containers / find the next element.
            while true {
                if stack.isEmpty { return }
                skipWhitespace()
                let c = byte(pos)
                if c == UInt8(ascii: ",") {
                    let comma = pos
                    pos += 1
                    skipWhitespace()
                    if stack.topIsObject {
                        if byte(pos) == UInt8(ascii: "}") { throw fail(.trailingComma, comma) }
                        try scanKeyAndColon()
                    } else if byte(pos) == UInt8(ascii: "]") {
                        throw fail(.trailingComma, comma)
                    }
                    continue nextValue
                }
                if c == (stack.topIsObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    pos += 1
                    stack.pop()
                    continue
                }
                throw fail(.unexpectedByte, pos)
            }
        }
    }

    /// Validates a whole document (any top-level value). Used for non-object inputs.
    mutating func validateDocument() throws(JSONSyntaxError) {
        skipWhitespace()
        try skipValue(outerDepth: 0)
        skipWhitespace()
        guard pos == end else { throw fail(.trailingData, pos) }
    }
}

/// Whether `b` is an ASCII digit.
@inline(__always)
func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

/// The value of an ASCII hex digit, or nil.
@inline(__always)
func hexValue(_ b: UInt8) -> UInt32? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
    default: return nil
    }
}

/// Strict UTF-8 checks (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
enum UTF8Check {
    /// Length of the valid multi-byte sequence starting at `i` (whose first byte is >= 0x80),
    /// or nil if it is not a valid sequence.
    @inline(__always)
    static func sequenceLength(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int? {
        @inline(__always) func at(_ k: Int) -> UInt8 { i + k < end ? p[i + k] : 0 }
        @inline(__always) func isCont(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
        let b0 = p[i]
        switch b0 {
        case 0xC2...0xDF:
            return isCont(at(1)) ? 2 : nil
        case 0xE0:
            let b1 = at(1)
            return b1 >= 0xA0 && b1 <= 0xBF && isCont(at(2)) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF:
            return isCont(at(1)) && isCont(at(2)) ? 3 : nil
        case 0xED:
            let b1 = at(1)
            return b1 >= 0x80 && b1 <= 0x9F && isCont(at(2)) ? 3 : nil
        case 0xF0:
            let b1 = at(1)
            return b1 >= 0x90 && b1 <= 0xBF && isCont(at(2)) && isCont(at(3)) ? 4 : nil
        case 0xF1...0xF3:
            return isCont(at(1)) && isCont(at(2)) && isCont(at(3)) ? 4 : nil
        case 0xF4:
            let b1 = at(1)
            return b1 >= 0x80 && b1 <= 0x8F && isCont(at(2)) && isCont(at(3)) ? 4 : nil
        default:
            return nil
        }
    }

    /// Whether `count` bytes at `p` are entirely strict UTF-8.
    static func isValid(_ p: UnsafePointer<UInt8>, count: Int) -> Bool {
        var i = 0
        while i < count {
            if p[i] < 0x80 {
                i += 1
            } else if let length = sequenceLength(p, i, count) {
                i += length
            } else {
                return false
            }
        }
        return true
    }
}
