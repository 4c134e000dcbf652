// A streaming RFC 4180 reader: the one CSV parser of the package (the CRM import in `Store` and batch
// scoring in `Scoring` both read through it).
//
// Input is read in chunks and every byte is examined exactly once: the parser keeps its whole state
// (inside a quote or not, the field and record read so far, the line) across chunks and never goes back,
// so the time is linear in the input size whatever the length of a record. A record is bounded in bytes
// (`maxRecordBytes`), so a quote left open at the top of a large file fails with a one-line error naming
// the line where the record started instead of reading the rest of the file into memory.

import Foundation

/// An error reading CSV: the input cannot be read, a quoted field is never closed, or a record exceeds the
/// size bound.
///
/// The description is one line naming the input and the line, e.g.
/// `customers.csv line 7: unterminated quoted field: the quote opened on line 7 is still open at the end of the input`.
/// It never quotes the input's contents.
public struct CSVError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// The input could not be opened or read.
        case unreadable
        /// The input ended inside a quoted field.
        case unterminatedQuote
        /// A record is longer than the reader's `maxRecordBytes`.
        case recordTooLong
    }

    /// The kind of failure.
    public let kind: Kind
    /// The name of the input (a path, or the name the caller gave).
    public let file: String
    /// The 1-based line where the record at fault starts; nil when the input could not be opened.
    public let line: Int?
    /// What is wrong, without the file and line.
    public let reason: String

    /// Creates an error.
    public init(kind: Kind, file: String, line: Int?, reason: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.reason = reason
    }

    /// `FILE line N: reason` (or `FILE: reason` without a line).
    public var description: String {
        file + (line.map { " line \($0)" } ?? "") + ": " + reason
    }

    /// Whether reading again may succeed (only an I/O failure; the content will not change by itself).
    public var isRetriable: Bool { kind == .unreadable }
}

/// One CSV record.
public struct CSVRecord: Sendable, Equatable {
    /// The fields, unquoted (`""` inside quotes read as `"`), decoded as UTF-8 (invalid bytes become U+FFFD).
    public var fields: [String]
    /// The record's bytes exactly as in the input, quotes included, without its line terminator (and
    /// without the byte order mark of the first record). Empty for a blank line.
    public var raw: [UInt8]
    /// The 1-based line where the record starts (a quoted line break moves the next record's line on).
    public var line: Int

    /// Creates a record.
    public init(fields: [String], raw: [UInt8], line: Int) {
        self.fields = fields
        self.raw = raw
        self.line = line
    }

    /// Whether the record is an empty line (no bytes at all; `""` is not blank).
    public var isBlank: Bool { raw.isEmpty }
}

/// Reads RFC 4180 CSV records one at a time from a file, a `FileHandle` or `Data`.
///
/// - Fields are separated by `,`; records end with CRLF, LF or a lone CR (outside quotes). The last
///   record needs no line terminator; a line terminator at the end of the input does not start a record.
/// - A field that starts with `"` is quoted: it may hold `,`, line breaks and `""` (one quote) and ends
///   at the next single `"`. A `"` anywhere else is an ordinary character (bytes after a closing quote
///   are appended to the field: `"a"b` reads as `ab`).
/// - A UTF-8 byte order mark at the very start is skipped.
/// - Lines are counted at LF, CRLF and lone CR, inside quotes too, so `CSVRecord.line` and the errors
///   name the line an editor shows.
///
/// Time is linear in the input size: every byte is examined once, whatever the record length, and
/// memory is one chunk plus one record (at most `maxRecordBytes`, else `CSVError.Kind.recordTooLong`).
///
/// - Important: A reader is a mutable cursor over its input; use it from one thread at a time. It
///   closes the file it opened (``init(contentsOf:chunkSize:maxRecordBytes:)``) when released, and never
///   a `FileHandle` it was given.
public final class CSVReader {
    /// Bytes read per chunk when not told otherwise (64 KiB).
    public static let defaultChunkSize = 1 << 16
    /// The record size bound when not told otherwise (16 MiB).
    public static let defaultMaxRecordBytes = 16 << 20

