import ArgumentParser
import Bench
import Events
import Foundation
import HTTPAPI
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Kafka
import Logging
import Metrics
import Pipeline
import Prometheus
import Scoring
import ServiceLifecycle
import Store
import Synchronization

/// `streamscore run`: the engine. Subscribers, HTTP API, model hot reload; an embedded broker when no
/// `--brokers` is given; `--demo` adds a synthetic load and a live line (what `make run` shows).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the engine: counter and prediction subscribers, HTTP API and dashboard."
    )

    @Option(help: "Bootstrap servers HOST:PORT[,…]; without it an embedded broker starts in-process.")
    var brokers: String?

    @Option(help: "The log-feed topic.")
    var topic = "page-views"

    @Option(help: "State store: sqlite:PATH or postgres://user[:pw]@host:port/db.")
    var store = "sqlite:streamscore.db"

    @Option(help: "The PMML churn model (default: the bundled demo model).")
    var model: String?

    @Option(help: "A model-set file (champion, challengers, shadows; CONTRACT §5), instead of --model.")
    var models: String?

    @Option(help: "Reasons stored and published with each score (the K features that raise it most; 0: none). On-demand scores carry K, or 3 when 0.")
    var reasons = 0

    @Option(name: .customLong("daily-rescore"), help: "Once a day at HH:MM UTC, re-score every stored profile as of that time (silent customers' windows empty out).")
    var dailyRescore: String?

    @Option(name: .customLong("rescore-rate"), help: "Profiles per second of background rescoring (daily, on a model change).")
    var rescoreRate = 2_000.0

    @Flag(name: .customLong("rescore-on-change"), help: "Re-score every stored profile in the background after a reload changes a served model.")
    var rescoreOnChange = false

    @Option(name: .customLong("prediction-log-topic"), help: "Topic of the prediction log (every model's probability per scored customer); `none` turns it off.")
    var predictionLogTopic = "predictions"

    @Option(help: "Import this CRM export CSV before consuming.")
    var customers: String?

    @Option(help: "HTTP listen address HOST:PORT.")
    var http = "127.0.0.1:8080"

    @Option(help: "Subscribers to run: counter, prediction or both.")
    var subscribers = "counter,prediction"

    @Option(name: .customLong("group-prefix"), help: "Consumer group prefix (<prefix>-counter, <prefix>-prediction).")
    var groupPrefix = "streamscore"

    @Option(name: .customLong("kafka"), help: "A librdkafka property KEY=VALUE for consumers and producers (repeatable).")
    var kafka: [String] = []

    @Option(name: .customLong("scores-topic"), help: "Output topic of churn scores.")
    var scoresTopic = "churn-scores"

    @Option(name: .customLong("dlq-topic"), help: "Dead-letter topic (default <topic>.dlq).")
    var dlqTopic: String?

    @Option(help: "Partitions of the topic the embedded broker creates.")
    var partitions = 6

    @Option(name: .customLong("batch-size"), help: "Most events per pipeline batch.")
    var batchSize = 5_000

    @Option(name: .customLong("counter-batch-size"), help: "Most events per counter-subscriber batch.")
    var counterBatchSize = 20_000

    @Option(name: .customLong("batch-linger-ms"), help: "Longest wait (ms) for a batch to fill.")
    var batchLingerMs = 5

    @Option(name: .customLong("minute-retention-hours"), help: "Keep per-minute page-view counts for this many hours of event time (default: keep all).")
    var minuteRetentionHours: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Option(name: .customLong("api-token-file"), help: "File holding the bearer token every data route requires (or set STREAMSCORE_API_TOKEN). Required to bind a non-loopback --http address.")
    var apiTokenFile: String?

    @Option(name: .customLong("metrics-token-file"), help: "File holding a separate bearer token for /metrics (default: /metrics is open).")
    var metricsTokenFile: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS (with --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("http-idle-timeout"), help: "Seconds an HTTP connection may sit idle before it is closed.")
    var httpIdleTimeout = 15

    @Option(name: .customLong("http-read-timeout"), help: "Seconds a client may take to send a request body.")
    var httpReadTimeout = 10

    @Option(name: .customLong("http-max-connections"), help: "Most HTTP connections served at once (more wait in the accept backlog); the open-files limit is raised to fit.")
    var httpMaxConnections = 4_096

    @Option(name: .customLong("max-score-body-kib"), help: "Largest POST /score body, KiB.")
    var maxScoreBodyKiB = 16

    @Option(name: .customLong("max-inflight-scores"), help: "POST /score requests scored at once; more get 429.")
    var maxInflightScores = 64

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds a graceful shutdown (SIGTERM, SIGINT) may take; past it the engine exits non-zero.")
    var shutdownTimeout = 30

    @Option(name: .customLong("max-buffered-mib"), help: "MiB of messages per subscriber polled and not yet committed before its partitions pause (memory bound).")
    var maxBufferedMiB = 64

    @Flag(help: "Demo mode: also produce synthetic events at --demo-rate and print a live line.")
    var demo = false

    @Option(name: .customLong("demo-rate"), help: "Synthetic events per second in demo mode.")
    var demoRate = 2_000.0


    func validate() throws {
        let names = subscribers.split(separator: ",").map(String.init)
        guard !names.isEmpty, names.allSatisfy({ $0 == "counter" || $0 == "prediction" }) else {
            throw ValidationError("--subscribers '\(subscribers)': use counter, prediction or counter,prediction")
        }
        guard parseHostPort(http) != nil else { throw ValidationError("--http '\(http)' is not HOST:PORT (e.g. 127.0.0.1:8080)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error") }
        guard batchSize >= 1, counterBatchSize >= 1, batchLingerMs >= 0, partitions >= 1 else { throw ValidationError("--batch-size, --counter-batch-size, --partitions must be ≥ 1 and --batch-linger-ms ≥ 0") }
        guard shutdownTimeout >= 1 else { throw ValidationError("--shutdown-timeout must be ≥ 1 second") }
        guard httpIdleTimeout >= 1, httpReadTimeout >= 1, httpMaxConnections >= 1, maxScoreBodyKiB >= 1, maxInflightScores >= 1 else {
            throw ValidationError("--http-idle-timeout, --http-read-timeout, --http-max-connections, --max-score-body-kib and --max-inflight-scores must be ≥ 1")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard maxBufferedMiB >= 1 else { throw ValidationError("--max-buffered-mib must be ≥ 1") }
        // Upper ends too: each value goes into arithmetic or a conversion that traps when it overflows.
        try requireFlag("--batch-size", batchSize, in: 1...10_000_000)
        try requireFlag("--counter-batch-size", counterBatchSize, in: 1...10_000_000)
        try requireFlag("--batch-linger-ms", batchLingerMs, in: 0...60_000)
        try requireFlag("--partitions", partitions, in: partitionRange)
        try requireFlag("--reasons", reasons, in: 0...100)
        try requireFlag("--rescore-rate", rescoreRate, in: rateRange, "profiles/s")
        try requireFlag("--demo-rate", demoRate, in: rateRange, "events/s")
        if let minuteRetentionHours { try requireFlag("--minute-retention-hours", minuteRetentionHours, in: 1...876_000) }
        try requireFlag("--shutdown-timeout", shutdownTimeout, in: 1...86_400, "s")
        try requireFlag("--http-idle-timeout", httpIdleTimeout, in: 1...86_400, "s")
        try requireFlag("--http-read-timeout", httpReadTimeout, in: 1...86_400, "s")
        try requireFlag("--http-max-connections", httpMaxConnections, in: 1...1_000_000)
        try requireFlag("--max-score-body-kib", maxScoreBodyKiB, in: 1...1_048_576)
        try requireFlag("--max-inflight-scores", maxInflightScores, in: 1...1_000_000)
        try requireFlag("--max-buffered-mib", maxBufferedMiB, in: 1...1_048_576)
    }

    func run() async throws {
        do {
            try await runEngine()
        } catch let error as StartupError {
            printError("streamscore run: \(error.message)")
            throw ExitCode(2)
        } catch let error as ServiceGroupError {
            printError("streamscore run: shutdown did not complete cleanly: \(error)")
            throw ExitCode(1)
        }
    }

    private func runEngine() async throws {
        var logger = Logger(label: "streamscore")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))

        // Start-up checks, each failing with one line that names the culprit.
        let security = try httpSecurity()
        raiseOpenFilesLimit(to: httpMaxConnections + 1_024, logger: logger)
        let overrides = try startup("--kafka") { try KafkaConfig.parseOverrides(kafka) }
        let registry = try modelRegistry()
        let storeURL = try startup("--store") { try StoreURL(parsing: store) }
        let engineStore = try await startupAsync("store \(storeURL)") { try await StoreFactory.open(storeURL) }
        var broker: EmbeddedBroker?
        let bootstrap: String
        if let brokers {
            bootstrap = brokers
        } else {
            let embedded = try startup("embedded broker") { try EmbeddedBroker(logger: logger) }
            try startup("embedded broker") { try embedded.createTopic(topic, partitions: partitions) }
            broker = embedded
            bootstrap = embedded.bootstrap
            printLine("bootstrap: \(bootstrap)")
        }
        let kafkaConfig = KafkaConfig(bootstrapServers: bootstrap, properties: overrides)
        try startup("--kafka") { try kafkaConfig.validate() }
        let producer = try startup("Kafka producer") { try KafkaProducer(config: kafkaConfig, logger: logger) }
        try startup("Kafka", fix: "check --brokers and that the cluster is up") { try producer.checkReachable(bootstrap: bootstrap) }

        if let customers {
            let data = try startup("customers file '\(customers)'", fix: "check the path") {
                guard let d = FileManager.default.contents(atPath: customers) else { throw StoreError(.badImport, "cannot read it") }
                return d
            }
            let records = try startup("import") { try CustomerCSV.parse(data, file: customers) }
            _ = try await startupAsync("import into \(storeURL)") { try await engineStore.importCustomers(records) }
            logger.info("imported customers", metadata: ["count": "\(records.count)", "file": "\(customers)"])
        }

        var settings = SubscriberSettings(kafka: kafkaConfig)
        settings.topic = topic
        settings.groupPrefix = groupPrefix
        settings.dlqTopic = dlqTopic
        settings.scoresTopic = scoresTopic
        settings.batchSize = batchSize
        settings.batchLinger = .milliseconds(batchLingerMs)
        settings.counterBatchSize = counterBatchSize
        settings.maxOutstandingBytes = maxBufferedMiB << 20
        settings.predictionLogTopic = predictionLogTopic == "none" ? nil : predictionLogTopic
        settings.reasons = reasons
        let daily = try startup("--daily-rescore") { try dailyRescore.map(parseDailyTime) }
        // Other commands (profiles import) re-score with the model the engine serves.
        _ = try await startupAsync("store \(storeURL)") { try await engineStore.setSetting("model_source", registry.isSetFile ? "models:\(registry.path)" : "model:\(registry.path)") }
        let modelStats = ModelStats()
        let wanted = Set(subscribers.split(separator: ",").map(String.init))
        var services: [any Service] = []
        var backgroundRescorer: Rescorer?
        var statuses: [SubscriberStatus] = []
        let retention = minuteRetentionHours.map { Duration.seconds($0 * 3600) }
        if wanted.contains("counter") {
            let counter = try startup("counter subscriber") { try CounterSubscriber(settings: settings, store: engineStore, minuteRetention: retention, logger: logger) }
            statuses.append(counter.status)
            services.append(counter)
        }
        if wanted.contains("prediction") {
            let prediction = try startup("prediction subscriber") {
                try PredictionSubscriber(settings: settings, store: engineStore, registry: registry, producer: producer, modelStats: modelStats, logger: logger)
            }
            statuses.append(prediction.status)
            services.append(prediction)
            let rescorer = Rescorer(store: engineStore, registry: registry, producer: producer, scoresTopic: scoresTopic, reasons: reasons, logger: logger)
            if let postgres = engineStore as? PostgresStore {
                // CONTRACT §6: a CRM change of static attributes (the trigger's NOTIFY) re-scores the customer.
                let rescoreLogger = logger
                services.append(TaskService {
                    await postgres.watchAttributeChanges { ids in
                        await prediction.forgetCached(ids)
                        do {
                            let result = try await rescorer.run(customerIDs: ids)
                            rescoreLogger.info("re-scored customers whose attributes changed", metadata: ["notified": "\(ids.count)", "rewritten": "\(result.rewritten)"])
                        } catch {
                            rescoreLogger.warning("re-scoring changed customers failed", metadata: ["error": "\(error)"])
                        }
                    }
                })
            }
            if let daily {
                let rate = rescoreRate, sweepLogger = logger
                services.append(TaskService { await runDailyRescore(rescorer, at: daily, rate: rate, logger: sweepLogger) })
            }
            if rescoreOnChange { backgroundRescorer = rescorer }
        }
        let modelInfo = ModelInfoMetric(version: registry.current.version)

        let (host, port) = parseHostPort(http)!
        let context = EngineContext(store: engineStore, models: registry, subscribers: statuses, prometheus: prometheus, modelStats: modelStats,
                                    reasons: reasons > 0 ? reasons : 3)
        var httpLogger = logger
        httpLogger.logLevel = .warning
        let http1 = HTTPAPI.http1Server(idleTimeout: .seconds(httpIdleTimeout), security: security)
        let server = try startup("--tls-cert/--tls-key", fix: "give a readable PEM certificate chain and private key") {
            try tlsCert.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: try serverTLS(cert: $0, key: tlsKey ?? "")) } ?? http1
        }
        let scheme = tlsCert == nil ? "http" : "https"
        let app = Application(router: HTTPAPI.router(context, security: security), server: server,
                              configuration: .init(address: .hostname(host, port: port),
                                                   availableConnectionsDelegate: MaximumAvailableConnections(httpMaxConnections)),
                              onServerRunning: { channel in
                                  let address = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? http
                                  printLine("http: \(scheme)://\(address)/")
                              },
                              logger: httpLogger)
        let modelLogger = logger
        let onChange = RescoreOnChange(rescorer: backgroundRescorer, rate: rescoreRate, logger: logger)
        let reloadFailures = Metrics.Counter(label: "streamscore_model_reload_failures_total")
        services.append(TaskService {
            await registry.watch(onError: { error in
                                     reloadFailures.increment()
                                     modelLogger.error("model reload failed; the running model set keeps serving", metadata: ["error": "\(error)"])
                                 },
                                 onReload: { set in
                                     modelInfo.set(set.champion.model.version)
                                     modelLogger.notice("model set reloaded", metadata: ["models": "\(describe(set))"])
                                     onChange.modelSetChanged()
                                 })
        })
        services.append(TaskService { await reloadOnSIGHUP(registry, logger: modelLogger, info: modelInfo, failures: reloadFailures, onChange: onChange) })
        let allStatuses = statuses
        if demo {
            services.append(TaskService { await runDemoLoad(producer: producer, topic: topic, rate: demoRate, logger: modelLogger) })
            services.append(TaskService { await liveLine(statuses: allStatuses, store: engineStore) })
        }
        // One ServiceGroup, in dependency order: it stops them in reverse, so the subscribers drain and
        // commit first, then the HTTP server stops, then the producer flushes, the store closes and the
        // embedded broker goes last.
        var lifecycle: [any Service] = []
        if let broker { lifecycle.append(TeardownService { broker.shutdown() }) }
        lifecycle.append(TeardownService { try? await engineStore.close() })
        lifecycle.append(TeardownService { producer.shutdown(flushTimeout: .seconds(5)) })
        lifecycle.append(app)
        let timeout = Duration.seconds(shutdownTimeout)
        var configuration = ServiceGroupConfiguration(services: (lifecycle + services).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = timeout
        // No cancellation limit in the group: past it ServiceLifecycle ends the process with a fatal
        // error (SIGILL, seen in the soak suite); the watchdog below exits with status 1 instead.
        let group = ServiceGroup(configuration: configuration)
        // Whatever blocks (a stalled output, an unreachable store), the process ends: past the graceful
        // deadline and the cancellation grace, it exits non-zero.
        let watchdog = ShutdownWatchdog(graceful: timeout, limit: timeout + .seconds(8), logger: logger)
        watchdog.arm(on: [SIGTERM, SIGINT])
        try await group.run()
        if watchdog.gracefulDeadlineExceeded {
            // The group cancelled what was still running: work in flight was abandoned (it is replayed
            // from the stored offsets on the next start), so this was not a clean stop.
            printError("streamscore run: graceful shutdown exceeded --shutdown-timeout \(shutdownTimeout) s; in-flight work was abandoned and will be replayed")
            throw ExitCode(1)
        }
    }

    /// The HTTP API's protection from the flags: tokens read from their files (or the environment),
    /// and a refusal to serve unauthenticated on a non-loopback address.
    private func httpSecurity() throws -> HTTPSecurity {
        var security = HTTPSecurity()
        if let apiTokenFile {
            security.apiToken = try startup("--api-token-file '\(apiTokenFile)'", fix: "put the token (one line, at least 16 characters) in a file readable by the engine") {
                try readToken(apiTokenFile)
            }
        } else if let env = ProcessInfo.processInfo.environment["STREAMSCORE_API_TOKEN"], !env.isEmpty {
            security.apiToken = try startup("STREAMSCORE_API_TOKEN", fix: "use a token of at least 16 characters") { try checkToken(env) }
        }
        if let metricsTokenFile {
            security.metricsToken = try startup("--metrics-token-file '\(metricsTokenFile)'", fix: "put the token in a file readable by the engine") {
                try readToken(metricsTokenFile)
            }
        }
        let (host, _) = parseHostPort(http)!
        if security.apiToken == nil && !isLoopbackHost(host) {
            throw StartupError(message: "--http \(http) binds a non-loopback address without an API token: refusing to serve profiles unauthenticated (fix: add --api-token-file PATH or set STREAMSCORE_API_TOKEN)")
        }
        security.maxScoreBodyBytes = maxScoreBodyKiB << 10
        security.requestReadTimeout = .seconds(httpReadTimeout)
        security.maxInFlightScores = maxInflightScores
        return security
    }

    /// The model registry of `--models`, `--model`, or the bundled demo model (with `--demo`: the demo
    /// model as champion and a bundled tree model as shadow, so the dashboard shows both).
    private func modelRegistry() throws -> ModelRegistry {
        if model != nil && models != nil { throw StartupError(message: "--model and --models: give one of them") }
        if let models {
            return try startup("model set '\(models)'", fix: "fix the file (CONTRACT §5) or its models") {
                try ModelRegistry(modelSet: URL(fileURLWithPath: models))
            }
        }
        if let model {
            return try startup("model '\(model)'", fix: "give a readable PMML file with --model") {
                try ModelRegistry(contentsOf: URL(fileURLWithPath: model))
            }
        }
        let champion = try bundledResource("demo-model.pmml")
        guard demo else {
            return try startup("bundled demo model", fix: "pass --model PATH") { try ModelRegistry(contentsOf: champion) }
        }
        let shadow = try bundledResource("demo-shadow.pmml")
        let setFile = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-demo-models-\(getpid()).json")
        let set = try ModelSetFile(models: [.init(name: "demo", path: champion.path, role: .champion),
                                           .init(name: "tree-shadow", path: shadow.path, role: .shadow)], file: setFile.path)
        try startup("demo model set '\(setFile.path)'", fix: "check that the temporary directory is writable") {
            try set.encoded().write(to: setFile)
        }
        return try startup("demo model set '\(setFile.path)'", fix: "pass --model PATH") { try ModelRegistry(modelSet: setFile) }
    }

    private func bundledResource(_ name: String) throws -> URL {
        let base = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
        let candidates = [Bundle.module.url(forResource: base, withExtension: ext, subdirectory: "Resources"),
                          Bundle.module.bundleURL.appendingPathComponent("Resources/\(name)")]
        guard let url = candidates.compactMap({ $0 }).first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw StartupError(message: "bundled \(name) not found next to the executable; pass --model PATH")
        }
        return url
    }
}

