import Accounts
import Crypto
import Foundation
import WebAuthn

/// How a client authenticated at the token, revocation, introspection or PAR endpoint (RFC 6749 §2.3.1).
public struct ClientCredentials: Sendable {
    /// How the credentials came.
    public enum Method: String, Sendable { case basic = "client_secret_basic", post = "client_secret_post", none }
    public var clientID: String?
    public var secret: String?
    public var method: Method

    public init(clientID: String?, secret: String?, method: Method) {
        self.clientID = clientID
        self.secret = secret
        self.method = method
    }
}

/// A successful token response (RFC 6749 §5.1, Core §3.1.3.3).
public struct TokenResponse: Encodable, Sendable {
    public let access_token: String
    public let token_type: String
    public let expires_in: Int
    public let id_token: String?
    public let refresh_token: String?
    public let scope: String
}

extension OIDCProvider {
    /// The device authorization grant's type (RFC 8628 §3.4).
    public static let deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"
    /// The grant types of the token endpoint.
    public static let grantTypes = ["authorization_code", "refresh_token", deviceCodeGrantType]

    // MARK: Client authentication

    /// The client the credentials prove (RFC 6749 §2.3.1, §3.2.1): a confidential client's secret, or a
    /// public client's ID alone. ``OAuthError/invalidClient(_:)`` otherwise.
    public func authenticateClient(_ credentials: ClientCredentials) async throws -> OIDCClient {
        guard let id = credentials.clientID, !id.isEmpty, id.count <= 200, let client = try await store.client(id: id) else {
            throw OAuthError.invalidClient()
        }
        if let hash = client.secretHash {
            guard credentials.method != .none, let secret = credentials.secret, secret.count <= 200,
                  ConstantTime.equal(sha256(secret), hash)
            else { throw OAuthError.invalidClient() }
        } else if credentials.method != .none || credentials.secret != nil {
            throw OAuthError.invalidClient("This client is public: it authenticates with its client_id alone.")
        }
        return client
    }

    // MARK: Token endpoint

