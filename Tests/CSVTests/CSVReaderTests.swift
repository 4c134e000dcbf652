import Foundation
import Testing
@testable import CSV

/// Reads every record of `text` (in chunks of `chunk` bytes).
private func records(_ text: String, chunk: Int = CSVReader.defaultChunkSize,
                     maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) throws -> [CSVRecord] {
    try records(Data(text.utf8), chunk: chunk, maxRecordBytes: maxRecordBytes)
}

private func records(_ data: Data, chunk: Int = CSVReader.defaultChunkSize,
                     maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) throws -> [CSVRecord] {
    let reader = CSVReader(data: data, name: "t.csv", chunkSize: chunk, maxRecordBytes: maxRecordBytes)
    var result: [CSVRecord] = []
    while let record = try reader.next() { result.append(record) }
    #expect(reader.bytesExamined == data.count, "every byte examined once")
    return result
}

/// The error reading `text` throws, or nil.
private func failure(_ text: String, chunk: Int = CSVReader.defaultChunkSize,
                     maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) -> CSVError? {
    let reader = CSVReader(data: Data(text.utf8), name: "t.csv", chunkSize: chunk, maxRecordBytes: maxRecordBytes)
    do {
        while try reader.next() != nil {}
        return nil
    } catch {
        return error
    }
}

@Suite("CSV reader")
struct CSVReaderTests {
    /// RFC 4180 inputs with their fields and start lines, written out by hand.
    static let cases: [(String, String, [[String]], [Int])] = [
        ("plain, LF, trailing newline", "a,b,c\n1,2,3\n", [["a", "b", "c"], ["1", "2", "3"]], [1, 2]),
        ("CRLF", "a,b\r\n1,2\r\n", [["a", "b"], ["1", "2"]], [1, 2]),
        ("no final newline", "a,b\r\n1,2", [["a", "b"], ["1", "2"]], [1, 2]),
        ("lone CR ends a record", "a,b\r1,2\r", [["a", "b"], ["1", "2"]], [1, 2]),
        ("empty fields", ",a,,\n,\n", [["", "a", "", ""], ["", ""]], [1, 2]),
        ("blank lines are records of one empty field", "a\n\n\r\nb\n", [["a"], [""], [""], ["b"]], [1, 2, 3, 4]),
        ("quoted comma", "\"a,b\",c\n", [["a,b", "c"]], [1]),
        ("escaped quotes", "\"say \"\"hi\"\"\",\"\"\"\",\"\"\n", [["say \"hi\"", "\"", ""]], [1]),
        ("quoted LF and CRLF move the line on", "\"x\ny\",\"p\r\nq\"\nz\n", [["x\ny", "p\r\nq"], ["z"]], [1, 4]),
        ("quoted lone CR counts as a line", "\"x\ry\"\nz\n", [["x\ry"], ["z"]], [1, 3]),
        ("quote inside an unquoted field is ordinary", "a\"b,c\"\n", [["a\"b", "c\""]], [1]),
        ("bytes after a closing quote join the field", "\"a\"b,\"c\"\"\"d\n", [["ab", "c\"d"]], [1]),
        ("quoted field last, no newline", "a,\"b\nc\"", [["a", "b\nc"]], [1]),
        ("byte order mark skipped", "\u{FEFF}id,x\n1,2\n", [["id", "x"], ["1", "2"]], [1, 2]),
        ("UTF-8 in fields", "é,\"日本,語\"\n", [["é", "日本,語"]], [1]),
        ("only a byte order mark", "\u{FEFF}", [], []),
        ("empty input", "", [], []),
        ("only a newline", "\n", [[""]], [1]),
    ]

    @Test("RFC 4180 records, at every chunk size from 1 byte up", arguments: cases)
    func rfc4180(name: String, text: String, fields: [[String]], lines: [Int]) throws {
        for chunk in [1, 2, 3, 4, 5, 7, CSVReader.defaultChunkSize] {
            let read = try records(text, chunk: chunk)
            #expect(read.map(\.fields) == fields, "\(name), chunk \(chunk)")
            #expect(read.map(\.line) == lines, "\(name), chunk \(chunk)")
        }
    }

    @Test("raw bytes: the record as written, quotes kept, without terminator or byte order mark")
    func rawBytes() throws {
        let read = try records("\u{FEFF}h,\"q\"\r\n\"a, \"\"b\"\"\",\"x\ny\"\r\n\r\n1", chunk: 3)
        #expect(read.map { String(decoding: $0.raw, as: UTF8.self) } == ["h,\"q\"", "\"a, \"\"b\"\"\",\"x\ny\"", "", "1"])
        #expect(read.map(\.isBlank) == [false, false, true, false])
        #expect(read.map(\.line) == [1, 2, 4, 5])
    }

    @Test("chunk boundaries inside a quoted field, an escaped quote and a CRLF give the same records")
    func chunkBoundaries() throws {
        // 3-byte chunks: the CRLF after "ab" splits across chunks 1|2, an escaped quote across others.
        let text = "ab\r\n\"c\"\"d\r\ne\",f\r\ng,\"\"\"\"\r\n"
        let whole = try records(text)
        #expect(whole.map(\.fields) == [["ab"], ["c\"d\r\ne", "f"], ["g", "\""]])
        #expect(whole.map(\.line) == [1, 2, 4])
        for chunk in 1...text.utf8.count {
            let split = try records(text, chunk: chunk)
            #expect(split == whole, "chunk \(chunk)")
        }
    }

