import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import WebAuthn

/// Enrolling a new device's own passkey from a signed-in device.
struct EnrolmentController: Sendable {
    let api: APIController
    static let browserCookie = "portcullis_enrol"

    func register(on router: Router<AppRequestContext>, signedIn: RouterGroup<AppRequestContext>) {
        signedIn.post("api/v1/me/enrolments", use: create)
        signedIn.get("api/v1/me/enrolments/:id", use: status)
        signedIn.post("api/v1/me/enrolments/:id/confirm", use: confirm)
        router.post("api/v1/enrol/open", use: open)
        router.post("api/v1/enrol/passkey/options", use: options)
        router.post("api/v1/enrol/passkey/verify", use: verify)
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
    struct Enrolled: Encodable { let user: UserView; let passkey: PasskeyView }

    func browserSecret(_ request: Request) throws -> String { try api.browserSecret(request, cookie: Self.browserCookie) }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (enrolment, token) = try await api.service.enrolments.create(auth, info: api.info(request, context))
        let link = api.settings.publicOrigin + "/enrol#" + token
        return try api.json(Created(id: enrolment.id, link: link, qr: link, expiresAt: enrolment.expiresAt), status: .created)
    }

    @Sendable func status(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let enrolment = try await api.service.enrolments.enrolment(auth, id: try api.idParameter(context))
        return try api.json(Status(
            status: enrolment.status.rawValue, expiresAt: enrolment.expiresAt,
            device: enrolment.openedIP.map { Status.Device(ip: $0, userAgent: enrolment.openedUserAgent ?? "") }))
    }

    @Sendable func confirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await api.decode(Confirm.self, request).confirmationCode
        try await api.service.enrolments.confirm(auth, id: try api.idParameter(context), confirmationCode: code, info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func open(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try await api.decode(Open.self, request).token
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let (enrolment, code, secret) = try await api.service.enrolments.open(token: token, info: who)
        var response = try api.json(Opened(id: enrolment.id, confirmationCode: code))
        response.setCookie(api.browserCookie(Self.browserCookie, value: secret, maxAge: Int(EnrolmentService.lifetime), path: "/api/v1/enrol"))
        return response
    }

    @Sendable func options(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try await api.decode(OptionsRequest.self, request).id
        try api.limit(ip: api.info(request, context).ip)
        return api.json(try await api.service.enrolments.passkeyOptions(id: id, browserSecret: try browserSecret(request)))
    }

    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await api.decode(VerifyRequest.self, request)
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let (user, passkey, issued) = try await api.service.enrolments.passkeyVerify(
            id: input.id, browserSecret: try browserSecret(request), credential: input.credential, name: input.name, info: who)
        var response = try api.json(Enrolled(user: UserView(user), passkey: api.passkeyView(passkey)), status: .created)
        response.setCookie(api.sessionCookie(issued.token))
        return response
    }
}
