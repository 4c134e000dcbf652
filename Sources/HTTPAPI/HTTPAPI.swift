import Events
import Features
import Foundation
import Hummingbird
import Logging
import Pipeline
import Prometheus
import Scoring
import Store

/// What the HTTP API reads: the store, the model registry, the subscribers' live figures and the
/// Prometheus registry.
public struct EngineContext: Sendable {
    /// The state store.
    public var store: any EngineStore
    /// The model in service.
    public var models: ModelRegistry
    /// The running subscribers' figures.
    public var subscribers: [SubscriberStatus]
    /// Where swift-metrics writes (bootstrapped once by the executable).
    public var prometheus: PrometheusCollectorRegistry
    /// Per model: scored and served counts, mean probability, histogram.
    public var modelStats: ModelStats
    /// The CRM population's reference attributes for reasons.
    public var references: AttributeReferenceCache
    /// Reasons per on-demand score (`GET`/`POST /score/{id}`).
    public var reasons: Int

    /// Creates a context.
    public init(store: any EngineStore, models: ModelRegistry, subscribers: [SubscriberStatus], prometheus: PrometheusCollectorRegistry,
                modelStats: ModelStats = ModelStats(), reasons: Int = 3) {
        self.store = store
        self.models = models
        self.subscribers = subscribers
        self.prometheus = prometheus
        self.modelStats = modelStats
        self.references = AttributeReferenceCache(store: store)
        self.reasons = reasons
    }
}

/// The routes of CONTRACT.md §4 plus the dashboard's summary.
public enum HTTPAPI {
    /// Builds the router. `/healthz`, `/readyz` and the dashboard page (static, no data) are open;
    /// `/metrics` takes `security.metricsToken` when set; every other route takes `security.apiToken`
    /// when set.
    public static func router(_ engine: EngineContext, security: HTTPSecurity = HTTPSecurity()) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/healthz") { _, _ in "ok" }

