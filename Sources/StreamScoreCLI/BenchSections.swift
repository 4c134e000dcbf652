import ArgumentParser
import Events
import Features
import Foundation
import Kafka
import Logging
import Pipeline
import Scoring
import Store
import Synchronization

/// Best-of-N wall time of `body` in seconds (single thread, so one core).
func bestOf(_ rounds: Int, _ body: () throws -> Int) rethrows -> (seconds: Double, check: Int) {
    var best = Double.infinity
    var check = 0
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        check = try body()
        best = min(best, seconds(ContinuousClock.now - start))
    }
    return (best, check)
}

/// Synthetic events (~200 B each) as separate byte buffers.
func syntheticEvents(_ count: Int, customers: Int) -> [[UInt8]] {
    var traffic = SyntheticTraffic(customers: customers, seed: 11, startMillis: 1_767_225_600_000, meanGapMillis: 50)
    return (0..<count).map { _ in traffic.next().json }
}

/// Decode, feature update and SQLite upsert figures (issue: events, features and the SQLite store).
struct CoreBench {
    let events: Int
    var sections: Set<String> = ["core", "sqlite"]

    func run(_ report: BenchReport) async throws {
        let lines = syntheticEvents(events, customers: 100_000)
        let decoded = lines.compactMap { EventDecoder.decode($0).event }
        if sections.contains("core") { try decodeAndFeatures(report, lines: lines, decoded: decoded) }
        if sections.contains("sqlite") || sections.contains("core") { try await sqlite(report, decoded: decoded) }
    }

    private func decodeAndFeatures(_ report: BenchReport, lines: [[UInt8]], decoded: [Event]) throws {
        report.section("Events and features: \(events) synthetic events on one core")
        let meanBytes = lines.reduce(0) { $0 + $1.count } / max(lines.count, 1)
        let decode = bestOf(3) {
            var valid = 0
            for line in lines { if case .event = EventDecoder.decode(line) { valid += 1 } }
            return valid
        }
        report.add("decode + validate (mean \(meanBytes) B), events/s", formatRate(Double(lines.count) / decode.seconds))
        let update = bestOf(3) {
            var profiles: [String: Profile] = [:]
            var changed = 0
            for e in decoded where profiles[e.customerID, default: Profile(customerID: e.customerID)].apply(e) { changed += 1 }
            return changed
        }
        report.add("feature update (profile lookup + rolling counters), events/s", formatRate(Double(decoded.count) / update.seconds))
    }

    private func sqlite(_ report: BenchReport, decoded: [Event]) async throws {
        report.section("SQLite store: batch upsert of 1,000 profiles with offsets, one transaction each")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-bench-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(path: dir.appendingPathComponent("bench.db").path)
        var profiles: [String: Profile] = [:]
        for e in decoded.prefix(200_000) { profiles[e.customerID, default: Profile(customerID: e.customerID)].apply(e) }
        let all = Array(profiles.values)
        let batches = stride(from: 0, to: min(all.count, 100_000), by: 1_000).map { i in
            all[i..<min(all.count, i + 1_000)].map { p in ProfileUpdate(profile: p, features: p.features(), churnScore: 0.5, modelVersion: "bench", scoredAt: p.asOf) }
        }
        let scope = OffsetScope(subscriber: "bench", topic: "bench")
        var next: Int64? = nil
        let start = ContinuousClock.now
        var rows = 0
        for batch in batches {
            let advance = OffsetAdvance(partition: 0, expected: next, next: (next ?? 0) + Int64(batch.count))
            try await store.commitProfiles(batch, offsets: [advance], scope: scope)
            next = advance.next
            rows += batch.count
        }
        let elapsed = seconds(ContinuousClock.now - start)
        report.add("SQLite upsert, batches of 1,000 (\(batches.count) batches), rows/s", formatRate(Double(rows) / elapsed))
        report.add("SQLite upsert, ms per 1,000-row transaction", String(format: "%.2f ms", elapsed / Double(max(batches.count, 1)) * 1000))
        try await store.close()
    }
}

/// Rows/s per shared model for batches of 1,000 on one core, and single-row latency.
struct ScoringBench {
    let modelsDir: String

