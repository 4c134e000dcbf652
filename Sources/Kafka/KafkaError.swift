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

    /// Whether retrying cannot help until an operator acts: the message is larger than the producer or
    /// broker accepts, the topic or partition does not exist, access is denied, the record is invalid.
    /// Such an error stalls the output visibly (readiness, metric, log) instead of being retried as if
    /// it were a passing outage.
    public var isPermanent: Bool {
        guard let rdkafkaCode else { return false }
        let permanent: [rd_kafka_resp_err_t] = [
            RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
            RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_POLICY_VIOLATION,
            RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR__INVALID_ARG,
        ]
        return permanent.contains(rd_kafka_resp_err_t(rawValue: rdkafkaCode))
    }

    /// The one-line description.
    public var description: String { "kafka \(code): \(message)" }
}
