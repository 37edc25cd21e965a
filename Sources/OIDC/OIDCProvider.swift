import Accounts
import Crypto
import Foundation
import WebAuthn

/// The OpenID Connect provider: authorization requests, consent, codes, tokens, UserInfo, revocation,
/// introspection and logout, over ``OIDCStore`` and the account domain. It makes no session: every
/// token it issues comes from a session the domain's `SessionAuthority` made from a passkey
/// assertion, and says how that session was born (``Assurance``).
public struct OIDCProvider: Sendable {
    let store: any OIDCStore
    let accounts: any UserStore & SessionStore & PasskeyStore
    /// The signing keys.
    public let keys: KeyRing
    /// Issuer, paths and lifetimes.
    public let settings: OIDCSettings
    let random: any RandomSource
    let clock: @Sendable () -> Date
    /// Keys for form tokens and pairwise subjects, read from the store at start-up.
    let secret: SecretBox

    public init(store: any OIDCStore, accounts: any UserStore & SessionStore & PasskeyStore, keys: KeyRing, settings: OIDCSettings,
                random: any RandomSource, secret: SecretBox, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.accounts = accounts
        self.keys = keys
        self.settings = settings
        self.random = random
        self.secret = secret
        self.clock = clock
    }

    var parser: AuthorizationRequestParser { AuthorizationRequestParser(keys: keys, issuer: settings.issuer) }

    // MARK: Outcomes

    /// What the browser is shown or sent to next.
    public enum AuthorizationOutcome: Sendable {
        /// Back to the client (a code, or an error), RFC 6749 §4.1.2 and §4.1.2.1.
        case redirect(String)
        /// The sign-in page, for this request.
        case signIn(SignInPrompt)
        /// The consent page.
        case consent(ConsentPrompt)
    }

    /// Why the person is asked to sign in.
    public enum SignInReason: String, Sendable {
        /// There is no session in this browser (or it is someone else's).
        case noSession = "no-session"
        /// The app asks for a sign-in more recent than this session's (`prompt=login`, `max_age`).
        case fresh
        /// The app asks for a device-bound passkey (`phrh`).
        case deviceBound = "device-bound"
        /// The app asks for a sign-in with a passkey (`phr`), not an approval from another device.
        case passkey
    }

    /// The sign-in page's content.
    public struct SignInPrompt: Sendable {
        public let interactionID: String
        public let client: OIDCClient
        public let loginHint: String?
        public let reason: SignInReason
        /// What the caller's `preparing` work made for the page, when it gave one.
        public let prepared: String?
    }

    /// Work for the sign-in page (its passkey options, which store a challenge) that runs while the
    /// waiting request is stored: the two writes then share a group commit instead of following each
    /// other. It runs only when the answer is the sign-in page.
    public typealias SignInPreparation = @Sendable () async -> String

    /// The consent page's content.
    public struct ConsentPrompt: Sendable {
        public let interactionID: String
        public let client: OIDCClient
        public let scopes: [String]
        /// Where the answer goes (the request's redirect URI).
        public let redirectURI: String
        /// The form token that binds the decision to this session and request.
        public let formToken: String
    }

    /// A request waiting for the person.
    struct Interaction: Codable, Sendable, Equatable {
        var request: AuthorizationRequest
        var consented: Bool
        /// A fresh sign-in was asked for once already: a second one that still misses the required acr ends the request.
        var askedForSignIn: Bool
    }

    // MARK: Authorization endpoint

    /// Handles an authorization request (Core §3.1.2). Throws ``AuthorizationPageError`` for what must
    /// not be redirected; every other error is a `.redirect` to the client.
    public func authorize(_ parameters: AuthorizationRequestParser.Parameters, auth: Authenticated?,
                          preparing: SignInPreparation? = nil) async throws -> AuthorizationOutcome {
        let now = clock()
        var pushed: PushedRequest?
        if let uri = parameters.first(where: { $0.name == "request_uri" })?.value, uri.hasPrefix(Self.pushedURIPrefix) {
            pushed = try await takePushedRequest(uri: uri, now: now)
        }
        do {
            let (request, client) = try await parser.parse(parameters, client: { try await store.client(id: $0) }, pushed: pushed, now: now)
            return try await decide(Interaction(request: request, consented: false, askedForSignIn: false), client: client, id: nil, auth: auth, now: now,
                                    preparing: preparing)
        } catch let error as AuthorizationRedirectError {
            return .redirect(errorRedirect(error))
        }
    }