    /// The input's name in errors.
    public let name: String
    /// The largest record accepted, in bytes (without its line terminator).
    public let maxRecordBytes: Int
    /// Bytes per read.
    let chunkSize: Int

    /// Where the bytes come from.
    private enum Source {
        case handle(FileHandle, owned: Bool)
        case data(Data, next: Data.Index)
    }
    /// Where a quoted field stands.
    private enum State {
        /// Nothing read of the current field: a `"` opens a quoted field.
        case fieldStart
        /// Inside an unquoted field, or after a quoted field closed: a `"` is an ordinary byte.
        case unquoted
        /// Inside a quoted field.
        case quoted
        /// Just after a `"` inside a quoted field: a second `"` is an escaped quote, anything else closes it.
        case quoteInQuoted
    }

    private var source: Source
    /// The current chunk.
    private var buffer: [UInt8] = []
    /// The next byte to examine in `buffer`.
    private var position = 0
    /// Whether nothing has been read yet (the byte order mark check is pending).
    private var atStart = true
    /// Whether the input is exhausted and the last record returned.
    private var finished = false
    /// The error already thrown; thrown again by every later call.
    private var failure: CSVError?

    // The record being read; all of it survives the end of a chunk.
    private var state = State.fieldStart
    private var fields: [String] = []
    private var field: [UInt8] = []
    private var raw: [UInt8] = []
    /// The line the current record starts on.
    private var recordLine = 1
    /// The line of the last `"` that opened a quoted field.
    private var quoteLine = 1
    /// The current line.
    private var line = 1
    /// Whether the previous byte was a CR (so that an LF after it is not another line break).
    private var previousWasCR = false

    /// Bytes examined so far (byte order mark included): equal to the input size at the end, whatever
    /// the chunk size and record lengths. Tests use it to check that no byte is examined twice.
    private(set) var bytesExamined = 0

