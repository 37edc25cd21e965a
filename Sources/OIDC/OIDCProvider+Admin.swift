import Accounts
import Foundation
import WebAuthn

/// An app a person has consented to (`GET /api/v1/me/apps`).
public struct ConnectedApp: Encodable, Sendable {
    public let clientID: String
    public let name: String
    public let scopes: [String]
    public let consentedAt: Date
}

extension OIDCProvider {
    // MARK: Clients

    /// Registers a client: a new random `client_id`, and for a confidential client a secret, returned
    /// once and stored only as its hash.
    public func createClient(_ registration: ClientRegistration) async throws -> (client: OIDCClient, secret: String?) {
        let secret = registration.isPublic ? nil : Base64URL.encode(random.bytes(32))
        let client = try registration.validated(id: Base64URL.encode(random.bytes(16)), secretHash: secret.map(sha256), now: clock())
        try await store.saveClient(client)
        return (client, secret)
    }

    /// A new secret for a confidential client; the old one stops working at once.
    public func rotateSecret(clientID: String) async throws -> String {
        guard let client = try await store.client(id: clientID) else { throw OIDCError.unknownClient }
        guard !client.isPublic else { throw OIDCError.invalidRegistration("A public client has no secret.") }
        let secret = Base64URL.encode(random.bytes(32))
        try await store.updateClientSecret(id: clientID, secretHash: sha256(secret))
        return secret
    }

    /// Deletes a client and everything issued to it.
    public func deleteClient(id: String) async throws {
        do { try await store.deleteClient(id: id) } catch OIDCStoreError.notFound { throw OIDCError.unknownClient }
    }

    public func clients() async throws -> [OIDCClient] { try await store.clients() }
    public func client(id: String) async throws -> OIDCClient? { try await store.client(id: id) }

    // MARK: A person's apps

    /// The apps the person consented to.
    public func connectedApps(userID: UUID) async throws -> [ConnectedApp] {
        var apps: [ConnectedApp] = []
        for consent in try await store.artifacts(kind: .consent, userID: userID) where consent.expiresAt > clock() {
            guard let client = try await store.client(id: consent.clientID), let grant = decode(ConsentGrant.self, consent.payload) else { continue }
            apps.append(ConnectedApp(clientID: client.id, name: client.name, scopes: grant.scopes, consentedAt: grant.at))
        }
        return apps
    }

    /// Withdraws consent from an app and revokes every token it holds for the person. Throws
    /// ``OIDCError/unknownClient`` when the person has no consent for it.
    public func disconnect(userID: UUID, clientID: String) async throws {
        guard clientID.count <= 200, try await store.artifact(kind: .consent, key: consentKey(userID: userID, clientID: clientID)) != nil else {
            throw OIDCError.unknownClient
        }
        try await store.revokeClientAccess(userID: userID, clientID: clientID)
    }

    /// Deletes expired codes, tokens and requests.
    public func sweep() async throws -> Int { try await store.sweepExpiredArtifacts(now: clock()) }

    // MARK: Pushed authorization requests (RFC 9126)

    static let pushedURIPrefix = "urn:ietf:params:oauth:request_uri:"

    /// Checks and stores a pushed request; returns its `request_uri` and lifetime (RFC 9126 §2.2).
    /// Errors are the ones the authorization endpoint would give, as JSON (§2.3).
    public func push(_ parameters: AuthorizationRequestParser.Parameters, client: OIDCClient) async throws -> (requestURI: String, expiresIn: Int) {
        let now = clock()
        if parameters.contains(where: { $0.name == "request_uri" }) { throw OAuthError.invalidRequest("request_uri cannot be pushed.") }
        if let named = parameters.first(where: { $0.name == "client_id" })?.value, named != client.id {
            throw OAuthError.invalidRequest("client_id does not match the authenticated client.")
        }
        guard var values = AuthorizationRequestParser.unique(parameters) else { throw OAuthError.invalidRequest("A parameter was given more than once.") }
        values["client_id"] = client.id
        let pushed = PushedRequest(clientID: client.id, parameters: values, receivedAt: now)
        do {
            _ = try await parser.parse([("client_id", client.id)], client: { try await store.client(id: $0) }, pushed: pushed, now: now)
        } catch let error as AuthorizationPageError {
            throw OAuthError.invalidRequest(error.message)
        } catch let error as AuthorizationRedirectError {
            throw error.error
        }
        let reference = Base64URL.encode(random.bytes(24))
        try await store.saveArtifacts([OIDCArtifact(
            kind: .pushedRequest, key: sha256(reference), clientID: client.id, payload: encode(pushed), createdAt: now,
            expiresAt: now.addingTimeInterval(settings.pushedRequestLifetime))])
        return (Self.pushedURIPrefix + reference, Int(settings.pushedRequestLifetime))
    }

