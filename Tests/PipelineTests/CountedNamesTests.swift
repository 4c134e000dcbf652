@testable import Pipeline
import Testing

/// The counter's name numbering (poll thread) and per-batch counts (counting task), without Kafka.
@Suite("Counter name table and counts")
struct CountedNamesTests {
    static func intern(_ table: inout NameTable, _ name: String) -> NameTable.Outcome {
        var bytes = Array(name.utf8)
        return bytes.withUnsafeMutableBufferPointer { table.intern(UnsafeBufferPointer($0)) }
    }

    @Test("names are numbered in first-seen order and found again by their bytes, past many table growths")
    func numbering() {
        var table = NameTable(maxNames: 100_000, maxBytes: 1 << 20)
        #expect(Self.intern(&table, "/a") == .added(0))
        #expect(Self.intern(&table, "/b") == .added(1))
        #expect(Self.intern(&table, "/a") == .found(0))
        #expect(Self.intern(&table, "") == .added(2))
        #expect(Self.intern(&table, "") == .found(2))
        for i in 0..<5_000 { #expect(Self.intern(&table, "/p/\(i)") == .added(Int32(3 + i))) }
        for i in stride(from: 0, to: 5_000, by: 7) { #expect(Self.intern(&table, "/p/\(i)") == .found(Int32(3 + i))) }
        #expect(Self.intern(&table, "/b") == .found(1))
    }

    @Test("past its bounds (names, bytes) the table numbers nothing new but still finds what it holds")
    func bounds() {
        var byCount = NameTable(maxNames: 2, maxBytes: 1 << 20)
        #expect(Self.intern(&byCount, "x") == .added(0))
        #expect(Self.intern(&byCount, "y") == .added(1))
        #expect(Self.intern(&byCount, "z") == .full)
        #expect(Self.intern(&byCount, "x") == .found(0))
        var byBytes = NameTable(maxNames: 100, maxBytes: 5)
        #expect(Self.intern(&byBytes, "abc") == .added(0))
        #expect(Self.intern(&byBytes, "def") == .full)
        #expect(Self.intern(&byBytes, "de") == .added(1))
    }

    @Test("the shared names follow the numbers, and unnumbered names come as text")
    func sharedNames() {
        let names = CountedNames()
        func name(_ s: String) -> CountedNames.Name {
            var bytes = Array(s.utf8)
            return bytes.withUnsafeMutableBufferPointer { names.name(UnsafeBufferPointer($0)) }
        }
        #expect(name("page_view") == .id(0))
        #expect(name("/home") == .id(1))
        #expect(name("page_view") == .id(0))
        #expect(names.withNames { $0 } == ["page_view", "/home"])
    }

    @Test("batch counts by number and by text add up in the delta by name, and reset between batches")
    func counts() {
        let names = ["/a", "/b", "/c"]
        var counts = NameCounts()
        var delta: [String: Int] = [:]
        for name: CountedNames.Name in [.id(2), .id(0), .id(2), .text("/z"), .id(2), .text("/z")] {
            counts.add(name, into: &delta)
        }
        counts.drain(into: &delta, names: names)
        #expect(delta == ["/c": 3, "/a": 1, "/z": 2])
        var next: [String: Int] = [:]
        counts.add(.id(1), into: &next)
        counts.drain(into: &next, names: names)
        #expect(next == ["/b": 1])
    }
}
