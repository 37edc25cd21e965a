import Accounts
import Hummingbird
import NIOCore

/// `GET /metrics`: the Prometheus exposition, on the API's listener or on one of its own, behind a
/// bearer token when one is configured (RFC 6750 §2.1; a missing or wrong token gets 401 with
/// `WWW-Authenticate: Bearer`, §3).
public struct MetricsEndpoint: Sendable {
    let service: PasskeyService
    let metrics: ServerMetrics
    let token: [UInt8]?

    public init(service: PasskeyService, metrics: ServerMetrics, token: String?) {
        self.service = service
        self.metrics = metrics
        self.token = token.map { Array($0.utf8) }
    }

    /// The response to a request whose `Authorization` header is `authorization`.
    public func respond(authorization: String?) async -> Response {
        if let token {
            let presented = authorization.flatMap { $0.hasPrefix("Bearer ") ? Array($0.utf8.dropFirst(7)) : nil } ?? []
            guard Self.same(presented, token) else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="metrics""#, .contentType: "text/plain"],
                                body: .init(byteBuffer: ByteBuffer(string: "a bearer token is required\n")))
            }
        }
        let sessions = try? await service.countSessions()
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(sessions: sessions))))
    }

    /// Equality in time that depends only on the lengths, not on where the bytes first differ.
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
