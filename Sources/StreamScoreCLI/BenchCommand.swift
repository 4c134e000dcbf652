import ArgumentParser
import Bench
import Foundation
import Metrics
import Prometheus

/// `streamscore bench`: throughput and latency figures and the performance goals, met or not met
/// (docs/benchmarks.md). The harness is the `Bench` module; this is its command line.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Print throughput and latency figures and whether each performance goal is met (see docs/benchmarks.md)."
    )

    @Option(help: "Messages preloaded for the consume benchmarks.")
    var messages = 1_000_000

    @Option(help: "Partitions of the benchmark topic (the mock broker keeps only ~5 MiB per partition).")
    var partitions = 64

    @Option(help: "Repetitions of each raw consume measurement: the Kafka section's C and Swift reads, each end-to-end section's C read (medians are reported).")
    var runs = 3

    @Option(name: .customLong("c-consumer"), help: "Path of the minimal C consumer built by `make bench`.")
    var cConsumer = "bench/c_consumer"

    @Option(help: ArgumentHelp("Sections to run, comma-separated: \(BenchSection.allCases.map(\.rawValue).joined(separator: ", ")).",
                               discussion: "postgres runs only with a PostgreSQL URL (--store or STREAMSCORE_BENCH_POSTGRES_URL)."))
    var only = BenchSection.defaults.map(\.rawValue).joined(separator: ",")

    @Option(name: .customLong("models-dir"), help: "Folder with the reference models (NAME.pmml, NAME.expected.csv).")
    var modelsDir = "Tests/Fixtures/models"

    @Option(help: "A model-set file the end-to-end prediction sections score with (e.g. bench/three-models.json), for the cost of a set.")
    var models: String?

    @Option(name: .customLong("prediction-log-topic"), help: "Prediction-log topic of the end-to-end prediction sections; `none` for its cost.")
    var predictionLogTopic = "predictions"

    @Option(help: "Reasons stored with each score in the prediction sections (as `run --reasons K`), for their cost.")
    var reasons = 0

    @Flag(help: "Run an as-of rescore sweep of the store during the prediction sections (as `run --daily-rescore`).")
    var sweep = false

    @Option(name: .customLong("sweep-rate"), help: "Profiles per second of that sweep.")
    var sweepRate = 2_000.0

    @Option(name: .customLong("e2e-messages"), help: "Synthetic events for the end-to-end sections.")
    var e2eMessages = 1_000_000

    @Option(help: "Distinct customers in the end-to-end sections, and profiles of the SQLite steady state.")
    var customers = 100_000

    @Option(help: "Zipf exponent of the zipf section's stream.")
    var zipf = 1.1

    @Option(name: .customLong("zipf-paced-messages"), help: "Events of the zipf section's paced run, produced while the engine reads (0 = skip).")
    var zipfPacedMessages = 1_000_000

    @Option(name: .customLong("zipf-paced-rate"), help: "Events/s of that paced run.")
    var zipfPacedRate = 50_000.0

    @Option(name: .customLong("latency-rate"), help: "Events/s of the fixed-rate latency measurement.")
    var latencyRate = 20_000.0

    @Option(name: .customLong("latency-seconds"), help: "Duration of the latency measurement (0 = skip).")
    var latencySeconds = 15

    @Option(help: ArgumentHelp("A store URL: postgres://… runs the PostgreSQL section into that (empty) database; sqlite:PATH is the store of the SQLite end-to-end sections.",
                               discussion: "Default: a fresh SQLite file per section; the PostgreSQL URL from STREAMSCORE_BENCH_POSTGRES_URL."))
    var store: String?

    func validate() throws {
        for name in sectionNames where BenchSection(rawValue: name) == nil {
            throw ValidationError("unknown section '\(name)' in --only: use \(BenchSection.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard e2eMessages >= 1, customers >= 1, messages >= 1, partitions >= 1, runs >= 1 else {
            throw ValidationError("--messages, --e2e-messages, --customers, --partitions and --runs must be ≥ 1")
        }
        guard zipf > 0 else { throw ValidationError("--zipf must be > 0") }
        guard zipfPacedMessages >= 0, zipfPacedRate > 0 else { throw ValidationError("--zipf-paced-messages must be ≥ 0 and --zipf-paced-rate > 0") }
        guard latencyRate > 0, latencySeconds >= 0 else { throw ValidationError("--latency-rate must be > 0, --latency-seconds ≥ 0") }
    }

    private var sectionNames: [String] {
        only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private var isPostgresURL: Bool { store.map { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") } ?? false }

    func run() async throws {
        var options = BenchOptions()
        options.sections = Set(sectionNames.compactMap(BenchSection.init(rawValue:)))
        options.messages = messages
        options.partitions = partitions
        options.runs = runs
        options.cConsumer = cConsumer
        options.modelsDir = modelsDir
        options.e2eMessages = e2eMessages
        options.modelSet = models
        options.reasons = reasons
        options.sweep = sweep
        options.sweepRate = sweepRate
        options.predictionLogTopic = predictionLogTopic == "none" ? nil : predictionLogTopic
        options.customers = customers
        options.zipfExponent = zipf
        options.zipfPacedMessages = zipfPacedMessages
        options.zipfPacedRate = zipfPacedRate
        options.latencyRate = latencyRate
        options.latencySeconds = latencySeconds
        if isPostgresURL {
            // An explicit PostgreSQL URL asks for the PostgreSQL section.
            options.postgresStore = store
            options.sections.insert(.postgres)
        } else {
            options.store = store
            options.postgresStore = ProcessInfo.processInfo.environment["STREAMSCORE_BENCH_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
        }
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        try await BenchSuite.run(options, metrics: prometheus)
    }
}
