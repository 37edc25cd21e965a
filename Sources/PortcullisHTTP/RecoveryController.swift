import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import WebAuthn

/// Recovery as strong as a passkey: set-up, cases, proofs, cancels, completion, and admins.
struct RecoveryController: Sendable {
    let api: APIController
    /// Cases started per (username, IP address), per IP address, and per username from all addresses
    /// (whether or not the username exists: the limits say nothing about accounts). Checked in that
    /// order, and a start refused by one does not count against the next: a stranger flooding one
    /// username from one address spends that address's allowance, not the owner's.
    let startsPerUsernameAndIP: RateLimiter
    let startsPerIP: RateLimiter
    let startsPerUsername: RateLimiter
    /// Recovery code attempts per IP.
    let codeAttemptsPerIP: RateLimiter

    static let caseCookie = "portcullis_recovery"

    func register(on router: Router<AppRequestContext>, signedIn: RouterGroup<AppRequestContext>) {
        let me = signedIn.group("api/v1/me")
        me.get("recovery", use: settings)
        me.patch("recovery", use: update)
        me.post("recovery/code", use: newCode)
        me.post("recovery/contacts", use: invite)
        me.delete("recovery/contacts/:id", use: removeContact)
        me.get("recovery/invitations", use: invitations)
        me.post("recovery/invitations/:id/accept", use: accept)
        me.get("recovery-requests", use: requests)
        me.post("recovery-requests/:id/approve", use: approve)
        me.post("recovery-requests/approve", use: approveByCode)
        me.post("recovery-requests/:id/cancel", use: cancel)

        let recovery = router.group("api/v1/recovery")
        recovery.post("", use: start)
        recovery.get(":id", use: progress)
        recovery.post(":id/code", use: code)
        recovery.post(":id/passkey/options", use: passkeyOptions)
        recovery.post(":id/passkey/verify", use: passkeyVerify)

        // One admin policy for every admin route; each still needs a full-rights session.
        let admin = signedIn.group("api/v1/admin")
            .add(middleware: AuthorizationPolicyMiddleware(RolePolicy<Authenticated>(.admin), deniedError: Problem.from(AccountsError.adminRequired())))
        admin.get("ways-in", use: waysIn)
        admin.get("recovery-cases", use: adminCases)
        admin.post("recovery-cases/:id/approve", use: adminApprove)
        admin.get("unrecoverable", use: unrecoverable)
    }

    // MARK: Helpers

    func caseSecret(_ request: Request) throws -> String { try api.browserSecret(request, cookie: Self.caseCookie) }

    func comparisonCode(_ object: JSONObject) throws -> String {
        guard let code = try api.optionalString(object, "comparisonCode") else { throw Problem.invalid("comparisonCode is required.") }
        return code
    }

    func caseJSON(_ view: RecoveryCaseView) -> JSONValue {
        let c = view.recoveryCase
        return .object([
            "id": .string(c.id.uuidString.lowercased()),
            "status": .string(view.expired && c.status == .open ? "expired" : c.status.rawValue),
            "createdAt": APIController.iso(c.createdAt),
            "expiresAt": APIController.iso(c.expiresAt),
            "proofs": .array(c.proofs.map { .object(["kind": .string($0.kind.rawValue), "at": APIController.iso($0.at)]) }),
            "releaseAt": view.releaseAt.map(APIController.iso) ?? .null,
            "released": .bool(view.released),
        ])
    }

    /// A case as its owner or an approver sees it: never the comparison code (the requester reads it to them).
    func ownerCaseJSON(_ c: RecoveryCase, owner: User? = nil) -> JSONValue {
        var object: JSONObject = [
            "id": .string(c.id.uuidString.lowercased()),
            "createdAt": APIController.iso(c.createdAt),
            "expiresAt": APIController.iso(c.expiresAt),
            "ip": .string(c.ip),
            "userAgent": .string(c.userAgent),
            "proofs": .array(c.proofs.map { .object(["kind": .string($0.kind.rawValue), "at": APIController.iso($0.at)]) }),
        ]
        if let owner { object["user"] = api.userJSON(owner) }
        return .object(object)
    }

    func ruleJSON(_ rule: RecoveryRule) -> JSONValue {
        .object(["proofs": .string(rule.proofs), "wait": .string(RecoveryPolicy.format(rule.wait)), "waitSeconds": .int(Int(rule.wait))])
    }

