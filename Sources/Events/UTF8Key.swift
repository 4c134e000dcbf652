#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A customer id as a key (see ``UTF8Key``).
public typealias CustomerID = UTF8Key

/// A string as a key: equal and hashed by its UTF-8 bytes, as the contract treats ids, pages and types (the
/// arm hashes an id's bytes, Kafka keys and both stores' rows are bytes). `String`'s own `==` and hash treat
/// canonically equivalent strings — "é" (U+00E9) and "e\u{301}" — as one, which made two customers' events
/// one profile in the enricher's cache and one row of a bulk load, and two pages one counter.
public struct UTF8Key: Hashable, Sendable, CustomStringConvertible {
    /// The id.
    public let string: String

    /// The key of `string`.
    @inline(__always) public init(_ string: String) { self.string = string }

    public static func == (a: UTF8Key, b: UTF8Key) -> Bool {
        a.string.utf8.count == b.string.utf8.count && compareBytes(a.string, b.string) == 0
    }

    /// Byte order of two strings' UTF-8 (the stores' key order: SQLite's BINARY collation, PostgreSQL's
    /// `COLLATE "C"`): negative, zero or positive.
    public static func compareBytes(_ a: String, _ b: String) -> Int {
        let result = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y -> Int in
                let common = min(x.count, y.count)
                if common > 0, let xb = x.baseAddress, let yb = y.baseAddress {
                    let c = memcmp(xb, yb, common)
                    if c != 0 { return Int(c) }
                }
                return x.count - y.count
            }
        }
        if let result, let result { return result }
        if a.utf8.elementsEqual(b.utf8) { return 0 }
        return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
    }

    public func hash(into hasher: inout Hasher) {
        if string.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            var copy = string
            copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    public var description: String { string }
}

extension UTF8Key: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(value) }
}
