import Foundation
import Testing
import Events

@Suite("Decoder against the reference streams")
struct OracleDecodeTests {
    @Test("every line of events_clean.jsonl is a valid event")
    func cleanStreamAllValid() throws {
        let lines = try Reference.lines("events_clean.jsonl")
        #expect(lines.count == 5_000)
        for (index, line) in lines.enumerated() {
            let result = EventDecoder.decode(line)
            #expect(result.event != nil, "line \(index + 1): \(String(describing: result.malformedReason))")
        }
    }

    @Test("events_dirty.jsonl: exactly the listed lines are rejected, with the oracle's category")
    func dirtyStreamCategories() throws {
        let lines = try Reference.lines("events_dirty.jsonl")
        var expected: [Int: String] = [:]
        for row in try Reference.csv("oracle_dirty/rejected.csv") {
            expected[Int(row["line_no"] ?? "") ?? -1] = row["reason"]
        }
        let manifest = String(decoding: try Reference.data("events_dirty.jsonl.malformed.tsv"), as: UTF8.self)
        let listed = Set(manifest.split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: "\t")[0]) })
        #expect(listed == Set(expected.keys))
        #expect(listed.count == 51)
        var valid = 0
        for (index, line) in lines.enumerated() {
            let lineNo = index + 1
            switch EventDecoder.decode(line) {
            case .event:
                valid += 1
                #expect(expected[lineNo] == nil, "line \(lineNo) accepted, oracle: \(expected[lineNo] ?? "")")
            case .malformed(let reason):
                #expect(reason.category == expected[lineNo], "line \(lineNo): \(reason)")
            }
        }
        #expect(valid == 5_000)
    }

    @Test("counts by type, by page and page views per minute reproduce the oracles exactly",
          arguments: [("events_clean.jsonl", "oracle_clean"), ("events_dirty.jsonl", "oracle_dirty")])
    func counters(stream: String, oracle: String) throws {
        var byType: [String: Int] = [:]
        var byPage: [String: Int] = [:]
        var perMinute: [Int64: Int] = [:]
        for line in try Reference.lines(stream) {
            guard let event = EventDecoder.decode(line).event else { continue }
            byType[event.type, default: 0] += 1
            if event.isPageView, let page = event.page {
                byPage[page, default: 0] += 1
                perMinute[Timestamp.minuteFloor(event.timestamp), default: 0] += 1
            }
        }
        let minutes = Dictionary(uniqueKeysWithValues: perMinute.map { (Timestamp.format(millis: $0.key), $0.value) })
        try Reference.expectCounts(oracle, types: byType, pages: byPage, minutes: minutes)
    }
}
