import Events

/// Encodes the API's `Encodable` documents as compact JSON text, the way the API has always written it.
///
/// Foundation's `JSONEncoder` is not used, because on Linux it changes what clients see:
/// - it writes an integral `Double` without its fraction (`31.0` becomes `31`, `-0.0` becomes `-0`),
///   while every score the API (and the `churn-scores` topic) ever wrote is Swift's shortest round-trip
///   text, `"\(d)"` — `0.12372981196132372`, `31.0`, `1e-05`, `5e-324`;
/// - it orders an object's keys by hash (different from run to run) unless told to sort them;
/// - it escapes `/` as `\/`;
/// - synthesized `Encodable` leaves out a `nil` optional, while the API writes every field, `null` when
///   absent.
///
/// This encoder writes a `Double` with `JSONText.number` (`"\(d)"`, `null` when not finite), a string with
/// `JSONText.string` (RFC 8259 escaping, `/` unescaped), object keys in the order they were encoded (a
/// synthesized `Encodable` encodes in declaration order), `null` for a `nil` optional field, and a
/// `RawJSON` value's text as it is. Whitespace-free, like the hand-built documents it replaces.
struct CanonicalJSONEncoder {
    /// Creates an encoder.
    init() {}

    /// The JSON text of `value`.
    /// - Throws: whatever `value`'s `encode(to:)` throws.
    func encode<T: Encodable>(_ value: T) throws -> String {
        let root = JSONNode()
        try JSONNode.box(value, into: root, codingPath: [])
        var out = ""
        root.write(into: &out)
        return out
    }
}

/// Text that is already JSON (e.g. the `reasons` column, stored as JSON text), written as it is.
struct RawJSON: Encodable, Sendable, Equatable {
    /// The JSON text.
    let text: String

    /// Wraps JSON text; the caller vouches that it is one JSON value.
    init(_ text: String) { self.text = text }

    /// Only `CanonicalJSONEncoder` can write raw text; any other encoder gets an error.
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(text, .init(codingPath: encoder.codingPath,
                                                     debugDescription: "RawJSON is written by CanonicalJSONEncoder only"))
    }
}

/// An object whose keys are given in order at run time (e.g. counts per event type, sorted by name):
/// `Dictionary`'s own encoding would follow its hash order.
struct OrderedObject<Value: Encodable>: Encodable {
    /// The members, in output order.
    var members: [(key: String, value: Value)]

    /// An object with these members, in this order.
    init(_ members: [(key: String, value: Value)]) { self.members = members }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        for (key, value) in members { try container.encode(value, forKey: AnyKey(key)) }
    }
}

/// A coding key made at run time.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { stringValue = String(intValue) }
}

// MARK: - The document tree

/// One value of the document being built. A reference, so that a container handed out by the encoder
/// can still fill its node after the caller moved on (nested containers).
final class JSONNode {
    private enum Kind { case unset, text, array, object }

    // Separate stored properties (not enum payloads) so that appending mutates in place.
    private var kind = Kind.unset
    private var text = ""
    private var elements: [JSONNode] = []
    private var keys: [String] = []
    private var members: [String: JSONNode] = [:]

    /// Sets a scalar (already JSON text).
    func set(_ text: String) {
        kind = .text
        self.text = text
    }

    /// Makes this node an object (keeping its members if it is one already).
    func becomeObject() {
        guard kind != .object else { return }
        kind = .object
        keys = []
        members = [:]
    }

    /// Makes this node an array (keeping its elements if it is one already).
    func becomeArray() {
        guard kind != .array else { return }
        kind = .array
        elements = []
    }

    /// The node of member `key` of this object: a new one appended at the end, or, for a key encoded
    /// again, a fresh one in the existing key's place.
    func member(_ key: String) -> JSONNode {
        becomeObject()
        let node = JSONNode()
        if members.updateValue(node, forKey: key) == nil { keys.append(key) }
        return node
    }

    /// A new element appended to this array.
    func appendElement() -> JSONNode {
        becomeArray()
        let node = JSONNode()
        elements.append(node)
        return node
    }

    /// The number of elements of this array (0 if it is not one).
    var count: Int { kind == .array ? elements.count : 0 }