/// Raises the soft open-files limit toward `wanted` (within the hard limit): every HTTP connection, Kafka
/// socket and store connection is a descriptor, and the common default soft limit of 1,024 would let a
/// few hundred idle clients starve the liveness probe.
func raiseOpenFilesLimit(to wanted: Int, logger: Logger) {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    let target = min(rlim_t(wanted), limit.rlim_max)
    guard limit.rlim_cur < target else { return }
    limit.rlim_cur = target
    if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
        logger.warning("cannot raise the open-files limit", metadata: ["wanted": "\(wanted)"])
    }
}

/// Reads a bearer token from a file: its first line, trimmed.
func readToken(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw StartupError(message: "cannot read the file") }
    let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
    return try checkToken(line.trimmingCharacters(in: .whitespaces))
}

/// A token must be long enough not to be guessed (the value itself is never printed).
func checkToken(_ token: String) throws -> String {
    guard token.count >= 16 else { throw StartupError(message: "the token has \(token.count) characters; use at least 16") }
    return token
}

/// The HTTPS server's TLS settings from PEM files.
func serverTLS(cert: String, key: String) throws -> TLSConfiguration {
    let certificates = try NIOSSLCertificate.fromPEMFile(cert)
    let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
    return TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(privateKey))
}

/// A start-up failure, printed as one line.
struct StartupError: Error {
    let message: String
}