    func run(_ report: BenchReport) throws {
        report.section("PMML scoring: one core, batches of 1,000 rows, rows from NAME.expected.csv")
        for name in ["logreg", "tree", "forest", "gbc"] {
            let modelURL = URL(fileURLWithPath: modelsDir).appendingPathComponent("\(name).pmml")
            let csvURL = URL(fileURLWithPath: modelsDir).appendingPathComponent("\(name).expected.csv")
            guard FileManager.default.fileExists(atPath: modelURL.path) else {
                printLine("  \(name): \(modelURL.path) not found, skipped (use --models-dir)")
                continue
            }
            let model = try CompiledModel.load(contentsOf: modelURL)
            let text = try String(contentsOf: csvURL, encoding: .utf8)
            var lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let header = lines.removeFirst()
            let rows = lines.map { cells -> InputRow in
                var values: [String: FieldValue] = [:]
                for (i, h) in header.enumerated() where i < cells.count {
                    values[h] = Double(cells[i]).map(FieldValue.number) ?? (cells[i].isEmpty ? .missing : .string(cells[i]))
                }
                return model.makeRow(values)
            }
            var batch: [InputRow] = []
            while batch.count < 1_000 { batch.append(contentsOf: rows.prefix(1_000 - batch.count)) }
            var results: [Double] = []
            results.reserveCapacity(1_000)
            let repeats = 200
            let timed = bestOf(3) {
                for _ in 0..<repeats { model.scoreBatch(batch, into: &results) }
                return results.count
            }
            let perRow = timed.seconds / Double(repeats * batch.count)
            report.add("\(name): batch of 1,000, µs/row (rows/s)", String(format: "%.3f µs (%@)", perRow * 1e6, formatRate(1 / perRow)))
            let single = bestOf(3) {
                var ok = 0
                for i in 0..<20_000 where (try? model.score(rows[i % rows.count])) != nil { ok += 1 }
                return ok
            }
            report.add("\(name): single row, µs", String(format: "%.3f µs", single.seconds / 20_000 * 1e6))
        }
    }
}

/// Peak resident set size of this process (VmHWM), in MiB.
func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return .nan }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? .nan
        return kb / 1024
    }
    return .nan
}

/// A `streamscore` child process (broker or producer), so its memory is not counted in ours.
final class ChildProcess {
    let process = Process()
    let output = Pipe()

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        process.arguments = args
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Reads stdout up to the first line starting with `prefix`.
    func firstLine(prefix: String) -> String? {
        var buffer = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { return nil }
            if byte == Data("\n".utf8) {
                let line = String(decoding: buffer, as: UTF8.self)
                if line.hasPrefix(prefix) { return String(line.dropFirst(prefix.count)) }
                buffer.removeAll()
            } else {
                buffer.append(byte)
            }
        }
    }

    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// End to end: synthetic events into the subscribers with a SQLite store; the broker and the producer
/// are child processes (so peak RSS is the engine's).
struct EndToEndBench {
    let messages: Int
    let customers: Int
    let partitions: Int
    let cConsumer: String
    let logger: Logger
    let subscriber: String
    let latencyRate: Double
    let latencySeconds: Int
    let store: String?

