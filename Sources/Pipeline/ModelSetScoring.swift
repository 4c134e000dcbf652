import Events
import Features
import Foundation
import Kafka
import Metrics
import Scoring
import Store
import Synchronization

/// Scoring feature vectors with every model of a set, and what is served of it (CONTRACT §5). One
/// implementation for the stream, rescoring, the HTTP API and recovery.
public enum SetScoring {
    /// Per member of `set`, the probability of each vector (NaN where the model could not score it).
    /// Each member maps the vectors onto its own input fields by name.
    public static func probabilities(_ set: ModelSet, _ features: [FeatureVector],
                                     onError: (_ member: Int, _ row: Int, _ error: ScoringError) -> Void = { _, _, _ in }) -> [[Double]] {
        set.members.enumerated().map { m, member in
            let mapping = FeatureMapping.for(member.model)
            var results: [Double] = []
            features.withUnsafeBufferPointer { rows in
                member.model.scoreBatch(count: rows.count, into: &results, value: { row, field in mapping.value(rows[row], field: field) }) { row, error in
                    onError(m, row, error)
                }
            }
            return results
        }
    }

    /// The served score of one customer: its arm's member and probability (nil when that model could
    /// not score the row).
    public static func served(_ set: ModelSet, customerID: String, probabilities: [[Double]], row: Int)
        -> (member: ModelSet.Member, arm: Arm, probability: Double?) {
        let (index, arm) = set.served(for: customerID)
        let p = probabilities[index][row]
        return (set.members[index], arm, p.isNaN ? nil : p)
    }

    /// A prediction-log message value (CONTRACT §5): the features and every model's probability. Each
    /// member's name, version and role come pre-written in `format` (made once per batch).
    public static func writeLogValue(into w: inout JSONBytes, customerID: String, scoredAt: String, servedBy: String, features: FeatureVector,
                                     format: PredictionLogFormat, probabilities: [[Double]], row: Int) {
        w.raw("{\"customer_id\":")
        w.string(customerID)
        w.raw(",\"scored_at\":")
        w.string(scoredAt)
        w.raw(",\"served_by\":")
        w.string(servedBy)
        w.raw(",\"features\":")
        features.writeJSON(into: &w)
        w.raw(",\"scores\":{")
        for m in format.memberPrefixes.indices {
            w.json(format.memberPrefixes[m])
            w.number(probabilities[m][row])
            w.raw("}")
        }
        w.raw("}}")
    }
}

/// What every prediction-log message of a model set repeats: per member, `"<name>":{"model_version":…,
/// "role":…,"probability":` (with a comma before all but the first), written once instead of escaped
/// again for every message.
public struct PredictionLogFormat: Sendable {
    let memberPrefixes: [[UInt8]]

    public init(_ set: ModelSet) {
        memberPrefixes = set.members.indices.map { m in
            let member = set.members[m]
            var w = JSONBytes(capacity: 128)
            if m > 0 { w.raw(",") }
            w.string(member.name)
            w.raw(":{\"model_version\":")
            w.string(member.model.version)
            w.raw(",\"role\":")
            w.string(member.role.rawValue)
            w.raw(",\"probability\":")
            return w.bytes
        }
    }
}

/// Maps the feature vector onto a model's input fields by name (fields the model does not declare are
/// not passed; model fields that are not features are missing).
public struct FeatureMapping: Sendable {
    let indices: [Int?]

    /// The mapping for a model: computed per batch (a few dozen string comparisons), never cached by
    /// object identity, which a reloaded model could reuse.
    public static func `for`(_ model: CompiledModel) -> FeatureMapping {
        FeatureMapping(indices: model.inputFields.map { FeatureVector.fieldNames.firstIndex(of: $0.name) })
    }

    /// The model's input values for a vector.
    public func values(_ features: FeatureVector) -> [FieldValue] {
        indices.indices.map { value(features, field: $0) }
    }

    /// The value of the model's input field `field` for a vector.
    @inline(__always)
    public func value(_ features: FeatureVector, field: Int) -> FieldValue {
        guard let index = indices[field] else { return .missing }
        switch features.value(at: index) {
        case .number(let d): return .number(d)
        case .text(let s): return .string(s)
        }
    }
}

