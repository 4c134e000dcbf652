import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A minimal, read-only XML element tree built once at load time from `XMLParser` events.
///
/// Element names are stored without their namespace prefix (`data:input` → `input`), which is how
/// PMML documents are matched (InlineTable cells may use any namespace prefix).
final class XElement {
    /// The local name (namespace prefix removed).
    let name: String
    /// The name as written in the document, including any prefix.
    let qualifiedName: String
    /// The attributes, keyed by name as written.
    let attributes: [String: String]
    /// The 1-based line on which the start tag was reported.
    let line: Int
    /// Child elements in document order.
    var children: [XElement] = []
    /// Concatenated character data directly inside this element.
    var text: String = ""

    /// Creates the instance.
    init(qualifiedName: String, attributes: [String: String], line: Int) {
        self.qualifiedName = qualifiedName
        if let colon = qualifiedName.lastIndex(of: ":") {
            self.name = String(qualifiedName[qualifiedName.index(after: colon)...])
        } else {
            self.name = qualifiedName
        }
        self.attributes = attributes
        self.line = line
    }

    /// The value of attribute `name`, if present.
    func attr(_ name: String) -> String? { attributes[name] }

    /// The first child element with local name `name`.
    func child(_ name: String) -> XElement? { children.first { $0.name == name } }

    /// All child elements with local name `name`.
    func children(named name: String) -> [XElement] { children.filter { $0.name == name } }
}

/// Bounds on what a model document may hold. Every walk over the element tree (the compiler's, and the
/// tree's own teardown, which releases children recursively) is at most `maxDepth` deep, so no document
/// can exhaust a thread's stack; the other bounds keep a hostile file from exhausting memory.
enum XMLLimits {
    /// The most bytes a model file may have.
    static let maxBytes = 256 << 20
    /// The deepest element nesting (real PMML nests a few levels plus the depth of its deepest tree).
    static let maxDepth = 256
    /// The most elements in one document.
    static let maxElements = 10_000_000
}

/// Collects `XMLParser` callbacks into an `XElement` tree, within `XMLLimits`.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    /// Open elements.
    var stack: [XElement] = []
    /// The entry target.
    var root: XElement?
    /// Elements seen so far.
    var elementCount = 0
    /// Why parsing was aborted (a limit), with the line.
    var limitFailure: (line: Int, message: String)?

    /// XMLParser callback.
    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]
    ) {
        guard limitFailure == nil else { return }
        elementCount += 1
        if stack.count >= XMLLimits.maxDepth {
            limitFailure = (parser.lineNumber, "elements nested deeper than \(XMLLimits.maxDepth) levels (<\(elementName)>)")
            parser.abortParsing()
            return
        }
        if elementCount > XMLLimits.maxElements {
            limitFailure = (parser.lineNumber, "more than \(XMLLimits.maxElements) elements")
            parser.abortParsing()
            return
        }
        let element = XElement(qualifiedName: elementName, attributes: attributeDict, line: parser.lineNumber)
        stack.append(element)
    }

    /// XMLParser callback.
    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?
    ) {
        guard limitFailure == nil, let element = stack.popLast() else { return }
        if let parent = stack.last {
            parent.children.append(element)
        } else {
            root = element
        }
    }

    /// XMLParser callback.
    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    /// XMLParser callback.
    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        if let s = String(data: CDATABlock, encoding: .utf8) { stack.last?.text += s }
    }
}

/// What Foundation's `XMLParser` must never see, found by fuzzing (fuzz/README.md): on Linux it crashes
/// the process on a processing instruction without data (`<?x?>`: strlen of NULL) and on an element
/// name that is not valid UTF-8. PMML needs neither processing instructions nor a DTD (whose entities
/// could also expand without bound), so a model file is UTF-8, with at most an XML declaration first.
/// Returns why `data` is refused, or nil.
func screenXML(_ data: Data) -> String? {
    let bytes = [UInt8](data)
    guard String(validating: bytes, as: UTF8.self) != nil else { return "the file is not valid UTF-8 (model files must be UTF-8)" }
    var start = 0
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }  // byte-order mark
    let declaration = Array("<?xml".utf8)
    var i = start
    while i + 1 < bytes.count {
        if bytes[i] == UInt8(ascii: "<") {
            let next = bytes[i + 1]
            if next == UInt8(ascii: "?") {
                let isDeclaration = i == start && bytes[i...].starts(with: declaration)
                    && i + 5 < bytes.count && [UInt8(ascii: " "), 0x09, 0x0A, 0x0D].contains(bytes[i + 5])
                if !isDeclaration { return "processing instructions (<?…?>) are not allowed in a model file" }
            } else if next == UInt8(ascii: "!"), bytes[(i + 2)...].starts(with: Array("DOCTYPE".utf8)) {
                return "a document type declaration (<!DOCTYPE …>) is not allowed in a model file"
            }
        }
        i += 1
    }
    return nil
}

/// Parses `data` as XML into an element tree; errors name `file` and the line.
func parseXMLTree(data: Data, file: String) throws(PMMLError) -> XElement {
    guard data.count <= XMLLimits.maxBytes else {
        throw PMMLError(file: file, line: nil, element: nil,
                        message: "the file has \(data.count) bytes; a model file may have at most \(XMLLimits.maxBytes)")
    }
    if let refusal = screenXML(data) {
        throw PMMLError(file: file, line: nil, element: nil, message: "refused: \(refusal)")
    }
    let parser = XMLParser(data: data)
    parser.shouldProcessNamespaces = false
    parser.shouldReportNamespacePrefixes = false
    parser.shouldResolveExternalEntities = false
    let builder = TreeBuilder()
    parser.delegate = builder
    let ok = parser.parse()
    if let failure = builder.limitFailure {
        throw PMMLError(file: file, line: failure.line, element: nil, message: "refused: \(failure.message)")
    }
    if !ok || builder.root == nil {
        let reason = parser.parserError.map { String(describing: $0.localizedDescription) } ?? "no root element"
        throw PMMLError(file: file, line: parser.lineNumber, element: nil, message: "malformed XML: \(reason)")
    }
    guard let root = builder.root else {
        throw PMMLError(file: file, line: nil, element: nil, message: "malformed XML: empty document")
    }
    return root
}
