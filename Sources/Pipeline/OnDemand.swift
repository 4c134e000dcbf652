import Events
import Features
import Foundation
import Scoring
import Store
import Synchronization

/// One reason of a score (CONTRACT §6): how much the probability drops when this one feature is set to
/// its reference value.
public struct ScoreReason: Sendable, Equatable {
    /// The feature's name.
    public var feature: String
    /// Its value in the scored vector.
    public var value: FeatureValue
    /// Its reference value.
    public var reference: FeatureValue
    /// p(features) − p(features with this feature at its reference).
    public var contribution: Double

    /// `{"feature","value","reference","contribution"}`.
    public var json: String {
        "{\"feature\":\(jsonString(feature)),\"value\":\(Self.json(value)),\"reference\":\(Self.json(reference)),\"contribution\":\(jsonNumber(contribution))}"
    }

    static func json(_ v: FeatureValue) -> String {
        switch v {
        case .number(let d): return jsonNumber(d)
        case .text(let s): return jsonString(s)
        }
    }
}

/// Reasons for scores: for each model input feature, the drop in probability when only that feature is
/// set to its reference (the model's `missingValueReplacement`/`x-reference`, else the CRM median for
/// numeric static attributes, the most frequent plan, 0 for event counts, 30 for days since the last
/// visit); the K largest positive drops, descending, ties by feature name. Costs one model evaluation
/// per input feature on top of the score.
public enum ScoreReasons {
    /// The reference value of a feature for `model`.
    public static func reference(_ feature: String, model: CompiledModel, population: AttributeReferences?) -> FeatureValue {
        if let raw = model.referenceValues[feature] {
            return feature == "plan" ? .text(raw) : Double(raw).map(FeatureValue.number) ?? .text(raw)
        }
        switch feature {
        case "tenure_days": return .number(population?.tenureDays ?? 0)
        case "monthly_charges": return .number(population?.monthlyCharges ?? 0)
        case "plan": return .text(population?.plan ?? StaticAttributes.unknownCustomer.plan)
        case "days_since_last_visit": return .number(RollingState.maxDaysSinceLastVisit)
        default: return .number(0)
        }
    }

    /// The `k` reasons of `model`'s score `probability` for `features`.
    public static func reasons(model: CompiledModel, features: FeatureVector, probability: Double,
                               population: AttributeReferences?, k: Int) -> [ScoreReason] {
        guard k > 0 else { return [] }
        let names = FeatureVector.fieldNames
        let values = features.values
        let mapping = FeatureMapping.for(model)
        let base = mapping.values(features)
        var out: [ScoreReason] = []
        for (fieldIndex, field) in model.inputFields.enumerated() {
            guard let i = names.firstIndex(of: field.name) else { continue }
            let reference = reference(field.name, model: model, population: population)
            var row = base
            switch reference {
            case .number(let d): row[fieldIndex] = .number(d)
            case .text(let s): row[fieldIndex] = .string(s)
            }
            guard let p = try? model.score(model.makeRow(values: row)) else { continue }
            let contribution = probability - p
            if contribution > 0 {
                out.append(ScoreReason(feature: field.name, value: values[i], reference: reference, contribution: contribution))
            }
        }
        out.sort { $0.contribution != $1.contribution ? $0.contribution > $1.contribution : $0.feature < $1.feature }
        return Array(out.prefix(k))
    }

    /// A JSON array of reasons.
    public static func json(_ reasons: [ScoreReason]) -> String { "[" + reasons.map(\.json).joined(separator: ",") + "]" }
}

/// The CRM population's reference attributes, read from the store at most once a minute.
public final class AttributeReferenceCache: Sendable {
    private let store: any EngineStore
    private let state = Mutex<(value: AttributeReferences?, read: ContinuousClock.Instant?)>((nil, nil))

    /// A cache over `store`.
    public init(store: any EngineStore) { self.store = store }

    /// The references (nil when the store holds no profile).
    public func current() async throws -> AttributeReferences? {
        let (value, read) = state.withLock { $0 }
        if let read, ContinuousClock.now - read < .seconds(60) { return value }
        let fresh = try await store.attributeReferences()
        state.withLock { $0 = (fresh, ContinuousClock.now) }
        return fresh
    }

    /// Forgets the cached value (after an import).
    public func invalidate() { state.withLock { $0 = (nil, nil) } }
}

/// A score computed on demand from a stored profile (CONTRACT §6 `GET`/`POST /score/{id}`): nothing is
/// written.
public struct OnDemandScore: Sendable {
    public var customerID: String
    public var probability: Double
    public var member: ModelSet.Member
    public var arm: Arm
    public var features: FeatureVector
    /// The time the features are as of (ms).
    public var featuresAsOf: Int64?
    public var reasons: [ScoreReason]

