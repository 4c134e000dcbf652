import CRdKafka

/// An error from the Kafka layer. The description names the culprit (a property, a topic, a broker)
/// and never contains message payloads.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case configuration, clientCreation, produce, delivery, consume, offsetOutOfRange
            case broker, closed, assignment
        }
        fileprivate let base: Base
        /// A librdkafka property name or value was rejected.
        public static let configuration = Code(base: .configuration)
        /// `rd_kafka_new` failed.
        public static let clientCreation = Code(base: .clientCreation)
        /// A message could not be enqueued.
        public static let produce = Code(base: .produce)
        /// The broker did not acknowledge a message.
        public static let delivery = Code(base: .delivery)
        /// A consumer-side error reported by librdkafka.
        public static let consume = Code(base: .consume)
        /// A start offset lay below the partition's log start.
        public static let offsetOutOfRange = Code(base: .offsetOutOfRange)
        /// The embedded broker could not be created or changed.
        public static let broker = Code(base: .broker)
        /// The client was already shut down.
        public static let closed = Code(base: .closed)
        /// The owner's assignment hook failed.
        public static let assignment = Code(base: .assignment)
        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A one-line, payload-free explanation.
    public let message: String
    /// librdkafka's error code, when there is one.
    public let rdkafkaCode: Int32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, rdkafkaCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.rdkafkaCode = rdkafkaCode
    }

    init(_ code: Code, _ message: String, rdError: rd_kafka_resp_err_t) {
        self.init(code, "\(message): \(String(cString: rd_kafka_err2str(rdError)))", rdkafkaCode: rdError.rawValue)
    }

    /// Whether retrying the same operation later may succeed.
    public var isRetriable: Bool {
        switch code {
        case .delivery, .produce, .broker: return true
        case .consume:
            guard let rdkafkaCode else { return false }
            let err = rd_kafka_resp_err_t(rawValue: rdkafkaCode)
            return err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
                || err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__QUEUE_FULL
        default: return false
        }
    }

    /// The one-line description.
    public var description: String { "kafka \(code): \(message)" }
}
