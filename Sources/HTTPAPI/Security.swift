import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How the HTTP API protects itself and the personal data it serves. Every setting has a safe default;
/// `streamscore run` exposes each as a flag (docs/security.md).
public struct HTTPSecurity: Sendable {
    /// The bearer token every data route requires (`nil`: no authentication, allowed on loopback only).
    public var apiToken: String?
    /// A separate token for `/metrics` (`nil`: `/metrics` is open, as Prometheus exporters usually are).
    public var metricsToken: String?
    /// The largest `POST /score` body.
    public var maxScoreBodyBytes: Int = 16 << 10
    /// How long a client may take to send a request body once its head has arrived.
    public var requestReadTimeout: Duration = .seconds(10)
    /// `POST /score` requests scored at the same time; more get 429.
    public var maxInFlightScores: Int = 64

    /// Creates the default settings (no token).
    public init() {}
}

/// A bearer token, compared in constant time.
struct BearerToken: Sendable {
    private let bytes: [UInt8]

    init(_ token: String) { bytes = Array(token.utf8) }

    /// Whether the request carries `Authorization: Bearer <this token>`. The comparison takes the same
    /// time whichever byte differs (and leaks only the token's length class, not its content).
    func admits(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization] else { return false }
        let prefix = "Bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix("bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(prefix.utf8.count))
        var difference = UInt8(given.count == bytes.count ? 0 : 1)
        for i in 0..<max(given.count, bytes.count) {
            let a = i < given.count ? given[i] : 0
            let b = i < bytes.count ? bytes[i] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}

/// Answers 401 unless the request carries the token.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard token.admits(request) else {
            return Response(status: .unauthorized,
                            headers: [.wwwAuthenticate: "Bearer realm=\"streamscore\"", .contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"missing or wrong bearer token (Authorization: Bearer …)"}"#)))
        }
        return try await next(request, context)
    }
}

/// Counts requests in progress against a cap.
final class InFlightLimit: Sendable {
    private let count = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Runs `body` if a slot is free; otherwise answers 429 without running it.
    func run(_ body: () async throws -> Response) async throws -> Response {
        let taken = count.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        defer { count.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
        guard taken <= limit else {
            return Response(status: .tooManyRequests, headers: [.retryAfter: "1", .contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"too many scoring requests in progress; retry shortly"}"#)))
        }
        return try await body()
    }
}

extension HTTPAPI {
    /// Reads a request body of at most `limit` bytes within `timeout`: a declared `Content-Length` over
    /// the limit is refused before anything is read (413), a body still incomplete at the deadline ends
    /// the request (408). A slow or oversized client can hold neither memory nor a task for long.
    static func readBody(_ request: Request, limit: Int, timeout: Duration) async throws -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw HTTPError(.contentTooLarge, message: "body of \(declared) bytes; this route takes at most \(limit)")
        }
        let body = request.body
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw HTTPError(.requestTimeout, message: "the request body did not arrive within \(timeout)")
            }
            return buffer
        }
    }
}

/// Whether `host` (of `--http HOST:PORT`) is a loopback address, reachable from this machine only.
public func isLoopbackHost(_ host: String) -> Bool {
    let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
    return h == "localhost" || h == "::1" || h.hasPrefix("127.")
}

extension HTTPAPI {
    /// The HTTP/1 server with the API's connection hardening: `idleTimeout` closes idle connections, and a
    /// request must arrive whole (head to end of body) within the read timeout plus 2 s (after
    /// `readBody`'s own 408). The idle timeout alone does not bound a request: every body part resets it,
    /// so a client that trickles a byte now and then would keep its connection (and a connection slot)
    /// forever, on any route — Hummingbird drains an unread body after answering 401, 404 or 413.
    public static func http1Server(idleTimeout: Duration, security: HTTPSecurity) -> HTTPServerBuilder {
        let read = security.requestReadTimeout + .seconds(2)
        let deadline = TimeAmount.nanoseconds(read.components.seconds * 1_000_000_000 + read.components.attoseconds / 1_000_000_000)
        let idle = TimeAmount.seconds(idleTimeout.components.seconds)
        return .http1(configuration: .init(additionalChannelHandlers: [RequestReadDeadline(deadline)], idleTimeout: idle))
    }
}

/// Closes a connection whose request is not complete (head to end of body) within `limit`, however
/// steadily its bytes trickle in. Per connection; the deadline restarts with each request head.
///
/// Also closes a connection as soon as a response is written before its request's body has ended (a
/// 413 for a declared oversized body, a 401, a 408): otherwise the server would read and discard the
/// rest of that body, and a client that declares 1 MB, sends 900 KB and stalls would hold a connection
/// slot until the deadline — 1,000 such clients would make `/healthz` wait behind them.
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let limit: TimeAmount
    private var deadline: Scheduled<Void>?
    /// A request head has arrived and its end has not.
    private var requestOpen = false

    init(_ limit: TimeAmount) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestOpen = true
            deadline?.cancel()
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { context.close(promise: nil) }
        case .end:
            requestOpen = false
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data), requestOpen else {
            context.write(data, promise: promise)
            return
        }
        // The answer is complete while the request body is still coming: close once it is flushed.
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.cascade(to: promise)
        context.writeAndFlush(data, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}

