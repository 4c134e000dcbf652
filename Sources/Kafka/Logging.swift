import CRdKafka
import Logging

/// Maps a syslog level from librdkafka to a swift-log level.
func logLevel(syslog level: Int32) -> Logger.Level {
    switch level {
    case ...3: return .error
    case 4: return .warning
    case 5: return .notice
    case 6: return .info
    default: return .debug
    }
}

/// Something that owns a `Logger` and can be reached through a librdkafka opaque pointer.
protocol RdKafkaCallbackContext: AnyObject {
    var logger: Logger { get }
}

/// The librdkafka log callback. librdkafka is configured with `log.queue=true` and
/// `rd_kafka_set_log_queue(rk, nil)`, so this runs on the thread that polls the handle.
let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { rk, level, facility, buffer in
    guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
    let context = Unmanaged<AnyObject>.fromOpaque(opaque).takeUnretainedValue()
    guard let owner = context as? any RdKafkaCallbackContext else { return }
    let fac = facility.map { String(cString: $0) } ?? "-"
    let text = buffer.map { String(cString: $0) } ?? ""
    owner.logger.log(level: logLevel(syslog: level), "librdkafka: \(text)", metadata: ["kafka.facility": .string(fac)])
}

/// The librdkafka error callback (runs on the polling thread).
let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { _, err, reason, opaque in
    guard let opaque else { return }
    let context = Unmanaged<AnyObject>.fromOpaque(opaque).takeUnretainedValue()
    guard let owner = context as? any RdKafkaCallbackContext else { return }
    let text = reason.map { String(cString: $0) } ?? ""
    let code = rd_kafka_resp_err_t(rawValue: err)
    let name = String(cString: rd_kafka_err2name(code))
    // Transport errors are routine while a broker restarts; librdkafka retries them itself.
    let level: Logger.Level = (code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) ? .warning : .error
    owner.logger.log(level: level, "librdkafka error \(name): \(text)")
}

/// Creates a librdkafka handle from a configuration, wiring log and error callbacks to `context`.
/// - Important: `context` must stay alive until `rd_kafka_destroy` returns; the caller retains it.
func makeHandle(type: rd_kafka_type_t, config: KafkaConfig, context: UnsafeMutableRawPointer,
                configure: (OpaquePointer) -> Void = { _ in }) throws -> OpaquePointer {
    let conf = try config.withDefaults([("log.queue", "true")]).makeNative()
    rd_kafka_conf_set_opaque(conf, context)
    rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
    rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
    configure(conf)
    var errstr = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError(.clientCreation, errorString(errstr))
    }
    // rd_kafka_new took ownership of conf.
    rd_kafka_set_log_queue(rk, nil)
    return rk
}
