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

/// Collects `XMLParser` callbacks into an `XElement` tree.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    /// Open elements.
    var stack: [XElement] = []
    /// The entry target.
    var root: XElement?
    weak var parser: XMLParser?

    /// XMLParser callback.
    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]
    ) {
        let element = XElement(qualifiedName: elementName, attributes: attributeDict, line: parser.lineNumber)
        stack.append(element)
    }

    /// XMLParser callback.
    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?
    ) {
        guard let element = stack.popLast() else { return }
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

/// Parses `data` as XML into an element tree; errors name `file` and the line.
func parseXMLTree(data: Data, file: String) throws(PMMLError) -> XElement {
    let parser = XMLParser(data: data)
    parser.shouldProcessNamespaces = false
    parser.shouldReportNamespacePrefixes = false
    parser.shouldResolveExternalEntities = false
    let builder = TreeBuilder()
    parser.delegate = builder
    let ok = parser.parse()
    if !ok || builder.root == nil {
        let reason = parser.parserError.map { String(describing: $0.localizedDescription) } ?? "no root element"
        throw PMMLError(file: file, line: parser.lineNumber, element: nil, message: "malformed XML: \(reason)")
    }
    guard let root = builder.root else {
        throw PMMLError(file: file, line: nil, element: nil, message: "malformed XML: empty document")
    }
    return root
}