    /// Uses up a pushed request (RFC 9126 §4: one use).
    func takePushedRequest(uri: String, now: Date) async throws -> PushedRequest {
        let reference = String(uri.dropFirst(Self.pushedURIPrefix.count))
        guard reference.count <= 64, let stored = try await store.artifact(kind: .pushedRequest, key: sha256(reference)),
              let pushed = decode(PushedRequest.self, stored.payload),
              try await store.consumeArtifact(kind: .pushedRequest, key: sha256(reference), now: now, replacements: [])
        else { throw AuthorizationPageError("The pushed authorization request has expired or was already used. Go back to the app and start again.") }
        return pushed
    }

    // MARK: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)

    /// What a logout request leads to.
    public enum LogoutOutcome: Sendable {
        /// End the browser's session, then go to `redirect` (or show the signed-out page).
        case signOut(redirect: String?)
        /// Ask the person first (§2: without a valid `id_token_hint`).
        case confirm(LogoutPrompt)
        /// Nothing to end: go to `redirect` (or show the signed-out page).
        case signedOut(redirect: String?)
    }

    /// The confirmation page's content and form.
    public struct LogoutPrompt: Sendable {
        public let clientID: String?
        public let clientName: String?
        public let postLogoutRedirectURI: String?
        public let state: String?
        public let formToken: String
    }

    /// A logout request (§2). Throws ``AuthorizationPageError`` for a bad hint or an unregistered
    /// `post_logout_redirect_uri` (§3: never redirected to).
    public func logout(_ values: [String: String], auth: Authenticated?) async throws -> LogoutOutcome {
        var client: OIDCClient?
        var hintSubject: String?
        var hintSession: String?
        if let hint = values["id_token_hint"] {
            guard let claims = try? await keys.verify(hint, as: IDTokenClaims.self), claims.iss == settings.issuer,
                  let owner = try await store.client(id: claims.aud)
            else { throw AuthorizationPageError("The id_token_hint is not an ID token this server issued.") }
            client = owner
            hintSubject = claims.sub
            hintSession = claims.sid
        }
        if let clientID = values["client_id"] {
            if let client, client.id != clientID { throw AuthorizationPageError("client_id does not match the id_token_hint.") }
            guard clientID.count <= 200, let named = try await store.client(id: clientID) else { throw AuthorizationPageError("The app (client_id) is not registered here.") }
            client = named
        }
        let redirect = try logoutRedirect(values["post_logout_redirect_uri"], client: client, state: values["state"])
        guard let auth else { return .signedOut(redirect: redirect) }
        if let client, let hintSubject, hintSubject == subject(userID: auth.user.id, client: client),
           hintSession == nil || hintSession == auth.session.id.lowercaseText {
            return .signOut(redirect: redirect)
        }
        let token = formToken("logout", [client?.id ?? "", values["post_logout_redirect_uri"] ?? "", values["state"] ?? ""].joined(separator: "|"), auth.session.id)
        return .confirm(LogoutPrompt(clientID: client?.id, clientName: client?.name, postLogoutRedirectURI: values["post_logout_redirect_uri"],
                                     state: values["state"], formToken: token))
    }

    /// The person confirmed the logout on the page.
    public func confirmLogout(_ values: [String: String], auth: Authenticated) async throws -> String? {
        let clientID = values["client_id"] ?? ""
        let token = formToken("logout", [clientID, values["post_logout_redirect_uri"] ?? "", values["state"] ?? ""].joined(separator: "|"), auth.session.id)
        guard let sent = values["token"], ConstantTime.equal(sent, token) else {
            throw AuthorizationPageError("This sign-out form has expired. Sign out from your account page.")
        }
        let client = clientID.isEmpty ? nil : try await store.client(id: clientID)
        return try logoutRedirect(values["post_logout_redirect_uri"], client: client, state: values["state"])
    }

    func logoutRedirect(_ uri: String?, client: OIDCClient?, state: String?) throws -> String? {
        guard let uri else { return nil }
        guard let client else { throw AuthorizationPageError("post_logout_redirect_uri needs an id_token_hint or a client_id.") }
        guard URIMatch.isRegistered(uri, in: client.postLogoutRedirectURIs) else {
            throw AuthorizationPageError("The post_logout_redirect_uri is not one registered for \(client.name).")
        }
        return redirect(uri, ["state": state])
    }
}