    /// Continues a request after the person signed in (`id` is the interaction the sign-in page carried).
    public func resume(interactionID id: String, auth: Authenticated?, preparing: SignInPreparation? = nil) async throws -> AuthorizationOutcome {
        let now = clock()
        let (interaction, client) = try await interaction(id, now: now)
        return try await decide(interaction, client: client, id: id, auth: auth, now: now, preparing: preparing)
    }

    /// Continues a request in the response to the passkey sign-in made on its sign-in page, sparing the
    /// browser the round trip through the resume path: the redirect back to the client when the request
    /// ends now (a code, or an error the client is told), or nil when the person must see a page first
    /// (consent, a stronger sign-in) or the request cannot continue; the page then goes to the resume
    /// path, which shows it. Nothing is stored for a request that needs a page.
    public func continueAfterSignIn(interactionID id: String, auth: Authenticated) async throws -> String? {
        let now = clock()
        let (interaction, client) = try await interaction(id, now: now)
        do {
            if case .redirect(let location) = try await decide(interaction, client: client, id: id, auth: auth, now: now, pages: false) {
                return location
            }
            return nil
        } catch is PageNeeded {
            return nil
        }
    }

    /// A decision made without pages reached one.
    struct PageNeeded: Error {}

    /// The person's answer on the consent page: allow (remembered for the next requests, or this once)
    /// or decline. Either way an allowed app is listed among the person's connected apps, so that
    /// what it holds (an offline refresh token, say) can be revoked.
    public func consent(interactionID id: String, auth: Authenticated, approve: Bool, remember: Bool = true,
                        formToken: String) async throws -> AuthorizationOutcome {
        let now = clock()
        var (interaction, client) = try await interaction(id, now: now)
        guard ConstantTime.equal(formToken, self.formToken("consent", id, auth.session.id)) else {
            throw AuthorizationPageError("This consent form has expired. Go back to the app and start again.")
        }
        guard approve else {
            try await store.deleteArtifact(kind: .interaction, key: interactionKey(id))
            return .redirect(errorRedirect(AuthorizationRedirectError(
                redirectURI: interaction.request.redirectURI, error: .accessDenied("The person declined."), state: interaction.request.state)))
        }
        let grant = ConsentGrant(scopes: interaction.request.scopes, at: now, remember: remember)
        try await store.saveArtifacts([OIDCArtifact(
            kind: .consent, key: consentKey(userID: auth.user.id, clientID: client.id), clientID: client.id, userID: auth.user.id,
            payload: encode(grant), createdAt: now, expiresAt: now.addingTimeInterval(settings.consentLifetime))])
        interaction.consented = true
        return try await decide(interaction, client: client, id: id, auth: auth, now: now)
    }

    func interaction(_ id: String, now: Date) async throws -> (Interaction, OIDCClient) {
        guard id.count <= 64, let stored = try await store.artifact(kind: .interaction, key: interactionKey(id)), !stored.revoked, stored.consumedAt == nil,
              stored.expiresAt > now, let interaction = decode(Interaction.self, stored.payload),
              let client = try await store.client(id: interaction.request.clientID)
        else { throw AuthorizationPageError(Self.usedInteraction) }
        return (interaction, client)
    }

