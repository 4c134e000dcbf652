import CRdKafka
import Logging
import Synchronization

/// librdkafka's mock cluster: real Kafka protocol on loopback, in this process. The default broker of
/// `streamscore run` and of the tests; `kcat` and other clients can connect to `bootstrap`.
///
/// - Important: the mock keeps only ~5 MiB per partition (see docs/benchmarks.md); spread large loads
///   over many partitions.
public final class EmbeddedBroker: Sendable {
    private let core: BrokerCore

    /// The bootstrap address list, `HOST:PORT[,HOST:PORT…]`.
    public let bootstrap: String
    /// The number of brokers; their ids are `1...brokerCount`.
    public let brokerCount: Int

    /// Starts a mock cluster of `brokers` brokers.
    /// - Throws: `KafkaError.broker` if librdkafka cannot create it.
    public init(brokers: Int = 1, logger: Logger) throws {
        precondition(brokers >= 1, "a cluster needs at least one broker")
        core = try BrokerCore(brokers: brokers, logger: logger)
        bootstrap = core.bootstrap
        brokerCount = brokers
    }

    /// Creates a topic with `partitions` partitions.
    /// - Throws: `KafkaError.broker` naming the topic.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        try core.withCluster { cluster in
            let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(min(replicationFactor, brokerCount)))
            if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                throw KafkaError(.broker, "create topic '\(name)'", rdError: err)
            }
        }
    }

    /// Takes broker `id` down (connections fail with transport errors) until `setBrokerUp`.
    public func setBrokerDown(_ id: Int32) throws {
        try core.withCluster { cluster in
            let err = rd_kafka_mock_broker_set_down(cluster, id)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.broker, "broker \(id) down", rdError: err) }
        }
    }

    /// Brings broker `id` back.
    public func setBrokerUp(_ id: Int32) throws {
        try core.withCluster { cluster in
            let err = rd_kafka_mock_broker_set_up(cluster, id)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(.broker, "broker \(id) up", rdError: err) }
        }
    }

    /// Stops the cluster. Idempotent; also done on deinit.
    public func shutdown() { core.shutdown() }

    deinit { core.shutdown() }
}

/// Owns the mock cluster and the handle it hangs off. `@unchecked Sendable`: the pointers are used
/// only under `lock`, and destroyed once, in order (cluster, then handle).
private final class BrokerCore: @unchecked Sendable, RdKafkaCallbackContext {
    let logger: Logger
    private(set) var bootstrap = ""
    private let lock = Mutex(())
    private var rk: OpaquePointer?
    private var cluster: OpaquePointer?

    init(brokers: Int, logger: Logger) throws {
        self.logger = logger
        let opaque = Unmanaged.passUnretained(self as AnyObject).toOpaque()
        // A bare producer handle hosts the mock cluster; nobody produces through it. Its logs go
        // through the log callback directly (no log queue: nothing polls this handle).
        let conf = try KafkaConfig(bootstrapServers: "", properties: [("log_level", "3")]).makeNative()
        rd_kafka_conf_set_opaque(conf, opaque)
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.broker, "cannot create the mock cluster's host handle: \(errorString(errstr))")
        }
        guard let mock = rd_kafka_mock_cluster_new(handle, Int32(brokers)) else {
            rd_kafka_destroy(handle)
            throw KafkaError(.broker, "rd_kafka_mock_cluster_new failed")
        }
        rk = handle
        cluster = mock
        bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
    }

    func withCluster<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        try lock.withLock { _ in
            guard let cluster else { throw KafkaError(.closed, "embedded broker is shut down") }
            return try body(cluster)
        }
    }

    func shutdown() {
        lock.withLock { _ in
            if let cluster { rd_kafka_mock_cluster_destroy(cluster) }
            if let rk { rd_kafka_destroy(rk) }
            cluster = nil
            rk = nil
        }
    }
}
