import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import WebAuthn

/// Enrolling a new device's own passkey from a signed-in device.
struct EnrolmentController: Sendable {
    let kit: APIToolkit
    static let browserCookie = "portcullis_enrol"

    /// The routes; those that need someone signed in sit behind the session cookie's authenticator.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        let signedIn = routes.group().add(middleware: kit.authenticator)
        signedIn.post("api/v1/me/enrolments", use: create)
        signedIn.get("api/v1/me/enrolments/:id", use: status)
        signedIn.post("api/v1/me/enrolments/:id/confirm", use: confirm)
        routes.post("api/v1/enrol/open", use: open)
        routes.post("api/v1/enrol/passkey/options", use: options)
        routes.post("api/v1/enrol/passkey/verify", use: verify)
        return routes
    }

    struct Created: Encodable { let id: UUID; let link: String; let qr: String; let expiresAt: Date }
    struct Status: Encodable {
        struct Device: Encodable { let ip: String; let userAgent: String }
        let status: String
        let expiresAt: Date
        /// The device that opened the link, once one has.
        let device: Device?
    }
    struct Confirm: Decodable { let confirmationCode: String }
    struct Open: Decodable { let token: String }
    struct Opened: Encodable { let id: UUID; let confirmationCode: String }
    struct OptionsRequest: Decodable { let id: UUID }
    struct VerifyRequest: Decodable { let id: UUID; let credential: JSONValue; let name: String? }

    func browserSecret(_ request: Request) throws -> String { try kit.browserSecret(request, cookie: Self.browserCookie) }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (enrolment, token) = try await kit.service.enrolments.create(auth, info: kit.info(request, context))
        let link = kit.settings.publicOrigin + "/enrol#" + token
        return try kit.json(Created(id: enrolment.id, link: link, qr: link, expiresAt: enrolment.expiresAt), status: .created)
    }

    @Sendable func status(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let enrolment = try await kit.service.enrolments.enrolment(auth, id: try kit.idParameter(context))
        return try kit.json(Status(
            status: enrolment.status.rawValue, expiresAt: enrolment.expiresAt,
            device: enrolment.openedIP.map { Status.Device(ip: $0, userAgent: enrolment.openedUserAgent ?? "") }))
    }

    @Sendable func confirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await kit.decode(Confirm.self, request).confirmationCode
        try await kit.service.enrolments.confirm(auth, id: try kit.idParameter(context), confirmationCode: code, info: kit.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func open(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try await kit.decode(Open.self, request).token
        let who = kit.info(request, context)
        try await kit.limit(ip: who.ip)
        let (enrolment, code, secret) = try await kit.service.enrolments.open(token: token, info: who)
        var response = try kit.json(Opened(id: enrolment.id, confirmationCode: code))
        response.setCookie(kit.browserCookie(Self.browserCookie, value: secret, maxAge: Int(EnrolmentService.lifetime), path: "/api/v1/enrol"))
        return response
    }

    @Sendable func options(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try await kit.decode(OptionsRequest.self, request).id
        try await kit.limit(ip: kit.info(request, context).ip)
        return kit.json(try await kit.service.enrolments.passkeyOptions(id: id, browserSecret: try browserSecret(request)))
    }

    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await kit.decode(VerifyRequest.self, request)
        let who = kit.info(request, context)
        try await kit.limit(ip: who.ip)
        let (user, passkey, issued) = try await kit.service.enrolments.passkeyVerify(
            id: input.id, browserSecret: try browserSecret(request), credential: input.credential, name: input.name, info: who)
        var response = try kit.created(user, passkey)
        response.setCookie(kit.sessionCookie(issued.token))
        return response
    }
}
