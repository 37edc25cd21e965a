import Accounts
import Crypto
import Foundation
import JWTKit
@testable import OIDC
import PortcullisTesting
import Testing
import WebAuthn

/// The provider over its in-memory store and the memory account store, with a clock the test moves:
/// no HTTP, no SQL.
struct ProviderFixture {
    let accounts = MemoryAccountStore()
    let store = MemoryOIDCStore()
    let clock = MutableClock()
    let provider: OIDCProvider
    let service: PasskeyService

    init() throws {
        let clock = self.clock
        var settings = OIDCSettings(issuer: "https://id.example.org")
        settings.codeLifetime = 30
        settings.sessionIdleTimeout = 3600
        let secret = SecretBox(Array(repeating: 7, count: 32))
        let keys = KeyRing(store: store, encryption: KeyEncryption(secret: "sealing secret"), retention: 3600, clock: { clock.now })
        provider = OIDCProvider(store: store, accounts: accounts, keys: keys, settings: settings, random: SystemRandomSource(), secret: secret,
                                clock: { clock.now })
        let rp = try RelyingParty(id: "example.org", origins: ["https://example.org"])
        let policy = AccountsPolicy(relyingParty: rp, relyingPartyName: "Test", sessionIdleTimeout: 3600, sessionAbsoluteLifetime: 7200,
                                    reauthenticationWindow: 300)
        service = PasskeyService(store: accounts, policy: policy, enumerationSecret: Array(repeating: 1, count: 32), clock: { clock.now })
    }

    /// A person signed in with a passkey (`deviceBound` or synced), as the session cookie resolves them.
    func signedIn(deviceBound: Bool = false, birth: SessionBirth.Kind = .passkey) async throws -> Authenticated {
        let (user, passkey, _) = try await StoreFixtures.signUp(accounts, "user-\(UUID().uuidString.prefix(6).lowercased())", now: clock.now)
        let token = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        var session = StoreFixtures.session(for: user, passkey: passkey, at: clock.now, lifetime: 7200)
        session.tokenHash = Array(SHA256.hash(data: Array(token.utf8)))
        session.birth = SessionBirth(kind: birth, credentialID: passkey.credentialID, userVerified: true, deviceBound: deviceBound)
        let login = StoreFixtures.challenge(.login, user: user, expiresAt: clock.now.addingTimeInterval(300))
        try await accounts.saveChallenge(login)
        try await accounts.recordAssertion(
            credentialID: passkey.credentialID, expectedSignCount: 0, newSignCount: 1, backedUp: !deviceBound, uvInitialized: true,
            newSession: session, reauthenticatedSession: nil, event: StoreFixtures.event(.signin, for: user), challenge: login.challenge,
            kind: .login, now: clock.now)
        return try #require(try await service.sessions.authenticate(token: token))
    }

    func client(_ configure: (inout ClientRegistration) -> Void = { _ in }) async throws -> (OIDCClient, String?) {
        var registration = ClientRegistration(name: "App", redirectURIs: ["https://app.example/cb"])
        configure(&registration)
        return try await provider.createClient(registration)
    }

    static let verifier = "a-verifier-that-is-long-enough-for-pkce-0123456789"
    static var challenge: String { Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))) }

    static func request(_ client: OIDCClient, _ extra: [(String, String)] = [], without: Set<String> = []) -> AuthorizationRequestParser.Parameters {
        let base: [(String, String)] = [
            ("response_type", "code"), ("client_id", client.id), ("redirect_uri", client.redirectURIs[0]), ("scope", "openid profile"),
            ("state", "s1"), ("nonce", "n1"), ("code_challenge", challenge), ("code_challenge_method", "S256"),
        ]
        let names = Set(extra.map(\.0))
        return (base.filter { !names.contains($0.0) && !without.contains($0.0) } + extra).map { (name: $0.0, value: $0.1) }
    }

    static func query(_ location: String) -> [String: String] {
        var values: [String: String] = [:]
        for item in URLComponents(string: location)?.queryItems ?? [] { values[item.name] = item.value }
        return values
    }

    func code(_ client: OIDCClient, auth: Authenticated, _ extra: [(String, String)] = []) async throws -> String {
        guard case .redirect(let location) = try await provider.authorize(Self.request(client, extra), auth: auth) else {
            Issue.record("no redirect")
            return ""
        }
        return try #require(Self.query(location)["code"])
    }

    func exchange(_ client: OIDCClient, code: String, verifier: String = ProviderFixture.verifier) async throws -> TokenResponse {
        try await provider.token(["grant_type": "authorization_code", "code": code, "redirect_uri": client.redirectURIs[0], "code_verifier": verifier],
                                 client: client, dpopJKT: nil)
    }
}

@Suite struct ProviderTests {
    @Test func aCodeIsExchangedOnceForTokensThatSayHowThePersonSignedIn() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        for deviceBound in [false, true] {
            let auth = try await f.signedIn(deviceBound: deviceBound)
            let code = try await f.code(client, auth: auth)
            let tokens = try await f.exchange(client, code: code)
            let claims = try await f.provider.keys.verify(try #require(tokens.id_token), as: IDTokenClaims.self)
            #expect(claims.iss == "https://id.example.org" && claims.aud == client.id && claims.nonce == "n1")
            #expect(claims.acr == (deviceBound ? "phrh" : "phr"))
            #expect(claims.amr == [deviceBound ? "hwk" : "swk", "user", "mfa"])
            // The same code again: refused, and what it issued is revoked.
            await #expect(throws: OAuthError.self) { try await f.exchange(client, code: code) }
            await #expect(throws: OAuthError.self) { try await f.provider.userinfo(token: tokens.access_token, dpopJKT: nil) }
        }
    }