    /// Scores `features` with the customer's arm's model of `set`.
    /// - Throws: `ScoringError` when that model cannot score them.
    public static func score(customerID: String, features: FeatureVector, featuresAsOf: Int64?, set: ModelSet,
                             population: AttributeReferences?, reasons k: Int) throws -> OnDemandScore {
        let (index, arm) = set.served(for: customerID)
        let member = set.members[index]
        let mapping = FeatureMapping.for(member.model)
        let p = try member.model.score(member.model.makeRow(values: mapping.values(features)))
        let reasons = ScoreReasons.reasons(model: member.model, features: features, probability: p, population: population, k: k)
        return OnDemandScore(customerID: customerID, probability: p, member: member, arm: arm, features: features,
                             featuresAsOf: featuresAsOf, reasons: reasons)
    }
}

/// Why a posted event list cannot be folded (`POST /score/{id}`): the first bad event's index and reason.
public struct PostedEventsError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The elements of the `events` array of a JSON body, as raw bytes (each is then decoded by the stream's
/// own decoder, so the rules are the stream's).
public enum PostedEvents {
    /// Most events per request.
    public static let maxEvents = 1_000

    /// Splits `{"events":[…]}` into its elements' bytes.
    /// - Throws: `PostedEventsError` for a body that is not such an object.
    public static func elements(_ body: [UInt8]) throws -> [ArraySlice<UInt8>] {
        var i = 0
        func fail(_ m: String) -> PostedEventsError { PostedEventsError(message: m) }
        func ws() { while i < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[i]) { i += 1 } }
        func skipString() throws {
            guard i < body.count, body[i] == UInt8(ascii: "\"") else { throw fail("body is not valid JSON") }
            i += 1
            while i < body.count {
                if body[i] == UInt8(ascii: "\\") { i += 2; continue }
                if body[i] == UInt8(ascii: "\"") { i += 1; return }
                i += 1
            }
            throw fail("body is not valid JSON (unterminated string)")
        }
        func skipValue() throws {
            ws()
            guard i < body.count else { throw fail("body is not valid JSON") }
            switch body[i] {
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < body.count {
                    switch body[i] {
                    case UInt8(ascii: "\""): try skipString(); continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return }
                    default: break
                    }
                    i += 1
                }
                throw fail("body is not valid JSON (unbalanced brackets)")
            default:
                while i < body.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(body[i]) { i += 1 }
            }
        }
        guard (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any] else {
            throw fail("body must be a JSON object {\"events\":[…]}")
        }
        ws()
        i += 1 // {
        var found: [ArraySlice<UInt8>]?
        while true {
            ws()
            if i < body.count, body[i] == UInt8(ascii: "}") { break }
            let keyStart = i
            try skipString()
            let key = String(decoding: body[(keyStart + 1)..<(i - 1)], as: UTF8.self)
            ws()
            i += 1 // :
            ws()
            if key == "events" {
                guard i < body.count, body[i] == UInt8(ascii: "[") else { throw fail("events must be an array of events") }
                i += 1
                var elements: [ArraySlice<UInt8>] = []
                ws()
                if i < body.count, body[i] == UInt8(ascii: "]") {
                    i += 1
                } else {
                    while true {
                        ws()
                        let start = i
                        try skipValue()
                        elements.append(body[start..<i])
                        ws()
                        guard i < body.count else { throw fail("body is not valid JSON") }
                        if body[i] == UInt8(ascii: ",") { i += 1; continue }
                        i += 1 // ]
                        break
                    }
                }
                found = elements
            } else {
                try skipValue()
            }
            ws()
            if i < body.count, body[i] == UInt8(ascii: ",") { i += 1 }
        }
        guard let found else { throw fail("body must have an \"events\" array") }
        guard !found.isEmpty else { throw fail("events must hold 1 to \(maxEvents) events") }
        guard found.count <= maxEvents else { throw fail("events must hold 1 to \(maxEvents) events (got \(found.count))") }
        return found
    }

    /// Folds posted events into a copy of `profile` by the stream's rules (§2): every event is decoded
    /// by the stream's decoder and must be for `customerID`; irrelevant types are skipped.
    /// - Throws: `PostedEventsError` naming the first bad event's index (0-based) and reason.
    public static func fold(_ elements: [ArraySlice<UInt8>], into profile: Profile, customerID: String) throws -> Profile {
        var profile = profile
        let now = Timestamp.nowMillis()
        for (index, bytes) in elements.enumerated() {
            let result = Array(bytes).withUnsafeBytes { EventDecoder.decode($0, nowMillis: now) }
            switch result {
            case .malformed(let reason):
                throw PostedEventsError(message: "event \(index): \(reason)")
            case .event(let event):
                guard CustomerID(event.customerID) == CustomerID(customerID) else {
                    throw PostedEventsError(message: "event \(index): customer_id \(jsonString(event.customerID)) is not \(jsonString(customerID))")
                }
                if event.isRelevantForPrediction { _ = profile.apply(event) }
            }
        }
        return profile
    }
}
