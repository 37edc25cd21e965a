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

    func enrolmentID(_ object: JSONObject) throws -> UUID {
        guard let text = try api.optionalString(object, "id"), let id = UUID(uuidString: text) else { throw Problem.invalid("id is required.") }
        return id
    }

    func browserSecret(_ request: Request) throws -> String { try api.browserSecret(request, cookie: Self.browserCookie) }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (enrolment, token) = try await api.service.createEnrolment(auth, info: api.info(request, context))
        let link = api.settings.publicOrigin + "/enrol#" + token
        return api.json(.object([
            "id": .string(enrolment.id.uuidString.lowercased()),
            "link": .string(link),
            "qr": .string(link),
            "expiresAt": APIController.iso(enrolment.expiresAt),
        ]), status: .created)
    }

    @Sendable func status(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let enrolment = try await api.service.enrolment(auth, id: try api.idParameter(context))
        var object: JSONObject = ["status": .string(enrolment.status.rawValue), "expiresAt": APIController.iso(enrolment.expiresAt)]
        if let ip = enrolment.openedIP {
            object["device"] = .object(["ip": .string(ip), "userAgent": .string(enrolment.openedUserAgent ?? "")])
        }
        return api.json(.object(object))
    }

    @Sendable func confirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await api.body(request)
        guard let code = try api.optionalString(object, "confirmationCode") else { throw Problem.invalid("confirmationCode is required.") }
        try await api.service.confirmEnrolment(auth, id: try api.idParameter(context), confirmationCode: code, info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func open(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        guard let token = try api.optionalString(object, "token") else { throw Problem.invalid("token is required.") }
        let (enrolment, code, secret) = try await api.service.openEnrolment(token: token, info: who)
        var response = api.json(.object(["id": .string(enrolment.id.uuidString.lowercased()), "confirmationCode": .string(code)]))
        response.setCookie(api.browserCookie(Self.browserCookie, value: secret, maxAge: Int(PasskeyService.enrolmentLifetime), path: "/api/v1/enrol"))
        return response
    }

    @Sendable func options(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        try api.limit(ip: api.info(request, context).ip)
        return api.json(try await api.service.enrolmentOptions(id: try enrolmentID(object), browserSecret: try browserSecret(request)))
    }

    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let credential = try api.credential(object)
        let (user, passkey, issued) = try await api.service.enrolmentVerify(
            id: try enrolmentID(object), browserSecret: try browserSecret(request), credential: credential,
            name: try api.optionalString(object, "name"), info: who)
        var response = api.json(.object(["user": api.userJSON(user), "passkey": api.passkeyJSON(passkey)]), status: .created)
        response.setCookie(api.sessionCookie(issued.token))
        return response
    }
}
