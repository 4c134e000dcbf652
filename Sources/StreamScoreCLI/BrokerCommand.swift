import ArgumentParser
import Foundation
import Kafka
import Logging

/// `streamscore broker`: a standalone embedded (mock) Kafka cluster for demos, tests and scale-out runs.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded Kafka-protocol broker (librdkafka's mock cluster) until SIGTERM."
    )

    @Option(name: .customLong("brokers-count"), help: "Number of brokers in the cluster.")
    var brokersCount = 1

    @Option(help: "Partitions of the topic to create.")
    var partitions = 6

    @Option(help: "The topic to create.")
    var topic = "page-views"

    func validate() throws {
        try requireFlag("--brokers-count", brokersCount, in: 1...100)
        try requireFlag("--partitions", partitions, in: partitionRange)
    }

    func run() async throws {
        let logger = Logger(label: "streamscore.broker")
        let broker = try EmbeddedBroker(brokers: brokersCount, logger: logger)
        try broker.createTopic(topic, partitions: partitions, replicationFactor: brokersCount)
        printLine("bootstrap: \(broker.bootstrap)")
        printError("embedded broker: \(brokersCount) broker(s), topic \(topic) with \(partitions) partitions; SIGTERM stops it")
        await waitForTerminationSignal()
        broker.shutdown()
    }
}
