import ArgumentParser
import Bench
import Events
import Foundation
import Kafka
import Logging

/// `streamscore produce`: publish events from a JSONL file or a synthetic generator, keyed by customer.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Publish events to the log feed, keyed by customer_id, with a progress line on stderr."
    )

    @Option(help: "Bootstrap servers, HOST:PORT[,…].")
    var brokers: String

    @Option(help: "The topic.")
    var topic = "page-views"

    @Option(help: "A JSONL file, one event per line; each line is sent byte for byte.")
    var file: String?

    @Option(help: "Generate N synthetic events.")
    var synthetic: Int?

    @Option(help: "Distinct customers for --synthetic.")
    var customers = 10_000

    @Option(help: "Events per second (default: as fast as the broker takes them).")
    var rate: Double?

    @Option(help: "Seed of the synthetic generator.")
    var seed: UInt64 = 42

    @Option(help: ArgumentHelp("Zipf exponent S for --synthetic: the customer of rank r (C000001 is rank 1) with probability ∝ 1/r^S.",
                               discussion: "Without it, customer i of C is picked with probability ≈ 1/(2·√(i·C)) (index ⌊C·u²⌋ for a uniform u). Either way the seed gives the same events.",
                               valueName: "S"))
    var zipf: Double?

    @Option(name: .customLong("kafka"), help: "A librdkafka property KEY=VALUE for the producer (repeatable).")
    var kafka: [String] = []

    func validate() throws {
        guard (file == nil) != (synthetic == nil) else { throw ValidationError("give exactly one of --file or --synthetic") }
        if let synthetic, synthetic < 0 { throw ValidationError("--synthetic must be ≥ 0") }
        if let rate { try requireFlag("--rate", rate, in: rateRange, "events/s") }
        guard customers >= 1 else { throw ValidationError("--customers must be ≥ 1") }
        if let zipf {
            guard synthetic != nil else { throw ValidationError("--zipf applies to --synthetic only") }
            guard zipf > 0, zipf.isFinite else { throw ValidationError("--zipf must be a number > 0, e.g. 1.1") }
        }
    }

    func run() async throws {
        var logger = Logger(label: "streamscore.produce")
        logger.logLevel = .warning
        let config = KafkaConfig(bootstrapServers: brokers, properties: try KafkaConfig.parseOverrides(kafka))
        let producer = try KafkaProducer(config: config, logger: logger)
        // Connect and learn the partition leaders before the first event is made: with `--rate`, an
        // event's time is the moment it is generated, and the first ones would otherwise carry the
        // producer's start-up (measured: p99 1,062 ms over the first 2 s at 20,000/s).
        try producer.prepare(topic: topic, bootstrap: brokers)
        let progress = Progress(label: "produced")
        if let file {
            let lines = try JSONLines(path: file)
            try await publish(producer, total: lines.count, progress: progress) { i in
                let line = lines[i]
                return (EventDecoder.decode(line).event.map { Array($0.customerID.utf8) }, line)
            }
        } else if let synthetic {
            let gap = rate == nil ? 7.0 * 86_400_000 / Double(max(synthetic, 1)) : 0
            var traffic = SyntheticTraffic(customers: customers, seed: seed,
                                           startMillis: Int64(Date().timeIntervalSince1970 * 1000) - 7 * 86_400_000,
                                           meanGapMillis: gap, skew: zipf.map { .zipf(exponent: $0) } ?? .square)
            try await publish(producer, total: synthetic, progress: progress) { _ in
                let event = traffic.next()
                return (Array(event.customerID.utf8), event.json)
            }
        }
        progress.finish()
        producer.shutdown()
    }

    /// Sends `total` messages in chunks, holding `--rate` if given.
    private func publish(_ producer: KafkaProducer, total: Int, progress: Progress,
                         make: (Int) -> (key: [UInt8]?, value: [UInt8])) async throws {
        // With --rate, a chunk per millisecond of traffic (events carry the time they were made, so bigger
        // chunks would hand the engine bursts that wait for each other: measured p50 30.7 ms with a chunk
        // per 50 ms at 20,000/s); at most ~20,000 messages awaiting delivery.
        let chunk = rate.map { max(1, min(10_000, Int($0 / 1_000))) } ?? 10_000
        let maxChunksInFlight = max(4, 20_000 / chunk)
        let started = ContinuousClock.now
        var sent = 0
        var inFlight: [PendingDeliveries] = []
        while sent < total {
            let end = min(total, sent + chunk)
            let messages = (sent..<end).map { i -> ProducerMessage in
                let m = make(i)
                return ProducerMessage(topic: topic, key: m.key, value: m.value)
            }
            inFlight.append(try await producer.enqueue(messages))
            if inFlight.count >= maxChunksInFlight { _ = try await inFlight.removeFirst().delivered() }
            sent = end
            progress.update(sent, of: total)
            if let rate {
                let due = started + .seconds(Double(sent) / rate)
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
            }
        }
        for pending in inFlight { _ = try await pending.delivered() }
    }
}

/// The lines of a JSONL file as byte arrays (without the newline; a final empty line is ignored).
struct JSONLines {
    let lines: [[UInt8]]
    var count: Int { lines.count }
    subscript(i: Int) -> [UInt8] { lines[i] }

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read events file '\(path)': check the path and permissions")
        }
        var result: [[UInt8]] = []
        var start = data.startIndex
        for i in data.indices where data[i] == UInt8(ascii: "\n") {
            result.append(Array(data[start..<i]))
            start = i + 1
        }
        if start < data.endIndex { result.append(Array(data[start...])) }
        lines = result
    }
}

/// A progress line on stderr, at most once a second, plus a final line.
final class Progress: @unchecked Sendable {
    // @unchecked: used from one task at a time (the command's run loop).
    private let label: String
    private let started = ContinuousClock.now
    private var lastPrint = ContinuousClock.now
    private var current = 0

    init(label: String) { self.label = label }

    func update(_ done: Int, of total: Int) {
        current = done
        let now = ContinuousClock.now
        guard now - lastPrint >= .seconds(1) else { return }
        lastPrint = now
        printError("\(label) \(done)/\(total) (\(rate(done))/s)")
    }

    func finish() { printError("\(label) \(current) in \(elapsed()) (\(rate(current))/s)") }

    private func elapsed() -> String { String(format: "%.2f s", seconds(ContinuousClock.now - started)) }
    private func rate(_ n: Int) -> String { String(format: "%.0f", Double(n) / max(seconds(ContinuousClock.now - started), 1e-9)) }
}
