import CSV
import Foundation

/// An error from batch CSV scoring (unreadable input, bad header, missing column, unterminated quoted
/// field or over-long record: those name the line).
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
/// Input is read in blocks by `CSVReader` (time linear in the input size; a byte order mark is skipped; a
/// record is at most 16 MiB) and scored in chunks of `chunkRows`, so memory stays bounded for any file size.
public struct CSVBatchScorer: Sendable {
    /// The model to score with (the champion: its probability is the `probability` column).
    public let model: CompiledModel
    /// With a model set: every model of the set, each scored into a `probability_<name>` column.
    public let namedModels: [(name: String, model: CompiledModel)]
    /// Rows scored per `scoreBatch` call.
    public var chunkRows: Int
    /// The progress callback is called every this many rows (and once at the end).
    public var progressInterval: Int
    /// Bytes read from the input per read call.
    public var readSize: Int

    /// Creates a scorer with default chunking (1,000 rows per batch, progress every 10,000 rows).
    public init(model: CompiledModel, chunkRows: Int = 1000, progressInterval: Int = 10_000, readSize: Int = 1 << 16) {
        self.init(model: model, namedModels: [], chunkRows: chunkRows, progressInterval: progressInterval, readSize: readSize)
    }

    /// A scorer for a model set: `probability` is the champion's, then a `probability_<name>` column per
    /// member in the set's order (CONTRACT §5).
    public init(set: ModelSet, chunkRows: Int = 1000, progressInterval: Int = 10_000, readSize: Int = 1 << 16) {
        self.init(model: set.champion.model, namedModels: set.members.map { ($0.name, $0.model) }, chunkRows: chunkRows,
                  progressInterval: progressInterval, readSize: readSize)
    }

    private init(model: CompiledModel, namedModels: [(name: String, model: CompiledModel)], chunkRows: Int, progressInterval: Int, readSize: Int) {
        self.model = model
        self.namedModels = namedModels
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
        return try run(reader: CSVReader(handle: handle, name: input.path, chunkSize: readSize), output: output,
                       progress: progress, onRowError: onRowError)
    }

    /// Scores CSV read from `input` into `output`; returns the number of data rows written.
    ///
    /// - Parameters:
    ///   - progress: called with the number of rows done so far.
    ///   - onRowError: called with the 1-based data row number and the reason when a row cannot be scored.
    public func run(input: FileHandle, output: FileHandle, progress: (Int) -> Void = { _ in },
                    onRowError: (Int, ScoringError) -> Void = { _, _ in }) throws -> Int {
        try run(reader: CSVReader(handle: input, name: "input", chunkSize: readSize), output: output,
                progress: progress, onRowError: onRowError)
    }

    private func run(reader: CSVReader, output: FileHandle, progress: (Int) -> Void,
                     onRowError: (Int, ScoringError) -> Void) throws -> Int {
        // The caller names the file (`streamscore score: PATH: …`): the error says the line and what is wrong.
        func next() throws -> CSVRecord? {
            do throws(CSVError) {
                return try reader.next()
            } catch {
                throw CSVScoringError(error.line.map { "line \($0): \(error.reason)" } ?? error.reason)
            }
        }
        guard let header = try next() else { throw CSVScoringError("the input CSV is empty (no header)") }
        let names = header.fields
        // Per model (the champion first, then each named one), the input column of each of its fields.
        let all = [model] + namedModels.map(\.model)
        var columnsOf: [[Int]] = []
        for m in all {
            var columnOf: [Int] = []
            for f in m.inputFields {
                guard let i = names.firstIndex(of: f.name) else {
                    throw CSVScoringError("the input CSV has no column \"\(f.name)\" required by the model")
                }
                columnOf.append(i)
            }
            columnsOf.append(columnOf)
        }
        var out = Data()
        out.append(contentsOf: header.raw)
        out.append(contentsOf: Array(",probability".utf8))
        for (name, _) in namedModels { out.append(contentsOf: Array(",probability_\(name)".utf8)) }
        out.append(UInt8(ascii: "\n"))
        try write(output, &out)

        var total = 0
        var nextProgress = progressInterval
        var rawRows: [[UInt8]] = []
        var rows: [[InputRow]] = Array(repeating: [], count: all.count)
        var results: [[Double]] = Array(repeating: [], count: all.count)
        rawRows.reserveCapacity(chunkRows)
        var values = columnsOf.map { [FieldValue](repeating: .missing, count: $0.count) }

        func flush() throws {
            if rawRows.isEmpty { return }
            let base = total
            for (k, m) in all.enumerated() {
                m.scoreBatch(rows[k], into: &results[k]) { i, e in if k == 0 { onRowError(base + i + 1, e) } }
            }
            for (i, raw) in rawRows.enumerated() {
                out.append(contentsOf: raw)
                for k in all.indices {
                    out.append(UInt8(ascii: ","))
                    let p = results[k][i]
                    if !p.isNaN { out.append(contentsOf: Array("\(p)".utf8)) }
                }
                out.append(UInt8(ascii: "\n"))
            }
            try write(output, &out)
            total += rawRows.count
            for k in rows.indices { rows[k].removeAll(keepingCapacity: true) }
            rawRows.removeAll(keepingCapacity: true)
            while total >= nextProgress {
                progress(total)
                nextProgress += progressInterval
            }
        }

        while let record = try next() {
            if record.isBlank { continue }
            for (k, columnOf) in columnsOf.enumerated() {
                for (j, c) in columnOf.enumerated() {
                    let cell = c < record.fields.count ? record.fields[c] : ""
                    values[k][j] = cell.isEmpty ? .missing : .string(cell)
                }
                rows[k].append(all[k].makeRow(values: values[k]))
            }
            rawRows.append(record.raw)
            if rawRows.count >= chunkRows { try flush() }
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
