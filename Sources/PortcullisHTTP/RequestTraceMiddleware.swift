import HTTPTypes
import Hummingbird
import Tracing

/// One span per request, named by its method and route pattern (`POST /api/v1/login/verify`), as a
/// child of the caller's span when the request carries W3C trace context (`traceparent`). Like the
/// request's log line, it holds the method, the route, the status, the request ID and the client's
/// address, and never the path, the query, a header value or a body: paths and queries carry codes,
/// tokens and signed links. Failures set the span's status, without the error's text.
struct RequestTraceMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trustForwardedFor: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: FieldsExtractor())
        let method = request.method.rawValue
        let span = InstrumentationSystem.tracer.startSpan(method, context: parent, ofKind: .server)
        span.attributes["http.request.method"] = method
        span.attributes["client.address"] = ClientAddress.read(request, remote: context.remoteAddress, trustForwardedFor: trustForwardedFor)
        defer { span.end() }
        do {
            let response = try await ServiceContext.withValue(span.context) { try await next(request, context) }
            finish(span, method: method, context: context, status: Int(response.status.code), requestID: response.headers[.xRequestID])
            return response
        } catch {
            finish(span, method: method, context: context, status: Int((error as? any HTTPResponseError)?.status.code ?? 500), requestID: nil)
            throw error
        }
    }

    private func finish(_ span: any Span, method: String, context: Context, status: Int, requestID: String?) {
        let route = context.endpointPath ?? "unmatched"
        span.operationName = method + " " + route
        span.attributes["http.route"] = route
        span.attributes["http.response.status_code"] = status
        if let requestID { span.attributes["http.request.id"] = requestID }
        if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }
}

/// Reads W3C trace context from request header fields.
private struct FieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}
