import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// One log line per request, at `info`: the method, the route (its pattern, `/api/v1/me/sessions/{id}`,
/// never the path or the query, which can carry codes, tokens and signed links), the status, the
/// duration, the request ID the response carries, and the client's address as the API reads it
/// (behind a trusted proxy, the entry it appended to `X-Forwarded-For`). Nothing from a header
/// value or a body is logged.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trustForwardedFor: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: response.status.code, requestID: response.headers[.xRequestID], since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            log(request, context, status: status, requestID: nil, since: start)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, requestID: String?, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(context.endpointPath ?? "unmatched"),
            "status": .stringConvertible(status),
            "duration_ms": .stringConvertible((milliseconds * 1000).rounded() / 1000),
            "client_ip": .string(ClientAddress.read(request, remote: context.remoteAddress, trustForwardedFor: trustForwardedFor)),
        ]
        if let requestID { metadata["request_id"] = .string(requestID) }
        context.logger.info("request", metadata: metadata)
    }
}

/// The client's address: the peer's, or behind a trusted proxy the last entry of the last
/// `X-Forwarded-For` field, the one the proxy appended (entries before it are whatever the client
/// sent, and believing them would let anyone pick the address its limits are counted under).
enum ClientAddress {
    static func read(_ request: Request, remote: String, trustForwardedFor: Bool) -> String {
        guard trustForwardedFor, let field = request.headers[values: .xForwardedFor].last,
              let forwarded = field.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !forwarded.isEmpty
        else { return remote }
        return String(forwarded.prefix(64))
    }
}
