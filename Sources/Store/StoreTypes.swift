import Events
import Features

/// A store failure. The description names the store (path or address) and the operation, never SQL
/// text or row values beyond identifiers.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: String, Sendable {
        /// The URL is not `sqlite:PATH` or `postgres://…`.
        case badURL
        /// The store could not be opened or migrated.
        case unavailable
        /// Another owner committed these partitions since this instance read their offsets: the batch
        /// was not applied (it will be, exactly once, by the partition's current owner).
        case fenced
        /// An import file row is invalid.
        case badImport
        /// A query or transaction failed.
        case queryFailed
    }
    /// What kind of failure.
    public let kind: Kind
    /// A one-line explanation.
    public let message: String
    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    /// Whether retrying may succeed (a lost connection, a busy database).
    public var isRetriable: Bool { kind == .unavailable || kind == .queryFailed }
    /// The one-line description.
    public var description: String { message }
}

/// The profile of a customer as the pipeline needs it: static attributes and rolling state.
public typealias StoredProfile = Profile

/// One profile row to write: the state after a batch, its features and (when scored) the score.
public struct ProfileUpdate: Sendable {
    /// The profile (attributes and rolling state).
    public var profile: Profile
    /// The feature vector as of the newest relevant event.
    public var features: FeatureVector
    /// The churn score as of that event, if scored.
    public var churnScore: Double?
    /// The model version that produced the score.
    public var modelVersion: String?
    /// Event time of the event that produced the score (ms since the epoch).
    public var scoredAt: Int64?
    /// Creates an update.
    /// The name of the model that served the score (CONTRACT §5).
    public var modelName: String?
    /// `champion` or `challenger`: the customer's arm.
    public var arm: String?
    /// The score's reasons as JSON text (`--reasons K`), or nil.
    public var reasons: String?
    /// The time the features are as of (ms): the newest relevant event, or a later as-of time.
    public var featuresAsOf: Int64?

    public init(profile: Profile, features: FeatureVector, churnScore: Double?, modelVersion: String?, scoredAt: Int64?,
                modelName: String? = nil, arm: String? = nil, reasons: String? = nil, featuresAsOf: Int64? = nil) {
        self.modelName = modelName
        self.arm = arm
        self.reasons = reasons
        self.featuresAsOf = featuresAsOf ?? scoredAt ?? profile.asOf
        self.profile = profile
        self.features = features
        self.churnScore = churnScore
        self.modelVersion = modelVersion
        self.scoredAt = scoredAt
    }
}

/// Offsets a subscriber commits with its state. `expected` is the next offset the committer believes
/// is stored (`nil` = none stored yet); the commit fails with `StoreError.fenced` if the store holds
/// something else, which is how a zombie owner is kept from committing twice.
public struct OffsetAdvance: Sendable, Equatable {
    /// The partition.
    public var partition: Int32
    /// What the committer believes is stored now.
    public var expected: Int64?
    /// The new next offset.
    public var next: Int64
    /// Creates an advance.
    public init(partition: Int32, expected: Int64?, next: Int64) {
        self.partition = partition
        self.expected = expected
        self.next = next
    }
}

/// Where offsets belong: one subscriber (consumer group role) reading one topic.
public struct OffsetScope: Sendable, Hashable {
    /// `prediction` or `counter`.
    public var subscriber: String
    /// The topic.
    public var topic: String
    /// Creates a scope.
    public init(subscriber: String, topic: String) {
        self.subscriber = subscriber
        self.topic = topic
    }
}

/// The counter subscriber's aggregate for one batch: increments to add.
public struct CounterDelta: Sendable, Equatable {
    /// Page views per page (pages and types are told apart by their bytes, as the stores' keys are).
    public var pages: [UTF8Key: Int] = [:]
    /// Valid events per type.
    public var types: [UTF8Key: Int] = [:]
    /// Page views per UTC minute start (ms since the epoch).
    public var minutes: [Int64: Int] = [:]
    /// Creates an empty delta.
    public init() {}
    /// Adds one valid event.
    public mutating func add(_ event: Event) {
        types[UTF8Key(event.type), default: 0] += 1
        if event.isPageView, let page = event.page {
            pages[UTF8Key(page), default: 0] += 1
            minutes[Timestamp.minuteFloor(event.timestamp), default: 0] += 1
        }
    }
    /// Whether there is nothing to add.
    public var isEmpty: Bool { types.isEmpty }
}

/// A row of `profiles` for the HTTP API and the CRM, with every column.
public struct ProfileRow: Sendable, Equatable, Codable {
    public var customer_id: String
    public var tenure_days: Int
    public var plan: String
    public var monthly_charges: Double
    public var churn_score: Double?
    public var model_version: String?
    public var scored_at: String?
    public var updated_at: String?
    public var page_views_30d: Int
    public var pricing_views_30d: Int
    public var cancel_views_30d: Int
    public var support_calls_30d: Int
    public var complaints_30d: Int
    public var days_since_last_visit: Double
    public var model_name: String?
    public var arm: String?
    public var features_as_of: String?
    public var reasons: String?
}