    @Test(arguments: [SessionBirth.Kind.deviceApproval, .recovered])
    func sessionsNotBornFromTheirOwnPasskeyAreNeverPhr(birth: SessionBirth.Kind) async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn(deviceBound: true, birth: birth)
        let tokens = try await f.exchange(client, code: try await f.code(client, auth: auth))
        let claims = try await f.provider.keys.verify(try #require(tokens.id_token), as: IDTokenClaims.self)
        #expect(!["phr", "phrh"].contains(claims.acr))
        #expect(claims.acr == (birth == .recovered ? Assurance.recovered : Assurance.deviceApproval))
        // Asking for phr: the person must sign in with their passkey here, never a weaker session.
        let outcome = try await f.provider.authorize(ProviderFixture.request(client, [("acr_values", "phr")]), auth: auth)
        guard case .signIn(let prompt) = outcome else { Issue.record("expected the sign-in page"); return }
        #expect(prompt.reason == .passkey)
    }

    @Test func phrhWithOnlySyncedPasskeysIsUnmet() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn(deviceBound: false)
        for extra in [[("acr_values", "phrh")], [("claims", #"{"id_token":{"acr":{"essential":true,"values":["phrh"]}}}"#)]] {
            guard case .redirect(let location) = try await f.provider.authorize(ProviderFixture.request(client, extra), auth: auth) else {
                Issue.record("expected a redirect"); return
            }
            #expect(ProviderFixture.query(location)["error"] == "unmet_authentication_requirements")
            #expect(ProviderFixture.query(location)["state"] == "s1")
        }
    }

    /// RFC 6749 §4.1.2.1: an unknown client or a bad redirect URI is never redirected to.
    @Test(arguments: [
        ("client_id", "nobody"), ("redirect_uri", "https://app.example/cb?x=1"), ("redirect_uri", "https://app.example/cb/"),
        ("redirect_uri", "https://evil.example/cb"), ("redirect_uri", "HTTPS://app.example/cb"),
    ])
    func badClientsAndRedirectURIsAreShownNotRedirected(name: String, value: String) async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        await #expect(throws: AuthorizationPageError.self) {
            _ = try await f.provider.authorize(ProviderFixture.request(client, [(name, value)]), auth: nil)
        }
        await #expect(throws: AuthorizationPageError.self) {
            _ = try await f.provider.authorize(ProviderFixture.request(client, without: [name]), auth: nil)
        }
    }

    /// Every other error goes back to the client with state and iss.
    @Test(arguments: [
        ([("response_type", "token")], Set<String>(), "unsupported_response_type"),
        ([], ["response_type"], "invalid_request"),
        ([], ["code_challenge"], "invalid_request"),
        ([], ["code_challenge_method"], "invalid_request"),
        ([("code_challenge_method", "plain")], [], "invalid_request"),
        ([("scope", "profile")], [], "invalid_scope"),
        ([("scope", "openid email")], [], "invalid_scope"),
        ([("request", "e30.e30.")], [], "request_not_supported"),
        ([("request_uri", "https://rp.example/r")], [], "request_uri_not_supported"),
        ([("prompt", "none login")], [], "invalid_request"),
        ([("max_age", "-1")], [], "invalid_request"),
        ([("prompt", "none")], [], "login_required"),
    ] as [([(String, String)], Set<String>, String)])
    func otherErrorsAreRedirected(extra: [(String, String)], without: Set<String>, error: String) async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let preparations = Preparations()
        guard case .redirect(let location) = try await f.provider.authorize(ProviderFixture.request(client, extra, without: without), auth: nil,
                                                                           preparing: preparations.prepare) else {
            Issue.record("expected a redirect"); return
        }
        let query = ProviderFixture.query(location)
        #expect(location.hasPrefix("https://app.example/cb?"))
        #expect(query["error"] == error && query["state"] == "s1" && query["iss"] == "https://id.example.org")
        let prepared = await preparations.count
        #expect(prepared == 0, "a refused request prepares no sign-in page (which would store a challenge)")
    }

    /// Counts the sign-in page preparations a request ran.
    actor Preparations {
        private(set) var count = 0
        @Sendable nonisolated func prepare() async -> String { await made() }
        private func made() -> String {
            count += 1
            return "options \(count)"
        }
    }

    /// The sign-in page's preparation runs once, beside storing the waiting request, and only when the
    /// answer is that page: not for a code, nor when the page is only being decided on (`pages` false).
    @Test func theSignInPageIsPreparedOnlyWhenItIsTheAnswer() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let preparations = Preparations()
        guard case .signIn(let prompt) = try await f.provider.authorize(ProviderFixture.request(client), auth: nil, preparing: preparations.prepare) else {
            Issue.record("expected the sign-in page"); return
        }
        let afterPage = await preparations.count
        #expect(prompt.prepared == "options 1" && afterPage == 1)
        #expect(try await f.store.artifact(kind: .interaction, key: f.provider.interactionKey(prompt.interactionID)) != nil)
        guard case .redirect(let location) = try await f.provider.authorize(ProviderFixture.request(client), auth: try await f.signedIn(),
                                                                           preparing: preparations.prepare) else {
            Issue.record("expected a code"); return
        }
        let afterCode = await preparations.count
        #expect(ProviderFixture.query(location)["code"] != nil && afterCode == 1)
        guard case .signIn(let again) = try await f.provider.resume(interactionID: prompt.interactionID, auth: nil) else {
            Issue.record("expected the sign-in page again"); return
        }
        #expect(again.prepared == nil && again.interactionID == prompt.interactionID)
    }

    @Test func aCodeIsBoundToItsClientRedirectURIAndVerifierAndExpires() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let (other, _) = try await f.client()
        let auth = try await f.signedIn()
        let code = try await f.code(client, auth: auth)
        await #expect(throws: OAuthError.invalidGrant("The code is unknown or was issued to another client.")) { try await f.exchange(other, code: code) }
        await #expect(throws: OAuthError.self) { try await f.exchange(client, code: code, verifier: String(repeating: "x", count: 43)) }
        await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example/other",
                                        "code_verifier": ProviderFixture.verifier], client: client, dpopJKT: nil)
        }
        // The refusals used nothing up: the right exchange still works, once.
        _ = try await f.exchange(client, code: code)
        let late = try await f.code(client, auth: auth)
        f.clock.advance(by: 31)
        await #expect(throws: OAuthError.invalidGrant("The code has expired.")) { try await f.exchange(client, code: late) }
    }

    @Test func clientAuthentication() async throws {
        let f = try ProviderFixture()
        let (client, secret) = try await f.client()
        var publicRegistration: (OIDCClient, String?) = try await f.client { $0.isPublic = true }
        let id = client.id
        #expect(try await f.provider.authenticateClient(ClientCredentials(clientID: id, secret: secret, method: .basic)).id == id)
        #expect(try await f.provider.authenticateClient(ClientCredentials(clientID: id, secret: secret, method: .post)).id == id)
        for wrong in [ClientCredentials(clientID: id, secret: "wrong", method: .basic), ClientCredentials(clientID: id, secret: nil, method: .none),
                      ClientCredentials(clientID: "nobody", secret: secret, method: .post),
                      ClientCredentials(clientID: publicRegistration.0.id, secret: "x", method: .post)] {
            await #expect { try await f.provider.authenticateClient(wrong) } throws: { ($0 as? OAuthError)?.code == "invalid_client" }
        }
        publicRegistration.1 = nil
        #expect(try await f.provider.authenticateClient(ClientCredentials(clientID: publicRegistration.0.id, secret: nil, method: .none)).isPublic)
        // Introspection is for confidential clients only.
        await #expect(throws: OAuthError.self) { try await f.provider.introspect(token: "x", client: publicRegistration.0) }
    }

    @Test func refreshTokensRotateAndAReuseRevokesTheFamily() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        let first = try await f.exchange(client, code: try await f.code(client, auth: auth))
        let second = try await f.provider.token(["grant_type": "refresh_token", "refresh_token": try #require(first.refresh_token)], client: client, dpopJKT: nil)
        await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": try #require(first.refresh_token)], client: client, dpopJKT: nil)
        }
        await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": try #require(second.refresh_token)], client: client, dpopJKT: nil)
        }
        await #expect(throws: OAuthError.self) { try await f.provider.userinfo(token: second.access_token, dpopJKT: nil) }
    }

    /// An access token has no record of its own: it names the refresh token issued with it and is
    /// checked against that record. Rotation leaves it working; revoking it (RFC 7009) ends its grant,
    /// the refresh tokens and the earlier access tokens with it; asked-for UserInfo claims live on.
    @Test func anAccessTokenIsCheckedAgainstTheRefreshTokenIssuedWithIt() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        let code = try await f.code(client, auth: auth, [("claims", #"{"userinfo":{"auth_time":null}}"#)])
        let first = try await f.exchange(client, code: code)
        let firstRefresh = try #require(first.refresh_token)
        let claims = try await f.provider.keys.verify(first.access_token, as: AccessTokenClaims.self, type: "at+jwt")
        #expect(claims.grant_record == Base64URL.encode(f.provider.refreshTokenKey(firstRefresh)))
        #expect(try await f.store.artifacts(kind: .accessToken, userID: auth.user.id).isEmpty)
        #expect(try await f.store.artifacts(kind: .refreshToken, userID: auth.user.id).count == 1)
        #expect(try await f.provider.userinfo(token: first.access_token, dpopJKT: nil).object?["auth_time"] == .int(claims.auth_time))

        let second = try await f.provider.token(["grant_type": "refresh_token", "refresh_token": firstRefresh], client: client, dpopJKT: nil)
        _ = try await f.provider.userinfo(token: first.access_token, dpopJKT: nil)  // its record is used, not revoked
        #expect(try await f.provider.userinfo(token: second.access_token, dpopJKT: nil).object?["auth_time"] != nil)

        // Another client's revocation changes nothing.
        let (other, _) = try await f.client()
        try await f.provider.revoke(token: second.access_token, client: other)
        _ = try await f.provider.userinfo(token: second.access_token, dpopJKT: nil)

        try await f.provider.revoke(token: second.access_token, client: client)
        for token in [first.access_token, second.access_token] {
            await #expect(throws: OAuthError.invalidToken("The access token is revoked.")) { try await f.provider.userinfo(token: token, dpopJKT: nil) }
            #expect(try await f.provider.introspect(token: token, client: client).object?["active"] == .bool(false))
        }
        await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": try #require(second.refresh_token)], client: client, dpopJKT: nil)
        }
    }

    /// Access tokens issued before they named a refresh token were stored under their `jti`: they
    /// stay valid until they expire, and revoking one removes its record alone.
    @Test func accessTokensWithTheirOwnRecordStillWork() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        let issued = try await f.exchange(client, code: try await f.code(client, auth: auth))
        var claims = try await f.provider.keys.verify(issued.access_token, as: AccessTokenClaims.self, type: "at+jwt")
        claims.grant_record = nil
        let (jti, key) = TimeOrderedHandle.make(randomCount: OIDCProvider.accessTokenIDRandomBytes, now: f.clock.now, random: SystemRandomSource())
        claims.jti = jti
        let earlier = try await f.provider.keys.sign(claims, algorithm: client.idTokenAlgorithm, type: "at+jwt")
        await #expect(throws: OAuthError.invalidToken("The access token is revoked.")) { try await f.provider.userinfo(token: earlier, dpopJKT: nil) }
        try await f.store.saveArtifacts([OIDCArtifact(
            kind: .accessToken, key: key, clientID: client.id, userID: auth.user.id, sessionID: auth.session.id, grantID: UUID(),
            payload: Array(try JSONEncoder().encode(AccessGrant(scopes: ["openid"], userinfoClaims: ["auth_time"]))), createdAt: f.clock.now,
            expiresAt: f.clock.now.addingTimeInterval(300))])
        #expect(try await f.provider.userinfo(token: earlier, dpopJKT: nil).object?["auth_time"] == .int(claims.auth_time))
        try await f.provider.revoke(token: earlier, client: client)
        await #expect(throws: OAuthError.invalidToken("The access token is revoked.")) { try await f.provider.userinfo(token: earlier, dpopJKT: nil) }
        _ = try await f.provider.userinfo(token: issued.access_token, dpopJKT: nil)
    }

    @Test func withoutOfflineAccessTokensEndWithTheSession() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        let tokens = try await f.exchange(client, code: try await f.code(client, auth: auth))
        _ = try await f.provider.userinfo(token: tokens.access_token, dpopJKT: nil)
        try await f.accounts.deleteSession(id: auth.session.id, userID: auth.user.id, event: nil)
        await #expect(throws: OAuthError.self) { try await f.provider.userinfo(token: tokens.access_token, dpopJKT: nil) }
        await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": try #require(tokens.refresh_token)], client: client, dpopJKT: nil)
        }
    }

    /// How a session ends before its code is exchanged.
    enum SessionEnd: String, CaseIterable, Sendable {
        /// It reaches its expiry.
        case expires
        /// It goes unused for longer than the idle timeout, and the sweep has not deleted it yet.
        case idles
        /// It is deleted (a sign-out, a revoked session, a removed passkey, a completed recovery)
        /// and nothing has revoked its codes yet: the outbox tells the provider later, or never.
        case endsEarly
    }

    /// Without offline_access, a code's tokens end with its session: the refresh token expires with it,
    /// and a code whose session ended before the exchange gets no tokens, however the session ended.
    @Test(arguments: SessionEnd.allCases)
    func aCodeGetsTokensThatEndWithItsSession(_ end: SessionEnd) async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        let tokens = try await f.exchange(client, code: try await f.code(client, auth: auth))
        let refreshToken = try #require(tokens.refresh_token)
        let refresh = try #require(try await f.store.artifact(kind: .refreshToken, key: f.provider.refreshTokenKey(refreshToken)))
        #expect(refresh.expiresAt == auth.session.expiresAt)

        let late: String
        switch end {
        case .expires:
            // Ten seconds before the session ends, a code (valid for 30 s); then the session ends.
            f.clock.advance(by: auth.session.expiresAt.timeIntervalSince(f.clock.now) - 10)
            late = try await f.code(client, auth: auth)
            f.clock.advance(by: 11)
        case .idles:
            // Ten seconds before the idle timeout, a code; then the session has been idle too long.
            f.clock.advance(by: 3600 - 10)
            late = try await f.code(client, auth: auth)
            f.clock.advance(by: 11)
        case .endsEarly:
            late = try await f.code(client, auth: auth)
            try await f.accounts.deleteSession(id: auth.session.id, userID: auth.user.id, event: nil)
        }
        #expect(try await f.store.artifact(kind: .code, key: f.provider.codeKey(late))?.revoked == false)
        await #expect(throws: OAuthError.invalidGrant("The sign-in this code came from has ended.")) { try await f.exchange(client, code: late) }
        #expect(try await f.store.artifact(kind: .code, key: f.provider.codeKey(late))?.consumedAt == nil)
        #expect(try await f.store.artifacts(kind: .refreshToken, userID: auth.user.id).count == 1)
        // The tokens of the first code end with the session too (an expired session's refresh token
        // has expired with it).
        let refused = await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": refreshToken], client: client, dpopJKT: nil)
        }
        #expect(refused == (end == .expires ? .invalidGrant("The refresh token is revoked or expired.")
                                             : .invalidGrant("The sign-in this token came from has ended.")))
        if end == .endsEarly {  // otherwise the access token (five minutes) has long expired by itself
            await #expect(throws: OAuthError.invalidToken("The sign-in this token came from has ended.")) {
                try await f.provider.validateAccessToken(tokens.access_token, dpopJKT: nil)
            }
        }
    }

    /// Codes and refresh tokens made before handles began with their time (random bytes only, stored
    /// under their plain SHA-256) still work after the upgrade; the tokens they give are of the new form.
    @Test func handlesOfTheEarlierFormStillWork() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        func legacyCopy(_ kind: OIDCArtifact.Kind, of key: [UInt8]) async throws -> String {
            var stored = try #require(try await f.store.artifact(kind: kind, key: key))
            let legacy = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
            try await f.store.deleteArtifact(kind: kind, key: key)
            stored.key = sha256(legacy)
            try await f.store.saveArtifacts([stored])
            return legacy
        }
        let code = try await f.code(client, auth: auth)
        #expect(try #require(Base64URL.decode(code)).count == 38)
        let legacyCode = try await legacyCopy(.code, of: f.provider.codeKey(code))
        await #expect(throws: OAuthError.self) { try await f.exchange(client, code: code) }
        let tokens = try await f.exchange(client, code: legacyCode)
        let refreshToken = try #require(tokens.refresh_token)
        #expect(try #require(Base64URL.decode(refreshToken)).count == 38)
        let legacyRefresh = try await legacyCopy(.refreshToken, of: f.provider.refreshTokenKey(refreshToken))
        let refreshed = try await f.provider.token(["grant_type": "refresh_token", "refresh_token": legacyRefresh], client: client, dpopJKT: nil)
        #expect(refreshed.refresh_token != nil)
        // Replayed, the earlier-form token is found again, and revokes its family as any reused token does.
        await #expect(throws: OAuthError.self) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": legacyRefresh], client: client, dpopJKT: nil)
        }
    }

    @Test func freshnessCountsFromWhenTheRequestArrived() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        f.clock.advance(by: 10)
        guard case .signIn(let prompt) = try await f.provider.authorize(ProviderFixture.request(client, [("prompt", "login")]), auth: auth) else {
            Issue.record("prompt=login must ask for a sign-in"); return
        }
        #expect(prompt.reason == .fresh)
        // The same old session resumes: still not fresh.
        guard case .signIn = try await f.provider.resume(interactionID: prompt.interactionID, auth: auth) else { Issue.record("not fresh"); return }
        f.clock.advance(by: 1)
        let fresh = try await f.signedIn()
        guard case .redirect(let location) = try await f.provider.resume(interactionID: prompt.interactionID, auth: fresh) else {
            Issue.record("a sign-in after the request arrived is fresh"); return
        }
        #expect(ProviderFixture.query(location)["code"] != nil)
        // The waiting request was used up with its code: it cannot be resumed for another.
        await #expect(throws: AuthorizationPageError.self) { _ = try await f.provider.resume(interactionID: prompt.interactionID, auth: fresh) }
        // max_age: older than it asks for a sign-in; younger goes straight through.
        f.clock.advance(by: 20)
        guard case .signIn = try await f.provider.authorize(ProviderFixture.request(client, [("max_age", "10")]), auth: fresh) else {
            Issue.record("max_age"); return
        }
        guard case .redirect = try await f.provider.authorize(ProviderFixture.request(client, [("max_age", "100")]), auth: fresh) else {
            Issue.record("max_age"); return
        }
    }

    @Test func twoTabsResumingOneRequestGetOneCodeBetweenThem() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        guard case .signIn(let prompt) = try await f.provider.authorize(ProviderFixture.request(client), auth: nil) else {
            Issue.record("no session must ask for a sign-in"); return
        }
        let auth = try await f.signedIn()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    guard case .redirect(let location)? = try? await f.provider.resume(interactionID: prompt.interactionID, auth: auth) else { return false }
                    return ProviderFixture.query(location)["code"] != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
    }

    /// The sign-in page's verify request continues the request in its own answer when no page is
    /// needed, and otherwise leaves the request exactly as it was for the resume path to show its page.
    @Test(arguments: [
        // (third-party client, extra parameters, synced passkeys only: what the answer carries)
        (false, [(String, String)](), "code"),
        (false, [("acr_values", "phrh")], "unmet_authentication_requirements"),
        (true, [(String, String)](), "page: consent"),
        (false, [("scope", "openid offline_access")], "page: consent"),
    ])
    func aSignInOnTheSignInPageContinuesTheRequestWhenNoPageIsNeeded(thirdParty: Bool, extra: [(String, String)], expected: String) async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client { $0.thirdParty = thirdParty }
        guard case .signIn(let prompt) = try await f.provider.authorize(ProviderFixture.request(client, extra), auth: nil) else {
            Issue.record("no session must ask for a sign-in"); return
        }
        let auth = try await f.signedIn()
        let location = try await f.provider.continueAfterSignIn(interactionID: prompt.interactionID, auth: auth)
        if expected.hasPrefix("page: ") {
            #expect(location == nil)
            // Nothing changed: the resume path shows the page, once.
            guard case .consent = try await f.provider.resume(interactionID: prompt.interactionID, auth: auth) else {
                Issue.record("the resume path must show the consent page"); return
            }
            return
        }
        let query = ProviderFixture.query(try #require(location))
        #expect(location?.hasPrefix(client.redirectURIs[0] + "?") == true)
        #expect(query["state"] == "s1" && query["iss"] == "https://id.example.org")
        #expect(expected == "code" ? query["code"] != nil : query["error"] == expected)
        // The waiting request is used up either way.
        await #expect(throws: AuthorizationPageError.self) { _ = try await f.provider.resume(interactionID: prompt.interactionID, auth: auth) }
        await #expect(throws: AuthorizationPageError.self) { _ = try await f.provider.continueAfterSignIn(interactionID: prompt.interactionID, auth: auth) }
        if let code = query["code"] {
            let tokens = try await f.exchange(client, code: code)
            let claims = try await f.provider.keys.verify(try #require(tokens.id_token), as: IDTokenClaims.self)
            #expect(claims.sid == auth.session.id.uuidString.lowercased() && claims.acr == "phr")
        }
    }

    @Test func thirdPartyConsentIsRememberedAndRevocable() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client { $0.thirdParty = true }
        let auth = try await f.signedIn()
        guard case .consent(let prompt) = try await f.provider.authorize(ProviderFixture.request(client), auth: auth) else {
            Issue.record("consent expected"); return
        }
        await #expect(throws: AuthorizationPageError.self) {
            _ = try await f.provider.consent(interactionID: prompt.interactionID, auth: auth, approve: true, formToken: "forged")
        }
        guard case .redirect = try await f.provider.consent(interactionID: prompt.interactionID, auth: auth, approve: true, formToken: prompt.formToken)
        else { Issue.record("code expected"); return }
        _ = try await f.code(client, auth: auth)  // remembered
        #expect(try await f.provider.connectedApps(userID: auth.user.id).map(\.clientID) == [client.id])
        try await f.provider.disconnect(userID: auth.user.id, clientID: client.id)
        #expect(try await f.provider.connectedApps(userID: auth.user.id).isEmpty)
        guard case .redirect(let denied) = try await f.provider.authorize(ProviderFixture.request(client, [("prompt", "none")]), auth: auth) else {
            Issue.record("redirect expected"); return
        }
        #expect(ProviderFixture.query(denied)["error"] == "consent_required")
    }

    /// An offline grant outlives the session, so nothing ends with the account's disabling: every
    /// endpoint asks the account itself. Introspection says inactive for its access and refresh tokens.
    @Test func aDisabledAccountsOfflineTokensAreRefusedEverywhere() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client()
        let auth = try await f.signedIn()
        guard case .consent(let prompt) = try await f.provider.authorize(ProviderFixture.request(client, [("scope", "openid offline_access")]), auth: auth)
        else { Issue.record("consent expected for offline_access"); return }
        guard case .redirect(let location) = try await f.provider.consent(interactionID: prompt.interactionID, auth: auth, approve: true,
                                                                          formToken: prompt.formToken)
        else { Issue.record("code expected"); return }
        let tokens = try await f.exchange(client, code: try #require(ProviderFixture.query(location)["code"]))
        let refreshToken = try #require(tokens.refresh_token)
        #expect(try await f.store.artifact(kind: .refreshToken, key: f.provider.refreshTokenKey(refreshToken))?.sessionID == nil)
        for token in [tokens.access_token, refreshToken] {
            #expect(try await f.provider.introspect(token: token, client: client).object?["active"] == .bool(true))
        }

        try await f.accounts.setDisabled(userID: auth.user.id, disabled: true, event: nil)
        for token in [tokens.access_token, refreshToken] {
            #expect(try await f.provider.introspect(token: token, client: client) == .object(JSONObject([("active", .bool(false))])))
        }
        await #expect(throws: OAuthError.invalidToken("The account is gone or disabled.")) {
            try await f.provider.userinfo(token: tokens.access_token, dpopJKT: nil)
        }
        await #expect(throws: OAuthError.invalidGrant("The account is disabled.")) {
            try await f.provider.token(["grant_type": "refresh_token", "refresh_token": refreshToken], client: client, dpopJKT: nil)
        }
    }

    @Test func pairwiseSubjectsDifferPerSectorAndStayStable() async throws {
        let f = try ProviderFixture()
        let (a, _) = try await f.client { $0.pairwise = true }
        let (b, _) = try await f.client { $0.pairwise = true; $0.redirectURIs = ["https://other.example/cb"] }
        let (plain, _) = try await f.client()
        let user = UUID()
        #expect(f.provider.subject(userID: user, client: a) == f.provider.subject(userID: user, client: a))
        #expect(f.provider.subject(userID: user, client: a) != f.provider.subject(userID: user, client: b))
        #expect(f.provider.subject(userID: user, client: plain) == user.uuidString.lowercased())
    }

    @Test func keysStoredBeforeASecretWasSetAreSealedAtTheNextStart() async throws {
        let store = MemoryOIDCStore()
        let clock = MutableClock()
        let unsealed = KeyRing(store: store, encryption: nil, retention: 3600, clock: { clock.now })
        try await unsealed.ensureKeys()
        #expect(try await store.signingKeys().allSatisfy { !$0.encrypted })
        let kids = Set(try await store.signingKeys().map(\.kid))
        let claims = IDTokenClaims(iss: "https://id.example.org", sub: "s", aud: "a", exp: Int(clock.now.timeIntervalSince1970) + 600,
                                   iat: Int(clock.now.timeIntervalSince1970), auth_time: Int(clock.now.timeIntervalSince1970), nonce: nil, sid: "sid",
                                   at_hash: nil, acr: Assurance.phr, amr: ["swk"], azp: "a")
        let token = try await unsealed.sign(claims, algorithm: .es256, type: "JWT")

        let secret = KeyEncryption(secret: "sealing secret")
        let sealed = KeyRing(store: store, encryption: secret, retention: 3600, clock: { clock.now })
        try await sealed.ensureKeys()
        let stored = try await store.signingKeys()
        #expect(stored.allSatisfy(\.encrypted) && Set(stored.map(\.kid)) == kids)  // the same keys, sealed
        #expect(try await sealed.allEncrypted())
        _ = try await sealed.verify(token, as: IDTokenClaims.self)  // what they signed still verifies
        _ = try await sealed.sign(claims, algorithm: .rs256, type: "JWT")  // and they still sign
        // Without the secret they can no longer be opened.
        await #expect(throws: (any Error).self) {
            try await KeyRing(store: store, encryption: KeyEncryption(secret: "another secret"), retention: 3600, clock: { clock.now }).ensureKeys()
        }
    }

    @Test func keysAreSealedRotatedAndOldOnesStillVerify() async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client { $0.idTokenAlgorithm = .es256 }
        let auth = try await f.signedIn()
        let before = try await f.exchange(client, code: try await f.code(client, auth: auth))
        #expect(try await f.store.signingKeys().allSatisfy(\.encrypted))
        let kids = try await f.provider.keys.rotate()
        let after = try await f.exchange(client, code: try await f.code(client, auth: auth))
        _ = try await f.provider.keys.verify(try #require(before.id_token), as: IDTokenClaims.self)
        let afterToken = try #require(after.id_token)
        let newHeader = try #require(Base64URL.decode(String(afterToken.split(separator: ".")[0])))
        let kid = try StrictJSON.parse(newHeader).object?["kid"]?.string
        #expect(kid.map(kids.contains) == true)
        // Without the sealing secret, the stored keys cannot be used.
        let unsealed = KeyRing(store: f.store, encryption: KeyEncryption(secret: "another secret"), retention: 3600, clock: { Date() })
        await #expect(throws: OIDCError.keySecretMismatch) { try await unsealed.jwks() }
    }

    /// Tokens are signed outside jwt-kit (``JWSSigner``): for each algorithm the compact form carries
    /// `alg`, `kid` and `typ`, jwt-kit verifies it with the published key, the signature has the
    /// form RFC 7518 gives (R and S for ES256, the modulus size for RS256), and a changed payload fails.
    @Test(arguments: [SigningAlgorithm.es256, .rs256])
    func signedTokensVerifyWithThePublishedKey(algorithm: SigningAlgorithm) async throws {
        let f = try ProviderFixture()
        let (client, _) = try await f.client { $0.idTokenAlgorithm = algorithm }
        let auth = try await f.signedIn()
        let tokens = try await f.exchange(client, code: try await f.code(client, auth: auth))
        let idToken = try #require(tokens.id_token)
        for (token, type) in [(idToken, "JWT"), (tokens.access_token, "at+jwt")] {
            let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            #expect(parts.count == 3)
            let headerBytes = try #require(Base64URL.decode(parts[0]))
            let header = try #require(try StrictJSON.parse(headerBytes).object)
            #expect(header["alg"]?.string == algorithm.rawValue && header["typ"]?.string == type)
            let kid = try #require(header["kid"]?.string)
            let jwks = try await f.provider.keys.jwks()
            #expect(jwks.object?["keys"]?.array?.contains { $0.object?["kid"]?.string == kid } == true)
            let signature = try #require(Base64URL.decode(parts[2]))
            #expect(signature.count == (algorithm == .es256 ? 64 : 256))
            if type == "JWT" {
                let claims = try await f.provider.keys.verify(token, as: IDTokenClaims.self, type: "jwt")
                #expect(claims.aud == client.id && claims.nonce == "n1")
            } else {
                #expect(try await f.provider.validateAccessToken(token, dpopJKT: nil).client_id == client.id)
            }
            // The same signature over another payload does not verify.
            let payloadBytes = try #require(Base64URL.decode(parts[1]))
            var claims = try #require(try StrictJSON.parse(payloadBytes).object)
            claims["sub"] = .string("someone-else")
            let forged = [parts[0], Base64URL.encode(StrictJSON.serializedBytes(.object(claims))), parts[2]].joined(separator: ".")
            await #expect(throws: OAuthError.self) { try await f.provider.keys.verify(forged, as: IDTokenClaims.self) }
        }
    }

    /// Exact means the same bytes: a canonically equivalent spelling (equal under Swift's `==`) is
    /// another URI, at the authorization endpoint, at the token endpoint and at logout.
    @Test(arguments: [("https://app.example/K;cb", "https://app.example/\u{212A};cb"), ("https://app.example/K;cb", "https://app.example/K\u{037E}cb")])
    func aCanonicallyEquivalentRedirectURIIsNotTheRegisteredOne(registered: String, sent: String) async throws {
        #expect(registered == sent)  // what Swift's String comparison says, and why it is not used here
        let f = try ProviderFixture()
        let (client, _) = try await f.client {
            $0.redirectURIs = [registered]
            $0.postLogoutRedirectURIs = [registered]
        }
        await #expect(throws: AuthorizationPageError.self) {
            _ = try await f.provider.authorize(ProviderFixture.request(client, [("redirect_uri", sent)]), auth: nil)
        }
        let code = try await f.code(client, auth: try await f.signedIn())
        await #expect(throws: OAuthError.invalidGrant("redirect_uri does not match the authorization request.")) {
            try await f.provider.token(["grant_type": "authorization_code", "code": code, "redirect_uri": sent,
                                        "code_verifier": ProviderFixture.verifier], client: client, dpopJKT: nil)
        }
        #expect(throws: AuthorizationPageError.self) { try f.provider.logoutRedirect(sent, client: client, state: nil) }
        #expect(try f.provider.logoutRedirect(registered, client: client, state: nil) != nil)
        // The refusal used nothing up.
        _ = try await f.exchange(client, code: code)
    }

    @Test(arguments: ["App\nFrom: admin", "\u{202E}ppA", "App\u{0}", "App\u{2066}"])
    func registrationRefusesANameThatCouldPassForAnother(_ name: String) throws {
        #expect(throws: OIDCError.self) {
            try ClientRegistration(name: name, redirectURIs: ["https://app.example/cb"]).validated(id: "c", secretHash: nil, now: Date())
        }
        #expect(try ClientRegistration(name: "Zoë's app \u{5E2}\u{5D1}", redirectURIs: ["https://app.example/cb"]).validated(id: "c", secretHash: nil, now: Date())
            .name == "Zoë's app \u{5E2}\u{5D1}")
    }

    @Test func registrationRefusesWhatCannotBeMatchedSafely() throws {
        for uri in ["http://app.example/cb", "https://app.example/cb#frag", "app.example/cb", "javascript:alert(1)", "https://user:pw@app.example/cb",
                    "https://app.example/cb?n=\u{E9}", "https://app.example/\u{212A}", "https://app.example/c b", "https://app.example/cb\t"] {
            #expect(ClientRegistration.problem(redirectURI: uri) != nil, "\(uri)")
        }
        for uri in ["https://app.example/cb", "http://127.0.0.1:8080/cb", "http://localhost/cb", "https://app.example/cb?tenant=1",
                    "https://app.example/cb?n=%C3%A9"] {
            #expect(ClientRegistration.problem(redirectURI: uri) == nil, "\(uri)")
        }
    }
}