func startup<T>(_ what: String, fix: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw StartupError(message: "\(what): \(error)\(fix.map { " (fix: \($0))" } ?? "")")
    }
}

func startupAsync<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw StartupError(message: "\(what): \(error)")
    }
}

func parseHostPort(_ text: String) -> (String, Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
    let host = String(text[..<colon])
    return host.isEmpty ? nil : (host, port)
}

/// A long-lived part without a loop of its own (producer, store, embedded broker): waits for graceful
/// shutdown (or cancellation), then tears the part down. In a `ServiceGroup` its position decides when.
struct TeardownService: Service {
    let teardown: @Sendable () async -> Void
    init(_ teardown: @escaping @Sendable () async -> Void) { self.teardown = teardown }
    func run() async throws {
        try? await gracefulShutdown()
        await teardown()
    }
}

/// Ends the process if a graceful shutdown outlives its limit (armed by the first SIGTERM or SIGINT).
/// The `ServiceGroup` cancels what is still running at the graceful deadline; this is the last resort
/// for what cancellation cannot reach (a thread blocked in a C call).
/// `@unchecked Sendable`: `sources` is written once, in `arm`, before any signal can fire, and only kept
/// alive afterwards; `armed` is atomic.
final class ShutdownWatchdog: @unchecked Sendable {
    let graceful: Duration
    let limit: Duration
    let logger: Logger
    private var sources: [any DispatchSourceSignal] = []
    private let armed = Atomic<Bool>(false)
    private let startedAt = Mutex<ContinuousClock.Instant?>(nil)

