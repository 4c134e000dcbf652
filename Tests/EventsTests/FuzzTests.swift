import Foundation
import Testing
import Events

@Suite("Decoder fuzzing")
struct FuzzTests {
    /// Inputs per run: `EVENTS_FUZZ_COUNT` if set, else 1,000,000 (≈ 40 s in a debug build on the
    /// 2-core dev machine, split over two parallel shards). The same harness runs in release with
    /// `swift run -c release EventsBench fuzz 1000000` in the development package.
    static let count = ProcessInfo.processInfo.environment["EVENTS_FUZZ_COUNT"].flatMap(Int.init) ?? 1_000_000

    @Test("random and mutated inputs: no crash, verdicts consistent, JSON validity agrees with Foundation",
          .timeLimit(.minutes(10)), arguments: [0, 1] as [UInt64])
    func fuzz(shard: UInt64) throws {
        let seeds = try Reference.lines("events_clean.jsonl").enumerated().filter { $0.offset % 25 == 0 }.map(\.element)
            + Reference.lines("events_dirty.jsonl").enumerated().filter { $0.offset % 50 == 0 }.map(\.element).filter { $0.count < 4096 }
        let report = DecoderFuzzer.run(count: Self.count / 2, seed: 0x5EED_0000 + shard, seeds: seeds)
        #expect(report.disagreementCount == 0, "\(report.disagreements.joined(separator: "\n"))")
        #expect(report.inputs == Self.count / 2)
        #expect(report.events > report.inputs / 50, "the mutations must leave many inputs valid: \(report)")
        #expect(report.malformedByCategory["bad_json", default: 0] > report.inputs / 10)
        print("fuzz shard \(shard): \(report)")
    }
}
