import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import OIDC
import WebAuthn

/// Sign-in on a device without passkeys, approved from a signed-in device (RFC 8628 style).
struct DeviceController: Sendable {
    let kit: APIToolkit
    /// Guesses at user codes, per IP and across the server.
    let codeGuessesPerIP: RateLimiter
    let codeGuessesGlobal: RateLimiter

    /// Paths the device itself calls: no cookie, so no Origin is required.
    static let originExempt: Set<String> = ["/api/v1/device/start", "/api/v1/device/poll"]

    /// The routes; those that need someone signed in sit behind the session cookie's authenticator.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        let signedIn = routes.group().add(middleware: kit.authenticator)
        let device = routes.group("api/v1/device")
        device.post("start", use: start)
        device.post("poll", use: poll)
        let approver = signedIn.group("api/v1/device")
        approver.get("lookup", use: lookup)
        approver.post("approve", use: { request, context in try await decide(request, context, approve: true) })
        approver.post("deny", use: { request, context in try await decide(request, context, approve: false) })
        return routes
    }

    // The device's own calls speak RFC 8628 §3.2 and §3.4 (snake_case); the approver's page camelCase.
    struct Started: Encodable {
        let device_code: String
        let user_code: String
        let verification_uri: String
        let verification_uri_complete: String
        let expires_in: Int
        let interval: Int
    }
    struct Poll: Decodable { let device_code: String }
    struct Approved: Encodable { let user: UserView }
    struct Found: Encodable {
        let userCode: String; let ip: String; let userAgent: String; let requestedAt: Date; let expiresAt: Date
        /// The app that asked, for a device grant (RFC 8628); null for a device signing in to Portcullis itself.
        let client: String?
    }
    struct Decision: Decodable { let user_code: String }

    var verificationURI: String {
        kit.settings.publicOrigin + "/device"
    }

    func throttleGuess(ip: String) throws {
        if let wait = codeGuessesPerIP.hit("code:" + ip) { throw Problem.rateLimited(retryAfter: wait) }
        if let wait = codeGuessesGlobal.hit("code:all") { throw Problem.rateLimited(retryAfter: wait) }
    }

    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let who = kit.info(request, context)
        try kit.limit(ip: who.ip)
        let started = try await kit.service.deviceApproval.start(info: who)
        let display = UserCode.display(started.userCode)
        return try kit.json(Started(
            device_code: started.deviceCode, user_code: display, verification_uri: verificationURI,
            verification_uri_complete: verificationURI + "?user_code=" + display, expires_in: started.expiresIn, interval: started.interval))
    }

    @Sendable func poll(_ request: Request, context: AppRequestContext) async throws -> Response {
        let deviceCode = try await kit.decode(Poll.self, request).device_code
        let who = kit.info(request, context)
        func oauthError(_ code: String, _ title: String) -> Problem {
            Problem(.badRequest, code: code, title: title, extra: ["error": code])
        }
        switch try await kit.service.deviceApproval.poll(deviceCode: deviceCode, info: who) {
        case .authorizationPending: throw oauthError("authorization_pending", "Not approved yet.")
        case .slowDown: throw oauthError("slow_down", "Polling too fast; wait longer between polls.")
        case .accessDenied: throw oauthError("access_denied", "The request was denied.")
        case .expiredToken: throw oauthError("expired_token", "The request expired; start again.")
        case .invalidGrant: throw oauthError("invalid_grant", "Unknown or already used device code.")
        case .approved(let user, let issued):
            var response = try kit.json(Approved(user: UserView(user)))
            response.setCookie(kit.sessionCookie(issued.token, lifetime: issued.session.expiresAt.timeIntervalSince(issued.session.createdAt)))
            return response
        }
    }

    @Sendable func lookup(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try throttleGuess(ip: kit.info(request, context).ip)
        let code = request.uri.queryParameters.get("user_code") ?? ""
        let found = try await kit.service.deviceApproval.lookup(auth, userCode: code)
        // A request opened by an app's device grant names the app, so the approver knows what they let in.
        let client = try await kit.oidc.deviceClient(deviceCodeHash: found.deviceCodeHash)
        return try kit.json(Found(
            userCode: UserCode.display(found.userCode), ip: found.ip, userAgent: found.userAgent, requestedAt: found.createdAt,
            expiresAt: found.expiresAt, client: client?.name))
    }

    func decide(_ request: Request, _ context: AppRequestContext, approve: Bool) async throws -> Response {
        let auth = try context.requireIdentity()
        let who = kit.info(request, context)
        try throttleGuess(ip: who.ip)
        let code = try await kit.decode(Decision.self, request).user_code
        try await kit.service.deviceApproval.decide(auth, userCode: code, approve: approve, info: who)
        return Response(status: .noContent)
    }
}
