import CRdKafka

/// librdkafka properties for one client, applied in order. Later entries override earlier ones, so
/// defaults come first and user overrides (`--kafka KEY=VALUE`) last.
public struct KafkaConfig: Sendable {
    /// The properties, in application order.
    public private(set) var properties: [(key: String, value: String)]

    /// Creates a configuration with the given bootstrap servers and extra properties.
    public init(bootstrapServers: String, properties: [(key: String, value: String)] = []) {
        self.properties = [("bootstrap.servers", bootstrapServers)] + properties
    }

    /// Sets (or overrides) one property.
    public mutating func set(_ key: String, _ value: String) {
        properties.append((key, value))
    }

    /// Adds properties that apply only where the user has not set the key.
    func withDefaults(_ defaults: [(String, String)]) -> KafkaConfig {
        var copy = self
        copy.properties = defaults.map { (key: $0.0, value: $0.1) } + properties
        return copy
    }

    /// The value that will be applied for `key`, if any.
    public func value(for key: String) -> String? {
        properties.last(where: { $0.key == key })?.value
    }

    /// Words that mark a property whose value is a secret (`sasl.password`, `ssl.key.password`,
    /// `sasl.jaas.config`, `sasl.oauthbearer.client.secret`, …): such values never appear in an error or
    /// a log line.
    static let secretWords = ["password", "passwd", "secret", "jaas", "key", "token", "credential", "oauthbearer"]

    /// Whether `key` names a property whose value must not be shown.
    public static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return secretWords.contains { k.contains($0) }
    }

    /// Parses `KEY=VALUE` strings as given on the command line.
    /// - Throws: `KafkaError` naming the malformed entry (never its value).
    public static func parseOverrides(_ entries: [String]) throws -> [(key: String, value: String)] {
        try entries.map { entry in
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                // No key to judge by: show a short prefix only, a value may have been pasted here.
                let shown = isSecret(entry) || entry.count > 40 ? String(entry.prefix(12)) + "…" : entry
                throw KafkaError(.configuration, "'\(shown)' is not KEY=VALUE (example: --kafka session.timeout.ms=6000)")
            }
            return (String(entry[..<eq]), String(entry[entry.index(after: eq)...]))
        }
    }

    /// Builds a `rd_kafka_conf_t`. The caller owns the result until `rd_kafka_new` takes it.
    /// - Throws: `KafkaError.configuration` naming the property and librdkafka's reason.
    func makeNative() throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, "rd_kafka_conf_new failed")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                // The value is shown only for a known, non-secret property: an unknown name may be a
                // mistyped secret one (`sasl.pasword`), and librdkafka's reason may quote the value.
                let showValue = result == RD_KAFKA_CONF_INVALID && !Self.isSecret(key)
                var reason = errorString(errstr)
                if !showValue && !value.isEmpty { reason = reason.replacing(value, with: "[redacted]") }
                let shown = showValue ? "'\(key)=\(value)'" : "'\(key)' (value redacted)"
                throw KafkaError(.configuration, "librdkafka property \(shown) rejected: \(reason)")
            }
        }
        return conf
    }

    /// Validates every property without creating a client.
    /// - Throws: `KafkaError.configuration` naming the first bad property.
    public func validate() throws {
        rd_kafka_conf_destroy(try makeNative())
    }
}

/// A Kafka topic partition.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number.
    public var partition: Int32
    /// Creates a topic partition.
    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    /// `topic[partition]`.
    public var description: String { "\(topic)[\(partition)]" }
}

/// Reads librdkafka's `errstr` buffer.
func errorString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