@Suite struct BackchannelLogoutTests {
    static func event(_ kind: SecurityEvent.Kind, user: UUID, detail: [String: String] = [:]) -> SecurityEvent {
        SecurityEvent(id: UUID(), userID: user, kind: kind, at: Date(), ip: "", userAgent: "", detail: detail)
    }

    @Test func eventsThatEndSessionsTellTheAppsThatGotTokensFromThem() async throws {
        let f = try ProviderFixture()
        let (listening, _) = try await f.client { $0.backchannelLogoutURI = "https://app.example/logout" }
        let (silent, _) = try await f.client()
        let auth = try await f.signedIn()
        _ = try await f.exchange(listening, code: try await f.code(listening, auth: auth))
        _ = try await f.exchange(silent, code: try await f.code(silent, auth: auth))
        let user = auth.user.id
        let signOut = try await f.provider.backchannelLogouts(for: Self.event(.logout, user: user, detail: ["session": auth.session.id.uuidString]))
        #expect(signOut.map(\.uri) == ["https://app.example/logout"])
        let claims = try await f.provider.keys.verify(try #require(signOut.first?.token), as: LogoutTokenClaims.self, type: "logout+jwt")
        #expect(claims.sid == auth.session.id.uuidString.lowercased() && claims.aud == listening.id && claims.sub == user.uuidString.lowercased())
        for kind in [SecurityEvent.Kind.recoveryCompleted, .userDisabled] {
            let logouts = try await f.provider.backchannelLogouts(for: Self.event(kind, user: user))
            #expect(logouts.count == 1)
            let all = try await f.provider.keys.verify(try #require(logouts.first?.token), as: LogoutTokenClaims.self, type: "logout+jwt")
            #expect(all.sid == nil)
        }
        #expect(try await f.provider.backchannelLogouts(for: Self.event(.passkeyRemoved, user: user, detail: [SecurityEvent.sessionsEndedDetail: "1"])).count == 1)
        #expect(try await f.provider.backchannelLogouts(for: Self.event(.passkeyRemoved, user: user, detail: [SecurityEvent.sessionsEndedDetail: "0"])).isEmpty)
        #expect(try await f.provider.backchannelLogouts(for: Self.event(.signin, user: user)).isEmpty)
        // Another person's events tell no one about this one.
        #expect(try await f.provider.backchannelLogouts(for: Self.event(.userDisabled, user: UUID())).isEmpty)
    }
}