    /// Opens the file at `url` (named by its path in errors); the reader closes it when released.
    /// - Throws: `CSVError` (`.unreadable`) when the file cannot be opened.
    public convenience init(contentsOf url: URL, chunkSize: Int = defaultChunkSize,
                            maxRecordBytes: Int = defaultMaxRecordBytes) throws(CSVError) {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw CSVError(kind: .unreadable, file: url.path, line: nil, reason: "cannot open: \(error.localizedDescription)")
        }
        self.init(source: .handle(handle, owned: true), name: url.path, chunkSize: chunkSize, maxRecordBytes: maxRecordBytes)
    }

    /// Reads from `handle`'s current offset to its end; the caller keeps ownership of the handle.
    public convenience init(handle: FileHandle, name: String, chunkSize: Int = defaultChunkSize,
                            maxRecordBytes: Int = defaultMaxRecordBytes) {
        self.init(source: .handle(handle, owned: false), name: name, chunkSize: chunkSize, maxRecordBytes: maxRecordBytes)
    }

    /// Reads `data` (in chunks of `chunkSize`, like a file).
    public convenience init(data: Data, name: String, chunkSize: Int = defaultChunkSize,
                            maxRecordBytes: Int = defaultMaxRecordBytes) {
        self.init(source: .data(data, next: data.startIndex), name: name, chunkSize: chunkSize, maxRecordBytes: maxRecordBytes)
    }

    private init(source: Source, name: String, chunkSize: Int, maxRecordBytes: Int) {
        precondition(chunkSize > 0 && maxRecordBytes > 0, "CSVReader: chunkSize and maxRecordBytes must be positive")
        self.source = source
        self.name = name
        self.chunkSize = chunkSize
        self.maxRecordBytes = maxRecordBytes
        buffer.reserveCapacity(chunkSize)
    }

    deinit {
        if case .handle(let handle, owned: true) = source { try? handle.close() }
    }

    /// The next record, or nil at the end of the input.
    /// - Throws: `CSVError`; after an error every later call throws it again.
    public func next() throws(CSVError) -> CSVRecord? {
        if let failure { throw failure }
        do throws(CSVError) {
            return try read()
        } catch {
            failure = error
            throw error
        }
    }

    private func read() throws(CSVError) -> CSVRecord? {
        if finished { return nil }
        while true {
            if position >= buffer.count {
                guard try fill() else { return try finish() }
            }
            if let record = try scan() { return record }
        }
    }

    /// Replaces the buffer with the next chunk; false at the end of the input. The first call also skips
    /// a byte order mark (reading until three bytes are there, so a tiny chunk size cannot split it).
    private func fill() throws(CSVError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        position = 0
        guard try readChunk() else { return false }
        if atStart {
            atStart = false
            while buffer.count < 3, try readChunk() {}
            if buffer.starts(with: [0xEF, 0xBB, 0xBF]) {
                position = 3
                bytesExamined += 3
            }
        }
        return true
    }

    /// Appends up to `chunkSize` bytes to `buffer`; false at the end of the input.
    private func readChunk() throws(CSVError) -> Bool {
        switch source {
        case .data(let data, let next):
            guard next < data.endIndex else { return false }
            let end = data.index(next, offsetBy: chunkSize, limitedBy: data.endIndex) ?? data.endIndex
            buffer.append(contentsOf: data[next..<end])
            source = .data(data, next: end)
            return true
        case .handle(let handle, _):
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: chunkSize)
            } catch {
                throw CSVError(kind: .unreadable, file: name, line: line, reason: "cannot read: \(error.localizedDescription)")
            }
            guard let chunk, !chunk.isEmpty else { return false }
            buffer.append(contentsOf: chunk)
            return true
        }
    }

    /// Examines the buffer from `position` until a record ends (returned) or the buffer does (nil).
    private func scan() throws(CSVError) -> CSVRecord? {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        let start = position
        var rawStart = position
        var i = position
        while i < buffer.count {
            let b = buffer[i]
            let afterCR = previousWasCR
            previousWasCR = b == cr
            switch state {
            case .quoted:
                if b == quote {
                    state = .quoteInQuoted
                } else {
                    if b == cr || (b == lf && !afterCR) { line += 1 }
                    field.append(b)
                }
                i += 1
                continue
            case .quoteInQuoted:
                if b == quote {
                    field.append(quote)
                    state = .quoted
                    i += 1
                    continue
                }
                state = .unquoted  // that quote closed the field; `b` is read as outside quotes
            case .fieldStart, .unquoted:
                break
            }
            switch b {
            case comma:
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                state = .fieldStart
            case quote where state == .fieldStart:
                state = .quoted
                quoteLine = line
            case lf where afterCR:
                // The LF of a CRLF whose CR ended the previous record: part of no record.
                rawStart = i + 1
            case cr, lf:
                raw.append(contentsOf: buffer[rawStart..<i])
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                i += 1
                position = i
                bytesExamined += i - start
                line += 1
                return try emit()
            default:
                field.append(b)
                state = .unquoted
            }
            i += 1
        }
        raw.append(contentsOf: buffer[rawStart..<i])
        position = i
        bytesExamined += i - start
        if raw.count > maxRecordBytes { throw tooLong() }
        return nil
    }

    /// At the end of the input: the last record if it has no line terminator, or nil.
    private func finish() throws(CSVError) -> CSVRecord? {
        finished = true
        if state == .quoted {
            throw CSVError(kind: .unterminatedQuote, file: name, line: recordLine,
                           reason: "unterminated quoted field: the quote opened on line \(quoteLine) is still open at the end of the input")
        }
        if raw.isEmpty { return nil }
        fields.append(String(decoding: field, as: UTF8.self))
        field.removeAll()
        return try emit()
    }

    /// Returns the record read (fields complete) and starts the next one on the current line.
    private func emit() throws(CSVError) -> CSVRecord {
        if raw.count > maxRecordBytes { throw tooLong() }
        let record = CSVRecord(fields: fields, raw: raw, line: recordLine)
        fields = []
        raw = []
        state = .fieldStart
        recordLine = line
        return record
    }

    private func tooLong() -> CSVError {
        let open = state == .quoted || state == .quoteInQuoted
        return CSVError(kind: .recordTooLong, file: name, line: recordLine,
                        reason: "record is longer than \(maxRecordBytes) bytes"
                            + (open ? "; the quote opened on line \(quoteLine) is still open (a missing closing quote?)" : ""))
    }
}
