import Foundation
import WebAuthn

/// A checked authorization request (OpenID Connect Core §3.1.2.1), as it is kept while the person
/// signs in or consents.
public struct AuthorizationRequest: Codable, Sendable, Hashable {
    public var clientID: String
    /// A redirect URI registered for the client, exactly.
    public var redirectURI: String
    /// The scopes asked for, in order, without repeats; always includes `openid`.
    public var scopes: [String]
    public var state: String?
    public var nonce: String?
    /// The PKCE S256 challenge (RFC 7636 §4.2).
    public var codeChallenge: String
    /// `prompt` values (Core §3.1.2.1).
    public var prompt: [String]
    /// `max_age`, or the client's registered maximum authentication age.
    public var maxAge: Int?
    public var loginHint: String?
    /// The `sub` of a valid `id_token_hint`.
    public var hintSubject: String?
    /// The `acr` values the sign-in must meet; empty when any is fine.
    public var requiredACR: [String]
    /// Claims asked for by name through the `claims` parameter, per target (`userinfo`, `id_token`).
    public var userinfoClaims: [String]
    public var idTokenClaims: [String]
    /// The JWK thumbprint of a DPoP key the tokens must be bound to (RFC 9449 §10).
    public var dpopJKT: String?
    /// When the server received the request: an assertion after this time is fresh for `prompt=login` and `max_age`.
    public var receivedAt: Date

    /// Whether `prompt` holds `value`.
    public func prompts(_ value: String) -> Bool { prompt.contains(value) }
}

/// Reads and checks authorization request parameters, in the order RFC 6749 §4.1.2.1 requires: the
/// client and the redirect URI first (errors there are shown, never redirected), then everything else
/// (errors redirected to the client with `state` and `iss`).
public struct AuthorizationRequestParser: Sendable {
    /// The scopes the provider supports (discovery's `scopes_supported`).
    public static let supportedScopes = ["openid", "profile", "offline_access"]
    /// The `prompt` values of Core §3.1.2.1.
    static let promptValues: Set<String> = ["none", "login", "consent", "select_account"]
    /// The longest `state`, `nonce` or hint accepted.
    static let maximumValueLength = 2048

    let keys: KeyRing
    let issuer: String

    /// Parameters as received, in order. A parameter given twice is an error (RFC 6749 §3.1).
    public typealias Parameters = [(name: String, value: String)]

    /// `parameters` by name; nil when one is repeated (RFC 6749 §3.1, §3.2).
    public static func unique(_ parameters: Parameters) -> [String: String]? {
        var values: [String: String] = [:]
        for (name, value) in parameters {
            guard values[name] == nil else { return nil }
            values[name] = value
        }
        return values
    }