/// A customer row from the CRM export.
public struct CustomerRecord: Sendable, Equatable {
    /// The customer id.
    public var customerID: String
    /// Static attributes.
    public var attributes: StaticAttributes
    /// Creates a record.
    public init(customerID: String, attributes: StaticAttributes) {
        self.customerID = customerID
        self.attributes = attributes
    }
}

/// The store the engine keeps its state in: profiles, counters and offsets, with the same semantics on
/// SQLite and PostgreSQL.
public protocol EngineStore: Sendable {
    /// A human-readable location (path or host/db) for messages.
    var location: String { get }
    /// The most a group commit should hold (the prediction subscriber commits the batches that queued up
    /// while the store was busy in one transaction, up to this).
    var groupCommitLimit: GroupCommitLimit { get }
    /// Loads the profiles of these customers in one query (per chunk); unknown ids are absent.
    /// Keyed by the ids' bytes: two ids `String` calls equal may be two profiles.
    func loadProfiles(_ ids: [String]) async throws -> [CustomerID: Profile]
    /// Writes profile updates (each customer once, in `updates`' order) and advances offsets in ONE transaction.
    /// - Throws: `StoreError.fenced` (nothing written) if an offset's `expected` does not match.
    func commitProfiles(_ updates: ProfileUpdates, offsets: [OffsetAdvance], scope: OffsetScope,
                        outbox: OutboxEntry?, acknowledged: [String]) async throws
    /// The outbox entries of `subscriber` still in the store (committed, not known to be published).
    func pendingOutbox(subscriber: String) async throws -> [OutboxEntry]
    /// Deletes outbox entries whose messages were delivered.
    func deleteOutbox(_ ids: [String]) async throws
    /// The stored rows of these customers (unknown ids are left out).
    func profileRows(_ ids: [String]) async throws -> [ProfileRow]
    /// Up to `limit` stored profiles with `customer_id` after `after` (nil: from the first), in
    /// `customer_id` order (byte order): a resumable scan for rescoring.
    func profilePage(after: String?, limit: Int) async throws -> [StoredProfileRow]
    /// A setting the engine records for other commands (e.g. `model_source`: the `run` model flags, so
    /// `profiles import` can re-score with the model in service); nil when unset.
    func setting(_ key: String) async throws -> String?
    /// Records a setting.
    func setSetting(_ key: String, _ value: String) async throws
    /// The CRM population's reference attributes for score reasons (CONTRACT §6): medians of
    /// `tenure_days` and `monthly_charges`, the most frequent `plan` (ties by name); nil without profiles.
    func attributeReferences() async throws -> AttributeReferences?
    /// Rewrites scores (and, for an as-of rescore, features) of rows that still hold what the rescore
    /// read (`expected`): a row the stream changed since is left alone. Returns the ids rewritten.
    func rewriteScores(_ rewrites: [ScoreRewrite]) async throws -> [String]
    /// Adds counter increments and advances offsets in ONE transaction (same fencing).
    func commitCounters(_ delta: CounterDelta, offsets: [OffsetAdvance], scope: OffsetScope) async throws
    /// The stored next offsets of a subscriber.
    func offsets(_ scope: OffsetScope) async throws -> [Int32: Int64]
    /// Imports CRM customers in one transaction: new profiles are created, existing ones get their
    /// static attributes updated and keep their counters and scores.
    @discardableResult
    func importCustomers(_ customers: [CustomerRecord]) async throws -> [String]
    /// One profile row, or `nil`.
    func profileRow(_ customerID: String) async throws -> ProfileRow?
    /// Page counts by count descending (ties by page), at most `top`.
    func pageCounts(top: Int) async throws -> [(page: String, count: Int)]
    /// Counts per event type.
    func typeCounts() async throws -> [UTF8Key: Int]
    /// Page views per minute in `[from, to)` (ms; `nil` = open), ascending, non-empty minutes.
    func minuteCounts(from: Int64?, to: Int64?) async throws -> [(minute: Int64, count: Int)]
    /// The `limit` profiles with the highest churn scores.
    func topRisk(limit: Int) async throws -> [ProfileRow]
    /// A histogram of churn scores over `bins` equal bins of [0, 1].
    func scoreHistogram(bins: Int) async throws -> [Int]
    /// Number of profiles.
    func profileCount() async throws -> Int
    /// Deletes minute counts older than `before` (ms); returns rows removed.
    func pruneMinutes(before: Int64) async throws -> Int
    /// Closes connections.
    func close() async throws
}


/// What a committed batch still has to publish, recorded in the batch's own store transaction and
/// deleted (in a later transaction) once the broker acknowledged it: the store commit never waits for
/// the broker, and a crash between commit and acknowledgement leaves the entry for the restart to
/// re-publish. It names customers, not messages: a re-publish sends each customer's score as stored
/// now, which is never older than the one the batch wrote.
public struct OutboxEntry: Sendable, Equatable {
    /// Unique across instances and restarts.
    public var id: String
    /// `prediction`.
    public var subscriber: String
    /// The customers whose scores the batch changed.
    public var customerIDs: [String]

