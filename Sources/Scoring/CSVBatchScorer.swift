import Foundation

/// An error from batch CSV scoring (unreadable input, bad header, missing column).
public struct CSVScoringError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, naming the column or record.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// Streams an RFC 4180 CSV through a model: every input column is copied unchanged and a `probability`
/// column (churn class probability, or the predicted value for regression models) is appended, written
/// with Swift's shortest round-trip representation. Rows that cannot be scored get an empty cell and are
/// reported to `onRowError`.
///
/// Input is read in blocks and scored in chunks of `chunkRows`, so memory stays bounded for any file size.
public struct CSVBatchScorer: Sendable {
    /// The model to score with.
    public let model: CompiledModel
    /// Rows scored per `scoreBatch` call.
    public var chunkRows: Int
    /// The progress callback is called every this many rows (and once at the end).
    public var progressInterval: Int
    /// Bytes read from the input per read call.
    public var readSize: Int

    /// Creates a scorer with default chunking (1,000 rows per batch, progress every 10,000 rows).
    public init(model: CompiledModel, chunkRows: Int = 1000, progressInterval: Int = 10_000, readSize: Int = 1 << 16) {
        self.model = model
        self.chunkRows = max(1, chunkRows)
        self.progressInterval = max(1, progressInterval)
        self.readSize = max(1024, readSize)
    }

    /// Scores the CSV file at `input` into `output`; returns the number of data rows written.
    public func run(input: URL, output: FileHandle, progress: (Int) -> Void = { _ in },
                    onRowError: (Int, ScoringError) -> Void = { _, _ in }) throws -> Int {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: input)
        } catch {
            throw CSVScoringError("cannot open \(input.path): \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        return try run(input: handle, output: output, progress: progress, onRowError: onRowError)
    }

    /// Scores CSV read from `input` into `output`; returns the number of data rows written.
    ///
    /// - Parameters:
    ///   - progress: called with the number of rows done so far.
    ///   - onRowError: called with the 1-based data row number and the reason when a row cannot be scored.
    public func run(input: FileHandle, output: FileHandle, progress: (Int) -> Void = { _ in },
                    onRowError: (Int, ScoringError) -> Void = { _, _ in }) throws -> Int {
        var reader = CSVReader(handle: input, readSize: readSize)
        guard let header = try reader.next() else { throw CSVScoringError("the input CSV is empty (no header)") }
        var names = header.fields
        if let first = names.first, first.hasPrefix("\u{FEFF}") { names[0] = String(first.dropFirst()) }
        var columnOf: [Int] = []
        for f in model.inputFields {
            guard let i = names.firstIndex(of: f.name) else {
                throw CSVScoringError("the input CSV has no column \"\(f.name)\" required by the model")
            }
            columnOf.append(i)
        }
        var out = Data()
        out.append(contentsOf: header.raw)
        out.append(contentsOf: Array(",probability\n".utf8))
        try write(output, &out)

        var total = 0
        var nextProgress = progressInterval
        var rawRows: [[UInt8]] = []
        var rows: [InputRow] = []
        var results: [Double] = []
        rawRows.reserveCapacity(chunkRows)
        rows.reserveCapacity(chunkRows)
        results.reserveCapacity(chunkRows)
        var values = [FieldValue](repeating: .missing, count: columnOf.count)

        func flush() throws {
            if rows.isEmpty { return }
            let base = total
            model.scoreBatch(rows, into: &results) { i, e in onRowError(base + i + 1, e) }
            for (i, raw) in rawRows.enumerated() {
                out.append(contentsOf: raw)
                out.append(UInt8(ascii: ","))
                let p = results[i]
                if !p.isNaN { out.append(contentsOf: Array("\(p)".utf8)) }
                out.append(UInt8(ascii: "\n"))
            }
            try write(output, &out)
            total += rows.count
            rows.removeAll(keepingCapacity: true)
            rawRows.removeAll(keepingCapacity: true)
            while total >= nextProgress {
                progress(total)
                nextProgress += progressInterval
            }
        }

        while let record = try reader.next() {
            if record.fields.count == 1 && record.fields[0].isEmpty && record.raw.isEmpty { continue }
            for (k, c) in columnOf.enumerated() {
                let cell = c < record.fields.count ? record.fields[c] : ""
                values[k] = cell.isEmpty ? .missing : .string(cell)
            }
            rows.append(model.makeRow(values: values))
            rawRows.append(record.raw)
            if rows.count >= chunkRows { try flush() }
        }
        try flush()
        progress(total)
        return total
    }

    private func write(_ handle: FileHandle, _ data: inout Data) throws {
        if data.isEmpty { return }
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw CSVScoringError("cannot write output: \(error.localizedDescription)")
        }
        data.removeAll(keepingCapacity: true)
    }
}