    /// The decision for a checked request: sign in, consent, or a code. With `pages` false, a decision
    /// that needs a page throws ``PageNeeded`` before anything is stored.
    func decide(_ interaction: Interaction, client: OIDCClient, id: String?, auth: Authenticated?, now: Date,
                pages: Bool = true, preparing: SignInPreparation? = nil) async throws -> AuthorizationOutcome {
        let request = interaction.request
        let silent = request.prompts("none")
        func fail(_ error: OAuthError) async throws -> AuthorizationOutcome {
            if let id { try await store.deleteArtifact(kind: .interaction, key: interactionKey(id)) }
            return .redirect(errorRedirect(AuthorizationRedirectError(redirectURI: request.redirectURI, error: error, state: request.state)))
        }
        func signIn(_ reason: SignInReason) async throws -> AuthorizationOutcome {
            guard pages else { throw PageNeeded() }
            var next = interaction
            next.askedForSignIn = true
            async let prepared = preparing?()
            let id = try await save(next, id: id, now: now)
            return .signIn(SignInPrompt(interactionID: id, client: client, loginHint: request.loginHint, reason: reason, prepared: await prepared))
        }

        // Someone signed in, and the one the app means (Core §3.1.2.1 id_token_hint)?
        guard let auth, !auth.user.disabled, auth.session.expiresAt > now else {
            return silent ? try await fail(.loginRequired("No one is signed in.")) : try await signIn(.noSession)
        }
        if let hint = request.hintSubject, hint != subject(userID: auth.user.id, client: client) {
            return silent ? try await fail(.loginRequired("Another account is signed in.")) : try await signIn(.noSession)
        }

        // Fresh enough (Core §3.1.2.1 prompt=login, max_age; §3.1.2.3)?
        let fresh = auth.session.authenticatedAt >= request.receivedAt
        if !fresh {
            if request.prompts("login") || request.prompts("select_account") { return try await signIn(.fresh) }
            if let maxAge = request.maxAge, now.timeIntervalSince(auth.session.authenticatedAt) > TimeInterval(maxAge) {
                return silent ? try await fail(.loginRequired("The sign-in is older than max_age.")) : try await signIn(.fresh)
            }
        }

        // Strong enough (Core §3.1.2.1 acr_values, §5.5.1.1 essential acr)?
        let assurance = Assurance(birth: auth.session.birth)
        if !request.requiredACR.isEmpty, !request.requiredACR.contains(assurance.acr) {
            let wantsDeviceBound = !request.requiredACR.contains(Assurance.phr) && request.requiredACR.contains(Assurance.phrh)
            let passkeys = try await accounts.passkeys(userID: auth.user.id)
            let possible = wantsDeviceBound ? passkeys.contains(where: \.isDeviceBound)
                : request.requiredACR.contains(Assurance.phr) && passkeys.contains { $0.recoveredAt == nil }
            if !possible || interaction.askedForSignIn && fresh {
                return try await fail(.unmetAuthenticationRequirements(
                    wantsDeviceBound ? "The account has no device-bound passkey to meet acr phrh." : "The sign-in cannot meet the requested acr."))
            }
            return silent ? try await fail(.interactionRequired("A stronger sign-in is required.")) : try await signIn(wantsDeviceBound ? .deviceBound : .passkey)
        }

        // Consent (Core §3.1.2.4): third-party apps, offline access, or when the app asks.
        let needsConsent = client.thirdParty || request.scopes.contains("offline_access") || request.prompts("consent")
        if needsConsent, !interaction.consented {
            var remembered = false
            if !request.prompts("consent"), let stored = try await store.artifact(kind: .consent, key: consentKey(userID: auth.user.id, clientID: client.id)),
               !stored.revoked, stored.expiresAt > now, let grant = decode(ConsentGrant.self, stored.payload) {
                remembered = grant.remembered && Set(request.scopes).isSubset(of: grant.scopes)
            }
            if !remembered {
                if silent { return try await fail(.consentRequired("The person has not consented to these scopes.")) }
                guard pages else { throw PageNeeded() }
                let id = try await save(interaction, id: id, now: now)
                return .consent(ConsentPrompt(interactionID: id, client: client, scopes: request.scopes, redirectURI: request.redirectURI,
                                              formToken: formToken("consent", id, auth.session.id)))
            }
        }

        // A code (RFC 6749 §4.1.2): single use, short-lived, bound to client, redirect URI and PKCE challenge.
        let (code, codeKey) = TimeOrderedHandle.make(randomCount: Self.codeRandomBytes, now: now, random: random)
        let grant = CodeGrant(request: request, userID: auth.user.id, sessionID: auth.session.id, authTime: auth.session.authenticatedAt,
                              assurance: assurance, offline: request.scopes.contains("offline_access"))
        let artifact = OIDCArtifact(
            kind: .code, key: codeKey, clientID: client.id, userID: auth.user.id, sessionID: auth.session.id, grantID: random.timeOrderedUUID(at: now),
            payload: encode(grant), createdAt: now, expiresAt: now.addingTimeInterval(min(settings.codeLifetime, 60)))
        if let id {
            // The waiting request is used up by the transaction that stores its code: two tabs resuming
            // one request get one code between them.
            guard try await store.consumeArtifact(kind: .interaction, key: interactionKey(id), now: now, replacements: [artifact]) else {
                throw AuthorizationPageError(Self.usedInteraction)
            }
        } else {
            try await store.saveArtifacts([artifact])
        }
        return .redirect(redirect(request.redirectURI, ["code": code, "state": request.state, "iss": settings.issuer]))
    }

    static let usedInteraction = "This sign-in request has expired or was already used. Go back to the app and start again."

