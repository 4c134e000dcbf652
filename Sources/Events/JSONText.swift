/// Writing JSON text by hand for the engine's outputs (churn-scores messages, HTTP answers), where
/// doubles must keep full precision.
public enum JSONText {
    /// A JSON string literal for `s` (RFC 8259 escaping).
    public static func string(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A double in shortest round-trip form (`null` if not finite).
    public static func number(_ d: Double) -> String { d.isFinite ? "\(d)" : "null" }
}
