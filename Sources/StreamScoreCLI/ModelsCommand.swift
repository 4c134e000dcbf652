import ArgumentParser
import Events
import Foundation
import Kafka
import Logging
import Pipeline
import Scoring
import Store

/// `streamscore models promote|rollback`: edits a model-set file (GitOps friendly: the running engine
/// re-reads it on change). Every edit is validated (all models loaded) before it replaces the file, and
/// the replaced version is kept as `FILE.previous` for `rollback`.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Promote a challenger or shadow to champion, or roll back the last change of a model-set file.",
        subcommands: [Promote.self, Rollback.self]
    )

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "promote",
            abstract: "Make NAME the champion; the old champion becomes a shadow (still scored and logged)."
        )

        @Argument(help: "The challenger or shadow to promote.")
        var name: String

        @Option(help: "The model-set file.")
        var file: String

        func run() throws {
            do {
                let url = URL(fileURLWithPath: file)
                let current = try Data(contentsOf: url)
                let promoted = try ModelSetFile.parse(current, file: file).promoting(name)
                try replace(url, with: promoted.encoded(), previous: current)
                printError("promoted \(name) to champion in \(file) (the previous version is \(file).previous)")
            } catch let error as ModelSetError {
                printError("streamscore models promote: \(error)")
                throw ExitCode(2)
            } catch let error as ValidationError {
                printError("streamscore models promote: \(error.message)")
                throw ExitCode(2)
            } catch {
                printError("streamscore models promote: '\(file)': \(error.localizedDescription)")
                throw ExitCode(2)
            }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Restore FILE.previous (the version before the last promote or rollback)."
        )

        @Option(help: "The model-set file.")
        var file: String

        func run() throws {
            let url = URL(fileURLWithPath: file)
            let previousURL = URL(fileURLWithPath: file + ".previous")
            do {
                guard let previous = FileManager.default.contents(atPath: previousURL.path) else {
                    throw ValidationError("no '\(previousURL.path)' to roll back to (it is written by `models promote`)")
                }
                let current = try Data(contentsOf: url)
                try replace(url, with: previous, previous: current)
                printError("rolled \(file) back to its previous version")
            } catch let error as ModelSetError {
                printError("streamscore models rollback: \(error)")
                throw ExitCode(2)
            } catch let error as ValidationError {
                printError("streamscore models rollback: \(error.message)")
                throw ExitCode(2)
            } catch {
                printError("streamscore models rollback: '\(file)': \(error.localizedDescription)")
                throw ExitCode(2)
            }
        }
    }
}

/// Validates `contents` as a model set next to `url` (every model loaded), keeps `previous` as
/// `url.previous`, then renames the new contents over `url` (atomic for a watcher).
private func replace(_ url: URL, with contents: Data, previous: Data) throws {
    let folder = url.deletingLastPathComponent()
    let staged = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).new")
    try contents.write(to: staged)
    do {
        _ = try ModelSet.load(file: staged)
    } catch {
        try? FileManager.default.removeItem(at: staged)
        throw ValidationError("\(error)".replacingOccurrences(of: staged.path, with: url.path) + "; '\(url.path)' is unchanged")
    }
    try previous.write(to: URL(fileURLWithPath: url.path + ".previous"))
    guard rename(staged.path, url.path) == 0 else {
        try? FileManager.default.removeItem(at: staged)
        throw CocoaError(.fileWriteUnknown)
    }
}

/// `streamscore rescore`: re-scores every stored profile with its arm's current model (CONTRACT §5, §6).
struct RescoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rescore",
        abstract: "Re-score stored profiles with the model set (or as of a time); rewrite the rows whose score or model changed."
    )

    @Option(help: "State store: sqlite:PATH or postgres://user[:pw]@host:port/db.")
    var store: String

    @Option(help: "A model-set file (CONTRACT §5).")
    var models: String?

    @Option(help: "A PMML model (a set of one champion).")
    var model: String?

    @Option(help: "Most profiles per second (default: as fast as the store takes them).")
    var rate: Double?

    @Option(help: "Bootstrap servers: publish rewritten scores to the scores topic.")
    var brokers: String?

    @Option(name: .customLong("scores-topic"), help: "Output topic of churn scores.")
    var scoresTopic = "churn-scores"

    @Option(name: .customLong("as-of"), help: "Score the features as of a time: `now` or RFC 3339 (CONTRACT §6).")
    var asOf: String?

    @Option(name: .customLong("kafka"), help: "A librdkafka property KEY=VALUE for the producer (repeatable).")
    var kafka: [String] = []

    func run() async throws {
        var logger = Logger(label: "streamscore.rescore")
        logger.logLevel = .warning
        do {
            if let rate, let message = flagRangeViolation("--rate", rate, in: rateRange, "profiles/s") { throw StartupError(message: message) }
            let time = try asOf.map { text -> Int64 in
                if text == "now" { return Timestamp.nowMillis() }
                guard let t = Timestamp.parse(text) else { throw StartupError(message: "--as-of '\(text)': use now or an RFC 3339 time such as 2026-03-01T00:00:00Z") }
                return t
            }
            let registry: ModelRegistry
            switch (model, models) {
            case (let model?, nil):
                registry = try startup("model '\(model)'", fix: "give a readable PMML file") { try ModelRegistry(contentsOf: URL(fileURLWithPath: model)) }
            case (nil, let models?):
                registry = try startup("model set '\(models)'", fix: "fix the file (CONTRACT §5) or its models") { try ModelRegistry(modelSet: URL(fileURLWithPath: models)) }
            default:
                throw StartupError(message: "give one of --model PATH or --models FILE")
            }
            let url = try startup("--store") { try StoreURL(parsing: store) }
            let engineStore = try await startupAsync("store \(url)") { try await StoreFactory.open(url) }
            var producer: KafkaProducer?
            if let brokers {
                let config = KafkaConfig(bootstrapServers: brokers, properties: try startup("--kafka") { try KafkaConfig.parseOverrides(kafka) })
                let p = try startup("Kafka producer") { try KafkaProducer(config: config, logger: logger) }
                try startup("Kafka", fix: "check --brokers and that the cluster is up") { try p.checkReachable(bootstrap: brokers) }
                producer = p
            }
            let total = try await engineStore.profileCount()
            let progress = Progress(label: "rescored")
            let result = try await Rescorer(store: engineStore, registry: registry, producer: producer, scoresTopic: scoresTopic, logger: logger)
                .run(asOf: time, rate: rate) { progress.update($0.read, of: total) }
            progress.finish()
            producer?.shutdown()
            try await engineStore.close()
            printError("rescore: \(result.read) profiles read, \(result.rewritten) rewritten, \(result.skippedNewer) left to newer stream writes")
        } catch let error as StartupError {
            printError("streamscore rescore: \(error.message)")
            throw ExitCode(2)
        }
    }
}
