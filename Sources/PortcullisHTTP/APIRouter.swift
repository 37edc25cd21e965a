import Accounts
import Hummingbird
import OIDC
import Synchronization
import NIOCore
import WebAuthn

/// The JSON API of a configured service, with its middleware (security headers, problems, the Origin
/// check), health and metrics, and the well-known files. `extend` adds routes that share the same
/// middleware and controller (the pages), and `errorPage` shows a browser its errors as pages: this
/// target never depends on them.
package func buildAPIRouter(
    service: PasskeyService, oidc: OIDCProvider, settings: HTTPSettings, metrics: ServerMetrics = ServerMetrics(),
    rateCounter: any RateCounter = MemoryRateCounter(),
    errorPage: (@Sendable (Request, Problem) -> Response?)? = nil,
    extend: (Router<AppRequestContext>, APIToolkit) -> Void = { _, _ in }
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    if settings.traced { router.add(middleware: RequestTraceMiddleware(trustForwardedFor: settings.trustForwardedFor)) }
    router.add(middleware: RequestLogMiddleware(trustForwardedFor: settings.trustForwardedFor))
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: settings.publicOrigin.hasPrefix("https://")))
    router.add(middleware: ProblemMiddleware(page: errorPage))
    router.add(middleware: OriginCheckMiddleware(allowed: service.policy.relyingParty.origins.filter { !$0.hasPrefix("android:") }))

    router.get("healthz") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    router.get("readyz") { _, _ in
        // A database that does not answer within 2 s is not ready: a load balancer's probe must not
        // hang while the pool waits to connect.
        guard await succeedsWithin(.seconds(2), { try await service.ping() }) else { throw Problem.unavailable }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
    }
    if settings.metricsOnMainListener {
        let endpoint = MetricsEndpoint(service: service, metrics: metrics, token: settings.metricsToken)
        router.get("metrics") { request, _ in await endpoint.respond(authorization: request.headers[.authorization]) }
    }
    WellKnown(settings: settings).register(on: router)
    let kit = APIToolkit(
        service: service, oidc: oidc, settings: settings,
        ipLimiter: RateLimiter("ip", limit: settings.ipRequestsPerMinute, counter: rateCounter),
        accountLimiter: RateLimiter("account", limit: settings.accountRequestsPerMinute, counter: rateCounter),
        metrics: metrics)
    router.addRoutes(AccountController(kit: kit).routes)
    router.addRoutes(OIDCController(kit: kit).routes)
    let device = service.policy.deviceApproval
    router.addRoutes(DeviceController(
        kit: kit, codeGuessesPerIP: RateLimiter("device-code-ip", limit: device.guessesPerIPPerMinute, counter: rateCounter),
        codeGuessesGlobal: RateLimiter("device-code", limit: device.guessesPerMinute, counter: rateCounter)).routes)
    router.addRoutes(EnrolmentController(kit: kit).routes)
    router.addRoutes(AdminController(kit: kit).routes)
    let recovery = service.policy.recovery
    router.addRoutes(RecoveryController(
        kit: kit,
        startsPerUsernameAndIP: RateLimiter("recovery-start-ip-user", limit: recovery.startsPerUsernameAndIP, window: 3600, counter: rateCounter),
        startsPerIP: RateLimiter("recovery-start-ip", limit: recovery.startsPerIP, window: 3600, counter: rateCounter),
        startsPerUsername: RateLimiter("recovery-start-user", limit: recovery.startsPerUsername, window: 3600, counter: rateCounter),
        codeAttemptsPerIP: RateLimiter("recovery-code-ip", limit: recovery.codeAttemptsPerIP, window: 600, counter: rateCounter)).routes)
    extend(router, kit)
    return router
}

/// Whether `work` finishes without throwing within `limit`. The answer comes at the limit at the
/// latest; work still running then is cancelled and left to end on its own.
func succeedsWithin(_ limit: Duration, _ work: @escaping @Sendable () async throws -> Void) async -> Bool {
    let answered = AnsweredOnce()
    return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let answer: @Sendable (Bool) -> Void = { value in
            if answered.first() { continuation.resume(returning: value) }
        }
        let task = Task {
            do { try await work(); answer(true) } catch { answer(false) }
        }
        Task {
            try? await Task.sleep(for: limit)
            answer(false)
            task.cancel()
        }
    }
}

/// True for the first caller only.
private final class AnsweredOnce: Sendable {
    private let answered = Atomic<Bool>(false)
    func first() -> Bool { !answered.exchange(true, ordering: .acquiringAndReleasing) }
}
