import Foundation
import Logging
import ProcessSupport
import Prometheus

/// A part of `streamscore bench` that `--only` names.
public enum BenchSection: String, CaseIterable, Sendable {
    /// Raw C consume vs the Swift `KafkaConsumer`, same topic, same run.
    case kafka
    /// The Swift producer's delivery round trip on the mock broker.
    case produce
    /// Decode, feature update, and the SQLite sections.
    case core
    /// SQLite alone: batch insert of new profiles, and the steady state (upserts of existing ones).
    case sqlite
    /// PMML scoring per shared model.
    case scoring
    /// Prediction end to end into SQLite.
    case prediction
    /// The produce → stored latency of the prediction subscriber at a fixed rate (each run on its own
    /// broker and store), in a process of its own: after the 1 M-event run in the same process the
    /// allocator's retained heap (286–342 MiB held at the latency runs' start, 2026-11-30) counted in their
    /// peak RSS.
    case latency
    /// Prediction end to end into SQLite on a Zipf-skewed stream (figures only, no goal).
    case zipf
    /// Prediction end to end into PostgreSQL (only with a database URL).
    case postgres
    /// The counter subscriber end to end into SQLite.
    case counter

    /// What `streamscore bench` runs without `--only` (everything but the producer round trip).
    public static let defaults: [BenchSection] = [.kafka, .core, .scoring, .prediction, .latency, .zipf, .postgres, .counter]
}

/// What to run and at which sizes; the defaults are the sizes the goals in docs/benchmarks.md are set for.
public struct BenchOptions: Sendable {
    /// The sections to run.
    public var sections: Set<BenchSection> = Set(BenchSection.defaults)
    /// Messages preloaded for the consume measurements (`kafka`).
    public var messages = 1_000_000
    /// Partitions of the benchmark topics.
    public var partitions = 64
    /// Repetitions of each raw consume measurement: the Kafka section's C and Swift reads, each end-to-end
    /// section's C read (medians are reported).
    public var runs = 3
    /// Path of the minimal C consumer (`make bench` builds `bench/c_consumer`).
    public var cConsumer = "bench/c_consumer"
    /// Folder with the reference models (NAME.pmml, NAME.expected.csv).
    public var modelsDir = "Tests/Fixtures/models"
    /// The model the end-to-end prediction sections score with.
    public var model = "Sources/StreamScoreCLI/Resources/demo-model.pmml"
    /// A model-set file the end-to-end prediction sections score with instead of `model` (the cost of a set).
    public var modelSet: String?
    /// Reasons stored with each score in the end-to-end prediction sections (`run --reasons K`).
    public var reasons = 0
    /// Run an as-of rescore sweep of the store the whole time (`run --daily-rescore`), at `sweepRate` profiles/s.
    public var sweep = false
    public var sweepRate = 2_000.0
    /// The prediction-log topic of the end-to-end prediction sections (nil: no log, for its cost).
    public var predictionLogTopic: String? = "predictions"
    /// Synthetic events of each end-to-end section.
    public var e2eMessages = 1_000_000
    /// Distinct customers of the end-to-end sections, and profiles of the SQLite steady state.
    public var customers = 100_000
    /// Exponent of the Zipf-skewed stream (`zipf`).
    public var zipfExponent = 1.1
    /// Events of the `zipf` section's paced run (0: skipped): the goals' size, which cannot be preloaded on
    /// the mock broker (see `EndToEndBench.pacedZipfRun`).
    public var zipfPacedMessages = 1_000_000
    /// Events/s of that run.
    public var zipfPacedRate = 50_000.0
    /// Events/s of the fixed-rate latency measurement.
    public var latencyRate = 20_000.0
    /// Seconds of the latency measurement (0: skipped).
    public var latencySeconds = 15
    /// Store URL of the SQLite end-to-end sections (nil: a fresh SQLite file each).
    public var store: String?
    /// PostgreSQL URL of the `postgres` section (nil: the section is skipped). An empty database: the bench
    /// creates its tables.
    public var postgresStore: String?
    /// The `streamscore` executable that runs the broker and the load producer as child processes (default:
    /// the running one).
    public var streamscore: URL = StreamScoreExecutable.current()

    /// The defaults.
    public init() {}
}

/// `streamscore bench`: throughput and latency figures (docs/benchmarks.md), each printed as it is
/// measured, then a table of all figures and a table of the performance goals, met or not met.
public enum BenchSuite {
    /// Runs `options.sections` in a fixed order.
    ///
    /// - Parameter metrics: the registry the executable bootstrapped swift-metrics with; the end-to-end
    ///   sections read the pipeline's stage timers from it (nil: no stage means).
    public static func run(_ options: BenchOptions, metrics: PrometheusCollectorRegistry?) async throws {
        var logger = Logger(label: "streamscore.bench")
        logger.logLevel = .error
        let sections = options.sections
        let report = BenchReport(metrics: metrics)
        report.header()
        if sections.contains(.kafka) {
            try await KafkaBench(messages: options.messages, partitions: options.partitions, runs: options.runs,
                                 cConsumer: options.cConsumer, logger: logger).run(report)
        }
        if sections.contains(.produce) {
            report.section("Producer round trip")
            try await ProducerBench(logger: logger).run(report, properties: [], label: "defaults")
            try await ProducerBench(logger: logger).run(report, properties: [("enable.idempotence", "false")], label: "no idempotence")
            try await ProducerBench(logger: logger).run(report, properties: [("linger.ms", "0"), ("enable.idempotence", "false"), ("acks", "1")],
                                                        label: "linger 0, acks 1")
        }
        if sections.contains(.core) || sections.contains(.sqlite) {
            try await CoreBench(events: 1_000_000, customers: options.customers, decodeAndFeatures: sections.contains(.core)).run(report)
        }
        if sections.contains(.scoring) {
            try ScoringBench(modelsDir: options.modelsDir).run(report)
        }
        for kind in [EndToEndBench.Kind.prediction, .latency, .zipf, .postgres, .counter] where sections.contains(kind.section) {
            if kind == .postgres && options.postgresStore == nil {
                report.section("End to end into PostgreSQL: skipped (give --store postgres://… or set STREAMSCORE_BENCH_POSTGRES_URL)")
                continue
            }
            try await EndToEndBench(kind: kind, options: options, logger: logger).run(report)
        }
        report.footer()
    }
}

/// The bench cannot go on: a missing tool, a child process that failed, a stalled pipeline.
struct BenchError: Error, CustomStringConvertible {
    /// What failed and what to do.
    let description: String
    /// An error saying `description`.
    init(_ description: String) { self.description = description }
}
