import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import WebAuthn

/// Sign-in on a device without passkeys, approved from a signed-in device (RFC 8628 style).
struct DeviceController: Sendable {
    let api: APIController
    /// Guesses at user codes, per IP and across the server.
    let codeGuessesPerIP: RateLimiter
    let codeGuessesGlobal: RateLimiter

    /// Paths the device itself calls: no cookie, so no Origin is required.
    static let originExempt: Set<String> = ["/api/v1/device/start", "/api/v1/device/poll"]

    func register(on router: Router<AppRequestContext>, signedIn: RouterGroup<AppRequestContext>) {
        let device = router.group("api/v1/device")
        device.post("start", use: start)
        device.post("poll", use: poll)
        let approver = signedIn.group("api/v1/device")
        approver.get("lookup", use: lookup)
        approver.post("approve", use: { request, context in try await decide(request, context, approve: true) })
        approver.post("deny", use: { request, context in try await decide(request, context, approve: false) })
    }

    var verificationURI: String {
        api.settings.publicOrigin + "/device"
    }

    func throttleGuess(ip: String) throws {
        if let wait = codeGuessesPerIP.hit("code:" + ip) { throw Problem.rateLimited(retryAfter: wait) }
        if let wait = codeGuessesGlobal.hit("code:all") { throw Problem.rateLimited(retryAfter: wait) }
    }

    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let started = try await api.service.startDeviceRequest(info: who)
        let display = UserCode.display(started.userCode)
        return api.json(.object([
            "device_code": .string(started.deviceCode),
            "user_code": .string(display),
            "verification_uri": .string(verificationURI),
            "verification_uri_complete": .string(verificationURI + "?user_code=" + display),
            "expires_in": .int(started.expiresIn),
            "interval": .int(started.interval),
        ]))
    }

    @Sendable func poll(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        guard let deviceCode = try api.optionalString(object, "device_code") else { throw Problem.invalid("device_code is required.") }
        let who = api.info(request, context)
        func oauthError(_ code: String, _ title: String) -> Problem {
            Problem(.badRequest, code: code, title: title, extra: ["error": code])
        }
        switch try await api.service.pollDeviceRequest(deviceCode: deviceCode, info: who) {
        case .authorizationPending: throw oauthError("authorization_pending", "Not approved yet.")
        case .slowDown: throw oauthError("slow_down", "Polling too fast; wait longer between polls.")
        case .accessDenied: throw oauthError("access_denied", "The request was denied.")
        case .expiredToken: throw oauthError("expired_token", "The request expired; start again.")
        case .invalidGrant: throw oauthError("invalid_grant", "Unknown or already used device code.")
        case .approved(let user, let issued):
            var response = api.json(.object(["user": api.userJSON(user)]))
            response.setCookie(api.sessionCookie(issued.token, lifetime: issued.session.expiresAt.timeIntervalSince(issued.session.createdAt)))
            return response
        }
    }

    @Sendable func lookup(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try throttleGuess(ip: api.info(request, context).ip)
        let code = request.uri.queryParameters.get("user_code") ?? ""
        let found = try await api.service.lookupDeviceRequest(auth, userCode: code)
        return api.json(.object([
            "userCode": .string(UserCode.display(found.userCode)),
            "ip": .string(found.ip),
            "userAgent": .string(found.userAgent),
            "requestedAt": APIController.iso(found.createdAt),
            "expiresAt": APIController.iso(found.expiresAt),
        ]))
    }

    func decide(_ request: Request, _ context: AppRequestContext, approve: Bool) async throws -> Response {
        let auth = try context.requireIdentity()
        let who = api.info(request, context)
        try throttleGuess(ip: who.ip)
        let object = try await api.body(request)
        guard let code = try api.optionalString(object, "user_code") else { throw Problem.invalid("user_code is required.") }
        try await api.service.decideDeviceRequest(auth, userCode: code, approve: approve, info: who)
        return Response(status: .noContent)
    }
}
