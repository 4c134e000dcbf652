import ArgumentParser
@main struct StreamScore: AsyncParsableCommand {
    func run() async throws {}
}
