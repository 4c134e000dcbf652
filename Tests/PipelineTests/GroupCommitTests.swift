import Events
import Features
import Kafka
@testable import Pipeline
import Store
import Testing

/// Group commit: consecutive batches committed in one transaction must advance the offsets exactly as
/// committing them one by one would, and keep the newest score of a customer.
@Suite("Group commit (no tasks)")
struct GroupCommitTests {
    static func batch(_ sequence: Int, _ records: [(Int32, Int64)], expected: [Int32: Int64], updates: [ProfileUpdate] = []) -> EnrichedBatch {
        let source = ConsumerBatch<DecodedMessage>(records: records.map { ConsumerRecord(partition: $0.0, offset: $0.1, value: .malformed(.notObject, key: nil, payload: nil, originalSize: nil)) },
                                                   generation: 1, expectedOffsets: expected)
        return EnrichedBatch(filtered: FilteredBatch(source: source, sequence: sequence, relevant: [], validCount: 0, malformedCount: records.count), updates: updates)
    }

    @Test("merged advances: per partition the first batch's expected offset and the last batch's end")
    func advances() {
        let a = Self.batch(1, [(0, 10), (0, 11), (1, 5)], expected: [0: 10, 1: 5])
        let b = Self.batch(2, [(0, 12), (2, 0)], expected: [0: 12])
        let c = Self.batch(3, [(1, 6), (0, 13)], expected: [1: 6, 0: 13])
        let merged = Dictionary(uniqueKeysWithValues: ProfileWriter.advances([a, b, c]).map { ($0.partition, $0) })
        #expect(merged[0] == OffsetAdvance(partition: 0, expected: 10, next: 14))
        #expect(merged[1] == OffsetAdvance(partition: 1, expected: 5, next: 7))
        #expect(merged[2] == OffsetAdvance(partition: 2, expected: nil, next: 1))
        #expect(merged.count == 3)
        // One batch: its own advances.
        #expect(Set(ProfileWriter.advances([b]).map(\.partition)) == [0, 2])
    }

    @Test("merged updates keep the last state and the last score, and the first attributes")
    func updates() {
        var p = Profile(customerID: "C1", attributes: StaticAttributes(tenureDays: 5, plan: "basic", monthlyCharges: 1))
        _ = p.state.apply(kind: .pageView, page: "/", timestamp: 1_000)
        let first = ProfileUpdate(profile: p, features: p.features(), churnScore: 0.2, modelVersion: "m1", scoredAt: 1_000, modelName: "a", arm: "champion")
        _ = p.state.apply(kind: .pageView, page: "/pricing", timestamp: 2_000)
        var later = p
        later.attributes = StaticAttributes(tenureDays: 9, plan: "premium", monthlyCharges: 2)
        let unscored = ProfileUpdate(profile: later, features: later.features(), churnScore: nil, modelVersion: nil, scoredAt: 2_000)
        var merged: [ProfileUpdate] = []
        ProfileUpdates(runs: [[first], [unscored]]).forEach { merged.append($0.pointee) }
        #expect(merged.count == 1)
        #expect(merged[0].features.pricingViews30d == 1 && merged[0].features.pageViews30d == 2)
        #expect(merged[0].churnScore == 0.2 && merged[0].modelName == "a" && merged[0].modelVersion == "m1")
        #expect(merged[0].profile.attributes.tenureDays == 5)
    }

    @Test("a re-sending batch leaves out exactly the customers a newer unfinished batch carries")
    func supersededScores() {
        let newest = NewestScores()
        let b1 = BatchScores(sequence: 1, customers: ["a", "b", "e"]), b2 = BatchScores(sequence: 2, customers: ["b", "c"])
        let b3 = BatchScores(sequence: 3, customers: ["d", "e"]), b4 = BatchScores(sequence: 4, customers: ["a"])
        for b in [b1, b2, b3] { newest.enqueued(b) }
        #expect(newest.superseded(in: [b1]) == ["b", "e"])
        #expect(newest.superseded(in: [b1, b2]) == ["e"], "a group is compared with batches after its last")
        #expect(newest.superseded(in: [b3]).isEmpty)
        newest.finished(b2)
        #expect(newest.superseded(in: [b1]) == ["e"], "a finished batch supersedes nothing")
        newest.enqueued(b4)
        #expect(newest.superseded(in: [b1]) == ["a", "e"])
        newest.finished(b3)
        newest.finished(b4)
        #expect(newest.superseded(in: [b1]).isEmpty)
        newest.finished(BatchScores(sequence: 9, customers: ["z"]))  // never enqueued (nothing scored): no effect
        #expect(newest.superseded(in: [BatchScores(sequence: 0, customers: ["a", "z"])]) == ["a"], "batch 1 is still in flight")
        newest.finished(b1)
        #expect(newest.superseded(in: [BatchScores(sequence: 0, customers: ["a", "b"])]).isEmpty)
    }
}