    /// Appends this value's compact JSON text to `out`. A value that encoded nothing is `{}`, as in
    /// Foundation.
    func write(into out: inout String) {
        switch kind {
        case .unset:
            out += "{}"
        case .text:
            out += text
        case .array:
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                element.write(into: &out)
            }
            out += "]"
        case .object:
            out += "{"
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                out += JSONText.string(key)
                out += ":"
                members[key]?.write(into: &out)
            }
            out += "}"
        }
    }

    /// Writes `value` into `node`: scalars directly, `RawJSON` as its text, anything else through its
    /// `encode(to:)`.
    static func box<T: Encodable>(_ value: T, into node: JSONNode, codingPath: [any CodingKey]) throws {
        switch value {
        case let d as Double: node.set(JSONText.number(d))
        case let f as Float: node.set(f.isFinite ? "\(f)" : "null")
        case let s as String: node.set(JSONText.string(s))
        case let raw as RawJSON: node.set(raw.text)
        default: try value.encode(to: CanonicalEncoder(node: node, codingPath: codingPath))
        }
    }
}

/// The `Encoder` handed to `encode(to:)`.
private struct CanonicalEncoder: Encoder {
    let node: JSONNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.becomeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(node: node, codingPath: codingPath)
    }
}

/// Integers as decimal text.
private func integer<I: BinaryInteger>(_ i: I) -> String { "\(i)" }

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONNode
    let codingPath: [any CodingKey]

    private func set(_ text: String, _ key: Key) { node.member(key.stringValue).set(text) }

    mutating func encodeNil(forKey key: Key) throws { set("null", key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(value ? "true" : "false", key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(JSONText.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(JSONText.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(value.isFinite ? "\(value)" : "null", key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try JSONNode.box(value, into: node.member(key.stringValue), codingPath: codingPath + [key])
    }

    // Every field is written: a nil optional is `null`, not left out (synthesized `Encodable` calls these).
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        try value.map { try encode($0, forKey: key) } ?? encodeNil(forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.member(key.stringValue)
        child.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.member(key.stringValue)
        child.becomeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        CanonicalEncoder(node: node.member("super"), codingPath: codingPath + [AnyKey("super")])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        CanonicalEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONNode
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    private func append(_ text: String) { node.appendElement().set(text) }
    private var nextKey: AnyKey { AnyKey("\(count)") }

    mutating func encodeNil() throws { append("null") }
    mutating func encode(_ value: Bool) throws { append(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { append(JSONText.string(value)) }
    mutating func encode(_ value: Double) throws { append(JSONText.number(value)) }
    mutating func encode(_ value: Float) throws { append(value.isFinite ? "\(value)" : "null") }
    mutating func encode(_ value: Int) throws { append(integer(value)) }
    mutating func encode(_ value: Int8) throws { append(integer(value)) }
    mutating func encode(_ value: Int16) throws { append(integer(value)) }
    mutating func encode(_ value: Int32) throws { append(integer(value)) }
    mutating func encode(_ value: Int64) throws { append(integer(value)) }
    mutating func encode(_ value: UInt) throws { append(integer(value)) }
    mutating func encode(_ value: UInt8) throws { append(integer(value)) }
    mutating func encode(_ value: UInt16) throws { append(integer(value)) }
    mutating func encode(_ value: UInt32) throws { append(integer(value)) }
    mutating func encode(_ value: UInt64) throws { append(integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = nextKey
        try JSONNode.box(value, into: node.appendElement(), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = nextKey
        let child = node.appendElement()
        child.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = nextKey
        let child = node.appendElement()
        child.becomeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        let key = nextKey
        return CanonicalEncoder(node: node.appendElement(), codingPath: codingPath + [key])
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let node: JSONNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.set("null") }
    mutating func encode(_ value: Bool) throws { node.set(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { node.set(JSONText.string(value)) }
    mutating func encode(_ value: Double) throws { node.set(JSONText.number(value)) }
    mutating func encode(_ value: Float) throws { node.set(value.isFinite ? "\(value)" : "null") }
    mutating func encode(_ value: Int) throws { node.set(integer(value)) }
    mutating func encode(_ value: Int8) throws { node.set(integer(value)) }
    mutating func encode(_ value: Int16) throws { node.set(integer(value)) }
    mutating func encode(_ value: Int32) throws { node.set(integer(value)) }
    mutating func encode(_ value: Int64) throws { node.set(integer(value)) }
    mutating func encode(_ value: UInt) throws { node.set(integer(value)) }
    mutating func encode(_ value: UInt8) throws { node.set(integer(value)) }
    mutating func encode(_ value: UInt16) throws { node.set(integer(value)) }
    mutating func encode(_ value: UInt32) throws { node.set(integer(value)) }
    mutating func encode(_ value: UInt64) throws { node.set(integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try JSONNode.box(value, into: node, codingPath: codingPath)
    }
}
