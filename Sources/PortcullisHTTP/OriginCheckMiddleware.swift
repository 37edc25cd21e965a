import Hummingbird

/// Refuses state-changing requests that do not come from an allowed web origin (CSRF defence):
/// `Origin` must be present and be one of the configured origins.
struct OriginCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .options:
            return try await next(request, context)
        default:
            if DeviceController.originExempt.contains(request.uri.path) || OIDCController.originExempt.contains(request.uri.path) { return try await next(request, context) }
            guard let origin = request.headers[.origin], allowed.contains(origin) else { throw Problem.originRefused }
            return try await next(request, context)
        }
    }
}
