@testable import Pipeline
import Events
import Store
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

    @Test("names alike in length and in their first and last 8 bytes (one cache slot) keep their own numbers, in any order")
    func cacheCollisions() {
        var table = NameTable(maxNames: 1_000, maxBytes: 1 << 20)
        // Same length, same first 8 ("/catalog") and last 8 ("reviews/") bytes: only the middle differs.
        let names = (0..<50).map { "/catalog/\($0 + 100)/reviews/" }
        for (i, name) in names.enumerated() { #expect(Self.intern(&table, name) == .added(Int32(i))) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let i = Int.random(in: 0..<names.count, using: &generator)
            #expect(Self.intern(&table, names[i]) == .found(Int32(i)))
        }
        // Short names (under 8 bytes) and the empty name.
        #expect(Self.intern(&table, "a") == .added(50))
        #expect(Self.intern(&table, "b") == .added(51))
        #expect(Self.intern(&table, "") == .added(52))
        #expect(Self.intern(&table, "a") == .found(50))
        #expect(Self.intern(&table, "") == .found(52))
        #expect(Self.intern(&table, "b") == .found(51))
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

    static func name(_ names: CountedNames, _ s: String) -> CountedNames.Name {
        var bytes = Array(s.utf8)
        return bytes.withUnsafeMutableBufferPointer { names.name(UnsafeBufferPointer($0)) }
    }

    @Test("the shared names follow the numbers, and names past the bound come as text")
    func sharedNames() {
        let names = CountedNames(maxNames: 2, maxBytes: 1 << 20)
        #expect(Self.name(names, "page_view") == .id(0))
        #expect(Self.name(names, "/home") == .id(1))
        #expect(Self.name(names, "page_view") == .id(0))
        #expect(Self.name(names, "/pricing") == .text("/pricing"))
        #expect(Self.name(names, "/home") == .id(1))
        #expect(names.withNames { $0 } == ["page_view", "/home"])
    }

    static func typeName(_ names: CountedNames, _ s: String) -> CountedNames.Name {
        var bytes = Array(s.utf8)
        return bytes.withUnsafeMutableBufferPointer { p in
            let utf8 = UnsafeBufferPointer(p)
            return names.typeName(EventKind(utf8: utf8)) ?? names.name(utf8, kind: EventKind(utf8: utf8))
        }
    }

    @Test("a type word's number is remembered by its kind once seen; other types and names past the bound are not")
    func typeNamesByKind() {
        let names = CountedNames(maxNames: 3, maxBytes: 1 << 20)
        #expect(names.typeName(.pageView) == nil)
        #expect(Self.name(names, "/home") == .id(0))
        #expect(Self.typeName(names, "page_view") == .id(1))
        #expect(names.typeName(.pageView) == .id(1))
        #expect(names.typeName(.login) == nil)
        #expect(Self.typeName(names, "signup") == .id(2))
        #expect(names.typeName(.other) == nil)
        // The table is full: "login" travels as text, and its kind keeps no number.
        #expect(Self.typeName(names, "login") == .text("login"))
        #expect(names.typeName(.login) == nil)
        #expect(Self.typeName(names, "page_view") == .id(1))
        #expect(names.withNames { $0 } == ["/home", "page_view", "signup"])
    }

    @Test("a batch counted by number (and past the bound by text) equals counting the Strings; nothing carries into the next batch",
          arguments: [3, 100_000])
    func batchCounts(maxNames: Int) {
        let names = CountedNames(maxNames: maxNames, maxBytes: 1 << 20)
        var counter = BatchCounter()
        var generator = SystemRandomNumberGenerator()
        let types = ["page_view", "login", "order", "support_call"]
        let pages = (0..<20).map { "/p/\($0)" }
        for _ in 0..<3 {
            var expected = CounterDelta()
            var messages: [CounterSubscriber.CountedMessage] = []
            var valid = 0, malformed = 0
            var newest: Int64?
            var minute: Int64 = 1_769_942_520_000
            for _ in 0..<2_000 {
                if Int.random(in: 0..<50, using: &generator) == 0 {
                    messages.append(.malformed)
                    malformed += 1
                    continue
                }
                valid += 1
                // Mostly in time order, sometimes back by a few minutes.
                minute += Int64.random(in: -2...3, using: &generator) * 60_000
                let type = types.randomElement(using: &generator)!
                expected.types[UTF8Key(type), default: 0] += 1
                if type == "page_view" {
                    let page = pages.randomElement(using: &generator)!
                    expected.pages[UTF8Key(page), default: 0] += 1
                    expected.minutes[minute, default: 0] += 1
                    newest = max(newest ?? .min, minute)
                    messages.append(.event(type: Self.name(names, type), page: Self.name(names, page), minute: minute))
                } else {
                    messages.append(.event(type: Self.name(names, type), page: nil, minute: 0))
                }
            }
            let counted = counter.count(messages, names: names)
            #expect(counted.delta == expected)
            #expect(counted.valid == valid && counted.malformed == malformed)
            #expect(counted.newestMinute == newest)
        }
    }

    @Test("batch counts by number and by text add up in the delta by name, and reset between batches")
    func counts() {
        let names = ["/a", "/b", "/c"]
        var counts = NameCounts()
        var delta: [UTF8Key: Int] = [:]
        for name: CountedNames.Name in [.id(2), .id(0), .id(2), .text("/z"), .id(2), .text("/z")] {
            counts.add(name, into: &delta)
        }
        counts.drain(into: &delta, names: names)
        #expect(delta == ["/c": 3, "/a": 1, "/z": 2])
        var next: [UTF8Key: Int] = [:]
        counts.add(.id(1), into: &next)
        counts.drain(into: &next, names: names)
        #expect(next == ["/b": 1])
    }
}