    /// The request, or ``AuthorizationPageError`` / ``AuthorizationRedirectError``.
    func parse(_ parameters: Parameters, client lookup: (String) async throws -> OIDCClient?, pushed: PushedRequest?, now: Date) async throws
        -> (AuthorizationRequest, OIDCClient)
    {
        var values: [String: String] = [:]
        var repeated: String?
        for (name, value) in parameters {
            if values[name] != nil { repeated = repeated ?? name }
            values[name] = value
        }
        if let pushed {
            // RFC 9126 §4: the pushed parameters are the request; only client_id and request_uri come with it.
            guard values["client_id"] == pushed.clientID else { throw AuthorizationPageError("The client_id does not match the pushed request.") }
            values = pushed.parameters
        }
        guard let clientID = values["client_id"], !clientID.isEmpty else { throw AuthorizationPageError("The request names no client (client_id).") }
        guard clientID.count <= 200, let client = try await lookup(clientID) else { throw AuthorizationPageError("The app (client_id) is not registered here.") }
        guard let redirectURI = values["redirect_uri"], !redirectURI.isEmpty else {
            throw AuthorizationPageError("The request has no redirect_uri.")
        }
        guard URIMatch.isRegistered(redirectURI, in: client.redirectURIs) else {
            throw AuthorizationPageError("The redirect_uri is not one registered for \(client.name).")
        }
        if let repeated { throw AuthorizationPageError("The parameter \(repeated) was given more than once.") }
        let state = values["state"]
        func fail(_ error: OAuthError) -> AuthorizationRedirectError {
            AuthorizationRedirectError(redirectURI: redirectURI, error: error, state: state.flatMap { $0.count <= Self.maximumValueLength ? $0 : nil })
        }
        if values["request"] != nil { throw fail(.requestNotSupported()) }
        if values["request_uri"] != nil, pushed == nil { throw fail(.requestURINotSupported()) }
        if client.requirePAR, pushed == nil { throw fail(.invalidRequest("This client must push its authorization requests (PAR).")) }
        guard let responseType = values["response_type"] else { throw fail(.invalidRequest("response_type is required.")) }
        guard responseType == "code" else { throw fail(.unsupportedResponseType("Only the authorization code flow (response_type=code) is supported.")) }
        if let mode = values["response_mode"], mode != "query" { throw fail(.invalidRequest("Only response_mode=query is supported.")) }
        for name in ["state", "nonce", "login_hint", "id_token_hint", "claims", "acr_values"] {
            if let value = values[name], value.count > (name == "id_token_hint" || name == "claims" ? 8192 : Self.maximumValueLength) {
                throw fail(.invalidRequest("\(name) is too long."))
            }
        }

        // Scopes (RFC 6749 §3.3): openid required, every scope known and allowed to the client.
        var scopes: [String] = []
        for scope in (values["scope"] ?? "").split(separator: " ").map(String.init) where !scopes.contains(scope) { scopes.append(scope) }
        guard scopes.contains("openid") else { throw fail(.invalidScope("The openid scope is required.")) }
        for scope in scopes where !client.scopes.contains(scope) || !Self.supportedScopes.contains(scope) {
            throw fail(.invalidScope("The scope \(scope) is not available to this app."))
        }

        // PKCE (RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1): S256 only, for every client.
        guard let challenge = values["code_challenge"] else { throw fail(.invalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256.")) }
        guard values["code_challenge_method"] == "S256" else {
            throw fail(.invalidRequest("code_challenge_method must be S256 (a missing method means plain, which is not supported)."))
        }
        guard challenge.count == 43, Base64URL.decode(challenge)?.count == 32 else {
            throw fail(.invalidRequest("code_challenge must be the base64url SHA-256 of the verifier (43 characters)."))
        }

        let prompt = (values["prompt"] ?? "").split(separator: " ").map(String.init)
        for value in prompt where !Self.promptValues.contains(value) { throw fail(.invalidRequest("Unknown prompt value \(value).")) }
        if prompt.contains("none"), prompt.count > 1 { throw fail(.invalidRequest("prompt=none cannot be combined with other values.")) }

        var maxAge = client.maxAuthAge
        if let text = values["max_age"] {
            guard let value = Int(text), value >= 0 else { throw fail(.invalidRequest("max_age must be a non-negative integer.")) }
            maxAge = min(value, maxAge ?? value)
        }

        // The acr the sign-in must meet: acr_values, an essential acr claim, and the client's registration.
        var required = Set<String>()
        let known = Set(Assurance.acrValuesSupported)
        let asked = (values["acr_values"] ?? "").split(separator: " ").map(String.init).filter(known.contains)
        required.formUnion(asked)
        var userinfoClaims: [String] = []
        var idTokenClaims: [String] = []
        if let text = values["claims"] {
            guard let parsed = try? StrictJSON.parse(Array(text.utf8)), let object = parsed.object else {
                throw fail(.invalidRequest("claims must be a JSON object."))
            }
            for (target, value) in object.members {
                guard target == "userinfo" || target == "id_token" else { continue }
                guard let requests = value.object else { throw fail(.invalidRequest("claims.\(target) must be an object.")) }
                let names = requests.members.map(\.key)
                if target == "userinfo" { userinfoClaims = names } else { idTokenClaims = names }
                if let acr = requests["acr"]?.object, acr["essential"]?.bool == true {
                    let values = (acr["values"]?.array?.compactMap(\.string) ?? acr["value"]?.string.map { [$0] } ?? []).filter(known.contains)
                    if values.isEmpty { continue }
                    required.formUnion(values)
                }
            }
        }
        if client.requireDeviceBound { required = [Assurance.phrh] }

        var hintSubject: String?
        if let hint = values["id_token_hint"] {
            guard let claims = try? await keys.verify(hint, as: IDTokenClaims.self), claims.iss == issuer else {
                throw fail(.invalidRequest("id_token_hint is not an ID token this server issued."))
            }
            hintSubject = claims.sub
        }

        let request = AuthorizationRequest(
            clientID: client.id, redirectURI: redirectURI, scopes: scopes, state: state, nonce: values["nonce"], codeChallenge: challenge,
            prompt: prompt, maxAge: maxAge, loginHint: values["login_hint"], hintSubject: hintSubject,
            requiredACR: Assurance.acrValuesSupported.filter(required.contains), userinfoClaims: userinfoClaims, idTokenClaims: idTokenClaims,
            dpopJKT: values["dpop_jkt"], receivedAt: pushed?.receivedAt ?? now)
        return (request, client)
    }
}

/// A pushed authorization request (RFC 9126): its parameters, kept until used once.
public struct PushedRequest: Codable, Sendable, Hashable {
    public var clientID: String
    public var parameters: [String: String]
    public var receivedAt: Date
}
