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
        approver.get("pending", use: pending)
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
        /// The number to pick on the signed-in device when the request named an account.
        let match_number: Int
    }
    /// What a device may say when it starts: the account it is for, to reach that account's sessions.
    struct Start: Decodable { let username: String? }
    struct Poll: Decodable { let device_code: String }
    struct Approved: Encodable { let user: UserView }
    struct Found: Encodable {
        let userCode: String; let ip: String; let place: String?; let userAgent: String; let requestedAt: Date; let expiresAt: Date
        /// The app that asked, for a device grant (RFC 8628); null for a device signing in to Portcullis itself.
        let client: String?
        /// For a request that named this account: the three numbers to pick the device's among.
        let choices: [Int]?
    }
    struct Pending: Encodable { let requests: [Found] }
    struct Decision: Decodable { let user_code: String; let number: Int? }

    var verificationURI: String {
        kit.settings.publicOrigin + "/device"
    }

    func throttleGuess(ip: String) async throws {
        if let wait = try await codeGuessesPerIP.hit("code:" + ip) { throw Problem.rateLimited(retryAfter: wait) }
        if let wait = try await codeGuessesGlobal.hit("code:all") { throw Problem.rateLimited(retryAfter: wait) }
    }

    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let who = kit.info(request, context)
        // A device may post nothing at all (RFC 8628 devices send a form, command-line ones often nothing).
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 4096) } catch is NIOTooManyBytesError { throw Problem.tooLarge }
        var username: String?
        if buffer.readableBytes > 0 {
            guard let object = (try? StrictJSON.parse(buffer.readableBytesView))?.object else { throw Problem.malformedJSON }
            do { username = try JSONValueDecoder().decode(Start.self, from: .object(object)).username } catch let error as DecodingError {
                throw Problem.invalid(APIToolkit.describe(error))
            }
            if username?.trimmingCharacters(in: .whitespaces).isEmpty == true { username = nil }
        }
        // A named account also limits how often its sessions can be asked (no flood of prompts).
        try await kit.limit(ip: who.ip, account: username.map { "device:" + $0.lowercased() })
        let started = try await kit.service.deviceApproval.start(info: who, username: username)
        let display = UserCode.display(started.userCode)
        return try kit.json(Started(
            device_code: started.deviceCode, user_code: display, verification_uri: verificationURI,
            verification_uri_complete: verificationURI + "?user_code=" + display, expires_in: started.expiresIn, interval: started.interval,
            match_number: started.matchNumber))
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
        try await throttleGuess(ip: kit.info(request, context).ip)
        let code = request.uri.queryParameters.get("user_code") ?? ""
        return try kit.json(try await found(try await kit.service.deviceApproval.lookup(auth, userCode: code)))
    }

    /// The requests that named the signed-in account, for its pages to show at once.
    @Sendable func pending(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        var views: [Found] = []
        for pending in try await kit.service.deviceApproval.pending(auth) { views.append(try await found(pending)) }
        return try kit.json(Pending(requests: views))
    }

    /// A request as the approver sees it: where it comes from, and the app that asked for a device
    /// grant, so the approver knows what they let in.
    func found(_ request: DeviceRequest) async throws -> Found {
        let client = try await kit.oidc.deviceClient(deviceCodeHash: request.deviceCodeHash)
        return Found(
            userCode: UserCode.display(request.userCode), ip: request.ip, place: kit.settings.place(request.ip), userAgent: request.userAgent,
            requestedAt: request.createdAt,
            expiresAt: request.expiresAt, client: client?.name, choices: request.targetUserID == nil ? nil : request.choices)
    }

    func decide(_ request: Request, _ context: AppRequestContext, approve: Bool) async throws -> Response {
        let auth = try context.requireIdentity()
        let who = kit.info(request, context)
        try await throttleGuess(ip: who.ip)
        let decision = try await kit.decode(Decision.self, request)
        try await kit.service.deviceApproval.decide(auth, userCode: decision.user_code, approve: approve, number: decision.number, info: who)
        return Response(status: .noContent)
    }
}
