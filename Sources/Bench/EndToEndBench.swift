import Events
import Foundation
import Kafka
import Logging
import Pipeline
import ProcessSupport
import Scoring
import Store
import Synchronization

/// End to end: synthetic events into a subscriber running in this process; the broker and the load
/// producer are `streamscore` child processes, so the peak RSS (reset at the section's start) is the
/// engine's.
struct EndToEndBench {
    /// Which end-to-end section.
    enum Kind {
        /// Prediction into SQLite.
        case prediction
        /// The prediction subscriber's latency at a fixed rate.
        case latency
        /// Prediction into SQLite on a Zipf-skewed stream.
        case zipf
        /// Prediction into PostgreSQL.
        case postgres
        /// Counter subscriber into SQLite.
        case counter

        /// The `--only` name.
        var section: BenchSection {
            switch self {
            case .prediction: .prediction
            case .latency: .latency
            case .zipf: .zipf
            case .postgres: .postgres
            case .counter: .counter
            }
        }
    }

    /// Which section.
    let kind: Kind
    /// Sizes, rates, stores and the `streamscore` executable.
    let options: BenchOptions
    /// The engine's logger (errors only).
    let logger: Logger

    private static let topic = "bench-e2e"
    /// The sizes the throughput goals are set for.
    private static let goalMessages = 1_000_000, goalCustomers = 100_000

    private var subscriber: String { kind == .counter ? "counter" : "prediction" }

    private var title: String {
        switch kind {
        case .prediction, .latency: "prediction subscriber into SQLite"
        case .zipf: "prediction subscriber into SQLite, Zipf-skewed customers (s = \(options.zipfExponent))"
        case .postgres: "prediction subscriber into PostgreSQL"
        case .counter: "counter subscriber into SQLite"
        }
    }

    /// A note for goals measured at other sizes than theirs.
    private var sizeNote: String? {
        options.e2eMessages == Self.goalMessages && options.customers == Self.goalCustomers ? nil
            : "run at \(formatCount(options.e2eMessages)) events / \(formatCount(options.customers)) customers"
    }

