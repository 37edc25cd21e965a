import Accounts
import Hummingbird
import OIDC
import NIOCore
import WebAuthn

/// The JSON API of a configured service, with its middleware (security headers, problems, the Origin
/// check), health and metrics, and the well-known files. `extend` adds routes that share the same
/// middleware and controller (the pages), and `errorPage` shows a browser its errors as pages: this
/// target never depends on them.
package func buildAPIRouter(
    service: PasskeyService, oidc: OIDCProvider, settings: HTTPSettings, metrics: ServerMetrics = ServerMetrics(),
    errorPage: (@Sendable (Request, Problem) -> Response?)? = nil,
    extend: (Router<AppRequestContext>, APIToolkit) -> Void = { _, _ in }
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestLogMiddleware(trustForwardedFor: settings.trustForwardedFor))
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: settings.publicOrigin.hasPrefix("https://")))
    router.add(middleware: ProblemMiddleware(page: errorPage))
    router.add(middleware: OriginCheckMiddleware(allowed: service.policy.relyingParty.origins.filter { !$0.hasPrefix("android:") }))

    router.get("healthz") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    router.get("readyz") { _, _ in
        do {
            try await service.ping()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
        } catch {
            throw Problem.unavailable
        }
    }
    if settings.metricsOnMainListener {
        let endpoint = MetricsEndpoint(service: service, metrics: metrics, token: settings.metricsToken)
        router.get("metrics") { request, _ in await endpoint.respond(authorization: request.headers[.authorization]) }
    }
    WellKnown(settings: settings).register(on: router)
    let kit = APIToolkit(
        service: service, oidc: oidc, settings: settings,
        ipLimiter: RateLimiter(limit: settings.ipRequestsPerMinute),
        accountLimiter: RateLimiter(limit: settings.accountRequestsPerMinute),
        metrics: metrics)
    router.addRoutes(AccountController(kit: kit).routes)
    router.addRoutes(OIDCController(kit: kit).routes)
    let device = service.policy.deviceApproval
    router.addRoutes(DeviceController(kit: kit, codeGuessesPerIP: RateLimiter(limit: device.guessesPerIPPerMinute),
                                      codeGuessesGlobal: RateLimiter(limit: device.guessesPerMinute)).routes)
    router.addRoutes(EnrolmentController(kit: kit).routes)
    router.addRoutes(AdminController(kit: kit).routes)
    let recovery = service.policy.recovery
    router.addRoutes(RecoveryController(
        kit: kit,
        startsPerUsernameAndIP: RateLimiter(limit: recovery.startsPerUsernameAndIP, window: 3600),
        startsPerIP: RateLimiter(limit: recovery.startsPerIP, window: 3600),
        startsPerUsername: RateLimiter(limit: recovery.startsPerUsername, window: 3600),
        codeAttemptsPerIP: RateLimiter(limit: recovery.codeAttemptsPerIP, window: 600)).routes)
    extend(router, kit)
    return router
}