    func run(_ report: BenchReport) async throws {
        report.section("End to end (\(subscriber) subscriber): \(messages) synthetic events, \(customers) customers, \(partitions) partitions, store \(store ?? "SQLite")")
        let broker = try ChildProcess(["broker", "--partitions", "\(partitions)", "--topic", "bench-e2e"])
        defer { broker.stop() }
        guard let bootstrap = broker.firstLine(prefix: "bootstrap: ") else { throw ValidationError("broker did not start") }
        let preload = try ChildProcess(["produce", "--brokers", bootstrap, "--topic", "bench-e2e", "--synthetic", "\(messages)", "--customers", "\(customers)"])
        guard preload.wait() == 0 else { throw ValidationError("preload failed") }
        let cRate = try KafkaBench(messages: messages, partitions: partitions, runs: 1, cConsumer: cConsumer, logger: logger)
            .cRate(bootstrap: bootstrap, topic: "bench-e2e", group: "bench-e2e-c")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-e2e-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try store.map { try StoreURL(parsing: $0) } ?? .sqlite(path: dir.appendingPathComponent("e2e.db").path)
        let engineStore = try await StoreFactory.open(url)
        let kafka = KafkaConfig(bootstrapServers: bootstrap)
        let producer = try KafkaProducer(config: kafka, logger: logger)
        var settings = SubscriberSettings(kafka: kafka)
        settings.topic = "bench-e2e"
        settings.groupPrefix = "bench-\(UUID().uuidString.prefix(6))"
        let modelURL = URL(fileURLWithPath: "Sources/StreamScoreCLI/Resources/demo-model.pmml")
        let registry = try ModelRegistry(contentsOf: modelURL)
        let service: any PipelineService
        if subscriber == "prediction" {
            service = try PredictionSubscriber(settings: settings, store: engineStore, registry: registry, producer: producer, logger: logger)
        } else {
            service = try CounterSubscriber(settings: settings, store: engineStore, logger: logger)
        }
        let running = Task { try await service.run() }
        var started: ContinuousClock.Instant?
        while true {
            let snap = service.status.snapshot
            if started == nil && snap.processed > 0 { started = .now }
            if snap.processed + snap.malformed >= messages { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = seconds(ContinuousClock.now - (started ?? .now))
        let rate = Double(messages) / elapsed
        report.add("\(subscriber) end to end, events/s", formatRate(rate))
        report.add("raw C consume on the same topic, msgs/s", formatRate(cRate))
        report.add("\(subscriber) / raw C", String(format: "%.2f", rate / cRate))
        report.stageMeans()

        if subscriber == "prediction" && latencySeconds > 0 {
            // Latency from produce (event ts = wall clock at generation) to committed profile, at a fixed rate.
            // Samples of events generated after a 2 s warm-up of the load producer (its first requests wait
            // for its own connection and metadata, which is not the engine's latency); the warm-up's
            // figures are printed too.
            let latencies = Mutex<[Double]>([])
            let warmup = Mutex<[Double]>([])
            let measureFrom = Date().timeIntervalSince1970 * 1000 + 2_000
            service.onCommit { timestamps in
                let now = Date().timeIntervalSince1970 * 1000
                for t in timestamps {
                    if Double(t) >= measureFrom { latencies.withLock { $0.append(now - Double(t)) } } else { warmup.withLock { $0.append(now - Double(t)) } }
                }
            }
            let load = try ChildProcess(["produce", "--brokers", bootstrap, "--topic", "bench-e2e", "--synthetic", "\(Int(latencyRate) * latencySeconds)",
                                         "--customers", "\(customers)", "--rate", "\(latencyRate)"])
            _ = load.wait()
            try await Task.sleep(for: .seconds(1))
            let all = latencies.withLock { $0 }
            // Diagnostic: the latency of successive tenths of the run (in commit order).
            let tenth = max(1, all.count / 10)
            let parts = stride(from: 0, to: all.count, by: tenth).map { i -> String in
                let slice = all[i..<min(all.count, i + tenth)].sorted()
                return String(format: "%.0f/%.0f", slice[slice.count / 2], slice[min(slice.count - 1, Int(Double(slice.count) * 0.99))])
            }
            printLine("  latency p50/p99 (ms) by tenth of the run: " + parts.joined(separator: " "))
            let early = warmup.withLock { $0 }.sorted()
            if !early.isEmpty {
                report.add("latency during the load producer's 2 s warm-up, p50 / p99", String(format: "%.1f / %.1f ms", early[early.count / 2], early[min(early.count - 1, Int(Double(early.count) * 0.99))]))
            }
            let sorted = all.sorted()
            if !sorted.isEmpty {
                func pct(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
                report.add("latency produce→committed at \(Int(latencyRate))/s after warm-up, p50", String(format: "%.1f ms", pct(0.5)))
                report.add("latency produce→committed at \(Int(latencyRate))/s after warm-up, p99", String(format: "%.1f ms", pct(0.99)))
                report.add("latency samples", "\(sorted.count)")
            }
        }
        running.cancel()
        try? await running.value
        producer.shutdown()
        try await engineStore.close()
        report.add("\(subscriber) engine peak RSS (broker and producer excluded)", String(format: "%.0f MiB", peakRSSMiB()))
    }
}

/// What the end-to-end bench needs of a subscriber.
protocol PipelineService: Sendable {
    var status: SubscriberStatus { get }
    func run() async throws
    func onCommit(_ hook: @escaping @Sendable ([Int64]) -> Void)
}

extension PredictionSubscriber: PipelineService {}
extension CounterSubscriber: PipelineService {
    func onCommit(_ hook: @escaping @Sendable ([Int64]) -> Void) {}
}

/// Delivery round trip of a 1,000-message send on the embedded broker (what the writer waits for).
struct ProducerBench {
    let logger: Logger
    func run(_ report: BenchReport, properties: [(key: String, value: String)], label: String) async throws {
        let broker = try EmbeddedBroker(logger: logger)
        try broker.createTopic("bench-produce", partitions: 4)
        let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: broker.bootstrap, properties: properties), logger: logger)
        var traffic = SyntheticTraffic(customers: 10_000, seed: 3, startMillis: 1_767_225_600_000, meanGapMillis: 50)
        let batches = (0..<50).map { _ in (0..<1_000).map { _ -> ProducerMessage in
            let e = traffic.next()
            return ProducerMessage(topic: "bench-produce", key: Array(e.customerID.utf8), value: e.json)
        } }
        try await producer.send(batches[0])
        let start = ContinuousClock.now
        for batch in batches.dropFirst() { try await producer.send(batch) }
        report.add("send 1,000 and await delivery (\(label)), ms", String(format: "%.2f ms", seconds(ContinuousClock.now - start) / 49 * 1000))
        producer.shutdown()
        broker.shutdown()
    }
}
