@testable import Kafka
import Testing

/// The consumer's shared state as a plain value: every transition tested without a broker.
@Suite("Consumer state machine (no broker)")
struct ConsumerStateMachineTests {
    typealias Machine = ConsumerStateMachine<Int>

    func batch(_ records: [(Int32, Int64)], generation: Int, bytes: Int = 100) -> ConsumerBatch<Int> {
        ConsumerBatch(records: records.map { ConsumerRecord(partition: $0.0, offset: $0.1, value: 0, byteCount: bytes) },
                      generation: generation)
    }

    func limits(records: Int = 1_000, bytes: Int = 10_000) -> ConsumerLimits {
        ConsumerLimits(maxBatchRecords: 10, maxBufferedRecords: records, maxOutstandingBytes: bytes)
    }

    @Test("a batch polled before a revocation is not admitted, and its bytes stop counting")
    func revocationFencesOldBatches() {
        var m = Machine(limits: limits())
        m.assigned([0, 1])
        let old = batch([(0, 5), (1, 7)], generation: m.generation)
        let check1 = m.deliver(old) == nil
        #expect(check1)
        let check2 = m.outstandingBytes == 200
        #expect(check2)
        m.revoking([1], lost: false)
        m.revoked([1])
        let check3 = m.partitions == [0]
        #expect(check3)
        // The buffered batch lost its partition-1 record.
        var taken: ConsumerBatch<Int>?
        if case .success(let b)? = m.take() { taken = b }
        #expect(taken?.records.map(\.partition) == [0])
        let check4 = m.admit(taken!) == false
        #expect(check4, "polled under the old generation")
        let check5 = m.outstandingBytes == 0  // the reader's own until admitted; never admitted
        #expect(check5)
    }

    @Test("an admitted batch may commit after a normal revocation, never after a lost assignment")
    func lostAssignmentNeverCommits() {
        var m = Machine(limits: limits())
        m.assigned([0])
        let b = batch([(0, 1)], generation: m.generation)
        _ = m.deliver(b)
        _ = m.take()
        let check6 = m.admit(b)
        #expect(check6)
        m.revoking([0], lost: false)
        let check7 = m.mayCommit(generation: b.generation)
        #expect(check7, "a revoke lets admitted batches commit")
        m.assigned([0])
        let c = batch([(0, 2)], generation: m.generation)
        _ = m.deliver(c)
        _ = m.take()
        let check8 = m.admit(c)
        #expect(check8)
        m.revoking([0], lost: true)
        let check9 = !m.mayCommit(generation: c.generation)
        #expect(check9, "the assignment was lost: another member owns it")
        m.release(b)
        m.release(c)
        let check10 = m.inFlight == 0 && m.outstandingBytes == 0
        #expect(check10)
    }

    @Test("a rewind drops every buffered batch and starts a new generation; requests during the drain are covered")
    func rewind() {
        var m = Machine(limits: limits())
        m.assigned([0, 1])
        let check11 = !m.beginRewind()
        #expect(check11, "nothing requested")
        _ = m.deliver(batch([(0, 1)], generation: m.generation))
        _ = m.deliver(batch([(1, 1)], generation: m.generation))
        let generation = m.generation
        m.requestRewind()
        let check12 = m.beginRewind()
        #expect(check12)
        let check13 = m.generation == generation + 1
        #expect(check13)
        let check14 = m.bufferedRecords == 0 && m.outstandingBytes == 0
        #expect(check14)
        m.requestRewind()  // another fenced in-flight batch, while the poll thread waits for the drain
        m.rewindDrained()
        let check15 = !m.beginRewind()
        #expect(check15, "the offsets read after the drain cover it")
    }

