import Events

/// Why a serialised ``RollingState`` could not be read.
public struct RollingStateDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case truncated, unsupportedVersion, invalidValue, trailingBytes
    }

    private let code: Code
    private init(_ code: Code) { self.code = code }

    /// The blob ends early.
    public static let truncated = RollingStateDecodingError(.truncated)
    /// The format byte names an unknown version.
    public static let unsupportedVersion = RollingStateDecodingError(.unsupportedVersion)
    /// A value is out of range or inconsistent.
    public static let invalidValue = RollingStateDecodingError(.invalidValue)
    /// Bytes follow the encoded state.
    public static let trailingBytes = RollingStateDecodingError(.trailingBytes)

    /// Not retriable: the blob itself is bad.
    public var isRetriable: Bool { false }

    /// A short description (never the blob's bytes).
    public var description: String {
        switch code {
        case .truncated: return "rolling state: truncated"
        case .unsupportedVersion: return "rolling state: unsupported format version"
        case .invalidValue: return "rolling state: invalid value"
        case .trailingBytes: return "rolling state: trailing bytes"
        }
    }
}

extension RollingState {
    /// The current binary format version (first byte of ``encoded()``).
    public static let formatVersion: UInt8 = 1

    // Format v1 (all integers LEB128 varints, signed ones zig-zag):
    //   u8 version = 1
    //   u8 flags: bit0 newest present, bit1 latest page view present, bit2 previous page view present
    //   [zigzag newest] [newest − latestPageView] [newest − previousPageView]
    //   count of buckets, then per bucket: date(newest) − day, pageViews, pricingViews,
    //   cancelViews, supportCalls, complaints

    /// A compact, versioned binary encoding of the state (typically 10–80 bytes).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Writes ``encoded()``'s bytes into `out`, replacing its contents and keeping its capacity (the store
    /// reuses one buffer for every row of a transaction).
    public func encode(into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(16 + buckets.count * 8)
        out.append(Self.formatVersion)
        var flags: UInt8 = 0
        if newest != nil { flags |= 1 }
        if latestPageView != nil { flags |= 2 }
        if previousPageView != nil { flags |= 4 }
        out.append(flags)
        guard let newest else { return }
        Varint.put(Varint.zigzag(newest), into: &out)
        if let latestPageView { Varint.put(UInt64(bitPattern: newest &- latestPageView), into: &out) }
        if let previousPageView { Varint.put(UInt64(bitPattern: newest &- previousPageView), into: &out) }
        Varint.put(UInt64(buckets.count), into: &out)
        let newestDay = Timestamp.utcDay(newest)
        for bucket in buckets {
            Varint.put(UInt64(bitPattern: newestDay - bucket.day), into: &out)
            Varint.put(UInt64(bucket.pageViews), into: &out)
            Varint.put(UInt64(bucket.pricingViews), into: &out)
            Varint.put(UInt64(bucket.cancelViews), into: &out)
            Varint.put(UInt64(bucket.supportCalls), into: &out)
            Varint.put(UInt64(bucket.complaints), into: &out)
        }
    }

    /// Restores a state from ``encoded()`` output.
    /// - Throws: ``RollingStateDecodingError`` for a truncated, unknown-version or inconsistent blob.
    public init(decoding bytes: some Collection<UInt8>) throws(RollingStateDecodingError) {
        var reader = Varint.Reader(bytes: Array(bytes))
        guard let version = reader.byte() else { throw .truncated }
        guard version == Self.formatVersion else { throw .unsupportedVersion }
        guard let flags = reader.byte() else { throw .truncated }
        guard flags & ~7 == 0 else { throw .invalidValue }
        self.init()
        if flags & 1 == 0 {
            guard flags == 0 else { throw .invalidValue }
        } else {
            // Event times only (what `Timestamp.parse` can return): the features subtract them from one another
            // and from as-of times, which would overflow (and trap) for a stored time near Int64's ends.
            let newest = Varint.unzigzag(try reader.varint())
            guard Timestamp.parseableRange.contains(newest) else { throw .invalidValue }
            self.newest = newest
            let oldest = UInt64(newest - Timestamp.parseableRange.lowerBound)
            if flags & 2 != 0 {
                let delta = try reader.varint()
                guard delta <= oldest else { throw .invalidValue }
                latestPageView = newest - Int64(delta)
            }
            if flags & 4 != 0 {
                let delta = try reader.varint()
                guard delta > 0, delta <= oldest else { throw .invalidValue }
                previousPageView = newest - Int64(delta)
            }
            // Invariant: the latest page view is the newest event or the previous page view.
            if let latest = latestPageView, latest != newest, latest != previousPageView { throw .invalidValue }
            if latestPageView == nil, previousPageView != nil { throw .invalidValue }
            let count = try reader.varint()
            guard count <= UInt64(Self.windowDays) else { throw .invalidValue }
            let newestDay = Timestamp.utcDay(newest)
            var buckets: [DayBucket] = []
            buckets.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                let age = try reader.varint()
                guard age < UInt64(Self.windowDays) else { throw .invalidValue }
                var bucket = DayBucket(day: newestDay - Int64(age))
                if let last = buckets.last, last.day >= bucket.day { throw .invalidValue }
                bucket.pageViews = try reader.uint32()
                bucket.pricingViews = try reader.uint32()
                bucket.cancelViews = try reader.uint32()
                bucket.supportCalls = try reader.uint32()
                bucket.complaints = try reader.uint32()
                buckets.append(bucket)
            }
            self.buckets = buckets
        }
        guard reader.isAtEnd else { throw .trailingBytes }
    }
}

/// LEB128 varints.
enum Varint {
    /// Appends `value` as LEB128.
    static func put(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Zig-zag maps a signed value to unsigned.
    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    /// Inverse of `zigzag`.
    static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    /// Reads bytes and varints from a blob.
    struct Reader {
        /// The blob.
        let bytes: [UInt8]
        /// The read offset.
        var index = 0

        /// Whether every byte was read.
        var isAtEnd: Bool { index == bytes.count }

        /// The next byte, or nil at the end.
        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        /// The next LEB128 value (at most 64 bits).
        mutating func varint() throws(RollingStateDecodingError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard let b = byte() else { throw .truncated }
                guard shift < 64, shift < 63 || b <= 1 else { throw .invalidValue }
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
        }

        /// The next varint, which must fit 32 bits.
        mutating func uint32() throws(RollingStateDecodingError) -> UInt32 {
            let value = try varint()
            guard value <= UInt64(UInt32.max) else { throw .invalidValue }
            return UInt32(value)
        }
    }
}