/// Per model of the running set: how many rows it scored and served, their mean probability and a
/// 10-bin histogram of its probabilities (`GET /models`, the dashboard), and the Prometheus series
/// `streamscore_model_scores_total{model,role}` and `streamscore_model_probability{model}`.
public final class ModelStats: Sendable {
    /// One model's figures.
    public struct Figures: Sendable, Equatable {
        /// Rows scored.
        public var scored = 0
        /// Rows whose served score it was.
        public var served = 0
        /// Sum of its probabilities.
        public var sum = 0.0
        /// Counts of probabilities in [0, 0.1), [0.1, 0.2), … [0.9, 1].
        public var histogram = [Int](repeating: 0, count: 10)
        /// Mean probability (nil before the first score).
        public var mean: Double? { scored == 0 ? nil : sum / Double(scored) }
    }

    private struct Series: Sendable {
        let counter: Counter
        let probability: Recorder
    }

    private let figures = Mutex<[String: Figures]>([:])
    private let series = Mutex<[String: Series]>([:])

    /// Creates empty figures.
    public init() {}

    /// Records a batch: per member, its probabilities; `served[i]` is the member index serving row i.
    public func record(_ set: ModelSet, probabilities: [[Double]], served: [Int]) {
        var batch: [(String, Figures)] = []
        for (m, member) in set.members.enumerated() {
            var f = Figures()
            for p in probabilities[m] where !p.isNaN {
                f.scored += 1
                f.sum += p
                // Clamped before the conversion: a regression member's value can be any finite number.
                f.histogram[Int(min(9, max(0, p * 10)))] += 1
            }
            f.served = served.reduce(0) { $0 + ($1 == m ? 1 : 0) }
            batch.append((member.name, f))
            let s = series(member)
            s.counter.increment(by: f.scored)
            for p in probabilities[m] where !p.isNaN { s.probability.record(p) }
        }
        figures.withLock { all in
            for (name, f) in batch {
                var total = all[name] ?? Figures()
                total.scored += f.scored
                total.served += f.served
                total.sum += f.sum
                for i in 0..<10 { total.histogram[i] += f.histogram[i] }
                all[name] = total
            }
        }
    }

    /// The figures of the model named `name` (zero if it has not scored yet).
    public func figures(_ name: String) -> Figures { figures.withLock { $0[name] ?? Figures() } }

    private func series(_ member: ModelSet.Member) -> Series {
        let key = "\(member.name)\u{0}\(member.role.rawValue)"
        return series.withLock { all in
            if let s = all[key] { return s }
            let s = Series(counter: Counter(label: "streamscore_model_scores_total", dimensions: [("model", member.name), ("role", member.role.rawValue)]),
                           probability: Recorder(label: "streamscore_model_probability", dimensions: [("model", member.name)], aggregate: true))
            all[key] = s
            return s
        }
    }
}

extension FeatureVector {
    /// Writes the vector as a JSON object keyed by field name: counts and `tenure_days` as integers.
    public func writeJSON(into w: inout JSONBytes) {
        w.raw("{\"tenure_days\":")
        w.int(tenureDays)
        w.raw(",\"plan\":")
        w.string(plan)
        w.raw(",\"monthly_charges\":")
        w.number(monthlyCharges)
        w.raw(",\"page_views_30d\":")
        w.int(pageViews30d)
        w.raw(",\"pricing_views_30d\":")
        w.int(pricingViews30d)
        w.raw(",\"cancel_views_30d\":")
        w.int(cancelViews30d)
        w.raw(",\"support_calls_30d\":")
        w.int(supportCalls30d)
        w.raw(",\"complaints_30d\":")
        w.int(complaints30d)
        w.raw(",\"days_since_last_visit\":")
        w.number(daysSinceLastVisit)
        w.raw("}")
    }
}

extension ProfileRow {
    /// The feature vector held in the row's columns (as of `features_as_of`).
    public var features: FeatureVector {
        FeatureVector(tenureDays: tenure_days, plan: plan, monthlyCharges: monthly_charges, pageViews30d: page_views_30d,
                      pricingViews30d: pricing_views_30d, cancelViews30d: cancel_views_30d, supportCalls30d: support_calls_30d,
                      complaints30d: complaints_30d, daysSinceLastVisit: days_since_last_visit)
    }
}