    init(graceful: Duration, limit: Duration, logger: Logger) {
        self.graceful = graceful
        self.limit = limit
        self.logger = logger
    }

    /// Whether a shutdown began and took longer than the graceful limit.
    var gracefulDeadlineExceeded: Bool {
        guard let start = startedAt.withLock({ $0 }) else { return false }
        return ContinuousClock.now - start >= graceful
    }

    func arm(on signals: [Int32]) {
        let made = signals.map { sig -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in self.start() }
            source.resume()
            return source
        }
        sources = made
    }

    private func start() {
        guard !armed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        startedAt.withLock { $0 = ContinuousClock.now }
        let seconds = Double(limit.components.seconds)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [logger] in
            logger.critical("graceful shutdown did not finish in time; exiting", metadata: ["limit_s": "\(seconds)"])
            printError("streamscore run: graceful shutdown did not finish within the limit; exiting with status 1")
            exit(1)
        }
    }
}

/// A service made of an async closure that runs until cancelled or graceful shutdown.
struct TaskService: Service {
    let body: @Sendable () async -> Void
    init(_ body: @escaping @Sendable () async -> Void) { self.body = body }
    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}

/// `--rescore-on-change`: after a reload, one background rescore at a time (a newer reload cancels the
/// running one and starts again).
final class RescoreOnChange: Sendable {
    private let rescorer: Rescorer?
    private let rate: Double
    private let logger: Logger
    private let running = Mutex<Task<Void, Never>?>(nil)

