import Events
import Foundation
import Features
import Pipeline
import Scoring
import Store

// The documents the routes answer with (CONTRACT §4–§6), as `Encodable` types written by
// `CanonicalJSONEncoder`. Field order is declaration order; every field is written (`null` when nil).

/// `GET /readyz` while not ready: `{"ready":false,"reasons":[{"subscriber","stage","error"}]}`.
struct ReadinessDocument: Encodable {
    /// Why one subscriber makes no progress.
    struct Reason: Encodable {
        var subscriber: String
        var stage: String
        var error: String
    }
    var ready: Bool
    var reasons: [Reason]
}

/// `GET /status`.
struct StatusDocument: Encodable {
    /// One subscriber's live figures.
    struct Subscriber: Encodable {
        var name: String
        var group: String
        var assignedPartitions: [Int32]
        var processed: Int
        var malformed: Int
        var lag: Int64
        var scored: Int
        var lostToRetention: Int64

        enum CodingKeys: String, CodingKey {
            case name, group, assignedPartitions = "assigned_partitions", processed, malformed, lag, scored
            case lostToRetention = "lost_to_retention"
        }
    }
    /// The champion in service.
    struct Model: Encodable {
        var version: String
        var path: String
    }
    var subscribers: [Subscriber]
    var model: Model
}

/// `GET /profiles/{id}`: a profile row, every column present (null where unset). `reasons` is the stored
/// JSON text, written as it is.
struct ProfileDocument: Encodable {
    var customerID: String
    var tenureDays: Int
    var plan: String
    var monthlyCharges: Double
    var churnScore: Double?
    var modelVersion: String?
    var modelName: String?
    var arm: String?
    var scoredAt: String?
    var updatedAt: String?
    var featuresAsOf: String?
    var pageViews30d: Int
    var pricingViews30d: Int
    var cancelViews30d: Int
    var supportCalls30d: Int
    var complaints30d: Int
    var daysSinceLastVisit: Double
    var reasons: RawJSON?

    enum CodingKeys: String, CodingKey {
        case customerID = "customer_id", tenureDays = "tenure_days", plan, monthlyCharges = "monthly_charges"
        case churnScore = "churn_score", modelVersion = "model_version", modelName = "model_name", arm
        case scoredAt = "scored_at", updatedAt = "updated_at", featuresAsOf = "features_as_of"
        case pageViews30d = "page_views_30d", pricingViews30d = "pricing_views_30d", cancelViews30d = "cancel_views_30d"
        case supportCalls30d = "support_calls_30d", complaints30d = "complaints_30d", daysSinceLastVisit = "days_since_last_visit"
        case reasons
    }

    init(_ r: ProfileRow) {
        customerID = r.customer_id
        tenureDays = r.tenure_days
        plan = r.plan
        monthlyCharges = r.monthly_charges
        churnScore = r.churn_score
        modelVersion = r.model_version
        modelName = r.model_name
        arm = r.arm
        scoredAt = r.scored_at
        updatedAt = r.updated_at
        featuresAsOf = r.features_as_of
        pageViews30d = r.page_views_30d
        pricingViews30d = r.pricing_views_30d
        cancelViews30d = r.cancel_views_30d
        supportCalls30d = r.support_calls_30d
        complaints30d = r.complaints_30d
        daysSinceLastVisit = r.days_since_last_visit
        reasons = storedReasons(r.reasons)
    }
}

/// The stored `reasons` column as raw JSON: the engine writes it as a JSON array; anything else (a
/// damaged or hand-edited cell) is `null` rather than a broken document. (A guard, not a validator:
/// Foundation's parser on Linux tolerates a trailing comma in an array.)
func storedReasons(_ text: String?) -> RawJSON? {
    guard let text, (try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [Any] else { return nil }
    return RawJSON(text)
}

/// `GET /counters/pages` element.
struct PageCountDocument: Encodable {
    var page: String
    var count: Int
}

/// `GET /counters/minutes` element.
struct MinuteCountDocument: Encodable {
    var minute: String
    var count: Int
}

/// `POST /score`.
struct ScoreDocument: Encodable {
    var probability: Double
    var modelName: String
    var modelVersion: String

    enum CodingKeys: String, CodingKey {
        case probability, modelName = "model_name", modelVersion = "model_version"
    }
}

/// A feature value: a number or a string (`plan`).
struct FeatureValueDocument: Encodable {
    var value: FeatureValue

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .number(let d): try c.encode(d)
        case .text(let s): try c.encode(s)
        }
    }
}

