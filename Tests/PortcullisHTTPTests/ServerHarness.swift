import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import NIOCore
import Notifications
import PortcullisApp
import PortcullisHTTP
import PortcullisTesting
import Testing
import WebAuthn

/// The server as `portcullis serve` builds it (``buildServer(configuration:clock:random:logger:onServerRunning:)``),
/// on an in-memory store, with a clock the test controls, and helpers that play the browser's part
/// with the virtual authenticator.
struct ServerHarness: Sendable {
    let clock = MutableClock()
    let configuration: ServerConfiguration
    let server: PortcullisServer
    var service: PasskeyService { server.service }
    var store: any AccountStore { server.store }
    static let origin = "http://localhost:8080"

    init(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        var configuration = ServerConfiguration()
        configuration.database.url = "memory:"
        configuration.rp.name = "Portcullis Test"
        configure(&configuration)
        self.configuration = configuration
        let clock = self.clock
        server = try await buildServer(configuration: configuration, clock: { clock.now }, logger: Logger(label: "test"))
    }

    func run(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await server.application.test(.router) { client in try await body(client) }
    }

    struct Reply {
        let status: HTTPResponse.Status
        let json: JSONValue?
        let headers: HTTPFields
        var object: JSONObject { json?.object ?? [:] }
        /// The session token a Set-Cookie header carries, if any.
        var sessionToken: String? { cookie(named: "portcullis_session") }

        /// The value of the cookie `name` set by this response.
        func cookie(named name: String) -> String? {
            for header in headers[values: .setCookie] {
                guard let pair = header.split(separator: ";").first else { continue }
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
            return nil
        }
    }

    static func send(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, json: JSONValue? = nil,
                     rawBody: [UInt8]? = nil, token: String? = nil, origin: String? = origin, ip: String? = nil,
                     cookie: String? = nil) async throws -> Reply {
        var headers: HTTPFields = [.userAgent: "PortcullisTests/1.0"]
        if let origin { headers[.origin] = origin }
        if let token { headers[.cookie] = "portcullis_session=\(token)" }
        if let cookie { headers[.cookie] = cookie }
        if let ip { headers[HTTPField.Name("X-Forwarded-For")!] = ip }  // read only with http.trust_forwarded_for
        if json != nil || rawBody != nil { headers[.contentType] = "application/json" }
        let bytes = rawBody ?? json.map { Array(StrictJSON.serialize($0).utf8) }
        return try await client.execute(uri: path, method: method, headers: headers, body: bytes.map { ByteBuffer(bytes: $0) }) { response in
            let body = Array(response.body.readableBytesView)
            return Reply(status: response.status, json: body.isEmpty ? nil : try? StrictJSON.parse(body), headers: response.headers)
        }
    }

    static func challenge(_ reply: Reply) throws -> [UInt8] {
        let text = try #require(reply.object["publicKey"]?.object?["challenge"]?.string)
        return try #require(Base64URL.decode(text))
    }

    /// A signed-up user: the authenticator's credential, the user handle and a session token.
    struct Account {
        let username: String
        let credential: RegistrationFixture
        let handle: [UInt8]
        var token: String
        var signCount: UInt32 = 0
    }

    static let authenticator = VirtualAuthenticator(rpID: "localhost", origin: origin)

    static func signUp(_ client: any TestClientProtocol, _ username: String, algorithm: COSEAlgorithm = .es256) async throws -> Account {
        let options = try await send(client, .post, "/api/v1/signup/options", json: .object(["username": .string(username)]))
        #expect(options.status == .ok)
        let handleText = try #require(options.object["publicKey"]?.object?["user"]?.object?["id"]?.string)
        let handle = try #require(Base64URL.decode(handleText))
        let credential = authenticator.registration(challenge: try challenge(options), algorithm: algorithm)
        let verify = try await send(client, .post, "/api/v1/signup/verify", json: .object(["credential": credential.jsonValue, "name": .string("Test key")]))
        #expect(verify.status == .created, "\(String(describing: verify.json))")
        return Account(username: username, credential: credential, handle: handle, token: try #require(verify.sessionToken))
    }

    /// An assertion for `account` answering `options`.
    static func assertion(_ account: inout Account, options: Reply) throws -> JSONValue {
        account.signCount += 1
        return authenticator.assertion(challenge: try challenge(options), credential: account.credential, signCount: account.signCount,
                                       userHandle: account.handle).jsonValue
    }

    static func signIn(_ client: any TestClientProtocol, _ account: inout Account, username: String? = nil) async throws -> Reply {
        let options = try await send(client, .post, "/api/v1/login/options", json: .object(username.map { ["username": .string($0)] } ?? [:]))
        let verify = try await send(client, .post, "/api/v1/login/verify", json: .object(["credential": try assertion(&account, options: options)]))
        if let token = verify.sessionToken { account.token = token }
        return verify
    }

    /// A fresh passkey assertion on the account's session (for sensitive actions); the token rotates.
    static func reauth(_ client: any TestClientProtocol, _ account: inout Account) async throws {
        let options = try await send(client, .post, "/api/v1/me/reauth/options", token: account.token)
        let verify = try await send(client, .post, "/api/v1/me/reauth/verify", json: .object(["credential": try assertion(&account, options: options)]),
                                    token: account.token)
        #expect(verify.status == .ok)
        account.token = try #require(verify.sessionToken)
    }
}
