import Events
import Features
import Foundation
import Kafka
@testable import Pipeline
import Store
import Testing
import TestSupport

/// Customer ids are their UTF-8 bytes (CONTRACT §1: a string; the arm hashes its bytes; both stores key rows
/// by bytes). Swift's `String ==` calls canonically equivalent strings equal — "é" (U+00E9) and
/// "e\u{301}" (e + combining acute) — so a String-keyed cache or result would make two customers one.
@Suite("Customer ids are bytes (no tasks)")
struct CustomerIdentityTests {
    static let precomposed = "caf\u{E9}-1", decomposed = "cafe\u{301}-1"

    func pageView(_ id: String, _ ts: String, _ page: String) -> Event {
        Event(eventID: UUID().uuidString, type: "page_view", customerID: id, timestamp: Timestamp.parse(ts)!, page: page)
    }

    @Test("two ids equal as Swift Strings but not as bytes are two profiles through enrichment and the store")
    func canonicallyEquivalentIDs() async throws {
        #expect(Self.precomposed == Self.decomposed, "the premise: Swift's == calls them equal")
        let dir = try Shared.tempDir("ids")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(path: dir.appendingPathComponent("s.db").path)
        // Both stored already, with different state: a bulk load must return each its own.
        var a = Profile(customerID: Self.precomposed), b = Profile(customerID: Self.decomposed)
        a.apply(pageView(Self.precomposed, "2026-02-01T10:00:00Z", "/pricing"))
        b.apply(pageView(Self.decomposed, "2026-02-01T10:00:00Z", "/account/cancel"))
        b.apply(pageView(Self.decomposed, "2026-02-01T11:00:00Z", "/account/cancel"))
        try await store.commitProfiles([ProfileUpdate(profile: a, features: a.features(), churnScore: nil, modelVersion: nil, scoredAt: nil),
                                        ProfileUpdate(profile: b, features: b.features(), churnScore: nil, modelVersion: nil, scoredAt: nil)],
                                       offsets: [], scope: OffsetScope(subscriber: "prediction", topic: "t"))
        let loaded = try await store.loadProfiles([Self.precomposed, Self.decomposed])
        #expect(loaded.count == 2)
        #expect(loaded[CustomerID(Self.precomposed)]?.state == a.state && loaded[CustomerID(Self.decomposed)]?.state == b.state)

        // The enricher: one event each, in one batch.
        let enricher = ProfileEnricher(store: store, status: SubscriberStatus(name: "prediction", group: "g"), capacity: 1_000)
        let events = [pageView(Self.precomposed, "2026-02-02T10:00:00Z", "/"), pageView(Self.decomposed, "2026-02-02T10:00:00Z", "/")]
        let source = ConsumerBatch<DecodedMessage>(records: [], generation: 1)
        let batch = try await enricher.enrich(FilteredBatch(source: source, sequence: 1, relevant: events, validCount: 2, malformedCount: 0))
        let byID = Dictionary(uniqueKeysWithValues: batch.updates.map { (Array($0.profile.customerID.utf8), $0.features) })
        #expect(batch.updates.count == 2)
        #expect(byID[Array(Self.precomposed.utf8)]?.pricingViews30d == 1 && byID[Array(Self.precomposed.utf8)]?.pageViews30d == 2)
        #expect(byID[Array(Self.decomposed.utf8)]?.cancelViews30d == 2 && byID[Array(Self.decomposed.utf8)]?.pageViews30d == 3)
        try await store.close()
    }
}