/// One CSV record: decoded fields plus its raw bytes (without the line terminator).
struct CSVRecord {
    /// Decoded fields.
    var fields: [String]
    /// Raw bytes of the record without the line terminator.
    var raw: [UInt8]
}

/// A streaming RFC 4180 reader: quoted fields with commas, doubled quotes and line breaks; CRLF or LF.
struct CSVReader {
    /// The input.
    let handle: FileHandle?
    /// Bytes per read.
    let readSize: Int
    /// Unparsed input.
    var buffer: [UInt8] = []
    /// Parse position in `buffer`.
    var position = 0
    /// Whether the input is exhausted.
    var eof = false
    /// The 1-based line of the element.
    var line = 1

    /// Creates the value.
    init(handle: FileHandle?, readSize: Int, initial: [UInt8] = []) {
        self.handle = handle
        self.readSize = readSize
        self.buffer = initial
        self.eof = handle == nil
    }

    /// Reads more input; returns false at end of input.
    mutating func fill() throws -> Bool {
        guard !eof, let handle else { return false }
        let chunk: Data?
        do {
            chunk = try handle.read(upToCount: readSize)
        } catch {
            throw CSVScoringError("cannot read input: \(error.localizedDescription)")
        }
        guard let chunk, !chunk.isEmpty else { eof = true; return false }
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        buffer.append(contentsOf: chunk)
        return true
    }

    /// The next record, or nil at end of input.
    mutating func next() throws -> CSVRecord? {
        while true {
            if let (record, end) = try parse(from: position, final: eof) {
                position = end
                return record
            }
            if try !fill() {
                if position >= buffer.count { return nil }
                if let (record, end) = try parse(from: position, final: true) {
                    position = end
                    return record
                }
                return nil
            }
        }
    }

    /// Parses one record starting at `start`; nil when more input is needed (unless `final`).
    private mutating func parse(from start: Int, final: Bool) throws -> (CSVRecord, Int)? {
        if start >= buffer.count { return nil }
        let startLine = line
        defer { if position == start && !final { line = startLine } }
        var fields: [String] = []
        var field: [UInt8] = []
        var i = start
        var inQuotes = false
        var quotedField = false
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        while i < buffer.count {
            let b = buffer[i]
            if inQuotes {
                if b == quote {
                    if i + 1 < buffer.count {
                        if buffer[i + 1] == quote { field.append(quote); i += 2; continue }
                        inQuotes = false; i += 1; continue
                    } else if final {
                        inQuotes = false; i += 1; continue
                    } else {
                        return nil
                    }
                }
                if b == lf { line += 1 }
                field.append(b)
                i += 1
                continue
            }
            switch b {
            case quote:
                if field.isEmpty && !quotedField {
                    inQuotes = true
                    quotedField = true
                } else {
                    field.append(b)
                }
                i += 1
            case comma:
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                quotedField = false
                i += 1
            case cr, lf:
                var end = i + 1
                if b == cr {
                    if i + 1 < buffer.count {
                        if buffer[i + 1] == lf { end = i + 2 }
                    } else if !final {
                        return nil
                    }
                }
                fields.append(String(decoding: field, as: UTF8.self))
                line += 1
                return (CSVRecord(fields: fields, raw: Array(buffer[start..<i])), end)
            default:
                field.append(b)
                i += 1
            }
        }
        if !final { return nil }
        if inQuotes { throw CSVScoringError("unterminated quoted field at end of input (line \(line))") }
        fields.append(String(decoding: field, as: UTF8.self))
        return (CSVRecord(fields: fields, raw: Array(buffer[start..<buffer.count])), buffer.count)
    }
}
