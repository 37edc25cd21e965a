import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import WebAuthn

/// The JSON API under `/api/v1`.
/// Also the pages' way to the service (``service``) and to who is asking (``info(_:_:)``).
package struct APIController: Sendable {
    package let service: PasskeyService
    let settings: HTTPSettings
    let ipLimiter: RateLimiter
    let accountLimiter: RateLimiter
    let metrics: ServerMetrics

    /// The session cookie's name: `__Host-` prefixed when the origin is https.
    var cookieName: String { settings.secureCookies ? "__Host-portcullis" : "portcullis_session" }

    /// The session cookie's authenticator, for the routes that need someone signed in.
    var authenticator: SessionCookieAuthenticator { SessionCookieAuthenticator(service: service, cookieName: cookieName) }

    func register(on router: Router<AppRequestContext>, signedIn: RouterGroup<AppRequestContext>) {
        let open = router.group("api/v1")
        open.post("signup/options", use: measured("signup_options", signupOptions))
        open.post("signup/verify", use: measured("signup_verify", signupVerify))
        open.post("login/options", use: measured("login_options", loginOptions))
        open.post("login/verify", use: measured("login_verify", loginVerify))
        let api = signedIn.group("api/v1")
        api.post("logout", use: logout)
        api.get("me", use: me)
        api.post("me/passkeys/options", use: measured("add_options", addOptions))
        api.post("me/passkeys/verify", use: measured("add_verify", addVerify))
        api.patch("me/passkeys/:id", use: renamePasskey)
        api.delete("me/passkeys/:id", use: deletePasskey)
        api.post("me/reauth/options", use: measured("reauth_options", reauthOptions))
        api.post("me/reauth/verify", use: measured("reauth_verify", reauthVerify))
        api.get("me/sessions", use: sessions)
        api.delete("me/sessions/:id", use: revokeSession)
        api.get("me/events", use: events)
    }

    // MARK: Helpers

    /// Wraps a ceremony handler to count its outcome and time it.
    func measured(
        _ kind: String, _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response
    ) -> @Sendable (Request, AppRequestContext) async throws -> Response {
        let metrics = self.metrics
        return { request, context in
            let start = ContinuousClock.now
            do {
                let response = try await handler(request, context)
                metrics.record(kind: kind, outcome: "success", duration: ContinuousClock.now - start)
                return response
            } catch let problem as Problem {
                metrics.record(kind: kind, outcome: problem.code, duration: ContinuousClock.now - start)
                throw problem
            } catch let error as AccountsError {
                metrics.record(kind: kind, outcome: error.code.rawValue, duration: ContinuousClock.now - start)
                throw error
            } catch {
                metrics.record(kind: kind, outcome: "error", duration: ContinuousClock.now - start)
                throw error
            }
        }
    }

    func body(_ request: Request) async throws -> JSONObject {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 64 * 1024) } catch is NIOTooManyBytesError { throw Problem.tooLarge }
        guard let object = (try? StrictJSON.parse(buffer.readableBytesView))?.object else { throw Problem.malformedJSON }
        return object
    }

    /// The request body as `T`: parsed by the strict JSON parser (duplicate keys, bad UTF-8 and
    /// excessive depth refused), then decoded strictly (``JSONValueDecoder``). A missing or
    /// mistyped member is a 400 that names it.
    func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let object = try await body(request)
        do { return try JSONValueDecoder().decode(type, from: .object(object)) } catch let error as DecodingError {
            throw Problem.invalid(Self.describe(error))
        }
    }

    /// What was wrong with a request body, naming the member (never the decoder's own words).
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String { keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is required."
        case .valueNotFound(_, let context): return "\(path(context.codingPath)) is required."
        case .typeMismatch(let type, let context):
            let expected = type == String.self ? "a string" : type == Bool.self ? "true or false" : type == UUID.self ? "a UUID"
                : (type is any BinaryInteger.Type) ? "an integer" : type == JSONObject.self ? "an object" : type == [JSONValue].self ? "an array" : "of another type"
            return "\(path(context.codingPath)) must be \(expected)."
        case .dataCorrupted(let context): return "\(path(context.codingPath)) is not valid."
        @unknown default: return "The request body is not valid."
        }
    }

    package func info(_ request: Request, _ context: AppRequestContext) -> RequestInfo {
        var ip = context.remoteAddress
        if settings.trustForwardedFor, let forwarded = request.headers[.xForwardedFor]?.split(separator: ",").first {
            ip = forwarded.trimmingCharacters(in: .whitespaces)
        }
        return RequestInfo(ip: ip, userAgent: request.headers[.userAgent] ?? "")
    }

    func limit(ip: String, account: String? = nil) throws {
        if let wait = ipLimiter.hit("ip:" + ip) { throw Problem.rateLimited(retryAfter: wait) }
        if let account, let wait = accountLimiter.hit("account:" + account) { throw Problem.rateLimited(retryAfter: wait) }
    }

    /// A view as a JSON response that no cache keeps.
    func json(_ view: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        json(try JSONValueEncoder().encode(view), status: status)
    }

    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: StrictJSON.serializedBytes(value))))
    }

    func sessionCookie(_ token: String, lifetime: TimeInterval? = nil) -> Cookie {
        Cookie(name: cookieName, value: token, maxAge: Int(lifetime ?? service.policy.sessionAbsoluteLifetime), path: "/",
               secure: settings.secureCookies, httpOnly: true, sameSite: .lax)
    }

    func expiredCookie() -> Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// The UUID in the path's `{id}`; anything else is a 404.
    func idParameter(_ context: AppRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw Problem.notFound }
        return id
    }

    /// The secret a browser holds in cookie `name` (an enrolment's or a recovery case's); without it, a 404.
    func browserSecret(_ request: Request, cookie name: String) throws -> String {
        guard let secret = request.cookies[name]?.value, !secret.isEmpty else { throw Problem.notFound }
        return secret
    }

    /// The cookie that binds a flow to one browser: `HttpOnly`, `SameSite=Strict`, scoped to `path`.
    /// A `maxAge` of 0 with an empty value removes it.
    func browserCookie(_ name: String, value: String, maxAge: Int, path: String) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: settings.secureCookies, httpOnly: true, sameSite: .strict)
    }

    func passkeyView(_ passkey: Passkey) -> PasskeyView { PasskeyView(passkey, provider: service.providerName(passkey.aaguid)) }

    // MARK: Requests and responses

    struct SignupOptionsRequest: Decodable { let username: String; let displayName: String?; let invite: String? }
    struct LoginOptionsRequest: Decodable { let username: String? }
    /// A ceremony's verify request: the credential as the browser's `toJSON()` gives it, and a name for a new passkey.
    struct VerifyRequest: Decodable { let credential: JSONValue; let name: String? }
    struct RenameRequest: Decodable { let name: String }

    struct SignedUp: Encodable { let user: UserView; let passkey: PasskeyView }
    struct SignedIn: Encodable { let user: UserView; let openRecoveryCases: [OpenRecoveryCaseView] }
    struct Me: Encodable {
        let user: UserView
        let passkeys: [PasskeyView]
        let acceptedCredentialIds: [String]
        let userHandle: String
        let rpId: String
        let session: SessionView
        let isAdmin: Bool
        let openRecoveryCases: [OpenRecoveryCaseView]
    }
    struct AddedPasskey: Encodable { let passkey: PasskeyView }
    struct RemovedPasskey: Encodable { let sessionsEnded: Int; let signedOut: Bool }
    struct Reauthenticated: Encodable { let reauthenticated = true }
    struct Sessions: Encodable { let sessions: [SessionView] }
    /// One event of the timeline: its own members, then its detail's, sorted by name.
    struct EventView: Encodable {
        let event: SecurityEvent
        enum Key: CodingKey { case id, kind, at, ip, userAgent, detail(String)
            var stringValue: String {
                switch self {
                case .id: "id"
                case .kind: "kind"
                case .at: "at"
                case .ip: "ip"
                case .userAgent: "userAgent"
                case .detail(let name): name
                }
            }
            init?(stringValue: String) { nil }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(event.id, forKey: .id)
            try container.encode(event.kind.rawValue, forKey: .kind)
            try container.encode(event.at, forKey: .at)
            try container.encode(event.ip, forKey: .ip)
            try container.encode(event.userAgent, forKey: .userAgent)
            for (name, value) in event.detail.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: .detail(name)) }
        }
    }
    struct Events: Encodable { let events: [EventView] }

    // MARK: Sign-up and sign-in

    @Sendable func signupOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await decode(SignupOptionsRequest.self, request)
        try limit(ip: info(request, context).ip, account: input.username.lowercased())
        return json(try await service.signupOptions(username: input.username, displayName: input.displayName, invite: input.invite))
    }

    @Sendable func signupVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await decode(VerifyRequest.self, request)
        let who = info(request, context)
        try limit(ip: who.ip)
        let (user, passkey, issued) = try await service.signupVerify(credential: input.credential, name: input.name, info: who)
        var response = try json(SignedUp(user: UserView(user), passkey: passkeyView(passkey)), status: .created)
        response.setCookie(sessionCookie(issued.token))
        return response
    }

    @Sendable func loginOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await decode(LoginOptionsRequest.self, request)
        try limit(ip: info(request, context).ip, account: input.username?.lowercased())
        return json(try await service.loginOptions(username: input.username))
    }

    @Sendable func loginVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let credential = try await decode(VerifyRequest.self, request).credential
        let who = info(request, context)
        // The account is not known until the assertion verifies; the credential it names stands in for it.
        try limit(ip: who.ip, account: credential.object?["rawId"]?.string.map { "credential:" + $0.prefix(256) })
        let (user, issued, openCount) = try await service.loginVerify(credential: credential, info: who)
        // A sign-in shows the owner any recovery case open on their account (read only when there is one).
        let open = openCount == 0 ? [] : try await service.recovery.openCases(userID: user.id)
        var response = try json(SignedIn(user: UserView(user), openRecoveryCases: open.map(OpenRecoveryCaseView.init)))
        response.setCookie(sessionCookie(issued.token))
        return response
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await service.revokeSession(auth, sessionID: auth.session.id, info: info(request, context))
        var response = Response(status: .noContent)
        response.setCookie(expiredCookie())
        return response
    }

    // MARK: The signed-in user

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let passkeys = try await service.passkeys(auth)
        return try json(Me(
            user: UserView(auth.user), passkeys: passkeys.map(passkeyView),
            acceptedCredentialIds: passkeys.map { Base64URL.encode($0.credentialID) },
            userHandle: Base64URL.encode(auth.user.handle), rpId: service.policy.relyingParty.id,
            session: SessionView(auth.session, current: auth.session.id), isAdmin: auth.user.isAdmin,
            // Every live session shows the owner's open recovery cases, with the way to cancel them.
            openRecoveryCases: try await service.recovery.openCases(userID: auth.user.id).map(OpenRecoveryCaseView.init)))
    }

    @Sendable func addOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try limit(ip: info(request, context).ip, account: auth.user.username)
        return json(try await service.addOptions(auth))
    }

    @Sendable func addVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await decode(VerifyRequest.self, request)
        let passkey = try await service.addVerify(auth, credential: input.credential, name: input.name, info: info(request, context))
        return try json(AddedPasskey(passkey: passkeyView(passkey)), status: .created)
    }

    func credentialID(_ context: AppRequestContext) throws -> [UInt8] {
        guard let text = context.parameters.get("id"), let id = Base64URL.decode(text), !id.isEmpty else { throw Problem.notFound }
        return id
    }

    @Sendable func renamePasskey(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let name = try await decode(RenameRequest.self, request).name
        try await service.renamePasskey(auth, credentialID: try credentialID(context), name: name, info: info(request, context))
        return Response(status: .noContent)
    }

    /// Removes a passkey and ends the sessions it made: says how many, and whether this one was among
    /// them (then the cookie goes too).
    @Sendable func deletePasskey(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let ended = try await service.deletePasskey(auth, credentialID: try credentialID(context), info: info(request, context))
        let signedOut = ended.contains(auth.session.id)
        var response = try json(RemovedPasskey(sessionsEnded: ended.count, signedOut: signedOut))
        if signedOut { response.setCookie(expiredCookie()) }
        return response
    }

    @Sendable func reauthOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try limit(ip: info(request, context).ip, account: auth.user.username)
        return json(try await service.reauthOptions(auth))
    }

    @Sendable func reauthVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let credential = try await decode(VerifyRequest.self, request).credential
        let token = try await service.reauthVerify(auth, credential: credential, info: info(request, context))
        var response = try json(Reauthenticated())
        response.setCookie(sessionCookie(token))
        return response
    }

    @Sendable func sessions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        return try json(Sessions(sessions: try await service.sessions(auth).map { SessionView($0, current: auth.session.id) }))
    }

    @Sendable func revokeSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let id = try idParameter(context)
        try await service.revokeSession(auth, sessionID: id, info: info(request, context))
        var response = Response(status: .noContent)
        if id == auth.session.id { response.setCookie(expiredCookie()) }
        return response
    }

    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        return try json(Events(events: try await service.events(auth).map(EventView.init)))
    }
}
