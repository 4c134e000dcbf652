import Events
import Features
import Foundation
import Kafka
import Logging
import Scoring
import Store

/// Re-scores stored profiles with the model set in service (CONTRACT §5 `rescore`, §6 `--as-of`): reads
/// the profiles in `customer_id` order, page by page, scores each with every model, and rewrites the rows
/// whose served score or model changed — conditionally, so a row the stream wrote after the page was
/// read keeps the stream's score. Rewritten scores go to `churn-scores` when a producer is given.
///
/// Resumable by construction: a rerun after a crash skips every row that already holds its arm's
/// current score.
public struct Rescorer: Sendable {
    /// Figures of a run.
    public struct Result: Sendable, Equatable {
        /// Profiles read.
        public var read = 0
        /// Profiles rewritten.
        public var rewritten = 0
        /// Profiles whose score changed but that the stream wrote in the meantime (left alone).
        public var skippedNewer = 0
    }

    let store: any EngineStore
    let registry: ModelRegistry
    let producer: KafkaProducer?
    let scoresTopic: String
    let pageSize: Int
    /// Reasons written with each rewritten score (0: keep the stored ones).
    let reasons: Int
    let logger: Logger

    /// Creates a rescorer; `producer` nil writes the store only.
    public init(store: any EngineStore, registry: ModelRegistry, producer: KafkaProducer?, scoresTopic: String = "churn-scores",
                pageSize: Int = 2_000, reasons: Int = 0, logger: Logger) {
        self.reasons = reasons
        self.store = store
        self.registry = registry
        self.producer = producer
        self.scoresTopic = scoresTopic
        self.pageSize = max(1, pageSize)
        self.logger = logger
    }

    /// Runs over every stored profile. `asOf` (ms) scores the features as of that time (CONTRACT §6;
    /// never moving a profile's features backwards); nil scores the stored feature columns. `rate` bounds
    /// profiles per second; `progress` is called after each page with the running figures.
    public func run(asOf: Int64? = nil, rate: Double? = nil, progress: @Sendable (Result) -> Void = { _ in }) async throws -> Result {
        var result = Result()
        var after: String?
        let started = ContinuousClock.now
        let population = reasons > 0 ? try await store.attributeReferences() : nil
        while !Task.isCancelled {
            let page = try await store.profilePage(after: after, limit: pageSize)
            guard let last = page.last else { break }
            after = last.row.customer_id
            result.read += page.count
            try await apply(page, asOf: asOf, population: population, into: &result)
            progress(result)
            if let rate, rate > 0 {
                let due = started + .seconds(Double(result.read) / rate)
                if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
            }
        }
        return result
    }

    /// Re-scores these customers' stored rows (the CRM changed their static attributes), `pageSize` ids at
    /// a time: an import may change every customer, and one page bounds what is held and written at once.
    /// `progress` gets the running totals after each page.
    @discardableResult
    public func run(customerIDs: [String], progress: (Result) -> Void = { _ in }) async throws -> Result {
        var result = Result()
        let population = reasons > 0 ? try await store.attributeReferences() : nil
        var start = customerIDs.startIndex
        while start < customerIDs.endIndex, !Task.isCancelled {
            let end = min(customerIDs.endIndex, start + pageSize)
            // Only scored rows: a customer the stream never scored keeps having no score.
            let rows = try await store.profileRows(Array(customerIDs[start..<end])).filter { $0.churn_score != nil }
            start = end
            result.read += rows.count
            let page = rows.map { row in
                StoredProfileRow(row: row, profile: Profile(customerID: row.customer_id,
                                                             attributes: StaticAttributes(tenureDays: row.tenure_days, plan: row.plan, monthlyCharges: row.monthly_charges)))
            }
            try await apply(page, asOf: nil, population: population, into: &result)
            progress(result)
        }
        return result
    }

    private func apply(_ page: [StoredProfileRow], asOf: Int64?, population: AttributeReferences?, into result: inout Result) async throws {
        let rewrites = self.rewrites(page, asOf: asOf, population: population)
        guard !rewrites.isEmpty else { return }
        let done = Set(try await store.rewriteScores(rewrites).map { CustomerID($0) })
        result.rewritten += done.count
        result.skippedNewer += rewrites.count - done.count
        if let producer, !done.isEmpty {
            // Each rewrite keeps its row's scored_at; looked up by id, not searched for (a page is up to `pageSize` rows).
            let scoredAt = Dictionary(page.map { (CustomerID($0.row.customer_id), $0.row.scored_at) }, uniquingKeysWith: { first, _ in first })
            var messages = OutgoingMessages()
            for r in rewrites where done.contains(CustomerID(r.customerID)) {
                let scoredAt = (scoredAt[CustomerID(r.customerID)] ?? nil) ?? ""
                ChurnScoreMessage.append(to: &messages, topic: scoresTopic, customerID: r.customerID, score: r.churnScore, modelVersion: r.modelVersion,
                                         modelName: r.modelName, arm: r.arm, scoredAt: scoredAt, reasons: r.reasons)
            }
            try await producer.send(messages)
        }
    }

    /// The rewrites of a page: rows whose served score, model or (as of a time) features would change.
    func rewrites(_ page: [StoredProfileRow], asOf: Int64?, population: AttributeReferences? = nil) -> [ScoreRewrite] {
        let set = registry.currentSet
        let features = page.map { stored -> (FeatureVector, Int64?) in
            // Never backwards: T must be after the newest event and after the time the stored features are as of.
            let storedAsOf = stored.row.features_as_of.flatMap(Timestamp.parse)
            guard let asOf, let newest = stored.profile.asOf, asOf > max(newest, storedAsOf ?? newest) else { return (stored.row.features, nil) }
            return (stored.profile.features(asOf: asOf), asOf)
        }
        let probabilities = SetScoring.probabilities(set, features.map(\.0))
        var out: [ScoreRewrite] = []
        for (i, stored) in page.enumerated() {
            let served = SetScoring.served(set, customerID: stored.row.customer_id, probabilities: probabilities, row: i)
            guard let p = served.probability else { continue }
            let (vector, featuresAsOf) = features[i]
            let unchanged = stored.row.churn_score == p && stored.row.model_version == served.member.model.version
                && stored.row.model_name == served.member.name && stored.row.arm == served.arm.rawValue
                && (featuresAsOf == nil || stored.row.features == vector && stored.row.features_as_of == featuresAsOf.map { Timestamp.format(millis: $0) })
            if unchanged { continue }
            out.append(ScoreRewrite(customerID: stored.row.customer_id, expected: .init(stored.row), churnScore: p,
                                    modelVersion: served.member.model.version, modelName: served.member.name, arm: served.arm.rawValue,
                                    features: featuresAsOf == nil ? nil : vector, featuresAsOf: featuresAsOf,
                                    reasons: reasons > 0 ? ScoreReasons.json(ScoreReasons.reasons(model: served.member.model, features: vector, probability: p,
                                                                                                  population: population, k: reasons))
                                                         : stored.row.reasons))
        }
        return out
    }
}
