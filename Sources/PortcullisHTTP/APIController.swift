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

    func optionalString(_ object: JSONObject, _ key: String) throws -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw Problem.invalid("\(key) must be a string.")
        }
    }

    /// The `credential` member of a ceremony's verify request.
    func credential(_ object: JSONObject) throws -> JSONValue {
        guard let credential = object["credential"] else { throw Problem.invalid("credential is required.") }
        return credential
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

    static func iso(_ date: Date) -> JSONValue { .string(ISO8601DateFormatter().string(from: date)) }

    func userJSON(_ user: User) -> JSONValue {
        .object(["id": .string(user.id.uuidString.lowercased()), "username": .string(user.username), "displayName": .string(user.displayName)])
    }

    func passkeyJSON(_ passkey: Passkey) -> JSONValue {
        .object([
            "id": .string(Base64URL.encode(passkey.credentialID)),
            "name": .string(passkey.name),
            "provider": service.providerName(passkey.aaguid).map(JSONValue.string) ?? .null,
            "aaguid": .string(passkey.aaguid),
            "createdAt": Self.iso(passkey.createdAt),
            "lastUsedAt": passkey.lastUsedAt.map(Self.iso) ?? .null,
            "backedUp": .bool(passkey.backedUp),
            "backupEligible": .bool(passkey.backupEligible),
            "deviceBound": .bool(passkey.isDeviceBound),
            "transports": .array(passkey.transports.map(JSONValue.string)),
        ])
    }

    /// An open recovery case as its owner sees it (never its comparison code), with where to cancel it.
    func openCaseJSON(_ c: RecoveryCase) -> JSONValue {
        .object([
            "id": .string(c.id.uuidString.lowercased()), "createdAt": Self.iso(c.createdAt), "expiresAt": Self.iso(c.expiresAt),
            "ip": .string(c.ip), "userAgent": .string(c.userAgent), "proofs": .int(c.proofs.count),
            "cancel": .string("/api/v1/me/recovery-requests/\(c.id.uuidString.lowercased())/cancel"),
        ])
    }

    func sessionJSON(_ session: Session, current: UUID) -> JSONValue {
        .object([
            "id": .string(session.id.uuidString.lowercased()),
            "current": .bool(session.id == current),
            "createdAt": Self.iso(session.createdAt),
            "lastSeenAt": Self.iso(session.lastSeenAt),
            "authenticatedAt": Self.iso(session.authenticatedAt),
            "expiresAt": Self.iso(session.expiresAt),
            "ip": .string(session.ip),
            "userAgent": .string(session.userAgent),
            "birth": .object([
                "kind": .string(session.birth.kind.rawValue),
                "credentialId": .string(Base64URL.encode(session.birth.credentialID)),
                "userVerified": .bool(session.birth.userVerified),
                "deviceBound": .bool(session.birth.deviceBound),
                "coolingUntil": session.birth.coolingUntil.map(Self.iso) ?? .null,
            ]),
        ])
    }

    // MARK: Sign-up and sign-in

    @Sendable func signupOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await body(request)
        guard let username = try optionalString(object, "username") else { throw Problem.invalid("username is required.") }
        try limit(ip: info(request, context).ip, account: username.lowercased())
        return json(try await service.signupOptions(
            username: username, displayName: try optionalString(object, "displayName"), invite: try optionalString(object, "invite")))
    }

    @Sendable func signupVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await body(request)
        let who = info(request, context)
        try limit(ip: who.ip)
        let credential = try self.credential(object)
        let (user, passkey, issued) = try await service.signupVerify(credential: credential, name: try optionalString(object, "name"), info: who)
        var response = json(.object(["user": userJSON(user), "passkey": passkeyJSON(passkey)]), status: .created)
        response.setCookie(sessionCookie(issued.token))
        return response
    }

    @Sendable func loginOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await body(request)
        let username = try optionalString(object, "username")
        try limit(ip: info(request, context).ip, account: username?.lowercased())
        return json(try await service.loginOptions(username: username))
    }

    @Sendable func loginVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await body(request)
        let who = info(request, context)
        let credential = try self.credential(object)
        // The account is not known until the assertion verifies; the credential it names stands in for it.
        try limit(ip: who.ip, account: credential.object?["rawId"]?.string.map { "credential:" + $0.prefix(256) })
        let (user, issued, openCount) = try await service.loginVerify(credential: credential, info: who)
        // A sign-in shows the owner any recovery case open on their account (read only when there is one).
        let open = openCount == 0 ? [] : try await service.openCases(userID: user.id)
        var response = json(.object(["user": userJSON(user), "openRecoveryCases": .array(open.map(openCaseJSON))]))
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
        let passkeys = try await service.store.passkeys(userID: auth.user.id)
        return json(.object([
            "user": userJSON(auth.user),
            "passkeys": .array(passkeys.map(passkeyJSON)),
            "acceptedCredentialIds": .array(passkeys.map { .string(Base64URL.encode($0.credentialID)) }),
            "userHandle": .string(Base64URL.encode(auth.user.handle)),
            "rpId": .string(service.policy.relyingParty.id),
            "session": sessionJSON(auth.session, current: auth.session.id),
            "isAdmin": .bool(auth.user.isAdmin),
            // Every live session shows the owner's open recovery cases, with the way to cancel them.
            "openRecoveryCases": .array(try await service.openCases(userID: auth.user.id).map(openCaseJSON)),
        ]))
    }

    @Sendable func addOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try limit(ip: info(request, context).ip, account: auth.user.username)
        return json(try await service.addOptions(auth))
    }

    @Sendable func addVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await body(request)
        let credential = try self.credential(object)
        let passkey = try await service.addVerify(auth, credential: credential, name: try optionalString(object, "name"), info: info(request, context))
        return json(.object(["passkey": passkeyJSON(passkey)]), status: .created)
    }

    func credentialID(_ context: AppRequestContext) throws -> [UInt8] {
        guard let text = context.parameters.get("id"), let id = Base64URL.decode(text), !id.isEmpty else { throw Problem.notFound }
        return id
    }

    @Sendable func renamePasskey(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await body(request)
        guard let name = try optionalString(object, "name") else { throw Problem.invalid("name is required.") }
        try await service.renamePasskey(auth, credentialID: try credentialID(context), name: name, info: info(request, context))
        return Response(status: .noContent)
    }

    /// Removes a passkey and ends the sessions it made: says how many, and whether this one was among
    /// them (then the cookie goes too).
    @Sendable func deletePasskey(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let ended = try await service.deletePasskey(auth, credentialID: try credentialID(context), info: info(request, context))
        let signedOut = ended.contains(auth.session.id)
        var response = json(.object(["sessionsEnded": .int(ended.count), "signedOut": .bool(signedOut)]))
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
        let object = try await body(request)
        let credential = try self.credential(object)
        let token = try await service.reauthVerify(auth, credential: credential, info: info(request, context))
        var response = json(.object(["reauthenticated": .bool(true)]))
        response.setCookie(sessionCookie(token))
        return response
    }

    @Sendable func sessions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let sessions = try await service.store.sessions(userID: auth.user.id)
        return json(.object(["sessions": .array(sessions.map { sessionJSON($0, current: auth.session.id) })]))
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
        let events = try await service.store.events(userID: auth.user.id, limit: 200)
        return json(.object(["events": .array(events.map { event in
            var object: JSONObject = [
                "id": .string(event.id.uuidString.lowercased()), "kind": .string(event.kind.rawValue), "at": Self.iso(event.at),
                "ip": .string(event.ip), "userAgent": .string(event.userAgent),
            ]
            for (key, value) in event.detail.sorted(by: { $0.key < $1.key }) { object[key] = .string(value) }
            return .object(object)
        })]))
    }
}
