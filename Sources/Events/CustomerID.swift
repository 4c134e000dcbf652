#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A customer id as a key: equal and hashed by its UTF-8 bytes, as the contract treats it (the arm hashes
/// its bytes, Kafka keys and both stores' rows are bytes). `String`'s own `==` and hash treat canonically
/// equivalent strings — "é" (U+00E9) and "e\u{301}" — as one, which made two customers' events one profile
/// in the enricher's cache and one row of a bulk load.
public struct CustomerID: Hashable, Sendable, CustomStringConvertible {
    /// The id.
    public let string: String

    /// The key of `string`.
    @inline(__always) public init(_ string: String) { self.string = string }

    public static func == (a: CustomerID, b: CustomerID) -> Bool {
        let same = a.string.utf8.withContiguousStorageIfAvailable { x in
            b.string.utf8.withContiguousStorageIfAvailable { y in
                x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
            }
        }
        if let same, let same { return same }
        return a.string.utf8.elementsEqual(b.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        if string.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            var copy = string
            copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    public var description: String { string }
}

extension CustomerID: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(value) }
}
