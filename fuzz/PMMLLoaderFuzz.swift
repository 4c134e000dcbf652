// libFuzzer harness for the PMML loader (Sources/Scoring). Compiled into the `Scoring` module itself,
// together with Sources/Scoring/*.swift, by fuzz/run.sh; it is not part of the package build.
//
// Any byte string must either be refused with a thrown error or load into a model that can score a
// row. A crash, a trap (precondition, overflow, out-of-range index, force unwrap), a sanitizer report,
// a stack overflow, a hang (-timeout) or runaway memory (-rss_limit_mb) is a finding.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// `PMML_FUZZ_SKIP_KNOWN_CRASHES=1` skips the inputs that hit the crashes already found (off by
/// default), so that a long run can get past them. Both are in swift-corelibs-foundation's XMLParser
/// (`XMLParser.parse()` kills the process) and are reached through `CompiledModel(pmml:name:)`:
/// - an element name holding malformed UTF-8: `_NSXMLParserStartElementNs` force-unwraps the name
///   decoded as strict UTF-8 (SIGILL). Reproducer: fuzz/crashes/pmml-invalid-utf8-element-name.pmml
///   (the 8 bytes `<P\xECMML/>`);
/// - a processing instruction without data, e.g. `<?x?>`: `_NSXMLParserProcessingInstruction`
///   calls `strlen` on the NULL data pointer (SIGSEGV). Reproducer:
///   fuzz/crashes/pmml-empty-processing-instruction.pmml (`<?x?><PMML/>`).
/// Remove a filter once the loader refuses such documents before handing them to XMLParser.
private let skipKnownCrashes: Bool = {
    guard let value = getenv("PMML_FUZZ_SKIP_KNOWN_CRASHES") else { return false }
    return String(cString: value) == "1"
}()

/// Whether `bytes` would hit one of the known XMLParser crashes (see ``skipKnownCrashes``).
private func hitsKnownCrash(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    if String(validating: bytes, as: UTF8.self) == nil { return true }
    // `<?` + a target with no whitespace after it + `?>`.
    let n = bytes.count
    var i = 0
    while i + 1 < n {
        if bytes[i] == UInt8(ascii: "<"), bytes[i + 1] == UInt8(ascii: "?") {
            var j = i + 2
            while j < n, bytes[j] != UInt8(ascii: "?"), bytes[j] != 0x20, bytes[j] != 0x09,
                  bytes[j] != 0x0A, bytes[j] != 0x0D { j += 1 }
            if j + 1 < n, bytes[j] == UInt8(ascii: "?"), bytes[j + 1] == UInt8(ascii: ">") { return true }
        }
        i += 1
    }
    return false
}

/// One fuzz input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if skipKnownCrashes, hitsKnownCrash(UnsafeBufferPointer(start: data, count: size)) { return 0 }
    let document = Data(bytes: data, count: size)
    guard let model = try? CompiledModel(pmml: document, name: "fuzz.pmml") else { return 0 }

    // A loaded model describes itself consistently.
    if model.isClassification != (model.targetCategory != nil) {
        fatalError("PMML loader invariant violated: classification=\(model.isClassification) targetCategory=\(String(describing: model.targetCategory))")
    }
    if !model.version.hasPrefix("fuzz.pmml-") || model.sha256.utf8.count != 64 {
        fatalError("PMML loader invariant violated: version \(model.version), sha256 \(model.sha256)")
    }

    // Score one row with every input missing: a value or a thrown ScoringError, never a trap.
    // (No range check on the value: a classifier with normalizationMethod="none" reports raw scores.)
    let row = model.makeRow([:])
    let single: Double?
    do { single = try model.score(row) } catch { single = nil }
    // The batch path (one shared working context) gives the same outcome.
    let batch: Double?
    switch model.scoreBatch([row]).first {
    case .success(let value)?: batch = value
    default: batch = nil
    }
    let same = switch (single, batch) {
    case (nil, nil): true
    case let (a?, b?): a == b || (a.isNaN && b.isNaN)
    default: false
    }
    if !same {
        fatalError("PMML loader invariant violated: score(_:) gave \(String(describing: single)), scoreBatch \(String(describing: batch))")
    }
    return 0
}