    init(rescorer: Rescorer?, rate: Double, logger: Logger) {
        self.rescorer = rescorer
        self.rate = rate
        self.logger = logger
    }

    func modelSetChanged() {
        guard let rescorer else { return }
        let logger = logger, rate = rate
        let task = Task {
            do {
                let result = try await rescorer.run(rate: rate)
                logger.notice("rescore after the model change finished", metadata: ["read": "\(result.read)", "rewritten": "\(result.rewritten)"])
            } catch {
                logger.warning("rescore after the model change failed", metadata: ["error": "\(error)"])
            }
        }
        running.withLock { r in
            r?.cancel()
            r = task
        }
    }
}

/// `HH:MM` (UTC) as minutes after midnight.
func parseDailyTime(_ text: String) throws -> Int {
    let parts = text.split(separator: ":")
    guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else {
        throw ValidationError("'\(text)' is not a time of day HH:MM (UTC), e.g. 03:30")
    }
    return h * 60 + m
}

/// The daily as-of sweep: at `minute` (after midnight UTC) each day, re-scores every stored profile as of
/// that moment, throttled to `rate` profiles/s; the stream keeps running (rewrites are conditional).
func runDailyRescore(_ rescorer: Rescorer, at minute: Int, rate: Double, logger: Logger) async {
    while !Task.isCancelled {
        let now = Timestamp.nowMillis()
        let day = now - now % 86_400_000
        var next = day + Int64(minute) * 60_000
        if next <= now { next += 86_400_000 }
        do { try await Task.sleep(for: .milliseconds(next - now)) } catch { return }
        let asOf = Timestamp.nowMillis()
        do {
            let result = try await rescorer.run(asOf: asOf, rate: rate)
            logger.notice("daily rescore finished", metadata: ["as_of": "\(Timestamp.format(millis: asOf))", "read": "\(result.read)",
                                                              "rewritten": "\(result.rewritten)", "left_to_stream": "\(result.skippedNewer)"])
        } catch {
            logger.error("daily rescore failed; next attempt tomorrow", metadata: ["error": "\(error)"])
        }
    }
}