    @Test("flow control holds, then pauses, on the record bound or the byte bound and resumes at half of both")
    func flow() {
        var m = Machine(limits: limits(records: 100, bytes: 1_000))
        m.assigned([0])
        let t0 = ContinuousClock.now
        let check16 = m.flow(paused: false, now: t0) == .keep
        #expect(check16)
        // Bytes: 11 records of 100 bytes = 1,100 > 1,000 although the record count is small.
        let big = batch((0..<11).map { (0, Int64($0)) }, generation: m.generation)
        _ = m.deliver(big)
        // Over a bound: hold (no polling) until `pauseAfter` has passed, then pause.
        let holds = [m.flow(paused: false, now: t0), m.flow(paused: false, now: t0 + .milliseconds(999))]
        #expect(holds == [.hold, .hold])
        let check24 = m.holdCount == 1 && m.pauseCount == 0
        #expect(check24, "one stretch over the bound is one hold")
        let check17 = m.flow(paused: false, now: t0 + .seconds(1)) == .pause
        #expect(check17)
        let check18 = m.pauseCount == 1
        #expect(check18)
        let check19 = m.flow(paused: true) == .keep
        #expect(check19)
        _ = m.take()
        let check21 = m.admit(big)
        #expect(check21)
        let check20 = m.flow(paused: true) == .keep
        #expect(check20, "admitted but not released: still outstanding")
        m.release(big)
        let check22 = m.flow(paused: true) == .resume
        #expect(check22)
        let check23 = m.peakOutstandingBytes == 1_100
        #expect(check23)
    }

    @Test("a hold ends when the reader drains below the bounds: no pause, and the next stretch starts its own clock")
    func holdEndsWithoutPause() {
        var m = Machine(limits: limits(records: 100, bytes: 1_000))
        m.assigned([0])
        let t0 = ContinuousClock.now
        let big = batch((0..<11).map { (0, Int64($0)) }, generation: m.generation)
        _ = m.deliver(big)
        #expect(m.flow(paused: false, now: t0) == .hold)
        _ = m.take()  // taken but not admitted: the reader's own, no longer the consumer's
        #expect(m.flow(paused: false, now: t0 + .milliseconds(900)) == .keep)
        _ = m.deliver(big)
        // 1.5 s after the first hold began, but only 0 ms into this one.
        #expect(m.flow(paused: false, now: t0 + .milliseconds(1_500)) == .hold)
        #expect(m.flow(paused: false, now: t0 + .milliseconds(2_400)) == .hold)
        #expect(m.flow(paused: false, now: t0 + .milliseconds(2_500)) == .pause)
        let check = m.holdCount == 2 && m.pauseCount == 1
        #expect(check)
    }

    /// A record value whose release can be observed.
    final class Payload: Sendable {}

    @Test("a batch the reader took is no longer held by the buffer: its records are freed when the reader lets them go")
    func takenBatchesAreNotRetained() {
        var m = ConsumerStateMachine<Payload>(limits: limits(records: 100_000, bytes: 10_000_000))
        m.assigned([0])
        weak var first: Payload?
        // Up to 64 taken batches stayed in the buffer (it was compacted only past 64): up to 320,000 records
        // at 5,000 a batch (a core dump at the prediction bench's peak held ~230,000 decoded events).
        for offset in Int64(0)..<10 {
            let payload = Payload()
            if offset == 0 { first = payload }
            let b = ConsumerBatch(records: [ConsumerRecord(partition: 0, offset: offset, value: payload, byteCount: 10)], generation: m.generation)
            _ = m.deliver(b)
        }
        #expect(first != nil, "still buffered")
        do {
            guard case .success(let taken?)? = m.take() else { Issue.record("nothing buffered"); return }
            #expect(taken.records.first?.value === first)
        }
        #expect(first == nil, "the buffer let the taken batch go")
        let counts = m.bufferedRecords == 9 && m.outstandingBytes == 90
        #expect(counts, "the taken batch no longer counts as buffered")
        // The rest are still there, in order.
        var offsets: [Int64] = []
        while case .success(let b?)? = m.take() { offsets += b.records.map(\.offset) }
        #expect(offsets == Array(1..<10))
    }
}