    func readinessJSON(_ r: RecoveryReadiness) -> JSONValue {
        .object([
            "passkeys": .int(r.passkeys), "providers": .int(r.providers), "deviceBoundPasskey": .bool(r.hasDeviceBoundPasskey),
            "acceptedContacts": .int(r.acceptedContacts), "invitedContacts": .int(r.invitedContacts), "threshold": .int(r.threshold),
            "recoveryCode": .bool(r.hasCode), "notificationAddresses": .int(r.addresses),
            "selfServiceRules": .array(r.selfServiceRules.map(ruleJSON)),
            "canRecoverWithoutAdmins": .bool(r.canRecoverWithoutAdmins),
            "next": .array(r.next.map(JSONValue.string)),
        ])
    }

    // MARK: Set-up

    @Sendable func settings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (settings, contacts, readiness) = try await api.service.recoveryOverview(userID: auth.user.id)
        return api.json(.object([
            "threshold": .int(settings.threshold),
            "recoveryCode": .object([
                "enabled": .bool(api.service.policy.recovery.codeEnabled), "set": .bool(settings.codeHash != nil),
                "createdAt": settings.codeCreatedAt.map(APIController.iso) ?? .null,
            ]),
            "addresses": .array(settings.addresses.map(JSONValue.string)),
            "contacts": .array(contacts.map { item in
                .object(["id": .string(item.contact.id.uuidString.lowercased()), "user": api.userJSON(item.user),
                         "accepted": .bool(item.contact.accepted), "createdAt": APIController.iso(item.contact.createdAt)])
            }),
            "rules": .array(api.service.policy.recovery.effectiveRules.map(ruleJSON)),
            "readiness": readinessJSON(readiness),
            "openCases": .array(try await api.service.openCases(userID: auth.user.id).map { ownerCaseJSON($0) }),
        ]))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await api.body(request)
        var threshold: Int?
        switch object["threshold"] {
        case nil: break
        case .number(let text)? where Int(text) != nil: threshold = Int(text)
        default: throw Problem.invalid("threshold must be an integer.")
        }
        var addresses: [String]?
        switch object["addresses"] {
        case nil: break
        case .array(let items)?:
            addresses = try items.map { item in
                guard case .string(let s) = item else { throw Problem.invalid("addresses must be strings.") }
                return s
            }
        default: throw Problem.invalid("addresses must be an array of strings.")
        }
        guard threshold != nil || addresses != nil else { throw Problem.invalid("threshold or addresses is required.") }
        let settings = try await api.service.updateRecovery(auth, threshold: threshold, addresses: addresses, info: api.info(request, context))
        return api.json(.object(["threshold": .int(settings.threshold), "addresses": .array(settings.addresses.map(JSONValue.string))]))
    }

    @Sendable func newCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await api.service.newRecoveryCode(auth, info: api.info(request, context))
        return api.json(.object(["code": .string(code)]), status: .created)
    }

    @Sendable func invite(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await api.body(request)
        guard let username = try api.optionalString(object, "username") else { throw Problem.invalid("username is required.") }
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        let contact = try await api.service.inviteRecoveryContact(auth, username: username, info: api.info(request, context))
        return api.json(.object(["id": .string(contact.id.uuidString.lowercased()), "accepted": .bool(false)]), status: .created)
    }

    @Sendable func removeContact(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await api.service.removeRecoveryContact(auth, id: try api.idParameter(context), info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func invitations(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let items = try await api.service.recoveryInvitations(auth)
        return api.json(.object(["invitations": .array(items.map { item in
            .object(["id": .string(item.contact.id.uuidString.lowercased()), "from": api.userJSON(item.owner),
                     "accepted": .bool(item.contact.accepted), "createdAt": APIController.iso(item.contact.createdAt)])
        })]))
    }

    @Sendable func accept(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await api.service.acceptRecoveryInvitation(auth, id: try api.idParameter(context), info: api.info(request, context))
        return Response(status: .noContent)
    }

    // MARK: Approvals and cancels

    @Sendable func requests(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (approvable, own) = try await api.service.recoveryRequests(auth)
        return api.json(.object([
            "approvable": .array(approvable.map { ownerCaseJSON($0.recoveryCase, owner: $0.owner) }),
            "own": .array(own.map { ownerCaseJSON($0) }),
        ]))
    }

    @Sendable func approve(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await api.body(request)
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        try await api.service.approveRecovery(auth, caseID: try api.idParameter(context), comparisonCode: try comparisonCode(object), info: api.info(request, context))
        return Response(status: .noContent)
    }

    /// A contact approves by the owner and the code the requester read to them: the case is found
    /// among all the owner's open cases, however many a flood added.
    @Sendable func approveByCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await api.body(request)
        guard let owner = try api.optionalString(object, "owner") else { throw Problem.invalid("owner is required.") }
        guard let ownerID = UUID(uuidString: owner) else { throw Problem.invalid("owner must be a user ID.") }
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        try await api.service.approveRecovery(auth, ownerID: ownerID, comparisonCode: try comparisonCode(object), info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await api.service.cancelRecovery(auth, caseID: try api.idParameter(context), info: api.info(request, context))
        return Response(status: .noContent)
    }

    // MARK: The requesting browser

    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        guard let username = try api.optionalString(object, "username") else { throw Problem.invalid("username is required.") }
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let normalized = try PasskeyService.normalize(username: username)
        if let wait = startsPerUsernameAndIP.hit(who.ip + " " + normalized) ?? startsPerIP.hit(who.ip) ?? startsPerUsername.hit(normalized) {
            throw Problem.rateLimited(retryAfter: wait)
        }
        let (recoveryCase, secret) = try await api.service.startRecovery(username: normalized, info: who)
        var response = api.json(.object([
            "id": .string(recoveryCase.id.uuidString.lowercased()),
            "comparisonCode": .string(recoveryCase.comparisonCode),
            "expiresAt": APIController.iso(recoveryCase.expiresAt),
        ]), status: .created)
        response.setCookie(api.browserCookie(Self.caseCookie, value: secret, maxAge: Int(api.service.policy.recovery.caseLifetime), path: "/api/v1/recovery"))
        return response
    }

    @Sendable func progress(_ request: Request, context: AppRequestContext) async throws -> Response {
        let view = try await api.service.recoveryCaseView(id: try api.idParameter(context), secret: try caseSecret(request))
        return api.json(caseJSON(view))
    }

    @Sendable func code(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        let who = api.info(request, context)
        let caseID = try api.idParameter(context)
        if let wait = codeAttemptsPerIP.hit("code:" + who.ip) { throw Problem.rateLimited(retryAfter: wait) }
        guard let code = try api.optionalString(object, "code") else { throw Problem.invalid("code is required.") }
        let view = try await api.service.enterRecoveryCode(id: caseID, secret: try caseSecret(request), code: code, info: who)
        return api.json(caseJSON(view))
    }

    @Sendable func passkeyOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        try api.limit(ip: api.info(request, context).ip)
        return api.json(try await api.service.recoveryPasskeyOptions(id: try api.idParameter(context), secret: try caseSecret(request)))
    }

    @Sendable func passkeyVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let object = try await api.body(request)
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let credential = try api.credential(object)
        let (user, passkey, issued) = try await api.service.recoveryPasskeyVerify(
            id: try api.idParameter(context), secret: try caseSecret(request), credential: credential, name: try api.optionalString(object, "name"), info: who)
        var response = api.json(.object(["user": api.userJSON(user), "passkey": api.passkeyJSON(passkey)]), status: .created)
        response.setCookie(api.sessionCookie(issued.token))
        response.setCookie(api.browserCookie(Self.caseCookie, value: "", maxAge: 0, path: "/api/v1/recovery"))
        return response
    }

    // MARK: Admins

    @Sendable func waysIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try api.service.requireFullRights(auth)
        return api.json(.object(["waysIn": WaysInReport.json(api.settings.waysIn)]))
    }

    @Sendable func adminCases(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        guard let username = request.uri.queryParameters["username"].map(String.init) else { throw Problem.invalid("username is required.") }
        let cases = try await api.service.adminCases(auth, username: username)
        return api.json(.object(["cases": .array(cases.map { ownerCaseJSON($0) })]))
    }

    @Sendable func adminApprove(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let object = try await api.body(request)
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        try await api.service.adminApproveRecovery(auth, caseID: try api.idParameter(context), comparisonCode: try comparisonCode(object), info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func unrecoverable(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let accounts = try await api.service.unrecoverableAccounts(auth)
        return api.json(.object(["accounts": .array(accounts.map { .object(["user": api.userJSON($0.user), "readiness": readinessJSON($0.readiness)]) })]))
    }
}
