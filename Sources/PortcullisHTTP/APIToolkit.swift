import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import OIDC
import WebAuthn

/// What every controller of the API, and the pages, share: the domain service, the HTTP settings,
/// the rate limiters and the metrics, and the helpers that read requests and write responses (typed
/// bodies through the strict parser, views as JSON, cookies, who is asking). Controllers hold one;
/// none borrows from another.
package struct APIToolkit: Sendable {
    package let service: PasskeyService
    /// The OpenID Connect provider.
    package let oidc: OIDCProvider
    let settings: HTTPSettings
    let ipLimiter: RateLimiter
    let accountLimiter: RateLimiter
    let metrics: ServerMetrics

    /// The server's public origin (`https://id.example.com`), the start of every link it hands out.
    package var publicOrigin: String { settings.publicOrigin }

    /// The session cookie's name: `__Host-` prefixed when the origin is https.
    var cookieName: String { settings.secureCookies ? "__Host-portcullis" : "portcullis_session" }

    /// The session cookie's authenticator, for the routes that need someone signed in.
    package var authenticator: SessionCookieAuthenticator { SessionCookieAuthenticator(service: service, cookieName: cookieName) }

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
    package func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
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

    /// The client's address (``ClientAddress``) and user agent.
    package func info(_ request: Request, _ context: AppRequestContext) -> RequestInfo {
        let ip = ClientAddress.read(request, remote: context.remoteAddress, trustForwardedFor: settings.trustForwardedFor)
        return RequestInfo(ip: ip, userAgent: request.headers[.userAgent] ?? "")
    }

    /// Counts a request against the limits of its address and, when given, of the account it names,
    /// both at once; throws ``Problem/rateLimited(retryAfter:)`` when either is spent.
    package func limit(ip: String, account: String? = nil) async throws {
        let limits = [(ipLimiter, ip)] + (account.map { [(accountLimiter, $0)] } ?? [])
        if let wait = try await RateLimiter.hit(limits) { throw Problem.rateLimited(retryAfter: wait) }
    }

    /// The options of a passkey sign-in, counted against the limits of the address and of the account
    /// `username` names (none without one: a discoverable sign-in). `POST /api/v1/login/options` answers
    /// them, and an app's sign-in page carries them.
    package func loginOptions(username: String?, _ request: Request, _ context: AppRequestContext) async throws -> JSONValue {
        try await limit(ip: info(request, context).ip, account: username?.lowercased())
        return try await service.loginOptions(username: username)
    }

    /// A view as a JSON response that no cache keeps.
    package func json(_ view: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
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

    package func expiredCookie() -> Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// The UUID in the path's `{id}`; anything else is a 404.
    func idParameter(_ context: AppRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(text: text) else { throw Problem.notFound }
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

    /// `201 Created` with a newly registered passkey and its owner: how sign-up, enrolment and
    /// recovery answer.
    func created(_ user: User, _ passkey: Passkey) throws -> Response {
        try json(NewPasskey(user: UserView(user), passkey: passkeyView(passkey)), status: .created)
    }
}

/// A ceremony's verify request: the credential as the browser's `toJSON()` gives it, and a name for
/// a new passkey.
struct CeremonyVerification: Decodable {
    let credential: JSONValue
    let name: String?
}

/// A newly registered passkey and its owner.
struct NewPasskey: Encodable {
    let user: UserView
    let passkey: PasskeyView
}