    public init(id: String, subscriber: String, customerIDs: [String]) {
        self.id = id
        self.subscriber = subscriber
        self.customerIDs = customerIDs
    }

    /// The customer ids as one blob: each a 4-byte little-endian length and its UTF-8 bytes.
    public var encodedCustomers: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(customerIDs.reduce(0) { $0 + 4 + $1.utf8.count })
        for id in customerIDs {
            let n = UInt32(id.utf8.count)
            out.append(contentsOf: [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)])
            out.append(contentsOf: id.utf8)
        }
        return out
    }

    /// Decodes `encodedCustomers`.
    /// - Throws: `StoreError.queryFailed` for a damaged blob.
    public static func decodeCustomers(_ bytes: [UInt8]) throws -> [String] {
        var ids: [String] = []
        var i = 0
        while i < bytes.count {
            guard i + 4 <= bytes.count else { throw StoreError(.queryFailed, "outbox entry is damaged (truncated length)") }
            let n = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
            i += 4
            guard n <= bytes.count - i else { throw StoreError(.queryFailed, "outbox entry is damaged (length \(n) beyond its end)") }
            ids.append(String(decoding: bytes[i..<i + n], as: UTF8.self))
            i += n
        }
        return ids
    }
}

/// The most batches and relevant events one group commit holds (the events: until a batch crosses it).
public struct GroupCommitLimit: Sendable, Equatable {
    /// Most batches.
    public var batches: Int
    /// Most relevant events, reached by the batch that crosses it.
    public var events: Int
    public init(batches: Int, events: Int) {
        self.batches = batches
        self.events = events
    }
}

extension EngineStore {
    /// Commits one batch's updates (a customer may occur more than once: the last wins, as
    /// ``ProfileUpdate/merging(_:with:)`` says).
    public func commitProfiles(_ updates: [ProfileUpdate], offsets: [OffsetAdvance], scope: OffsetScope,
                               outbox: OutboxEntry?, acknowledged: [String]) async throws {
        try await commitProfiles(ProfileUpdates(updates), offsets: offsets, scope: scope, outbox: outbox, acknowledged: acknowledged)
    }

    /// Commits a batch with nothing to publish.
    public func commitProfiles(_ updates: [ProfileUpdate], offsets: [OffsetAdvance], scope: OffsetScope) async throws {
        try await commitProfiles(ProfileUpdates(updates), offsets: offsets, scope: scope, outbox: nil, acknowledged: [])
    }
}

/// A stored profile: its row and its rolling state.
public struct StoredProfileRow: Sendable {
    /// The row's columns.
    public var row: ProfileRow
    /// The profile (static attributes and rolling state).
    public var profile: Profile

    public init(row: ProfileRow, profile: Profile) {
        self.row = row
        self.profile = profile
    }
}

/// A conditional rewrite of a stored score: applied only while the row still holds `expected`.
public struct ScoreRewrite: Sendable {
    /// The row as the rescore read it: `updated_at`, `churn_score`, `model_version`, `features_as_of`.
    public struct Expected: Sendable {
        public var updatedAt: String?
        public var churnScore: Double?
        public var modelVersion: String?
        public var featuresAsOf: String?
        public init(_ row: ProfileRow) {
            updatedAt = row.updated_at
            churnScore = row.churn_score
            modelVersion = row.model_version
            featuresAsOf = row.features_as_of
        }
    }
    public var customerID: String
    public var expected: Expected
    public var churnScore: Double
    public var modelVersion: String
    public var modelName: String
    public var arm: String
    /// New feature columns and their as-of time (ms) for an as-of rescore; nil keeps them.
    public var features: FeatureVector?
    public var featuresAsOf: Int64?
    public var reasons: String?

    public init(customerID: String, expected: Expected, churnScore: Double, modelVersion: String, modelName: String, arm: String,
                features: FeatureVector? = nil, featuresAsOf: Int64? = nil, reasons: String? = nil) {
        self.customerID = customerID
        self.expected = expected
        self.churnScore = churnScore
        self.modelVersion = modelVersion
        self.modelName = modelName
        self.arm = arm
        self.features = features
        self.featuresAsOf = featuresAsOf
        self.reasons = reasons
    }
}

/// Reference values of the static attributes for score reasons (CONTRACT §6): the medians (the mean of
/// the two middle values for an even count) and the most frequent plan of the stored profiles.
public struct AttributeReferences: Sendable, Equatable {
    public var tenureDays: Double
    public var plan: String
    public var monthlyCharges: Double
    public init(tenureDays: Double, plan: String, monthlyCharges: Double) {
        self.tenureDays = tenureDays
        self.plan = plan
        self.monthlyCharges = monthlyCharges
    }
}