    /// The token endpoint (RFC 6749 §3.2): the authorization code and refresh token grants.
    /// `dpopJKT` is the thumbprint of a verified DPoP proof's key (RFC 9449 §5), when one came.
    public func token(_ form: [String: String], client: OIDCClient, dpopJKT: String?) async throws -> TokenResponse {
        if client.requireDPoP, dpopJKT == nil { throw OAuthError.invalidDPoPProof("This client must send a DPoP proof.") }
        switch form["grant_type"] {
        case "authorization_code": return try await exchangeCode(form, client: client, dpopJKT: dpopJKT)
        case "refresh_token": return try await refresh(form, client: client, dpopJKT: dpopJKT)
        case nil: throw OAuthError.invalidRequest("grant_type is required.")
        default: throw OAuthError.unsupportedGrantType("Supported grant types: \(Self.grantTypes.joined(separator: ", ")).")
        }
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.6: the code, its client, its redirect URI and its verifier.
    /// A code used twice revokes every token issued from it (RFC 6749 §4.1.2, RFC 9700 §4.5).
    func exchangeCode(_ form: [String: String], client: OIDCClient, dpopJKT: String?) async throws -> TokenResponse {
        guard let code = form["code"], !code.isEmpty, code.count <= 128 else { throw OAuthError.invalidRequest("code is required.") }
        guard let verifier = form["code_verifier"] else { throw OAuthError.invalidRequest("code_verifier is required (PKCE).") }
        let now = clock()
        let key = codeKey(code)
        guard let stored = try await store.artifact(kind: .code, key: key), stored.clientID == client.id,
              let grant = decode(CodeGrant.self, stored.payload)
        else { throw OAuthError.invalidGrant("The code is unknown or was issued to another client.") }
        if stored.consumedAt != nil || stored.revoked {
            if let grantID = stored.grantID { try await store.revokeGrant(grantID) }
            throw OAuthError.invalidGrant("The code was already used; the tokens issued from it are revoked.")
        }
        guard stored.expiresAt > now else { throw OAuthError.invalidGrant("The code has expired.") }
        guard let sentRedirectURI = form["redirect_uri"], URIMatch.same(sentRedirectURI, grant.request.redirectURI) else { throw OAuthError.invalidGrant("redirect_uri does not match the authorization request.") }
        // RFC 7636 §4.1: 43 to 128 unreserved characters; §4.6: BASE64URL(SHA256(verifier)) == challenge.
        guard (43...128).contains(verifier.utf8.count), verifier.utf8.allSatisfy(isUnreserved),
              Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))) == grant.request.codeChallenge
        else { throw OAuthError.invalidGrant("code_verifier does not match the code_challenge.") }
        if let bound = grant.request.dpopJKT, bound != dpopJKT { throw OAuthError.invalidDPoPProof("The DPoP key is not the one the request named.") }
        // Without offline_access the tokens end with the session, and a session that has ended gets none.
        // The session is read, not trusted to have revoked the code: a session can end (a passkey
        // removed, a recovery completed, a sign-out) before anything revokes the codes made from it.
        var sessionExpiry: Date?
        if !grant.offline {
            guard let session = try await liveSession(grant.sessionID, userID: grant.userID, now: now) else {
                throw OAuthError.invalidGrant("The sign-in this code came from has ended.")
            }
            sessionExpiry = session.expiresAt
        }
        guard let user = try await accounts.user(id: grant.userID), !user.disabled else { throw OAuthError.invalidGrant("The account is disabled.") }

        let issued = try await issue(
            user: user, client: client, scopes: grant.request.scopes, sessionID: grant.sessionID, authTime: grant.authTime,
            assurance: grant.assurance, nonce: grant.request.nonce, offline: grant.offline, userinfoClaims: grant.request.userinfoClaims,
            dpopJKT: dpopJKT, grantID: stored.grantID ?? random.uuid(), now: now, refreshExpiry: sessionExpiry)
        guard try await store.consumeArtifact(kind: .code, key: key, now: now, replacements: issued.artifacts) else {
            if let grantID = stored.grantID { try await store.revokeGrant(grantID) }
            throw OAuthError.invalidGrant("The code was already used; the tokens issued from it are revoked.")
        }
        return issued.response
    }

    /// RFC 6749 §6 with rotation (RFC 9700 §4.14.2): each refresh token works once; a rotated one used
    /// again revokes its whole family. Without `offline_access` it ends with the session it came from.
    func refresh(_ form: [String: String], client: OIDCClient, dpopJKT: String?) async throws -> TokenResponse {
        guard let token = form["refresh_token"], !token.isEmpty, token.count <= 128 else { throw OAuthError.invalidRequest("refresh_token is required.") }
        let now = clock()
        let key = refreshTokenKey(token)
        guard let stored = try await store.artifact(kind: .refreshToken, key: key), stored.clientID == client.id,
              let grant = decode(RefreshGrant.self, stored.payload)
        else { throw OAuthError.invalidGrant("The refresh token is unknown or was issued to another client.") }
        if stored.consumedAt != nil {
            if let grantID = stored.grantID { try await store.revokeGrant(grantID) }
            throw OAuthError.invalidGrant("The refresh token was already used; its family is revoked.")
        }
        guard !stored.revoked, stored.expiresAt > now else { throw OAuthError.invalidGrant("The refresh token is revoked or expired.") }
        if let bound = grant.dpopJKT, bound != dpopJKT { throw OAuthError.invalidDPoPProof("The refresh token is bound to another DPoP key.") }
        if !grant.offline, try await liveSession(grant.sessionID, userID: grant.userID, now: now) == nil {
            throw OAuthError.invalidGrant("The sign-in this token came from has ended.")
        }
        var scopes = grant.scopes
        if let asked = form["scope"] {
            let requested = asked.split(separator: " ").map(String.init)
            guard Set(requested).isSubset(of: grant.scopes) else { throw OAuthError.invalidScope("A refresh cannot widen the scopes.") }
            scopes = grant.scopes.filter(requested.contains)
        }
        guard let user = try await accounts.user(id: grant.userID), !user.disabled else { throw OAuthError.invalidGrant("The account is disabled.") }
        let issued = try await issue(
            user: user, client: client, scopes: scopes, sessionID: grant.sessionID, authTime: grant.authTime, assurance: grant.assurance,
            nonce: nil, offline: grant.offline, userinfoClaims: grant.userinfoClaims ?? [], dpopJKT: grant.dpopJKT ?? dpopJKT, grantID: stored.grantID ?? random.uuid(), now: now,
            refreshExpiry: grant.offline ? nil : stored.expiresAt)
        guard try await store.consumeArtifact(kind: .refreshToken, key: key, now: now, replacements: issued.artifacts) else {
            if let grantID = stored.grantID { try await store.revokeGrant(grantID) }
            throw OAuthError.invalidGrant("The refresh token was already used; its family is revoked.")
        }
        return issued.response
    }

    /// The tokens of one grant: a JWT access token (RFC 9068), an ID token (Core §2), a refresh token.
    /// The refresh token ends at `refreshExpiry` (without offline_access, when the session ends) or,
    /// when that is nil (an offline grant), after the offline refresh lifetime.
    ///
    /// Only the refresh token is stored. The access token names its record (`grant_record`) and is
    /// checked against it: every way a grant ends (a replayed code or refresh token, the session's
    /// end, a withdrawn consent, revocation, a deleted app or account) marks or removes that record,
    /// and the record outlives the access token (it lasts until the session or the offline lifetime
    /// ends, and a rotated one is kept, used, until then). A record per access token would be one
    /// more row, with five index entries, on every exchange.
    func issue(user: User, client: OIDCClient, scopes: [String], sessionID: UUID, authTime: Date, assurance: Assurance, nonce: String?,
               offline: Bool, userinfoClaims: [String], dpopJKT: String?, grantID: UUID, now: Date, refreshExpiry: Date?) async throws
        -> (response: TokenResponse, artifacts: [OIDCArtifact])
    {
        let sub = subject(userID: user.id, client: client)
        let iat = Int(now.timeIntervalSince1970)
        let sid = sessionID.lowercaseText
        let (refreshToken, refreshKey) = TimeOrderedHandle.make(randomCount: Self.refreshTokenRandomBytes, now: now, random: random)
        let (jti, _) = TimeOrderedHandle.make(randomCount: Self.accessTokenIDRandomBytes, now: now, random: random)
        let accessExpiry = now.addingTimeInterval(settings.accessTokenLifetime)
        let access = AccessTokenClaims(
            iss: settings.issuer, sub: sub, aud: settings.userinfoEndpoint, exp: Int(accessExpiry.timeIntervalSince1970), iat: iat, jti: jti,
            client_id: client.id, scope: scopes.joined(separator: " "), auth_time: Int(authTime.timeIntervalSince1970), acr: assurance.acr,
            amr: assurance.amr, sid: sid, cnf: dpopJKT.map { AccessTokenClaims.Confirmation(jkt: $0) }, grant_record: Base64URL.encode(refreshKey))
        let accessToken = try await keys.sign(access, algorithm: client.idTokenAlgorithm, type: "at+jwt")
        // Core §3.1.3.6: at_hash is the left half of the hash of the access token, base64url.
        let digest = Array(SHA256.hash(data: Array(accessToken.utf8)))
        var idClaims = IDTokenClaims(
            iss: settings.issuer, sub: sub, aud: client.id, exp: Int(now.addingTimeInterval(settings.idTokenLifetime).timeIntervalSince1970),
            iat: iat, auth_time: Int(authTime.timeIntervalSince1970), nonce: nonce, sid: sid, at_hash: Base64URL.encode(Array(digest.prefix(16))),
            acr: assurance.acr, amr: assurance.amr, azp: client.id)
        if scopes.contains("profile") {
            idClaims.name = user.displayName
            idClaims.preferred_username = user.username
        }
        let idToken = try await keys.sign(idClaims, algorithm: client.idTokenAlgorithm, type: "JWT")
        let refreshGrant = RefreshGrant(userID: user.id, sessionID: sessionID, scopes: scopes, authTime: authTime, assurance: assurance,
                                        offline: offline, dpopJKT: dpopJKT, userinfoClaims: userinfoClaims)
        let artifacts = [OIDCArtifact(
            kind: .refreshToken, key: refreshKey, clientID: client.id, userID: user.id, sessionID: offline ? nil : sessionID,
            grantID: grantID, payload: encode(refreshGrant), createdAt: now,
            expiresAt: refreshExpiry ?? now.addingTimeInterval(settings.offlineRefreshLifetime))]
        let response = TokenResponse(
            access_token: accessToken, token_type: dpopJKT == nil ? "Bearer" : "DPoP", expires_in: Int(settings.accessTokenLifetime),
            id_token: idToken, refresh_token: refreshToken, scope: scopes.joined(separator: " "))
        return (response, artifacts)
    }

    /// The session, when it is still live at `now` by the rule the session cookie meets (its absolute
    /// end and its idle timeout): a session the sweep has not yet deleted may already have ended.
    func liveSession(_ id: UUID, userID: UUID, now: Date) async throws -> Session? {
        guard let session = try await accounts.session(id: id), session.userID == userID,
              session.isLive(at: now, idleTimeout: settings.sessionIdleTimeout) else { return nil }
        return session
    }

    // MARK: Access tokens at the resource (UserInfo, introspection)

    /// A verified, unrevoked access token of this server (RFC 6750 §3.1 `invalid_token` otherwise); a
    /// DPoP-bound one only with a proof of its key (`dpopJKT`).
    public func validateAccessToken(_ token: String, dpopJKT: String?) async throws -> AccessTokenClaims {
        try await accessToken(token, dpopJKT: dpopJKT, checkingBinding: true).claims
    }

    /// A valid access token's claims, the account it speaks for, and the claims its authorization
    /// request asked UserInfo for. Introspection (which holds no proof) does not check the binding.
    func accessToken(_ token: String, dpopJKT: String?, checkingBinding: Bool) async throws
        -> (claims: AccessTokenClaims, userID: UUID, userinfoClaims: [String])
    {
        let claims = try await keys.verify(token, as: AccessTokenClaims.self, type: "at+jwt")
        let now = clock()
        guard claims.iss == settings.issuer, TimeInterval(claims.exp) > now.timeIntervalSince1970 else {
            throw OAuthError.invalidToken("The access token has expired.")
        }
        let (stored, userinfoClaims) = try await record(of: claims)
        guard let stored, !stored.revoked, stored.expiresAt > now, stored.clientID == claims.client_id, let userID = stored.userID else {
            throw OAuthError.invalidToken("The access token is revoked.")
        }
        if let sessionID = stored.sessionID, try await liveSession(sessionID, userID: userID, now: now) == nil {
            throw OAuthError.invalidToken("The sign-in this token came from has ended.")
        }
        if checkingBinding, let jkt = claims.cnf?.jkt, jkt != dpopJKT {
            throw OAuthError.invalidToken("This token is DPoP-bound; send it with a DPoP proof of its key.")
        }
        return (claims, userID, userinfoClaims)
    }

    /// The record a verified access token is checked against: the refresh token issued with it, or
    /// (a token issued before `grant_record` existed) its own record by `jti`; nil when there is none.
    func record(of claims: AccessTokenClaims) async throws -> (OIDCArtifact?, userinfoClaims: [String]) {
        if let reference = claims.grant_record {
            guard let key = Base64URL.decode(reference), key.count == TimeOrderedHandle.timeBytes + SHA256.byteCount,
                  let stored = try await store.artifact(kind: .refreshToken, key: key), let grant = decode(RefreshGrant.self, stored.payload)
            else { return (nil, []) }
            return (stored, grant.userinfoClaims ?? [])
        }
        guard let stored = try await store.artifact(kind: .accessToken, key: accessTokenKey(claims.jti)),
              let grant = decode(AccessGrant.self, stored.payload)
        else { return (nil, []) }
        return (stored, grant.userinfoClaims)
    }

    /// UserInfo (Core §5.3): `sub` always, the profile claims with the `profile` scope, `acr`/`amr`/`auth_time` when asked for.
    public func userinfo(token: String, dpopJKT: String?) async throws -> JSONValue {
        let (claims, userID, userinfoClaims) = try await accessToken(token, dpopJKT: dpopJKT, checkingBinding: true)
        guard let user = try await accounts.user(id: userID), !user.disabled
        else { throw OAuthError.invalidToken("The account is gone or disabled.") }
        var members: [(String, JSONValue)] = [("sub", .string(claims.sub))]
        let scopes = claims.scope.split(separator: " ").map(String.init)
        // Profile claims with the profile scope, or asked for by name (Core §5.5).
        let asked = Set(userinfoClaims)
        if scopes.contains("profile") || asked.contains("name") { members.append(("name", .string(user.displayName))) }
        if scopes.contains("profile") || asked.contains("preferred_username") { members.append(("preferred_username", .string(user.username))) }
        if asked.contains("acr") { members.append(("acr", .string(claims.acr))) }
        if asked.contains("amr") { members.append(("amr", .array(claims.amr.map(JSONValue.string)))) }
        if asked.contains("auth_time") { members.append(("auth_time", .int(claims.auth_time))) }
        return .object(JSONObject(members))
    }

    /// Token introspection (RFC 7662 §2.2) for a confidential client: access and refresh tokens.
    public func introspect(token: String, client: OIDCClient) async throws -> JSONValue {
        guard !client.isPublic else { throw OAuthError.invalidClient("Only confidential clients may introspect tokens.") }
        let inactive: JSONValue = .object(JSONObject([("active", .bool(false))]))
        let now = clock()
        if token.split(separator: ".").count == 3 {
            guard let (claims, userID, _) = try? await accessToken(token, dpopJKT: nil, checkingBinding: false),
                  try await accountIsActive(userID)
            else { return inactive }
            var members: [(String, JSONValue)] = [
                ("active", .bool(true)), ("iss", .string(claims.iss)), ("sub", .string(claims.sub)), ("client_id", .string(claims.client_id)),
                ("scope", .string(claims.scope)), ("exp", .int(claims.exp)), ("iat", .int(claims.iat)), ("token_type", .string("access_token")),
                ("aud", .string(claims.aud)), ("acr", .string(claims.acr)), ("auth_time", .int(claims.auth_time)),
            ]
            if let jkt = claims.cnf?.jkt { members.append(("cnf", .object(JSONObject([("jkt", .string(jkt))])))) }
            return .object(JSONObject(members))
        }
        guard token.count <= 128, let stored = try await store.artifact(kind: .refreshToken, key: refreshTokenKey(token)), stored.consumedAt == nil,
              !stored.revoked, stored.expiresAt > now, let grant = decode(RefreshGrant.self, stored.payload),
              let tokenClient = try await store.client(id: stored.clientID)
        else { return inactive }
        if !grant.offline, try await liveSession(grant.sessionID, userID: grant.userID, now: now) == nil { return inactive }
        guard try await accountIsActive(grant.userID) else { return inactive }
        return .object(JSONObject([
            ("active", .bool(true)), ("iss", .string(settings.issuer)), ("sub", .string(subject(userID: grant.userID, client: tokenClient))),
            ("client_id", .string(stored.clientID)), ("scope", .string(grant.scopes.joined(separator: " "))),
            ("exp", .int(Int(stored.expiresAt.timeIntervalSince1970))), ("iat", .int(Int(stored.createdAt.timeIntervalSince1970))),
            ("token_type", .string("refresh_token")),
        ]))
    }

    /// Whether the account a token speaks for exists and is not disabled. A token of an offline grant
    /// has no session to end with the account's disabling (the SQL store revokes such grants as it
    /// disables the account; this check holds whatever the store does): the token and UserInfo
    /// endpoints refuse it by this check, and introspection (RFC 7662 §2.2: `active` only for a token
    /// the server would accept now) answers inactive for it.
    func accountIsActive(_ userID: UUID) async throws -> Bool {
        guard let user = try await accounts.user(id: userID) else { return false }
        return !user.disabled
    }

    /// Revocation (RFC 7009 §2.1): a refresh token revokes its whole grant, and so does an access
    /// token, which is checked against its grant's refresh token (§2.1 lets the server revoke the
    /// respective refresh token with it). A token issued before access tokens named that record loses
    /// its own record alone. Unknown tokens, and other clients' tokens, change nothing (§2.2 answers
    /// 200 either way).
    public func revoke(token: String, client: OIDCClient) async throws {
        if token.split(separator: ".").count == 3 {
            guard let claims = try? await keys.verify(token, as: AccessTokenClaims.self, type: "at+jwt"), claims.client_id == client.id,
                  let stored = try await record(of: claims).0, stored.clientID == client.id
            else { return }
            if stored.kind == .refreshToken {
                if let grantID = stored.grantID { try await store.revokeGrant(grantID) }
            } else {
                try await store.deleteArtifact(kind: stored.kind, key: stored.key)
            }
            return
        }
        guard token.count <= 128, let stored = try await store.artifact(kind: .refreshToken, key: refreshTokenKey(token)), stored.clientID == client.id,
              let grantID = stored.grantID
        else { return }
        try await store.revokeGrant(grantID)
    }
}