    /// Stores (or updates) a waiting request; returns its ID.
    func save(_ interaction: Interaction, id: String?, now: Date) async throws -> String {
        let payload = encode(interaction)
        let expiry = now.addingTimeInterval(settings.interactionLifetime)
        if let id, try await store.updateArtifact(kind: .interaction, key: interactionKey(id), payload: payload, expiresAt: expiry) { return id }
        let (id, key) = TimeOrderedHandle.make(randomCount: Self.interactionRandomBytes, now: now, random: random)
        try await store.saveArtifacts([OIDCArtifact(kind: .interaction, key: key, clientID: interaction.request.clientID,
                                                    payload: payload, createdAt: now, expiresAt: expiry)])
        return id
    }

    // MARK: Helpers

    /// The redirect of an error, with `error`, `error_description`, `state` and `iss` (RFC 9207 §2).
    func errorRedirect(_ error: AuthorizationRedirectError) -> String {
        redirect(error.redirectURI, ["error": error.error.code, "error_description": error.error.description, "state": error.state, "iss": settings.issuer])
    }

    /// `uri` with `parameters` added to its query (RFC 6749 §4.1.2: keeping any query it has).
    func redirect(_ uri: String, _ parameters: KeyValuePairs<String, String?>) -> String {
        let added = parameters.compactMap { name, value in value.map { formEncode(name) + "=" + formEncode($0) } }.joined(separator: "&")
        guard !added.isEmpty else { return uri }
        return uri + (uri.contains("?") ? (uri.hasSuffix("?") || uri.hasSuffix("&") ? "" : "&") : "?") + added
    }

    /// The person's identifier as `client` sees it: the account's UUID, or a pairwise one (Core §8.1)
    /// computed from the client's sector (the host of its first redirect URI) so that apps cannot
    /// correlate a person across each other.
    public func subject(userID: UUID, client: OIDCClient) -> String {
        guard client.pairwise else { return userID.lowercaseText }
        let sector = client.redirectURIs.first.flatMap { URLComponents(string: $0)?.host } ?? client.id
        let mac = HMAC<SHA256>.authenticationCode(for: Array("pairwise|\(sector)|\(userID.lowercaseText)".utf8),
                                                  using: SymmetricKey(data: secret.value))
        return Base64URL.encode(Array(mac))
    }

    /// A token for a form of this server that binds it to the session and the purpose.
    func formToken(_ purpose: String, _ id: String, _ sessionID: UUID) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(purpose)|\(id)|\(sessionID.uuidString)".utf8), using: SymmetricKey(data: secret.value))
        return Base64URL.encode(Array(mac))
    }

    /// Random bytes of the handles the provider stores (after their time, ``TimeOrderedHandle``).
    static let codeRandomBytes = 32, refreshTokenRandomBytes = 32, interactionRandomBytes = 24, accessTokenIDRandomBytes = 18

    /// The stored keys of a code, a waiting request's ID, a refresh token and an access token's `jti`.
    func codeKey(_ code: String) -> [UInt8] { TimeOrderedHandle.key(code, randomCount: Self.codeRandomBytes) }
    func interactionKey(_ id: String) -> [UInt8] { TimeOrderedHandle.key(id, randomCount: Self.interactionRandomBytes) }
    func refreshTokenKey(_ token: String) -> [UInt8] { TimeOrderedHandle.key(token, randomCount: Self.refreshTokenRandomBytes) }
    func accessTokenKey(_ jti: String) -> [UInt8] { TimeOrderedHandle.key(jti, randomCount: Self.accessTokenIDRandomBytes) }

    func consentKey(userID: UUID, clientID: String) -> [UInt8] { sha256("consent|\(userID.lowercaseText)|\(clientID)") }

    /// A stored payload's bytes (see ``StoredPayload`` for the format: dates keep their fraction of a
    /// second, or a sign-in just before a waiting request arrived would count as fresh).
    func encode(_ value: some StoredPayload) -> [UInt8] { value.payloadBytes }

    /// A stored payload, or nil when the bytes are not one of `type`.
    func decode<T: StoredPayload>(_ type: T.Type, _ bytes: [UInt8]) -> T? { T(payloadBytes: bytes) }
}

/// `application/x-www-form-urlencoded` encoding of one name or value: everything but the unreserved
/// characters of RFC 3986 §2.3 percent-encoded.
package func formEncode(_ text: String) -> String {
    // Bytes in, bytes out: String(format:) per escaped byte went through printf and dynamic casts
    // on every redirect.
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count * 3)
    for byte in text.utf8 {
        if isUnreserved(byte) {
            out.append(byte)
        } else {
            out.append(UInt8(ascii: "%"))
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0x0F))
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// The upper-case hexadecimal digit of `nibble` (0 to 15).
private func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
}

/// An unreserved character of RFC 3986 §2.3 (also the alphabet of a PKCE verifier, RFC 7636 §4.1).
func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
    default: false
    }
}
