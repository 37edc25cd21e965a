import HTTPTypes
import Hummingbird
import Logging
import WebAuthn

/// Headers on every response.
///
/// `Referrer-Policy: same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null`
/// with a page's form posts (Fetch, "append a request Origin header"), which the Origin check refuses,
/// so the "this wasn't me" button would fail in real browsers. Under `same-origin` the page's own posts
/// carry its real origin, and no other site ever gets a `Referer` (the cancel link's signature stays here).
///
/// When the public origin is https, `Strict-Transport-Security: max-age=31536000` (RFC 6797 §6.1): for a
/// year the browser reaches this host over TLS only, so no one on the path can strip it to plain http.
/// Not sent for an http origin (a browser ignores it there, RFC 6797 §8.1, and it would say what is not so).
///
/// Every response carries `X-Request-ID`: the one the request brought when it is a plain token (1 to
/// 128 letters, digits, `.`, `_`, `:` or `-`, as a proxy or load balancer sets it), otherwise a new
/// one, so a person's report and the operator's logs name the same request.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Whether to send `Strict-Transport-Security` (the public origin is https).
    let strictTransportSecurity: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let requestID = request.headers[.xRequestID].flatMap(Self.acceptable) ?? Self.newRequestID()
        var context = context
        context.logger[metadataKey: "request_id"] = .string(requestID)
        var response: Response
        do {
            response = try await RequestScope.$requestID.withValue(requestID) { try await next(request, context) }
        } catch let error as any HTTPResponseError {
            // Problems are thrown past this middleware to be written at the end: they get these headers too.
            response = try error.response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xRequestID] = requestID
        if strictTransportSecurity { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }

    /// A request ID from outside, when it is a plain token that is safe to echo and to log.
    static func acceptable(_ text: String) -> String? {
        guard (1...128).contains(text.utf8.count),
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x3A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D })
        else { return nil }
        return text
    }

    /// 96 random bits, base64url: from two draws of the system generator (one per 64 bits, not one
    /// system call per byte, which cost 2 % of a sign-in).
    static func newRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for _ in 0..<2 { withUnsafeBytes(of: generator.next()) { bytes += $0 } }
        return Base64URL.encode(Array(bytes.prefix(12)))
    }
}

/// What the request being served sets for the code it calls, without passing it down: its ID, so
/// that a security event recorded deep in the domain is logged with the request it came from.
package enum RequestScope {
    /// The ID of the request this task serves (the `X-Request-ID` it is answered with), if any.
    @TaskLocal package static var requestID: String?
}
