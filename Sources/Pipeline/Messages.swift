import Events
import Kafka

/// What the poll thread makes of one Kafka message: decoded in place from the payload bytes.
/// Raw bytes are copied only for malformed messages (they go to the dead-letter topic byte for byte).
public enum DecodedMessage: Sendable {
    /// A valid event.
    case event(Event)
    /// A malformed message with its reason and a copy of its key and payload, as the dead-letter topic
    /// gets it: whole, or its first ``truncatedPayloadBytes`` with the `originalSize` when the whole
    /// copy would exceed the producer's message size limit.
    case malformed(MalformedReason, key: [UInt8]?, payload: [UInt8]?, originalSize: Int?)

    /// How much of a payload a dead-letter copy keeps when the whole would not fit (64 KiB).
    public static let truncatedPayloadBytes = 65_536
    /// Room kept for the record framing and the DLQ headers within the producer's limit.
    static let deadLetterOverhead = 1_024

    /// Decodes a message view (runs on the consumer's poll thread). `deadLetterLimit` is the producer's
    /// `message.max.bytes`: a malformed message whose dead-letter copy would not fit keeps only what
    /// will be sent, so nothing larger than that is ever held for it.
    @inline(__always)
    public static func decode(_ view: borrowing KafkaMessageView, deadLetterLimit: Int = 1_000_000) -> DecodedMessage {
        guard let payload = view.payload else {
            // A null payload (tombstone) is not an event.
            return .malformed(.notObject, key: view.key.map { Array($0) }, payload: nil, originalSize: nil)
        }
        switch EventDecoder.decode(payload, nowMillis: Timestamp.nowMillis()) {
        case .event(let event):
            return .event(event)
        case .malformed(let reason):
            let key = view.key.map { Array($0) }
            if (key?.count ?? 0) + payload.count + deadLetterOverhead > deadLetterLimit {
                return .malformed(reason, key: key, payload: Array(payload.prefix(truncatedPayloadBytes)), originalSize: payload.count)
            }
            return .malformed(reason, key: key, payload: Array(payload), originalSize: nil)
        }
    }
}

func jsonString(_ s: String) -> String { JSONText.string(s) }
func jsonNumber(_ d: Double) -> String { JSONText.number(d) }
