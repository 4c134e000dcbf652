import ArgumentParser

/// The `streamscore` command line (CONTRACT.md §3).
@main
struct StreamScore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamscore",
        abstract: "A streaming churn-prediction engine: Kafka in, PMML scores out.",
        subcommands: [RunCommand.self, BrokerCommand.self, ProduceCommand.self, ScoreCommand.self, ProfilesCommand.self, ModelsCommand.self, RescoreCommand.self, BenchCommand.self]
    )
}