/// A device authorization (RFC 8628 §3.2): the device's code, the person's code, where to enter it.
public struct DeviceAuthorization: Encodable, Sendable {
    public let device_code: String
    public let user_code: String
    public let verification_uri: String
    public let verification_uri_complete: String
    public let expires_in: Int
    public let interval: Int
}

/// What a device grant's client asked for, kept with the device code.
struct DeviceGrantRequest: Codable, Sendable, Equatable {
    var scopes: [String]
}

extension OIDCProvider {
    // MARK: Device authorization grant (RFC 8628)

    /// The device authorization endpoint (§3.1): for clients registered with the device grant. `start`
    /// opens the device-approval request that the person approves with their passkey on another device.
    public func authorizeDevice(_ form: [String: String], client: OIDCClient,
                                start: () async throws -> (deviceCode: String, userCode: String, expiresIn: Int, interval: Int),
                                verificationURI: String) async throws -> DeviceAuthorization {
        guard client.deviceGrant else { throw OAuthError.unauthorizedClient("This client is not registered for the device grant.") }
        var scopes: [String] = []
        for scope in (form["scope"] ?? "openid").split(separator: " ").map(String.init) where !scopes.contains(scope) { scopes.append(scope) }
        guard scopes.contains("openid") else { throw OAuthError.invalidScope("The openid scope is required.") }
        for scope in scopes where !client.scopes.contains(scope) || !AuthorizationRequestParser.supportedScopes.contains(scope) {
            throw OAuthError.invalidScope("The scope \(scope) is not available to this app.")
        }
        let started = try await start()
        let now = clock()
        try await store.saveArtifacts([OIDCArtifact(
            kind: .deviceCode, key: sha256(started.deviceCode), clientID: client.id, payload: encode(DeviceGrantRequest(scopes: scopes)),
            createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(started.expiresIn)))])
        return DeviceAuthorization(
            device_code: started.deviceCode, user_code: started.userCode, verification_uri: verificationURI,
            verification_uri_complete: verificationURI + "?user_code=" + started.userCode, expires_in: started.expiresIn, interval: started.interval)
    }

    /// The client a device request was opened for, by the request's device code hash: what the
    /// approval page names.
    public func deviceClient(deviceCodeHash: [UInt8]) async throws -> OIDCClient? {
        guard let stored = try await store.artifact(kind: .deviceCode, key: deviceCodeHash) else { return nil }
        return try await store.client(id: stored.clientID)
    }

    /// The token endpoint's device code grant (§3.4, §3.5). `poll` is the device-approval poll, which
    /// makes the device's session (a `device-approval` one) once the person approved.
    public func deviceToken(_ form: [String: String], client: OIDCClient, dpopJKT: String?,
                            poll: (String) async throws -> DevicePollOutcome) async throws -> TokenResponse {
        guard client.deviceGrant else { throw OAuthError.unauthorizedClient("This client is not registered for the device grant.") }
        guard let deviceCode = form["device_code"], !deviceCode.isEmpty, deviceCode.count <= 128 else {
            throw OAuthError.invalidRequest("device_code is required.")
        }
        guard let stored = try await store.artifact(kind: .deviceCode, key: sha256(deviceCode)), stored.clientID == client.id,
              let request = decode(DeviceGrantRequest.self, stored.payload)
        else { throw OAuthError.invalidGrant("The device code is unknown or was issued to another client.") }
        switch try await poll(deviceCode) {
        case .authorizationPending: throw OAuthError.authorizationPending()
        case .slowDown: throw OAuthError.slowDown()
        case .accessDenied: throw OAuthError.accessDenied("The person denied the request.")
        case .expiredToken: throw OAuthError.expiredToken()
        case .invalidGrant: throw OAuthError.invalidGrant("The device code was already used.")
        case .approved(let user, let issued):
            let now = clock()
            let issuedTokens = try await issue(
                user: user, client: client, scopes: request.scopes, sessionID: issued.session.id, authTime: issued.session.authenticatedAt,
                assurance: Assurance(acr: Assurance.deviceGrant, amr: ["user"]), nonce: nil, offline: request.scopes.contains("offline_access"),
                userinfoClaims: [], dpopJKT: dpopJKT, grantID: random.timeOrderedUUID(at: now), now: now,
                refreshExpiry: request.scopes.contains("offline_access") ? nil : issued.session.expiresAt)
            try await store.saveArtifacts(issuedTokens.artifacts)
            try await store.deleteArtifact(kind: .deviceCode, key: sha256(deviceCode))
            return issuedTokens.response
        }
    }
}
