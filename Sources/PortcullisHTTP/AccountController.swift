import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import OIDC
import WebAuthn

/// The account API under `/api/v1`: sign-up, sign-in, the signed-in user, their passkeys and sessions,
/// and their security timeline.
struct AccountController: Sendable {
    let kit: APIToolkit

    /// The routes: sign-up and sign-in open, the rest behind the session cookie's authenticator.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        let signedIn = routes.group().add(middleware: kit.authenticator)
        let open = routes.group("api/v1")
        open.post("signup/options", use: kit.measured("signup_options", signupOptions))
        open.post("signup/verify", use: kit.measured("signup_verify", signupVerify))
        open.post("login/options", use: kit.measured("login_options", loginOptions))
        open.post("login/verify", use: kit.measured("login_verify", loginVerify))
        let user = signedIn.group("api/v1")
        user.post("logout", use: logout)
        user.get("me", use: me)
        user.post("me/passkeys/options", use: kit.measured("add_options", addOptions))
        user.post("me/passkeys/verify", use: kit.measured("add_verify", addVerify))
        user.patch("me/passkeys/:id", use: renamePasskey)
        user.delete("me/passkeys/:id", use: deletePasskey)
        user.post("me/reauth/options", use: kit.measured("reauth_options", reauthOptions))
        user.post("me/reauth/verify", use: kit.measured("reauth_verify", reauthVerify))
        user.get("me/sessions", use: sessions)
        user.delete("me/sessions/:id", use: revokeSession)
        user.get("me/events", use: events)
        return routes
    }

    // MARK: Requests and responses

    struct SignupOptionsRequest: Decodable { let username: String; let displayName: String?; let invite: String? }
    struct LoginOptionsRequest: Decodable { let username: String? }
    struct RenameRequest: Decodable { let name: String }

    /// A sign-in's verify request; `interaction` when it was made on an app's sign-in page.
    struct LoginVerification: Decodable { let credential: JSONValue; let interaction: String? }
    /// A signed-in user; `returnTo` is where the browser goes next when the sign-in ended an app's
    /// authorization request (the app's redirect URI with a code or an error).
    struct SignedIn: Encodable { let user: UserView; let openRecoveryCases: [OpenRecoveryCaseView]; var returnTo: String? = nil }
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
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: JSONMemberKey.self)
            try container.encode(event.id, forKey: JSONMemberKey("id"))
            try container.encode(event.kind.rawValue, forKey: JSONMemberKey("kind"))
            try container.encode(event.at, forKey: JSONMemberKey("at"))
            try container.encode(event.ip, forKey: JSONMemberKey("ip"))
            try container.encode(event.userAgent, forKey: JSONMemberKey("userAgent"))
            for (name, value) in event.detail.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: JSONMemberKey(name)) }
        }
    }
    struct Events: Encodable { let events: [EventView] }

    // MARK: Sign-up and sign-in

    @Sendable func signupOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await kit.decode(SignupOptionsRequest.self, request)
        try await kit.limit(ip: kit.info(request, context).ip, account: input.username.lowercased())
        return kit.json(try await kit.service.signupOptions(username: input.username, displayName: input.displayName, invite: input.invite))
    }

    @Sendable func signupVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await kit.decode(CeremonyVerification.self, request)
        let who = kit.info(request, context)
        try await kit.limit(ip: who.ip)
        let (user, passkey, issued) = try await kit.service.signupVerify(credential: input.credential, name: input.name, info: who)
        var response = try kit.created(user, passkey)
        response.setCookie(kit.sessionCookie(issued.token))
        return response
    }

    @Sendable func loginOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await kit.decode(LoginOptionsRequest.self, request)
        return kit.json(try await kit.loginOptions(username: input.username, request, context))
    }

    @Sendable func loginVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await kit.decode(LoginVerification.self, request)
        let credential = input.credential
        let who = kit.info(request, context)
        // The account is not known until the assertion verifies; the credential it names stands in for it.
        try await kit.limit(ip: who.ip, account: credential.object?["rawId"]?.string.map { "credential:" + $0.prefix(256) })
        let (user, issued, openCount) = try await kit.service.loginVerify(credential: credential, info: who)
        // A sign-in shows the owner any recovery case open on their account (read only when there is one).
        let open = openCount == 0 ? [] : try await kit.service.recovery.openCases(userID: user.id)
        var signedIn = SignedIn(user: UserView(user), openRecoveryCases: open.map(OpenRecoveryCaseView.init))
        // Made on an app's sign-in page: the request goes on with the new session in this response when
        // it can end without a page. Otherwise (or when it cannot go on: used, expired, the store
        // failing) the page continues at the resume path, which shows why.
        if let id = input.interaction, let auth = issued.authenticated(user) {
            signedIn.returnTo = try? await kit.oidc.continueAfterSignIn(interactionID: id, auth: auth)
        }
        var response = try kit.json(signedIn)
        response.setCookie(kit.sessionCookie(issued.token))
        return response
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.service.account.revokeSession(auth, sessionID: auth.session.id, info: kit.info(request, context))
        var response = Response(status: .noContent)
        response.setCookie(kit.expiredCookie())
        return response
    }

    // MARK: The signed-in user

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let passkeys = try await kit.service.account.passkeys(auth)
        return try kit.json(Me(
            user: UserView(auth.user), passkeys: passkeys.map(kit.passkeyView),
            acceptedCredentialIds: passkeys.map { Base64URL.encode($0.credentialID) },
            userHandle: Base64URL.encode(auth.user.handle), rpId: kit.service.policy.relyingParty.id,
            session: SessionView(auth.session, current: auth.session.id, place: kit.settings.place(auth.session.ip)), isAdmin: auth.user.isAdmin,
            // Every live session shows the owner's open recovery cases, with the way to cancel them.
            openRecoveryCases: try await kit.service.recovery.openCases(userID: auth.user.id).map(OpenRecoveryCaseView.init)))
    }

    @Sendable func addOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.limit(ip: kit.info(request, context).ip, account: auth.user.username)
        return kit.json(try await kit.service.account.addOptions(auth))
    }

    @Sendable func addVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await kit.decode(CeremonyVerification.self, request)
        let passkey = try await kit.service.account.addVerify(auth, credential: input.credential, name: input.name, info: kit.info(request, context))
        return try kit.json(AddedPasskey(passkey: kit.passkeyView(passkey)), status: .created)
    }

    func credentialID(_ context: AppRequestContext) throws -> [UInt8] {
        guard let text = context.parameters.get("id"), let id = Base64URL.decode(text), !id.isEmpty else { throw Problem.notFound }
        return id
    }

    @Sendable func renamePasskey(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let name = try await kit.decode(RenameRequest.self, request).name
        try await kit.service.account.renamePasskey(auth, credentialID: try credentialID(context), name: name, info: kit.info(request, context))
        return Response(status: .noContent)
    }

    /// Removes a passkey and ends the sessions it made: says how many, and whether this one was among
    /// them (then the cookie goes too).
    @Sendable func deletePasskey(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let ended = try await kit.service.account.deletePasskey(auth, credentialID: try credentialID(context), info: kit.info(request, context))
        let signedOut = ended.contains(auth.session.id)
        var response = try kit.json(RemovedPasskey(sessionsEnded: ended.count, signedOut: signedOut))
        if signedOut { response.setCookie(kit.expiredCookie()) }
        return response
    }

    @Sendable func reauthOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.limit(ip: kit.info(request, context).ip, account: auth.user.username)
        return kit.json(try await kit.service.account.reauthOptions(auth))
    }

    @Sendable func reauthVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let credential = try await kit.decode(CeremonyVerification.self, request).credential
        let token = try await kit.service.account.reauthVerify(auth, credential: credential, info: kit.info(request, context))
        var response = try kit.json(Reauthenticated())
        response.setCookie(kit.sessionCookie(token))
        return response
    }

    @Sendable func sessions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        return try kit.json(Sessions(sessions: try await kit.service.account.sessions(auth).map {
            SessionView($0, current: auth.session.id, place: kit.settings.place($0.ip))
        }))
    }

    @Sendable func revokeSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let id = try kit.idParameter(context)
        try await kit.service.account.revokeSession(auth, sessionID: id, info: kit.info(request, context))
        var response = Response(status: .noContent)
        if id == auth.session.id { response.setCookie(kit.expiredCookie()) }
        return response
    }

    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        return try kit.json(Events(events: try await kit.service.account.events(auth).map(EventView.init)))
    }
}
