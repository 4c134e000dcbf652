/// An error raised while loading or compiling a PMML document.
///
/// The description names the file, the line and the element at fault, e.g.
/// `model.pmml:42: <SupportVectorMachineModel>: unsupported model type`.
public struct PMMLError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or document name) being loaded.
    public let file: String
    /// The 1-based line of the offending element, when known.
    public let line: Int?
    /// The local name of the offending element, when known.
    public let element: String?
    /// What is wrong.
    public let message: String

    /// Creates an error.
    public init(file: String, line: Int?, element: String?, message: String) {
        self.file = file
        self.line = line
        self.element = element
        self.message = message
    }

    /// `file:line: <Element>: message`.
    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let element { s += ": <\(element)>" }
        return s + ": " + message
    }
}

/// An error raised while scoring one row: an invalid or missing input under `returnInvalid`, or a
/// model that yields no prediction for the row.
public struct ScoringError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// An input value is not valid for its field (and the treatment is `returnInvalid`).
        case invalidValue
        /// An input value is missing and the treatment is `returnInvalid`.
        case missingValue
        /// The model produced no prediction (e.g. a missing value with `nullPrediction`).
        case noPrediction
        /// A computation inside the model failed (e.g. a function returned an invalid value).
        case evaluation
    }

    /// The kind of failure.
    public let kind: Kind
    /// The field concerned, if any.
    public let field: String?
    /// A short human-readable reason; never includes input payloads beyond the field name.
    public let reason: String

    /// Creates an error.
    public init(kind: Kind, field: String?, reason: String) {
        self.kind = kind
        self.field = field
        self.reason = reason
    }

    /// e.g. `invalid value for field "plan"`.
    public var description: String {
        if let field { return "\(reason) (field \"\(field)\")" }
        return reason
    }
}
