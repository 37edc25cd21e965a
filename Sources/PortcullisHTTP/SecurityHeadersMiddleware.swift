import HTTPTypes
import Hummingbird

/// Headers on every response.
///
/// `Referrer-Policy: same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null`
/// with a page's form posts (Fetch, "append a request Origin header"), which the Origin check refuses,
/// so the "this wasn't me" button would fail in real browsers. Under `same-origin` the page's own posts
/// carry its real origin, and no other site ever gets a `Referer` (the cancel link's signature stays here).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.xFrameOptions] = "DENY"
        return response
    }
}