/// `name role[ percent%] version` of each model of a set, for log lines.
func describe(_ set: ModelSet) -> String {
    set.members.map { m in "\(m.name) \(m.role.rawValue)\(m.percent.map { " \($0)%" } ?? "") \(m.model.version)" }.joined(separator: ", ")
}

/// Reloads the model set on SIGHUP.
func reloadOnSIGHUP(_ registry: ModelRegistry, logger: Logger, info: ModelInfoMetric, failures: Metrics.Counter, onChange: RescoreOnChange) async {
    signal(SIGHUP, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
    source.setEventHandler {
        do {
            let set = try registry.reload()
            info.set(set.champion.model.version)
            logger.notice("model set reloaded on SIGHUP", metadata: ["models": "\(describe(set))"])
            onChange.modelSetChanged()
        } catch {
            failures.increment()
            logger.error("model reload on SIGHUP failed; the running model set keeps serving", metadata: ["error": "\(error)"])
        }
    }
    source.resume()
    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    source.cancel()
}

/// Demo load: synthetic events at a steady rate into the log feed.
func runDemoLoad(producer: KafkaProducer, topic: String, rate: Double, logger: Logger) async {
    var traffic = SyntheticTraffic(customers: 10_000, seed: UInt64(Date().timeIntervalSince1970), startMillis: 0, meanGapMillis: 0)
    let tick = Duration.milliseconds(100)
    let perTick = max(1, Int(rate / 10))
    var next = ContinuousClock.now
    while !Task.isCancelled {
        let messages = (0..<perTick).map { _ -> ProducerMessage in
            let e = traffic.next()
            return ProducerMessage(topic: topic, key: Array(e.customerID.utf8), value: e.json)
        }
        do { try await producer.send(messages) } catch {
            logger.warning("demo load: produce failed", metadata: ["error": "\(error)"])
        }
        next += tick
        try? await Task.sleep(until: next, clock: .continuous)
    }
}

/// The live line of demo mode: events/s, lag and profiles scored, every two seconds.
func liveLine(statuses: [SubscriberStatus], store: any EngineStore) async {
    var last = statuses.map { $0.snapshot.processed }
    var lastTime = ContinuousClock.now
    while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(2))
        let now = ContinuousClock.now
        let dt = seconds(now - lastTime)
        lastTime = now
        var parts: [String] = []
        for (i, s) in statuses.enumerated() {
            let snap = s.snapshot
            let rate = Double(snap.processed - last[i]) / max(dt, 1e-9)
            last[i] = snap.processed
            var part = String(format: "%@ %.0f ev/s lag %lld", s.name, rate, snap.lag)
            if s.name == "prediction" { part += " scored \(snap.scored)" }
            if snap.malformed > 0 { part += " malformed \(snap.malformed)" }
            parts.append(part)
        }
        let profiles = (try? await store.profileCount()) ?? 0
        printError("live: " + parts.joined(separator: " | ") + " | profiles \(profiles)")
    }
}

/// `streamscore_model_info{version}`: 1 for the model in service, 0 for the versions it replaced.
final class ModelInfoMetric: Sendable {
    private let current = Mutex<(version: String, gauge: Metrics.Gauge)?>(nil)
    init(version: String) { set(version) }
    func set(_ version: String) {
        let gauge = Metrics.Gauge(label: "streamscore_model_info", dimensions: [("version", version)])
        let old = current.withLock { c -> Metrics.Gauge? in
            defer { c = (version, gauge) }
            return c?.version == version ? nil : c?.gauge
        }
        old?.record(0)
        gauge.record(1)
    }
}