/// A feature vector keyed by field name: counts and `tenure_days` as integers.
struct FeaturesDocument: Encodable {
    var tenureDays: Int
    var plan: String
    var monthlyCharges: Double
    var pageViews30d: Int
    var pricingViews30d: Int
    var cancelViews30d: Int
    var supportCalls30d: Int
    var complaints30d: Int
    var daysSinceLastVisit: Double

    enum CodingKeys: String, CodingKey {
        case tenureDays = "tenure_days", plan, monthlyCharges = "monthly_charges"
        case pageViews30d = "page_views_30d", pricingViews30d = "pricing_views_30d", cancelViews30d = "cancel_views_30d"
        case supportCalls30d = "support_calls_30d", complaints30d = "complaints_30d", daysSinceLastVisit = "days_since_last_visit"
    }

    init(_ f: FeatureVector) {
        tenureDays = f.tenureDays
        plan = f.plan
        monthlyCharges = f.monthlyCharges
        pageViews30d = f.pageViews30d
        pricingViews30d = f.pricingViews30d
        cancelViews30d = f.cancelViews30d
        supportCalls30d = f.supportCalls30d
        complaints30d = f.complaints30d
        daysSinceLastVisit = f.daysSinceLastVisit
    }
}

/// One reason of a score (CONTRACT §6).
struct ReasonDocument: Encodable {
    var feature: String
    var value: FeatureValueDocument
    var reference: FeatureValueDocument
    var contribution: Double

    init(_ r: ScoreReason) {
        feature = r.feature
        value = FeatureValueDocument(value: r.value)
        reference = FeatureValueDocument(value: r.reference)
        contribution = r.contribution
    }
}

/// `GET`/`POST /score/{id}` (CONTRACT §6).
struct OnDemandDocument: Encodable {
    var customerID: String
    var probability: Double
    var modelName: String
    var modelVersion: String
    var arm: String
    var features: FeaturesDocument
    var featuresAsOf: String?
    var reasons: [ReasonDocument]

    enum CodingKeys: String, CodingKey {
        case customerID = "customer_id", probability, modelName = "model_name", modelVersion = "model_version", arm
        case features, featuresAsOf = "features_as_of", reasons
    }

    init(_ s: OnDemandScore) {
        customerID = s.customerID
        probability = s.probability
        modelName = s.member.name
        modelVersion = s.member.model.version
        arm = s.arm.rawValue
        features = FeaturesDocument(s.features)
        featuresAsOf = s.featuresAsOf.map(Timestamp.format(millis:))
        reasons = s.reasons.map(ReasonDocument.init)
    }
}

/// `GET /models` element (CONTRACT §5), plus the 10-bin probability histogram and the last reload error.
struct ModelDocument: Encodable {
    var name: String
    var role: String
    var percent: Int?
    var modelVersion: String
    var path: String
    var sha256: String
    var scored: Int
    var served: Int
    var meanProbability: Double?
    var histogram: [Int]
    var reloadError: String?

    enum CodingKeys: String, CodingKey {
        case name, role, percent, modelVersion = "model_version", path, sha256, scored, served
        case meanProbability = "mean_probability", histogram, reloadError = "reload_error"
    }
}

/// `GET /dashboard/summary`.
struct SummaryDocument: Encodable {
    /// One of the customers most at risk.
    struct Risk: Encodable {
        var customerID: String
        var churnScore: Double?
        var plan: String
        var tenureDays: Int
        var cancelViews30d: Int
        var complaints30d: Int
        var scoredAt: String?
        var modelName: String?
        var modelVersion: String?
        var arm: String?
        var reasons: Reasons?

        enum CodingKeys: String, CodingKey {
            case customerID = "customer_id", churnScore = "churn_score", plan, tenureDays = "tenure_days"
            case cancelViews30d = "cancel_views_30d", complaints30d = "complaints_30d", scoredAt = "scored_at"
            case modelName = "model_name", modelVersion = "model_version", arm, reasons
        }
    }

    /// A customer's reasons: the stored column, or computed now from the stored features.
    enum Reasons: Encodable {
        case stored(RawJSON)
        case computed([ReasonDocument])

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .stored(let raw): try c.encode(raw)
            case .computed(let reasons): try c.encode(reasons)
            }
        }
    }

    var profiles: Int
    var scored: Int
    var scoreHistogram: [Int]
    var topRisk: [Risk]

    enum CodingKeys: String, CodingKey {
        case profiles, scored, scoreHistogram = "score_histogram", topRisk = "top_risk"
    }
}
