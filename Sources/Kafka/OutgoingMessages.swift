/// Messages to produce, their keys and values back to back in one buffer: building a batch's messages
/// costs no allocation per message, and the producer hands librdkafka slices of that buffer.
public struct OutgoingMessages: Sendable {
    struct Entry: Sendable {
        var topic: Int
        /// `RD_KAFKA_PARTITION_UA` (-1) to let the partitioner choose by key.
        var partition: Int32
        var keyStart: Int
        /// -1 for a null key.
        var keyCount: Int
        var valueStart: Int
        var valueCount: Int
        /// Index into `headerLists`, or -1.
        var headers: Int
    }

    private(set) var topics: [String] = []
    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []
    private(set) var headerLists: [[(name: String, value: [UInt8])]] = []

    /// The number of messages.
    public var count: Int { entries.count }
    /// Whether there are none.
    public var isEmpty: Bool { entries.isEmpty }

    /// An empty list with room for `messages` messages of `bytes` bytes in all.
    public init(messages: Int = 0, bytes: Int = 0) {
        entries.reserveCapacity(messages)
        self.bytes.reserveCapacity(bytes)
    }

    /// The same messages, copied.
    public init(_ messages: [ProducerMessage]) {
        self.init(messages: messages.count, bytes: messages.reduce(0) { $0 + ($1.key?.count ?? 0) + $1.value.count })
        for message in messages { append(message) }
    }

    /// Appends a copy of `message`.
    public mutating func append(_ message: ProducerMessage) {
        append(topic: message.topic, key: message.key, headers: message.headers, partition: message.partition) { $0.append(contentsOf: message.value) }
    }

    /// Appends a message whose key is `key`'s UTF-8 and whose value `writeValue` appends to the buffer it is given.
    public mutating func append(topic: String, key: String, writeValue: (inout [UInt8]) -> Void) {
        let keyStart = bytes.count
        bytes.append(contentsOf: key.utf8)
        appendEntry(topic: topic, keyStart: keyStart, keyCount: bytes.count - keyStart, headers: [], partition: nil, writeValue: writeValue)
    }

    /// Appends a message with optional key bytes, headers and partition.
    public mutating func append(topic: String, key: [UInt8]?, headers: [(name: String, value: [UInt8])] = [], partition: Int32? = nil,
                                writeValue: (inout [UInt8]) -> Void) {
        let keyStart = bytes.count
        if let key { bytes.append(contentsOf: key) }
        appendEntry(topic: topic, keyStart: keyStart, keyCount: key == nil ? -1 : key!.count, headers: headers, partition: partition,
                    writeValue: writeValue)
    }

    private mutating func appendEntry(topic: String, keyStart: Int, keyCount: Int, headers: [(name: String, value: [UInt8])],
                                      partition: Int32?, writeValue: (inout [UInt8]) -> Void) {
        let topicIndex: Int
        if let i = topics.firstIndex(of: topic) {
            topicIndex = i
        } else {
            topicIndex = topics.count
            topics.append(topic)
        }
        var headerIndex = -1
        if !headers.isEmpty {
            headerIndex = headerLists.count
            headerLists.append(headers)
        }
        let valueStart = bytes.count
        writeValue(&bytes)
        entries.append(Entry(topic: topicIndex, partition: partition ?? -1, keyStart: keyStart, keyCount: keyCount,
                             valueStart: valueStart, valueCount: bytes.count - valueStart, headers: headerIndex))
    }

    /// Message `index` as a ``ProducerMessage`` (a copy).
    public subscript(index: Int) -> ProducerMessage {
        let e = entries[index]
        return ProducerMessage(topic: topics[e.topic], key: e.keyCount < 0 ? nil : Array(bytes[e.keyStart..<e.keyStart + e.keyCount]),
                               value: Array(bytes[e.valueStart..<e.valueStart + e.valueCount]),
                               headers: e.headers < 0 ? [] : headerLists[e.headers], partition: e.partition < 0 ? nil : e.partition)
    }
}