    /// Runs the section and adds its figures and goals to `report`.
    func run(_ report: BenchReport) async throws {
        if kind == .latency {
            try await runLatency(report)
            return
        }
        let messages = options.e2eMessages, customers = options.customers
        report.section("End to end, \(title): \(formatCount(messages)) synthetic events, \(formatCount(customers)) customers, \(options.partitions) partitions")
        try KafkaBench.checkCConsumer(options.cConsumer)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-e2e-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let storeURL: StoreURL
        switch kind {
        case .postgres:
            guard let url = options.postgresStore else { throw BenchError("no PostgreSQL URL for the PostgreSQL section") }
            storeURL = try StoreURL(parsing: url)
        case .prediction, .latency, .zipf, .counter:
            storeURL = try options.store.map { try StoreURL(parsing: $0) } ?? .sqlite(path: dir.appendingPathComponent("e2e.db").path)
        }
        if kind != .counter {
            // The figures are for a fresh store; an earlier run's offsets (kept per subscriber and topic) would
            // also make this run wait for events past the new topic's end.
            let store = try await StoreFactory.open(storeURL)
            let existing = try await store.profileCount()
            try await store.close()
            guard existing == 0 else {
                throw BenchError("the store \(storeURL) already holds \(existing) profiles (an earlier run?): give an empty database")
            }
        }
        let (broker, bootstrap) = try ChildProcess.startBroker(options.streamscore, partitions: options.partitions, topic: Self.topic)
        defer { broker.stop() }
        let skew = kind == .zipf ? ["--zipf", "\(options.zipfExponent)"] : []
        let preload = try ChildProcess.startProducer(options.streamscore, bootstrap: bootstrap, topic: Self.topic,
                                                     ["--synthetic", "\(messages)", "--customers", "\(customers)"] + skew)
        guard preload.wait() == 0 else { throw BenchError("the preload (streamscore produce) failed") }
        // The C consumer's rate spreads widely on this machine (1.58–1.70, then 0.79–1.14 M msgs/s on one
        // broker within minutes, 2026-11-30): the median of `runs` reads, each by a group of its own, is the reference.
        // Its CPU and the broker's, per event, are the budget the engine's own CPU per event compares with.
        var cRuns: [KafkaBench.CRun] = [], cBrokerCPU: [Double] = []
        for i in 0..<max(1, options.runs) {
            let brokerBefore = ProcessCPU.seconds(pid: broker.pid)
            cRuns.append(try KafkaBench.cRun(cConsumer: options.cConsumer, bootstrap: bootstrap, topic: Self.topic,
                                             group: "bench-e2e-c-\(i)", messages: messages))
            cBrokerCPU.append(ProcessCPU.seconds(pid: broker.pid) - brokerBefore)
        }
        let cRate = median(cRuns.map(\.rate))
        printLine("  raw C consume runs, msgs/s: " + cRuns.map { formatRate($0.rate) }.joined(separator: ", "))

        // The engine's memory from here on: the peak is reset to what the process holds now.
        let memory = EngineMemory()
        let timersBefore = report.stageTimers()
        let engineStore = try await StoreFactory.open(storeURL)
        let kafka = KafkaConfig(bootstrapServers: bootstrap)
        let producer = try KafkaProducer(config: kafka, logger: logger)
        var settings = SubscriberSettings(kafka: kafka)
        settings.topic = Self.topic
        settings.groupPrefix = "bench-\(UUID().uuidString.prefix(6))"
        let service: any PipelineService
        var sweep: Task<(Int, Int), Never>?
        if kind == .counter {
            service = try CounterSubscriber(settings: settings, store: engineStore, logger: logger)
        } else {
            let registry = try options.modelSet.map { try ModelRegistry(modelSet: URL(fileURLWithPath: $0)) }
                ?? ModelRegistry(contentsOf: URL(fileURLWithPath: options.model))
            settings.predictionLogTopic = options.predictionLogTopic
            settings.reasons = options.reasons
            service = try PredictionSubscriber(settings: settings, store: engineStore, registry: registry, producer: producer, logger: logger)
            if options.sweep {
                // A daily as-of sweep running the whole time, as `run --daily-rescore` would (rate `--rescore-rate`).
                let rescorer = Rescorer(store: engineStore, registry: registry, producer: producer, logger: logger)
                let rate = options.sweepRate
                sweep = Task {
                    var sweeps = 0, rewritten = 0
                    while !Task.isCancelled {
                        guard let result = try? await rescorer.run(asOf: Timestamp.nowMillis(), rate: rate) else { break }
                        sweeps += 1
                        rewritten += result.rewritten
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                    return (sweeps, rewritten)
                }
            }
        }
        let cpuBefore = ProcessCPU.seconds(), brokerBefore = ProcessCPU.seconds(pid: broker.pid)
        let running = Task { try await service.run() }
        defer { running.cancel() }
        let elapsed = try await waitUntilProcessed(service, messages: messages)
        let cpuPerEvent = (ProcessCPU.seconds() - cpuBefore) / Double(messages) * 1e6
        let brokerPerEvent = (ProcessCPU.seconds(pid: broker.pid) - brokerBefore) / Double(messages) * 1e6
        let rate = Double(messages) / elapsed
        if let sweep {
            sweep.cancel()
            let (sweeps, rewritten) = await sweep.value
            report.add("as-of sweeps during the run (rate \(Int(options.sweepRate))/s), profiles rewritten", "\(sweeps) sweeps, \(rewritten)")
        }
        if options.reasons > 0 { report.add("reasons per stored score (--reasons)", "\(options.reasons)") }
        report.add("\(subscriber) end to end, events/s", formatRate(rate))
        report.add("raw C consume on the same topic, median of \(cRuns.count), msgs/s", formatRate(cRate))
        report.add("\(subscriber) / raw C", String(format: "%.2f", rate / cRate))
        // Throughput on two cores is set by CPU per event, and this figure drifts less with the machine's
        // speed than the rate does (broker and producer are other processes, not included).
        report.add("\(subscriber) engine CPU per event (user + sys from its start to the last event), µs", String(format: "%.2f", cpuPerEvent))
        report.add("raw C consumer CPU per event (user + sys, whole process), median, µs",
                   String(format: "%.2f", median(cRuns.map { $0.cpuSeconds / Double(messages) * 1e6 })))
        report.add("broker CPU per event while the C consumer reads, median / while the engine reads, µs",
                   String(format: "%.2f / %.2f", median(cBrokerCPU.map { $0 / Double(messages) * 1e6 }), brokerPerEvent))
        report.stageMeans(since: timersBefore)
        switch kind {
        case .prediction, .latency:
            report.goal("prediction end to end into SQLite, 1 M events / 100 k customers, events/s", value: rate, formatRate(rate),
                        .atLeast(150_000), target: "≥ 150 k/s", note: sizeNote)
        case .zipf:
            report.goal("prediction end to end into SQLite, Zipf-skewed customers (s = \(options.zipfExponent)), events/s", value: rate, formatRate(rate),
                        .none, target: "report only", note: sizeNote)
        case .postgres:
            report.goal("prediction end to end into PostgreSQL, 1 M events / 100 k customers, events/s", value: rate, formatRate(rate),
                        .atLeast(80_000), target: "≥ 80 k/s", note: sizeNote)
        case .counter:
            report.goal("counter end to end / raw C consume of the same run (median of \(cRuns.count))", value: rate / cRate,
                        String(format: "%.2f (%@ / %@)", rate / cRate, formatRate(rate), formatRate(cRate)),
                        .atLeast(0.9), target: "≥ 0.90", note: sizeNote)
        }

        try await stop(running, producer: producer, store: engineStore, memory: memory, figure: "\(subscriber) engine peak RSS",
                       goal: "engine peak RSS, \(title)", report: report)
        if kind == .zipf && options.zipfPacedMessages > 0 { try await pacedZipfRun(dir: dir, report: report) }
    }

    /// A prediction subscriber with the bench's model (or model set), log topic and reasons on `store`, reading
    /// `topic` as a group of its own (prefix `group`), and the producer it publishes with.
    private func predictionEngine(store: any EngineStore, bootstrap: String, topic: String, group: String) throws
        -> (service: PredictionSubscriber, producer: KafkaProducer) {
        let kafka = KafkaConfig(bootstrapServers: bootstrap)
        let producer = try KafkaProducer(config: kafka, logger: logger)
        var settings = SubscriberSettings(kafka: kafka)
        settings.topic = topic
        settings.groupPrefix = "\(group)-\(UUID().uuidString.prefix(6))"
        settings.predictionLogTopic = options.predictionLogTopic
        settings.reasons = options.reasons
        let registry = try options.modelSet.map { try ModelRegistry(modelSet: URL(fileURLWithPath: $0)) }
            ?? ModelRegistry(contentsOf: URL(fileURLWithPath: options.model))
        return (try PredictionSubscriber(settings: settings, store: store, registry: registry, producer: producer, logger: logger), producer)
    }

    /// The Zipf-skewed stream at the goals' size. It cannot be preloaded on the mock broker: the hottest
    /// customer's partition outgrows the 5 MiB the mock keeps per partition (at 1 M events and s = 1.1 the
    /// first customer alone has ~13 % of them, ~30 MB), and a reader behind that loses events. Produced at a
    /// fixed rate while the engine reads, the partition holds only what the engine has not read yet: the run
    /// reports the engine's CPU per event (the figure that sets throughput on two cores), the largest lag
    /// seen and the events lost to retention, which must be 0 for the figures to count.
    private func pacedZipfRun(dir: URL, report: BenchReport) async throws {
        let messages = options.zipfPacedMessages, rate = options.zipfPacedRate
        let topic = "bench-zipf-paced"
        let (broker, bootstrap) = try ChildProcess.startBroker(options.streamscore, partitions: options.partitions, topic: topic)
        defer { broker.stop() }
        let memory = EngineMemory()
        let store = try await StoreFactory.open(.sqlite(path: dir.appendingPathComponent("zipf-paced.db").path))
        let (service, producer) = try predictionEngine(store: store, bootstrap: bootstrap, topic: topic, group: "bench-zipf")
        let running = Task { try await service.run() }
        defer { running.cancel() }
        // The load starts once the engine reads: events made while its group forms would pile up in the hot
        // partition (a first run: a lag of 180,703 events, most of the mock's retention of that partition).
        let deadline = ContinuousClock.now + .seconds(60)
        while !service.status.snapshot.everAssigned {
            guard ContinuousClock.now < deadline else { throw BenchError("the engine was not assigned the paced Zipf topic's partitions within 60 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let cpuBefore = ProcessCPU.seconds(), childrenBefore = ProcessCPU.children(), brokerBefore = ProcessCPU.seconds(pid: broker.pid)
        let started = ContinuousClock.now
        let load = try ChildProcess.startProducer(options.streamscore, bootstrap: bootstrap, topic: topic,
                                                  ["--synthetic", "\(messages)", "--customers", "\(options.customers)", "--rate", "\(rate)",
                                                   "--zipf", "\(options.zipfExponent)", "--seed", "11"])
        var largestLag: Int64 = 0
        while load.isRunning {
            largestLag = max(largestLag, service.status.snapshot.lag)
            try await Task.sleep(for: .milliseconds(100))
        }
        guard await load.exitStatus() == 0 else { throw BenchError("the paced Zipf load (streamscore produce --rate) failed") }
        let produced = ContinuousClock.now
        _ = try await waitUntilProcessed(service, messages: messages)
        let drained = seconds(ContinuousClock.now - produced)
        let snapshot = service.status.snapshot
        let events = Double(messages)
        let label = "Zipf (s = \(options.zipfExponent)), \(formatCount(messages)) events over \(formatCount(options.customers)) customers at \(formatCount(Int(rate)))/s"
        report.add("\(label): produced in, s; the engine done after the last, s", String(format: "%.1f; %.2f", seconds(produced - started), drained))
        report.add("\(label): largest lag, events; lost to the mock's retention", "\(largestLag); \(snapshot.lostToRetention)")
        report.add("\(label): CPU per event, engine / load producer / broker, µs",
                   String(format: "%.2f / %.2f / %.2f", (ProcessCPU.seconds() - cpuBefore) / events * 1e6,
                          (ProcessCPU.children() - childrenBefore) / events * 1e6,
                          (ProcessCPU.seconds(pid: broker.pid) - brokerBefore) / events * 1e6))
        if snapshot.lostToRetention > 0 {
            printLine("  (events were lost to the mock's retention: the engine fell behind; the figures above do not count)")
        }
        try await stop(running, producer: producer, store: store, memory: memory, figure: "\(label): engine peak RSS",
                       goal: "engine peak RSS, prediction into SQLite, Zipf-skewed customers, paced", report: report)
    }

    /// Stops an end-to-end run's engine (its task, producer and store) and reports its peak RSS since `memory`
    /// was taken, with the 500 MiB goal.
    private func stop(_ running: Task<Void, any Error>, producer: KafkaProducer, store: any EngineStore, memory: EngineMemory,
                      figure: String, goal: String, report: BenchReport) async throws {
        running.cancel()
        try? await running.value
        producer.shutdown()
        try await store.close()
        let peak = memory.peakMiB()
        report.add("\(figure) (\(memory.scope))", String(format: "%.0f MiB", peak))
        report.goal(goal, value: peak, String(format: "%.0f MiB", peak), .atMost(500), target: "≤ 500 MiB", note: memory.note)
    }

    /// The latency runs: on the product's default topic layout (6 partitions, `streamscore broker`) for the
    /// goal, and on the bench's partitions for comparison (the mock serves many small partitions slowly).
    private func runLatency(_ report: BenchReport) async throws {
        report.section("Latency, prediction subscriber into SQLite at \(formatCount(Int(options.latencyRate))) events/s")
        guard options.latencySeconds > 0 else { return }
        try KafkaBench.checkCConsumer(options.cConsumer)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamscore-latency-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let latencyMemory = EngineMemory()
        for partitions in Array(Set([Self.latencyPartitions, options.partitions])).sorted() {
            try await latencyRun(partitions: partitions, dir: dir, report: report)
        }
        let latencyPeak = latencyMemory.peakMiB()
        report.add("prediction engine peak RSS of the latency runs (\(latencyMemory.scope))", String(format: "%.0f MiB", latencyPeak))
        report.goal("engine peak RSS, prediction latency runs", value: latencyPeak, String(format: "%.0f MiB", latencyPeak), .atMost(500),
                    target: "≤ 500 MiB", note: latencyMemory.note)
    }

    /// Waits until the engine (this process) uses less than 10 % of a core over 200 ms, at most 10 s;
    /// returns the seconds waited.
    private func waitUntilIdle() async throws -> Double {
        let started = ContinuousClock.now
        var before = ProcessCPU.seconds()
        while ContinuousClock.now - started < .seconds(10) {
            try await Task.sleep(for: .milliseconds(200))
            let now = ProcessCPU.seconds()
            if now - before < 0.02 { break }
            before = now
        }
        return seconds(ContinuousClock.now - started)
    }

    /// Waits until the subscriber has taken `messages` events; returns the seconds from its first event.
    private func waitUntilProcessed(_ service: any PipelineService, messages: Int) async throws -> Double {
        var started: ContinuousClock.Instant?
        var last = (count: -1, at: ContinuousClock.now)
        while true {
            let snap = service.status.snapshot
            let count = snap.processed + snap.malformed
            if started == nil && count > 0 { started = .now }
            if count >= messages { break }
            if count != last.count {
                last = (count, .now)
            } else if ContinuousClock.now - last.at > .seconds(120) {
                throw BenchError("the \(subscriber) subscriber took no event for 120 s (\(count) of \(messages))")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return seconds(ContinuousClock.now - (started ?? .now))
    }

    /// Partitions of the latency goal's topic: the product's default layout (`streamscore broker`, `make run`).
    static let latencyPartitions = 6

    /// A latency run on its own broker, topic and SQLite store, the engine warm: 60,000 events at full
    /// speed first (the active customers stored and cached, as in a steady state), then the raw librdkafka
    /// transport latency of the same fixed-rate load (the C consumer: receipt − CreateTime), then the
    /// engine's produce → stored latency at that rate.
    private func latencyRun(partitions: Int, dir: URL, report: BenchReport) async throws {
        let topic = "bench-latency-\(partitions)"
        let (broker, bootstrap) = try ChildProcess.startBroker(options.streamscore, partitions: partitions, topic: topic)
        defer { broker.stop() }
        // The mock keeps ~5 MiB per partition: warm-up and transport load together stay within 6 partitions' worth.
        let warmUp = 60_000
        let preload = try ChildProcess.startProducer(options.streamscore, bootstrap: bootstrap, topic: topic,
                                                     ["--synthetic", "\(warmUp)", "--customers", "\(options.customers)", "--seed", "7"])
        guard preload.wait() == 0 else { throw BenchError("the latency warm-up (streamscore produce) failed") }
        let floorSeconds = 2
        let floor = try await transportLatency(bootstrap: bootstrap, topic: topic, seconds: floorSeconds)
        let store = try await StoreFactory.open(.sqlite(path: dir.appendingPathComponent("latency-\(partitions).db").path))
        let (service, producer) = try predictionEngine(store: store, bootstrap: bootstrap, topic: topic, group: "bench-latency")
        let running = Task { try await service.run() }
        defer { running.cancel() }
        _ = try await waitUntilProcessed(service, messages: warmUp + Int(options.latencyRate) * floorSeconds)
        // The engine has just read the warm-up as a backlog; its last commit is not the end of its work
        // (publishing those scores, the checkpoint). A load started at once measured that tail as the load
        // producer's start-up (2026-11-30, temporary probe: the load's first commit 61–120 ms after its first
        // event, the first batches' profile reads 25–38 ms of which 0.3 ms in SQLite; after 1 s of idle
        // 7–13 ms, start-up p99 30–48 instead of 90–330 ms).
        let settled = try await waitUntilIdle()
        report.add("engine idle before the latency load, \(partitions) partitions (CPU < 10 % of a core over 200 ms)",
                   String(format: "after %.1f s", settled))
        try await measureLatency(service, broker: broker.pid, bootstrap: bootstrap, topic: topic, partitions: partitions, floor: floor, report: report)
        running.cancel()
        try? await running.value
        producer.shutdown()
        try await store.close()
    }

    /// The C consumer's p50 / p99 transport latency (ms) of `seconds` of the fixed-rate load on `topic`.
    private func transportLatency(bootstrap: String, topic: String, seconds: Int) async throws -> (p50: Double, p99: Double) {
        let count = Int(options.latencyRate) * seconds
        let consumer = try ChildProcess(URL(fileURLWithPath: options.cConsumer), [bootstrap, topic, "bench-latency-c", "\(count)", "latency"],
                                        stderr: .inherit)
        // Starting at the log end: give it time to join and be assigned before the load begins.
        try await Task.sleep(for: .seconds(4))
        let load = try ChildProcess.startProducer(options.streamscore, bootstrap: bootstrap, topic: topic,
                                                  ["--synthetic", "\(count)", "--customers", "\(options.customers)", "--rate", "\(options.latencyRate)", "--seed", "8"])
        guard load.wait() == 0 else { throw BenchError("the transport-latency load (streamscore produce --rate) failed") }
        let text = String(decoding: consumer.readToEnd(), as: UTF8.self)
        _ = consumer.wait()
        // `c_consumer latency: N msgs p50 X p99 Y ms`
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let i = words.firstIndex(of: "p50"), i + 3 < words.count, let p50 = Double(words[i + 1]), let p99 = Double(words[i + 3]) else {
            throw BenchError("C consumer (latency) failed: \(text)")
        }
        return (p50, p99)
    }

    /// Latency from produce (an event's time is the wall clock when the load producer made it) to the
    /// commit of the profile it changed, at a fixed rate. The load producer's first 2 s (from its first
    /// event) are its start-up and reported apart; the rest is the steady state.
    private func measureLatency(_ service: any PipelineService, broker: Int32, bootstrap: String, topic: String, partitions: Int,
                                floor: (p50: Double, p99: Double), report: BenchReport) async throws {
        let rate = options.latencyRate, duration = options.latencySeconds
        let samples = Mutex<[(eventTime: Int64, latency: Double)]>([])
        let loadStarted = Int64(Date().timeIntervalSince1970 * 1000)
        service.onCommit { timestamps in
            let now = Date().timeIntervalSince1970 * 1000
            samples.withLock { s in
                // Only the load's events (a late commit of the preload carries week-old times).
                for t in timestamps where t >= loadStarted - 1_000 { s.append((t, now - Double(t))) }
            }
        }
        // What the load costs: the engine's CPU per event at this rate (its batches are far smaller than
        // in the throughput runs), the load producer's, and the stages' means per batch.
        let timersBefore = report.stageTimers()
        let engineCPUBefore = ProcessCPU.seconds(), childrenCPUBefore = ProcessCPU.children()
        let brokerCPUBefore = ProcessCPU.seconds(pid: broker)
        let load = try ChildProcess.startProducer(options.streamscore, bootstrap: bootstrap, topic: topic,
                                                  ["--synthetic", "\(Int(rate) * duration)", "--customers", "\(options.customers)",
                                                   "--rate", "\(rate)"])
        guard await load.exitStatus() == 0 else { throw BenchError("the load producer (streamscore produce --rate) failed") }
        try await Task.sleep(for: .seconds(1))
        service.onCommit { _ in }
        let events = rate * Double(duration)
        report.add("engine / load producer / broker CPU per event at \(formatCount(Int(rate)))/s, \(partitions) partitions, µs",
                   String(format: "%.1f / %.1f / %.1f", (ProcessCPU.seconds() - engineCPUBefore) / events * 1e6,
                          (ProcessCPU.children() - childrenCPUBefore) / events * 1e6,
                          (ProcessCPU.seconds(pid: broker) - brokerCPUBefore) / events * 1e6))
        report.stageMeans(since: timersBefore)
        let all = samples.withLock { $0 }
        guard let first = all.map(\.eventTime).min() else {
            report.add("latency samples", "0 (no committed event of the load)")
            return
        }
        let startUp = all.filter { $0.eventTime < first + 2_000 }.map(\.latency).sorted()
        let steady = all.filter { $0.eventTime >= first + 2_000 }.map(\.latency)
        // Diagnostic: the steady state's latency by tenth of the run, in commit order.
        let tenth = max(1, steady.count / 10)
        let parts = stride(from: 0, to: steady.count, by: tenth).map { i -> String in
            let slice = steady[i..<min(steady.count, i + tenth)].sorted()
            return String(format: "%.0f/%.0f", quantile(slice, 0.5), quantile(slice, 0.99))
        }
        printLine("  latency p50/p99 (ms) by tenth of the steady state, \(partitions) partitions: " + parts.joined(separator: " "))
        let sorted = steady.sorted()
        let rateText = "\(formatCount(Int(rate)))/s, \(partitions) partitions"
        let rateNote = rate == 20_000 ? nil : "run at \(formatCount(Int(rate)))/s"
        report.add("raw librdkafka transport latency at \(rateText) (C consumer: receipt − CreateTime), p50 / p99",
                   String(format: "%.1f / %.1f ms", floor.p50, floor.p99))
        // The goal is set on the default layout; other partition counts are reported beside it.
        guard partitions == Self.latencyPartitions else {
            report.add("latency produce→stored at \(rateText), steady state, p50 / p99",
                       String(format: "%.1f / %.1f ms", quantile(sorted, 0.5), quantile(sorted, 0.99)))
            return
        }
        report.add("latency produce→stored at \(rateText), load producer's first 2 s, p50 / p99",
                   String(format: "%.1f / %.1f ms", quantile(startUp, 0.5), quantile(startUp, 0.99)))
        report.add("latency produce→stored at \(rateText), steady state, p50", String(format: "%.1f ms", quantile(sorted, 0.5)))
        report.add("latency produce→stored at \(rateText), steady state, p99", String(format: "%.1f ms", quantile(sorted, 0.99)))
        report.add("latency samples (start-up / steady state)", "\(startUp.count) / \(sorted.count)")
        let p50 = quantile(sorted, 0.5), p99 = quantile(sorted, 0.99), startP99 = quantile(startUp, 0.99)
        report.goal("latency produce→stored profile at 20,000 events/s, steady state, p50", value: p50,
                    String(format: "%.1f ms", p50), .atMost(10), target: "≤ 10 ms", note: rateNote)
        report.goal("latency produce→stored profile at 20,000 events/s, steady state, p99", value: p99, String(format: "%.1f ms", p99), .atMost(25), target: "≤ 25 ms", note: rateNote)
        report.goal("latency of the events of the load producer's first 2 s (its start-up), p99", value: startP99, String(format: "%.1f ms", startP99),
                    .atMost(100), target: "≤ 100 ms", note: rateNote)
    }
}

/// The bench process's CPU time (the engine runs inside it; broker and producers are child processes).
enum ProcessCPU {
    /// User + system seconds of this process so far.
    static func seconds() -> Double { usage(RUSAGE_SELF.rawValue) }

    /// User + system seconds of this process's children that have ended and been waited for.
    static func children() -> Double { usage(RUSAGE_CHILDREN.rawValue) }

    /// User + system seconds of the running process `pid` so far (`/proc/PID/stat`), or NaN.
    static func seconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return .nan }
        // After the command's closing parenthesis: field 3 (state) onwards; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private static func usage(_ who: Int32) -> Double {
        var usage = rusage()
        getrusage(who, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

/// The peak resident size of this process over one section: reset at the start where Linux allows
/// (`/proc/self/clear_refs`), else the peak since the process started.
struct EngineMemory {
    /// Resident MiB when the section started.
    let startMiB: Double
    /// Whether the peak was reset at the start.
    let reset: Bool

    init() {
        reset = (try? ResidentMemory.resetPeak()) != nil
        startMiB = Double(ResidentMemory().bytes) / 1_048_576
    }

    /// The peak in MiB.
    func peakMiB() -> Double { Double(ResidentMemory().peakBytes) / 1_048_576 }

    /// What the peak covers.
    var scope: String {
        reset ? String(format: "this section; %.0f MiB at its start; broker and producer excluded", startMiB)
            : "whole process: the peak could not be reset; broker and producer excluded"
    }

    /// A note for the goals table, or nil.
    var note: String? {
        reset ? String(format: "%.0f MiB held at the section's start", startMiB) : "whole process's peak: it could not be reset"
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
    /// The counter subscriber has no commit hook; the bench measures no latency with it.
    func onCommit(_ hook: @escaping @Sendable ([Int64]) -> Void) {}
}