    @Test("a file and a FileHandle read like Data; the file is named in errors")
    func fileSources() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("a,\"b\nc\"\r\nd,e\n".utf8).write(to: url)
        let reader = try CSVReader(contentsOf: url, chunkSize: 2)
        #expect(try reader.next()?.fields == ["a", "b\nc"])
        #expect(try reader.next() == CSVRecord(fields: ["d", "e"], raw: Array("d,e".utf8), line: 3))
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)

        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        let fromHandle = CSVReader(handle: handle, name: "h.csv", chunkSize: 5)
        #expect(try fromHandle.next()?.line == 1)
        #expect(try fromHandle.next()?.line == 3)
        #expect(try fromHandle.next() == nil)

        let missing = url.deletingLastPathComponent().appendingPathComponent("no-such-\(UUID().uuidString).csv")
        let error = #expect(throws: CSVError.self) { try CSVReader(contentsOf: missing) }
        #expect(error?.kind == .unreadable)
        #expect(error?.description.hasPrefix(missing.path + ": cannot open") == true)
    }

    @Test("an unterminated quote fails naming the line where its record starts, at every chunk size")
    func unterminatedQuote() {
        for chunk in [1, 4, CSVReader.defaultChunkSize] {
            let error = failure("a,b\n1,2\n3,\"open\nmore\nstill", chunk: chunk)
            #expect(error?.kind == .unterminatedQuote)
            #expect(error?.line == 3)
            #expect(error?.description == "t.csv line 3: unterminated quoted field: the quote opened on line 3 is still open at the end of the input")
        }
        // The record starts on line 2, the quote opens on line 3 (after a closed quoted field with a line break).
        let later = failure("h\n\"x\ny\",\"z\n")
        #expect(later?.line == 2)
        #expect(later?.description.contains("opened on line 3") == true)
        // A closing quote as the last byte is not unterminated.
        #expect(failure("\"a\"") == nil)
    }

    @Test("errors are sticky: after a failure every call throws it again")
    func sticky() {
        let reader = CSVReader(data: Data("\"x".utf8), name: "s.csv")
        let first = #expect(throws: CSVError.self) { try reader.next() }
        let second = #expect(throws: CSVError.self) { try reader.next() }
        #expect(first != nil && first == second)
    }

    @Test("the record size bound: a record of maxRecordBytes reads, one byte more fails naming its start line")
    func recordBound() throws {
        let exact = String(repeating: "x", count: 100)
        for chunk in [7, CSVReader.defaultChunkSize] {
            #expect(try records("h\n\(exact)\nend\n", chunk: chunk, maxRecordBytes: 100).map(\.line) == [1, 2, 3])
            let error = failure("h\n\(exact)y\nend\n", chunk: chunk, maxRecordBytes: 100)
            #expect(error?.kind == .recordTooLong)
            #expect(error?.line == 2)
            #expect(error?.description == "t.csv line 2: record is longer than 100 bytes")
            // A record without its terminator at the end of the input is bounded too.
            #expect(failure("h\n\(exact)y", chunk: chunk, maxRecordBytes: 100)?.kind == .recordTooLong)
        }
    }

    @Test("an unterminated quote at the top of a large input stops at the bound, not at the end of the input")
    func unterminatedQuoteIsBounded() {
        var bytes = Array("id,note\n1,ok\n2,\"never closed\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "a"), count: 4 << 20)
        let reader = CSVReader(data: Data(bytes), name: "big.csv", chunkSize: 1 << 16, maxRecordBytes: 1 << 20)
        let error = #expect(throws: CSVError.self) { while try reader.next() != nil {} }
        #expect(error?.kind == .recordTooLong)
        #expect(error?.description == "big.csv line 3: record is longer than 1048576 bytes; the quote opened on line 3 is still open (a missing closing quote?)")
        // It stopped within one chunk after the bound.
        #expect(reader.bytesExamined <= (1 << 20) + (1 << 16) + 64)
    }

    @Test("linear work: an 8 MB unterminated quote is examined once per byte (the old reader rescanned: quadratic)")
    func linearWork() {
        let size = 8_000_000
        var bytes = Array("id,note\n1,\"".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "z"), count: size - bytes.count)
        let reader = CSVReader(data: Data(bytes), name: "long.csv", chunkSize: 1 << 16, maxRecordBytes: 16 << 20)
        let error = #expect(throws: CSVError.self) { while try reader.next() != nil {} }
        #expect(error?.kind == .unterminatedQuote)
        #expect(error?.line == 2)
        #expect(reader.bytesExamined == size)
    }

    @Test("linear work with many records spanning chunks")
    func linearWorkManyRecords() throws {
        // Records of 1,000 bytes with quoted line breaks, read in 64-byte chunks.
        let record = "\"" + String(repeating: "ab\ncd,", count: 166) + "\",x\r\n"
        let data = Data(String(repeating: record, count: 200).utf8)
        let read = try records(data, chunk: 64)
        #expect(read.count == 200)
        #expect(read[1].line == 168)
        #expect(read.allSatisfy { $0.fields.count == 2 && $0.fields[1] == "x" })
    }
}
