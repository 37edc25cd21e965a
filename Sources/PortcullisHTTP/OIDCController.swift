import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import OIDC
import WebAuthn

/// The OpenID Connect provider's endpoints that answer in JSON: discovery (OpenID Connect Discovery
/// 1.0 §4, RFC 8414 §3), the keys, the token endpoint (RFC 6749 §3.2), UserInfo (Core §5.3),
/// revocation (RFC 7009), introspection (RFC 7662), pushed authorization requests (RFC 9126), and the
/// person's connected apps. Errors are the OAuth error documents (RFC 6749 §5.2, RFC 6750 §3), never
/// problem documents.
struct OIDCController {
    let kit: APIToolkit
    var provider: OIDCProvider { kit.oidc }

    /// Paths a client calls from its own origin or its server: no Origin check (they carry no cookie
    /// that grants anything, or they are top-level navigations from the client's site).
    static let originExempt: Set<String> = [
        OIDCPaths.authorize, OIDCPaths.token, OIDCPaths.userinfo, OIDCPaths.revoke, OIDCPaths.introspect, OIDCPaths.par, OIDCPaths.logout,
        OIDCPaths.deviceAuthorization,
    ]

    /// What an app running in a browser (a public client in a single-page app) calls from its own
    /// origin: the metadata, the keys, the token endpoint, UserInfo and revocation. None of them reads
    /// a cookie (a client authenticates with its ID, a secret or a code verifier; a resource request
    /// with its bearer or DPoP token), so any origin may read their answers, without credentials
    /// (the Fetch standard's CORS protocol). A preflight is answered for the headers such a client
    /// sends (`Authorization`, `DPoP`); ``ExposedHeaders`` lets it read the ones it needs back.
    static let crossOrigin = CORSMiddleware<AppRequestContext>(
        allowOrigin: .all, allowHeaders: [.authorization, .contentType, .accept, .dpop], allowMethods: [.get, .post, .options],
        allowCredentials: false, maxAge: .seconds(600))

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        // Errors become problems inside the CORS middleware, so that a refusal carries its headers too.
        let open = routes.group().add(middleware: Self.crossOrigin).add(middleware: ExposedHeaders())
            .add(middleware: ProblemMiddleware<AppRequestContext>())
        for path in [".well-known/openid-configuration", ".well-known/oauth-authorization-server"] {
            open.get(RouterPath(path)) { _, _ in
                Self.json(provider.metadata, cache: "public, max-age=300")
            }
        }
        open.get(RouterPath(String(OIDCPaths.jwks.dropFirst()))) { _, _ in
            Self.json(try await provider.keys.jwks(), cache: "public, max-age=300")
        }
        open.post(RouterPath(String(OIDCPaths.token.dropFirst())), use: token)
        open.get(RouterPath(String(OIDCPaths.userinfo.dropFirst())), use: userinfo)
        open.post(RouterPath(String(OIDCPaths.userinfo.dropFirst())), use: userinfo)
        open.post(RouterPath(String(OIDCPaths.revoke.dropFirst())), use: revoke)
        // The preflights (the middleware answers them before this handler runs).
        for path in [OIDCPaths.token, OIDCPaths.userinfo, OIDCPaths.revoke] {
            open.on(RouterPath(String(path.dropFirst())), method: HTTPRequest.Method.options) { _, _ in Response(status: .noContent) }
        }
        routes.post(RouterPath(String(OIDCPaths.introspect.dropFirst())), use: introspect)
        routes.post(RouterPath(String(OIDCPaths.par.dropFirst())), use: par)
        routes.post(RouterPath(String(OIDCPaths.deviceAuthorization.dropFirst())), use: deviceAuthorization)
        let signedIn = routes.group("api/v1/me/apps").add(middleware: kit.authenticator)
        signedIn.get { _, context in
            let auth = try context.requireIdentity()
            return try kit.json(AppsView(apps: try await provider.connectedApps(userID: auth.user.id)))
        }
        signedIn.delete("{client_id}") { _, context in
            let auth = try context.requireIdentity()
            guard let clientID = context.parameters.get("client_id") else { throw Problem.notFound }
            do { try await provider.disconnect(userID: auth.user.id, clientID: clientID) } catch is OIDCError { throw Problem.notFound }
            return Response(status: .noContent)
        }
        // Admins manage clients as `portcullis client` does: full-rights session, and a fresh passkey
        // assertion for every change.
        let admin = routes.group("api/v1/admin/clients").add(middleware: kit.authenticator)
            .add(middleware: AuthorizationPolicyMiddleware(RolePolicy<Authenticated>(.admin), deniedError: Problem.from(AccountsError.adminRequired())))
        admin.get { _, context in
            try kit.service.requireFullRights(try context.requireIdentity())
            return try kit.json(ClientsView(clients: try await provider.clients().map(ClientView.init)))
        }
        admin.post { request, context in
            try kit.service.requireFresh(try context.requireIdentity())
            let input = try await kit.decode(ClientInput.self, request)
            do {
                let (client, secret) = try await provider.createClient(try input.registration())
                return try kit.json(Created(client_id: client.id, client_secret: secret, client: ClientView(client)), status: .created)
            } catch let error as OIDCError {
                throw Problem.invalid(error.message)
            }
        }
        admin.get("{client_id}") { _, context in
            try kit.service.requireFullRights(try context.requireIdentity())
            guard let id = context.parameters.get("client_id"), let client = try await provider.client(id: id) else { throw Problem.notFound }
            return try kit.json(ClientView(client))
        }
        admin.delete("{client_id}") { _, context in
            try kit.service.requireFresh(try context.requireIdentity())
            guard let id = context.parameters.get("client_id") else { throw Problem.notFound }
            do { try await provider.deleteClient(id: id) } catch is OIDCError { throw Problem.notFound }
            return Response(status: .noContent)
        }
        admin.post("{client_id}/rotate-secret") { _, context in
            try kit.service.requireFresh(try context.requireIdentity())
            guard let id = context.parameters.get("client_id") else { throw Problem.notFound }
            do {
                return try kit.json(Secret(client_id: id, client_secret: try await provider.rotateSecret(clientID: id)))
            } catch let error as OIDCError where error == .unknownClient {
                throw Problem.notFound
            } catch let error as OIDCError {
                throw Problem.invalid(error.message)
            }
        }
        return routes
    }

    struct AppsView: Encodable { let apps: [ConnectedApp] }

    /// A client as admins see it (never its secret).
    struct ClientView: Encodable {
        let client_id: String, name: String, `public`: Bool, redirect_uris: [String], post_logout_redirect_uris: [String]
        let backchannel_logout_uri: String?, third_party: Bool, device_grant: Bool, require_par: Bool, require_dpop: Bool
        let require_device_bound: Bool, max_auth_age: Int?, id_token_alg: String, pairwise: Bool, scopes: [String], created_at: Date
        init(_ c: OIDCClient) {
            client_id = c.id; name = c.name; `public` = c.isPublic; redirect_uris = c.redirectURIs; post_logout_redirect_uris = c.postLogoutRedirectURIs
            backchannel_logout_uri = c.backchannelLogoutURI; third_party = c.thirdParty; device_grant = c.deviceGrant; require_par = c.requirePAR
            require_dpop = c.requireDPoP; require_device_bound = c.requireDeviceBound; max_auth_age = c.maxAuthAge
            id_token_alg = c.idTokenAlgorithm.rawValue; pairwise = c.pairwise; scopes = c.scopes; created_at = c.createdAt
        }
    }
    struct ClientsView: Encodable { let clients: [ClientView] }
    struct Created: Encodable { let client_id: String; let client_secret: String?; let client: ClientView }
    struct Secret: Encodable { let client_id: String; let client_secret: String }

    /// The admin API's registration: the same options as `portcullis client create`.
    struct ClientInput: Decodable {
        let name: String
        let redirect_uris: [String]?
        let post_logout_redirect_uris: [String]?
        let backchannel_logout_uri: String?
        let `public`: Bool?
        let third_party: Bool?
        let device_grant: Bool?
        let require_par: Bool?
        let require_dpop: Bool?
        let require_device_bound: Bool?
        let max_auth_age: Int?
        let id_token_alg: String?
        let pairwise: Bool?
        let scopes: [String]?

        func registration() throws -> ClientRegistration {
            var r = ClientRegistration(name: name, redirectURIs: redirect_uris ?? [])
            r.postLogoutRedirectURIs = post_logout_redirect_uris ?? []
            r.backchannelLogoutURI = backchannel_logout_uri
            r.isPublic = `public` ?? false
            r.thirdParty = third_party ?? false
            r.deviceGrant = device_grant ?? false
            r.requirePAR = require_par ?? false
            r.requireDPoP = require_dpop ?? false
            r.requireDeviceBound = require_device_bound ?? false
            r.maxAuthAge = max_auth_age
            if let id_token_alg {
                guard let algorithm = SigningAlgorithm(rawValue: id_token_alg) else { throw Problem.invalid("id_token_alg must be RS256 or ES256.") }
                r.idTokenAlgorithm = algorithm
            }
            r.pairwise = pairwise ?? false
            r.scopes = scopes ?? []
            return r
        }
    }

    // MARK: Endpoints

    @Sendable func token(_ request: Request, context: AppRequestContext) async throws -> Response {
        await answering(request) { form, credentials in
            let client = try await provider.authenticateClient(credentials)
            var jkt: String?
            if let proof = try Self.singleHeader(request, .dpop) {
                jkt = try await provider.verifyDPoP(proof, method: "POST", url: provider.settings.tokenEndpoint)
            }
            let response: TokenResponse
            if form["grant_type"] == OIDCProvider.deviceCodeGrantType {
                let who = kit.info(request, context)
                response = try await provider.deviceToken(form, client: client, dpopJKT: jkt) { deviceCode in
                    try await kit.service.deviceApproval.poll(deviceCode: deviceCode, info: who)
                }
            } else {
                response = try await provider.token(form, client: client, dpopJKT: jkt)
            }
            return Self.json(try JSONValueEncoder().encode(response), cache: "no-store")
        }
    }

    /// The device authorization endpoint (RFC 8628 §3.1): a device-approval request on behalf of the app.
    @Sendable func deviceAuthorization(_ request: Request, context: AppRequestContext) async throws -> Response {
        let who = kit.info(request, context)
        return await answering(request) { form, credentials in
            let client = try await provider.authenticateClient(credentials)
            try await kit.limit(ip: who.ip)
            let authorization = try await provider.authorizeDevice(form, client: client, start: {
                let started = try await kit.service.deviceApproval.start(info: who)
                return (started.deviceCode, UserCode.display(started.userCode), started.expiresIn, started.interval)
            }, verificationURI: kit.settings.publicOrigin + "/device")
            return Self.json(try JSONValueEncoder().encode(authorization), cache: "no-store")
        }
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        await answering(request) { form, credentials in
            let client = try await provider.authenticateClient(credentials)
            guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required.") }
            try await provider.revoke(token: token, client: client)
            return Response(status: .ok, headers: [.cacheControl: "no-store"])
        }
    }

    @Sendable func introspect(_ request: Request, context: AppRequestContext) async throws -> Response {
        await answering(request) { form, credentials in
            let client = try await provider.authenticateClient(credentials)
            guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required.") }
            return Self.json(try await provider.introspect(token: token, client: client), cache: "no-store")
        }
    }

    @Sendable func par(_ request: Request, context: AppRequestContext) async throws -> Response {
        await answering(request) { form, credentials in
            let client = try await provider.authenticateClient(credentials)
            // Every parameter but the client's credentials is the authorization request.
            let pairs = form.filter { $0.key != "client_secret" }.map { (name: $0.key, value: $0.value) }
            let pushed = try await provider.push(pairs, client: client)
            return Self.json(.object(JSONObject([("request_uri", .string(pushed.requestURI)), ("expires_in", .int(pushed.expiresIn))])),
                             status: .created, cache: "no-store")
        }
    }

    /// UserInfo (Core §5.3.1): the token in the `Authorization` header (Bearer or DPoP) or, for POST, as
    /// the `access_token` form field (RFC 6750 §2.2); never in two places.
    @Sendable func userinfo(_ request: Request, context: AppRequestContext) async throws -> Response {
        var scheme = "Bearer"
        do {
            var token: String?
            if let header = try Self.singleHeader(request, .authorization) {
                let parts = header.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, ["bearer", "dpop"].contains(parts[0].lowercased()) else {
                    throw OAuthError.invalidRequest("Send the token as Bearer or DPoP.")
                }
                scheme = parts[0].lowercased() == "dpop" ? "DPoP" : "Bearer"
                token = String(parts[1]).trimmingCharacters(in: .whitespaces)
            }
            if request.method == .post, request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
                guard let pairs = try await OAuthForm.parameters(request), let form = AuthorizationRequestParser.unique(pairs) else {
                    throw OAuthError.invalidRequest("The body is not a valid form.")
                }
                if let field = form["access_token"] {
                    guard token == nil else { throw OAuthError.invalidRequest("Send the token in one place only.") }
                    token = field
                }
            }
            guard let token, !token.isEmpty else {
                return Self.unauthorized(scheme: scheme, error: nil)
            }
            var jkt: String?
            if scheme == "DPoP" {
                guard let proof = try Self.singleHeader(request, .dpop) else { throw OAuthError.invalidDPoPProof("A DPoP proof is required.") }
                jkt = try await provider.verifyDPoP(proof, method: request.method.rawValue, url: provider.settings.userinfoEndpoint, accessToken: token)
            }
            return Self.json(try await provider.userinfo(token: token, dpopJKT: jkt), cache: "no-store")
        } catch let error as OAuthError {
            if error.code == "invalid_request" { return Self.error(error, status: .badRequest) }
            return Self.unauthorized(scheme: scheme, error: error)
        }
    }

    // MARK: Requests and answers

    /// Reads the form and the client's credentials, runs `body`, and turns OAuth errors into RFC 6749
    /// §5.2 documents: `invalid_client` is 401, with `WWW-Authenticate` when Basic was used.
    func answering(_ request: Request, _ body: ([String: String], ClientCredentials) async throws -> Response) async -> Response {
        do {
            guard let pairs = try await OAuthForm.parameters(request), request.method == .post else {
                throw OAuthError.invalidRequest("The body must be application/x-www-form-urlencoded.")
            }
            guard let form = AuthorizationRequestParser.unique(pairs) else { throw OAuthError.invalidRequest("A parameter was given more than once.") }
            var credentials = ClientCredentials(clientID: form["client_id"], secret: form["client_secret"], method: form["client_secret"] == nil ? .none : .post)
            if let header = try Self.singleHeader(request, .authorization) {
                guard header.lowercased().hasPrefix("basic "), let decoded = Data(base64Encoded: String(header.dropFirst(6))),
                      let text = String(validating: Array(decoded), as: UTF8.self), let colon = text.firstIndex(of: ":"),
                      let id = OAuthForm.decode(text[..<colon]), let secret = OAuthForm.decode(text[text.index(after: colon)...])
                else { throw OAuthError.invalidClient("The Authorization header is not valid Basic authentication.") }
                // RFC 6749 §2.3.1: one method per request.
                if form["client_secret"] != nil { throw OAuthError.invalidRequest("Use one client authentication method.") }
                if let named = form["client_id"], named != id { throw OAuthError.invalidRequest("client_id does not match the Authorization header.") }
                credentials = ClientCredentials(clientID: id, secret: secret, method: .basic)
            }
            return try await body(form, credentials)
        } catch let error as OAuthError {
            var response = Self.error(error, status: error.code == "invalid_client" ? .unauthorized : .badRequest)
            if error.code == "invalid_client" {
                // RFC 6749 §5.2: required when Basic was used; sent either way, so a client learns the scheme.
                response.headers[.wwwAuthenticate] = "Basic realm=\"portcullis\""
            }
            if error.code == "invalid_dpop_proof" { response.headers[.wwwAuthenticate] = "DPoP error=\"invalid_dpop_proof\"" }
            return response
        } catch {
            return Self.error(OAuthError("server_error", "The request could not be completed."), status: .internalServerError)
        }
    }

    /// A header's value; an error when it is repeated.
    static func singleHeader(_ request: Request, _ name: HTTPField.Name) throws -> String? {
        let values = request.headers[values: name]
        guard values.count <= 1 else { throw OAuthError.invalidRequest("The \(name.rawName) header was given more than once.") }
        return values.first
    }

    static func error(_ error: OAuthError, status: HTTPResponse.Status) -> Response {
        json(.object(JSONObject([("error", .string(error.code)), ("error_description", .string(error.description))])), status: status, cache: "no-store")
    }

    /// RFC 6750 §3: 401 with the scheme's challenge, and the error when there was a token.
    static func unauthorized(scheme: String, error: OAuthError?) -> Response {
        var challenge = scheme + " realm=\"portcullis\""
        if let error { challenge += ", error=\"\(error.code)\", error_description=\"\(error.description.replacingOccurrences(of: "\"", with: "'"))\"" }
        var response = error.map { Self.error($0, status: .unauthorized) } ?? Response(status: .unauthorized, headers: [.cacheControl: "no-store"])
        response.headers[.wwwAuthenticate] = challenge
        return response
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, cache: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: cache, .pragma: "no-cache"],
                 body: .init(byteBuffer: ByteBuffer(bytes: StrictJSON.serializedBytes(value))))
    }
}

/// Lets a browser app read why a request was refused (`WWW-Authenticate`) and which nonce to use
/// (`DPoP-Nonce`, RFC 9449 §8): the Fetch standard reads `Access-Control-Expose-Headers` from the
/// actual response, and Hummingbird's CORS middleware sends it on preflights only.
struct ExposedHeaders: RouterMiddleware {
    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if request.method != .options, request.headers[.origin] != nil {
            response.headers[.accessControlExposeHeaders] = "WWW-Authenticate, DPoP-Nonce"
        }
        return response
    }
}

extension HTTPField.Name {
    static let dpop = HTTPField.Name("DPoP")!
    static let pragma = HTTPField.Name("Pragma")!
}