        router.get("/readyz") { _, _ -> Response in
            let (ready, body) = try readiness(engine)
            guard ready else {
                return Response(status: .serviceUnavailable, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: body)))
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ready")))
        }

        // Read here, once, so that a missing page fails start-up rather than the first visit.
        let page = ByteBuffer(string: DashboardPage.html)
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: page))
        }

        let metrics = security.metricsToken.map { router.group().add(middleware: BearerAuthMiddleware(token: BearerToken($0))) } ?? router.group()
        metrics.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            engine.prometheus.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }

        let api = security.apiToken.map { router.group().add(middleware: BearerAuthMiddleware(token: BearerToken($0))) } ?? router.group()
        let scoring = InFlightLimit(limit: security.maxInFlightScores)

        api.get("/status") { _, _ in try json(statusDocument(engine)) }

        api.get("/profiles/:customer_id") { _, context -> Response in
            let id = try customerID(context)
            guard let row = try await engine.store.profileRow(id) else {
                throw HTTPError(.notFound, message: "no profile for customer_id \(id)")
            }
            return try json(ProfileDocument(row))
        }

        api.get("/counters/pages") { request, _ -> Response in
            let top = try intParameter(request, "top", default: 20, range: 1...10_000)
            let pages = try await engine.store.pageCounts(top: top)
            return try json(pages.map { PageCountDocument(page: $0.page, count: $0.count) })
        }

        api.get("/counters/types") { _, _ -> Response in
            let types = try await engine.store.typeCounts().map { (key: $0.key.string, value: $0.value) }
                .sorted { UTF8Key.compareBytes($0.key, $1.key) < 0 }
            return try json(OrderedObject(types))
        }

        api.get("/counters/minutes") { request, _ -> Response in
            let from = try timeParameter(request, "from")
            let to = try timeParameter(request, "to")
            let minutes = try await engine.store.minuteCounts(from: from, to: to)
            return try json(minutes.map { MinuteCountDocument(minute: Timestamp.format(millis: $0.minute), count: $0.count) })
        }

        api.post("/score") { request, _ -> Response in
            try await scoring.run {
                let body = try await readBody(request, limit: security.maxScoreBodyBytes, timeout: security.requestReadTimeout)
                var values = try parseScoreBody(Data(buffer: body))
                let set = engine.models.currentSet
                // `"model": NAME` picks a model of the set (CONTRACT §5); default the champion.
                var member = set.champion
                if let chosen = values.removeValue(forKey: "model") {
                    guard case .string(let name) = chosen, let named = set.member(named: name) else {
                        throw HTTPError(.badRequest, message: "model must name a model of the set: \(set.members.map(\.name).joined(separator: ", "))")
                    }
                    member = named
                }
                let p: Double
                do {
                    p = try member.model.score(member.model.makeRow(values))
                } catch {
                    throw HTTPError(.badRequest, message: "cannot score: \(error)")
                }
                return try json(ScoreDocument(probability: p, modelName: member.name, modelVersion: member.model.version))
            }
        }

        // CONTRACT §6: the stored profile scored as of a time, writing nothing.
        api.get("/score/:customer_id") { request, context -> Response in
            let id = try customerID(context)
            guard let profile = try await engine.store.loadProfiles([id])[CustomerID(id)] else {
                throw HTTPError(.notFound, message: "no profile for customer_id \(id)")
            }
            let asOf = try timeParameter(request, "as_of") ?? Timestamp.nowMillis()
            if let newest = profile.asOf, asOf < newest {
                throw HTTPError(.badRequest, message: "as_of is before the profile's newest event (\(Timestamp.format(millis: newest)))")
            }
            return try await onDemand(engine, id: id, features: profile.features(asOf: asOf), asOf: asOf)
        }

        // CONTRACT §6: the stored profile with posted events folded in by the stream's rules, writing nothing.
        api.post("/score/:customer_id") { request, context -> Response in
            let id = try customerID(context)
            return try await scoring.run {
                let body = try await readBody(request, limit: max(security.maxScoreBodyBytes, 1 << 20), timeout: security.requestReadTimeout)
                let elements: [ArraySlice<UInt8>]
                let folded: Profile
                do {
                    elements = try PostedEvents.elements(Array(buffer: body))
                    let stored = try await engine.store.loadProfiles([id])[CustomerID(id)] ?? Profile(customerID: id)
                    folded = try PostedEvents.fold(elements, into: stored, customerID: id)
                } catch let error as PostedEventsError {
                    throw HTTPError(.badRequest, message: error.message)
                }
                return try await onDemand(engine, id: id, features: folded.features(), asOf: folded.asOf)
            }
        }

        api.get("/models") { _, _ -> Response in
            try json(modelDocuments(engine))
        }

        api.get("/dashboard/summary") { _, _ -> Response in
            try await json(summary(engine))
        }
        return router
    }

    static func customerID(_ context: BasicRequestContext) throws -> String {
        // Path parameters arrive percent-encoded (`/score/a%20b` is customer `a b`).
        guard let id = try context.parameters.require("customer_id").removingPercentEncoding else {
            throw HTTPError(.badRequest, message: "customer_id is not valid percent-encoded UTF-8")
        }
        // No customer has one (the event decoder refuses it); SQLite's text binding would end at it and
        // answer for the id before it (`a%00b` was customer `a`).
        guard !id.utf8.contains(0) else { throw HTTPError(.badRequest, message: "customer_id must not contain U+0000") }
        return id
    }

    static func onDemand(_ engine: EngineContext, id: String, features: FeatureVector, asOf: Int64?) async throws -> Response {
        let population = try await engine.references.current()
        do {
            let score = try OnDemandScore.score(customerID: id, features: features, featuresAsOf: asOf, set: engine.models.currentSet,
                                                population: population, reasons: engine.reasons)
            return try json(OnDemandDocument(score))
        } catch let error as ScoringError {
            throw HTTPError(.badRequest, message: "cannot score: \(error)")
        }
    }

    /// Customers in the dashboard summary's `top_risk`.
    static let topRiskCount = 20

    /// The `/dashboard/summary` document: profile and score counts, the 20-bin score histogram and the
    /// customers most at risk with their model, arm and reasons (the stored `reasons` column, or, when it
    /// is null, computed now from the stored features with the customer's arm's model).
    static func summary(_ engine: EngineContext) async throws -> SummaryDocument {
        async let count = engine.store.profileCount()
        async let histogram = engine.store.scoreHistogram(bins: 20)
        async let top = engine.store.topRisk(limit: topRiskCount)
        let (n, h, rows) = try await (count, histogram, top)
        let set = engine.models.currentSet
        let population = rows.contains { storedReasons($0.reasons) == nil } ? try await engine.references.current() : nil
        let risk = rows.map { r in
            SummaryDocument.Risk(customerID: r.customer_id, churnScore: r.churn_score, plan: r.plan, tenureDays: r.tenure_days,
                                 cancelViews30d: r.cancel_views_30d, complaints30d: r.complaints_30d, scoredAt: r.scored_at,
                                 modelName: r.model_name, modelVersion: r.model_version, arm: r.arm,
                                 reasons: riskReasons(r, set: set, population: population, k: engine.reasons))
        }
        return SummaryDocument(profiles: n, scored: h.reduce(0, +), scoreHistogram: h, topRisk: risk)
    }

    /// A stored row's reasons: the `reasons` column when it holds a JSON array, else `OnDemandScore`
    /// over the row's stored features (as of `features_as_of`); nil when the model cannot score them.
    static func riskReasons(_ r: ProfileRow, set: ModelSet, population: AttributeReferences?, k: Int) -> SummaryDocument.Reasons? {
        if let stored = storedReasons(r.reasons) { return .stored(stored) }
        guard let score = try? OnDemandScore.score(customerID: r.customer_id, features: r.features,
                                                   featuresAsOf: r.features_as_of.flatMap(Timestamp.parse), set: set,
                                                   population: population, reasons: k) else { return nil }
        return .computed(score.reasons.map(ReasonDocument.init))
    }

    /// Whether every subscriber makes progress, and otherwise the JSON reason: per subscriber and stage,
    /// the error that stalls it (`{"ready":false,"reasons":[{"subscriber","stage","error"}]}`).
    public static func readiness(_ engine: EngineContext) throws -> (ready: Bool, body: String) {
        var reasons: [ReadinessDocument.Reason] = []
        for s in engine.subscribers {
            let snap = s.snapshot
            if !snap.everAssigned {
                reasons.append(.init(subscriber: s.name, stage: "assign", error: "no partitions assigned yet"))
            }
            for (stage, error) in snap.stalls.sorted(by: { $0.key < $1.key }) {
                reasons.append(.init(subscriber: s.name, stage: stage, error: error))
            }
        }
        return (reasons.isEmpty, try CanonicalJSONEncoder().encode(ReadinessDocument(ready: reasons.isEmpty, reasons: reasons)))
    }

    /// The `/status` document.
    static func statusDocument(_ engine: EngineContext) -> StatusDocument {
        let subscribers = engine.subscribers.map { s in
            let snap = s.snapshot
            return StatusDocument.Subscriber(name: s.name, group: s.group, assignedPartitions: snap.assignedPartitions,
                                             processed: snap.processed, malformed: snap.malformed, lag: snap.lag,
                                             scored: snap.scored, lostToRetention: snap.lostToRetention)
        }
        return StatusDocument(subscribers: subscribers, model: .init(version: engine.models.current.version, path: engine.models.path))
    }

    /// The `GET /models` document (CONTRACT §5), plus each model's 10-bin probability histogram and the
    /// last reload error (null when the last reload succeeded).
    static func modelDocuments(_ engine: EngineContext) -> [ModelDocument] {
        let reloadError = engine.models.lastError
        return engine.models.currentSet.members.map { m in
            let f = engine.modelStats.figures(m.name)
            return ModelDocument(name: m.name, role: m.role.rawValue, percent: m.percent, modelVersion: m.model.version, path: m.path,
                                 sha256: m.model.sha256, scored: f.scored, served: f.served, meanProbability: f.mean,
                                 histogram: f.histogram, reloadError: reloadError)
        }
    }

    /// Parses a `POST /score` body: a JSON object of raw model fields.
    /// - Throws: `HTTPError(.badRequest)` with the reason.
    static func parseScoreBody(_ data: Data) throws -> [String: FieldValue] {
        // JSONDecoder parses doubles correctly rounded (JSONSerialization on Linux does not).
        guard (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else {
            throw HTTPError(.badRequest, message: "body is not valid JSON")
        }
        do {
            return try JSONDecoder().decode([String: ScoreInput].self, from: data).mapValues(\.value)
        } catch let error as DecodingError {
            if case .typeMismatch(_, let context) = error, let key = context.codingPath.first?.stringValue {
                throw HTTPError(.badRequest, message: "field '\(key)' must be a number, a string or null")
            }
            throw HTTPError(.badRequest, message: "body must be a JSON object of model fields")
        }
    }

    static func intParameter(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters[name[...]] else { return value }
        guard let n = Int(String(text)), range.contains(n) else {
            throw HTTPError(.badRequest, message: "\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }

    static func timeParameter(_ request: Request, _ name: String) throws -> Int64? {
        guard let text = request.uri.queryParameters[name[...]], !text.isEmpty else { return nil }
        guard let t = Timestamp.parse(String(text)) else {
            throw HTTPError(.badRequest, message: "\(name) must be an RFC 3339 time such as 2026-02-01T10:00:00Z")
        }
        return t
    }

    /// A 200 answer with `document` as JSON (`CanonicalJSONEncoder`).
    static func json<T: Encodable>(_ document: T) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: try CanonicalJSONEncoder().encode(document))))
    }
}

/// One raw model field of a `POST /score` body.
struct ScoreInput: Decodable {
    let value: FieldValue
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            value = .missing
        } else if let b = try? c.decode(Bool.self) {
            value = .number(b ? 1 : 0)
        } else if let d = try? c.decode(Double.self) {
            value = .number(d)
        } else {
            value = .string(try c.decode(String.self))
        }
    }
}
