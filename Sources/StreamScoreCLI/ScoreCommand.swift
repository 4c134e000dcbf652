import ArgumentParser
import Store
import Foundation
import Scoring
import Pipeline
import Logging

/// `streamscore score`: batch scoring of a CSV with the same compiled model the stream uses.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score a CSV of raw model fields; writes the input with a `probability` column appended."
    )

    @Option(help: "The PMML model.")
    var model: String?

    @Option(help: "A model-set file (CONTRACT §5): `probability` is the champion's, plus a `probability_<name>` column per model.")
    var models: String?

    @Option(help: "Input CSV (RFC 4180) with a header of raw field names; an empty cell is a missing value.")
    var input: String

    @Option(help: "Output CSV (default: stdout).")
    var output: String?

    func run() throws {
        let scorer: CSVBatchScorer
        switch (model, models) {
        case (let model?, nil):
            do {
                scorer = CSVBatchScorer(model: try CompiledModel.load(contentsOf: URL(fileURLWithPath: model)))
            } catch {
                printError("streamscore score: model '\(model)': \(error)")
                throw ExitCode(2)
            }
        case (nil, let models?):
            do {
                scorer = CSVBatchScorer(set: try ModelSet.load(file: URL(fileURLWithPath: models)))
            } catch {
                printError("streamscore score: \(error)")
                throw ExitCode(2)
            }
        default:
            printError("streamscore score: give one of --model PATH or --models FILE")
            throw ExitCode(2)
        }
        guard FileManager.default.isReadableFile(atPath: input) else {
            printError("streamscore score: cannot read input '\(input)': check the path")
            throw ExitCode(2)
        }
        let out: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil), let handle = FileHandle(forWritingAtPath: output) else {
                printError("streamscore score: cannot write output '\(output)'")
                throw ExitCode(2)
            }
            out = handle
        } else {
            out = FileHandle.standardOutput
        }
        let progress = Progress(label: "scored")
        var rowErrors = 0
        do {
            let rows = try scorer.run(input: URL(fileURLWithPath: input), output: out,
                                                               progress: { progress.update($0, of: 0) },
                                                               onRowError: { row, error in
                                                                   rowErrors += 1
                                                                   if rowErrors <= 10 { printError("row \(row): \(error)") }
                                                               })
            progress.update(rows, of: rows)
            progress.finish()
        } catch {
            printError("streamscore score: \(input): \(error)")
            throw ExitCode(2)
        }
        if output != nil { try? out.close() }
        if rowErrors > 0 { printError("\(rowErrors) row(s) could not be scored (empty probability cell)") }
    }
}

/// `streamscore profiles …`.
struct ProfilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "Manage customer profiles.",
        subcommands: [ImportCommand.self]
    )

    /// `streamscore profiles import --store URL CUSTOMERS.csv`.
    struct ImportCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import a CRM export (customer_id,tenure_days,plan,monthly_charges) in one transaction."
        )

        @Option(help: "State store: sqlite:PATH or postgres://user[:pw]@host:port/db.")
        var store = "sqlite:streamscore.db"

        @Argument(help: "The CRM export CSV.")
        var file: String

        @Option(help: "Re-score changed profiles with this PMML model (default: the model the engine last ran with on this store).")
        var model: String?

        @Option(help: "Re-score changed profiles with this model set (default: the one the engine last ran with on this store).")
        var models: String?

        func run() async throws {
            do {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw StartupError(message: "cannot read '\(file)': check the path")
                }
                let records = try startup("import") { try CustomerCSV.parse(data, file: file) }
                let url = try startup("--store") { try StoreURL(parsing: store) }
                let engineStore = try await startupAsync("store \(url)") { try await StoreFactory.open(url) }
                let changed = try await startupAsync("import into \(url)") { try await engineStore.importCustomers(records) }
                printError("imported \(records.count) customers into \(url)")
                if !changed.isEmpty {
                    // CONTRACT §6: the score follows a change of static attributes.
                    if let registry = try await rescoringRegistry(engineStore) {
                        var logger = Logger(label: "streamscore.import")
                        logger.logLevel = .warning
                        let result = try await startupAsync("re-scoring changed profiles in \(url)") {
                            try await Rescorer(store: engineStore, registry: registry, producer: nil, logger: logger).run(customerIDs: changed)
                        }
                        printError("re-scored \(result.rewritten) of \(changed.count) scored profiles whose attributes changed (model \(registry.path))")
                    } else {
                        printError("\(changed.count) scored profiles changed; not re-scored: no --model/--models given and no engine has run on this store")
                    }
                }
                try await engineStore.close()
            } catch let error as StartupError {
                printError("streamscore profiles import: \(error.message)")
                throw ExitCode(2)
            }
        }

        /// The model to re-score with: the flags, else the `model_source` the engine recorded in the store.
        private func rescoringRegistry(_ store: any EngineStore) async throws -> ModelRegistry? {
            if let model { return try startup("model '\(model)'", fix: "give a readable PMML file") { try ModelRegistry(contentsOf: URL(fileURLWithPath: model)) } }
            if let models { return try startup("model set '\(models)'", fix: "fix the file") { try ModelRegistry(modelSet: URL(fileURLWithPath: models)) } }
            guard let source = try? await store.setting("model_source") else { return nil }
            if source.hasPrefix("models:") {
                return try startup("model set '\(source.dropFirst(7))' (recorded by the engine)", fix: "pass --model or --models") {
                    try ModelRegistry(modelSet: URL(fileURLWithPath: String(source.dropFirst(7))))
                }
            }
            if source.hasPrefix("model:") {
                return try startup("model '\(source.dropFirst(6))' (recorded by the engine)", fix: "pass --model or --models") {
                    try ModelRegistry(contentsOf: URL(fileURLWithPath: String(source.dropFirst(6))))
                }
            }
            return nil
        }
    }
}
