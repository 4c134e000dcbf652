import Events
import Kafka

/// What the poll thread makes of one Kafka message: decoded in place from the payload bytes.
/// Raw bytes are copied only for malformed messages (they go to the dead-letter topic byte for byte).
public enum DecodedMessage: Sendable {
    /// A valid event.
    case event(Event)
    /// A malformed message with its reason and a copy of its key and payload.
    case malformed(MalformedReason, key: [UInt8]?, payload: [UInt8]?)

    /// Decodes a message view (runs on the consumer's poll thread).
    @inline(__always)
    public static func decode(_ view: borrowing KafkaMessageView) -> DecodedMessage {
        guard let payload = view.payload else {
            // A null payload (tombstone) is not an event.
            return .malformed(.notObject, key: view.key.map { Array($0) }, payload: nil)
        }
        switch EventDecoder.decode(payload) {
        case .event(let event):
            return .event(event)
        case .malformed(let reason):
            return .malformed(reason, key: view.key.map { Array($0) }, payload: Array(payload))
        }
    }
}

func jsonString(_ s: String) -> String { JSONText.string(s) }
func jsonNumber(_ d: Double) -> String { JSONText.number(d) }
