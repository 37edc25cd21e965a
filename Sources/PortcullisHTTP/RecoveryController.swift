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

    // MARK: Requests and views

    struct ProofView: Encodable { let kind: String; let at: Date }

    /// A case as the requesting browser sees it.
    struct CaseProgress: Encodable {
        let id: UUID
        /// `open`, `expired`, `cancelled` or `completed`.
        let status: String
        let createdAt: Date
        let expiresAt: Date
        let proofs: [ProofView]
        let releaseAt: Date?
        let released: Bool

        init(_ view: RecoveryCaseView) {
            let c = view.recoveryCase
            id = c.id
            status = view.expired && c.status == .open ? "expired" : c.status.rawValue
            createdAt = c.createdAt
            expiresAt = c.expiresAt
            proofs = c.proofs.map { ProofView(kind: $0.kind.rawValue, at: $0.at) }
            releaseAt = view.releaseAt
            released = view.released
        }
    }

    /// A case as its owner or an approver sees it: never the comparison code (the requester reads it to them).
    struct OwnerCase: Encodable {
        let id: UUID
        let createdAt: Date
        let expiresAt: Date
        let ip: String
        let userAgent: String
        let proofs: [ProofView]
        /// Whose account it is, for an approver; null for the owner's own cases.
        let user: UserView?

        init(_ c: RecoveryCase, owner: User? = nil) {
            id = c.id
            createdAt = c.createdAt
            expiresAt = c.expiresAt
            ip = c.ip
            userAgent = c.userAgent
            proofs = c.proofs.map { ProofView(kind: $0.kind.rawValue, at: $0.at) }
            user = owner.map(UserView.init)
        }
    }

    struct RuleView: Encodable {
        let proofs: String
        let wait: String
        let waitSeconds: Int
        init(_ rule: RecoveryRule) {
            proofs = rule.proofs
            wait = RecoveryPolicy.format(rule.wait)
            waitSeconds = Int(rule.wait)
        }
    }

    struct ReadinessView: Encodable {
        let passkeys: Int
        let providers: Int
        let deviceBoundPasskey: Bool
        let acceptedContacts: Int
        let invitedContacts: Int
        let threshold: Int
        let recoveryCode: Bool
        let notificationAddresses: Int
        let selfServiceRules: [RuleView]
        let canRecoverWithoutAdmins: Bool
        let next: [String]
        init(_ r: RecoveryReadiness) {
            passkeys = r.passkeys
            providers = r.providers
            deviceBoundPasskey = r.hasDeviceBoundPasskey
            acceptedContacts = r.acceptedContacts
            invitedContacts = r.invitedContacts
            threshold = r.threshold
            recoveryCode = r.hasCode
            notificationAddresses = r.addresses
            selfServiceRules = r.selfServiceRules.map(RuleView.init)
            canRecoverWithoutAdmins = r.canRecoverWithoutAdmins
            next = r.next
        }
    }

    struct ContactView: Encodable { let id: UUID; let user: UserView; let accepted: Bool; let createdAt: Date }
    struct InvitationView: Encodable { let id: UUID; let from: UserView; let accepted: Bool; let createdAt: Date }
    struct Overview: Encodable {
        struct Code: Encodable { let enabled: Bool; let set: Bool; let createdAt: Date? }
        let threshold: Int
        let recoveryCode: Code
        let addresses: [String]
        let contacts: [ContactView]
        let rules: [RuleView]
        let readiness: ReadinessView
        let openCases: [OwnerCase]
    }
    struct Update: Decodable { let threshold: Int?; let addresses: [String]? }
    struct Updated: Encodable { let threshold: Int; let addresses: [String] }
    struct NewCode: Encodable { let code: String }
    struct Invite: Decodable { let username: String }
    struct Invited: Encodable { let id: UUID; let accepted: Bool }
    struct Invitations: Encodable { let invitations: [InvitationView] }
    struct Requests: Encodable { let approvable: [OwnerCase]; let own: [OwnerCase] }
    struct Approval: Decodable { let comparisonCode: String }
    struct ApprovalByOwner: Decodable { let owner: UUID; let comparisonCode: String }
    struct Start: Decodable { let username: String }
    struct Started: Encodable { let id: UUID; let comparisonCode: String; let expiresAt: Date }
    struct CodeEntry: Decodable { let code: String }
    struct VerifyRequest: Decodable { let credential: JSONValue; let name: String? }
    struct Recovered: Encodable { let user: UserView; let passkey: PasskeyView }
    struct AdminCases: Encodable { let cases: [OwnerCase] }
    struct AdminWaysIn: Encodable { let waysIn: [WayInView] }
    struct Unrecoverable: Encodable {
        struct Account: Encodable { let user: UserView; let readiness: ReadinessView }
        let accounts: [Account]
    }

    // MARK: Set-up

    @Sendable func settings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (settings, contacts, readiness) = try await api.service.recovery.recoveryOverview(userID: auth.user.id)
        return try api.json(Overview(
            threshold: settings.threshold,
            recoveryCode: .init(enabled: api.service.policy.recovery.codeEnabled, set: settings.codeHash != nil, createdAt: settings.codeCreatedAt),
            addresses: settings.addresses,
            contacts: contacts.map { ContactView(id: $0.contact.id, user: UserView($0.user), accepted: $0.contact.accepted, createdAt: $0.contact.createdAt) },
            rules: api.service.policy.recovery.effectiveRules.map(RuleView.init), readiness: ReadinessView(readiness),
            openCases: try await api.service.recovery.openCases(userID: auth.user.id).map { OwnerCase($0) }))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await api.decode(Update.self, request)
        guard input.threshold != nil || input.addresses != nil else { throw Problem.invalid("threshold or addresses is required.") }
        let settings = try await api.service.recovery.updateRecovery(auth, threshold: input.threshold, addresses: input.addresses, info: api.info(request, context))
        return try api.json(Updated(threshold: settings.threshold, addresses: settings.addresses))
    }

    @Sendable func newCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await api.service.recovery.newRecoveryCode(auth, info: api.info(request, context))
        return try api.json(NewCode(code: code), status: .created)
    }

    @Sendable func invite(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let username = try await api.decode(Invite.self, request).username
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        let contact = try await api.service.recovery.inviteRecoveryContact(auth, username: username, info: api.info(request, context))
        return try api.json(Invited(id: contact.id, accepted: false), status: .created)
    }

    @Sendable func removeContact(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await api.service.recovery.removeRecoveryContact(auth, id: try api.idParameter(context), info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func invitations(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let items = try await api.service.recovery.recoveryInvitations(auth)
        return try api.json(Invitations(invitations: items.map {
            InvitationView(id: $0.contact.id, from: UserView($0.owner), accepted: $0.contact.accepted, createdAt: $0.contact.createdAt)
        }))
    }

    @Sendable func accept(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await api.service.recovery.acceptRecoveryInvitation(auth, id: try api.idParameter(context), info: api.info(request, context))
        return Response(status: .noContent)
    }

    // MARK: Approvals and cancels

    @Sendable func requests(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (approvable, own) = try await api.service.recovery.recoveryRequests(auth)
        return try api.json(Requests(approvable: approvable.map { OwnerCase($0.recoveryCase, owner: $0.owner) }, own: own.map { OwnerCase($0) }))
    }

    @Sendable func approve(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await api.decode(Approval.self, request).comparisonCode
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        try await api.service.recovery.approveRecovery(auth, caseID: try api.idParameter(context), comparisonCode: code, info: api.info(request, context))
        return Response(status: .noContent)
    }

    /// A contact approves by the owner and the code the requester read to them: the case is found
    /// among all the owner's open cases, however many a flood added.
    @Sendable func approveByCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await api.decode(ApprovalByOwner.self, request)
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        try await api.service.recovery.approveRecovery(auth, ownerID: input.owner, comparisonCode: input.comparisonCode, info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await api.service.recovery.cancelRecovery(auth, caseID: try api.idParameter(context), info: api.info(request, context))
        return Response(status: .noContent)
    }

    // MARK: The requesting browser

    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let username = try await api.decode(Start.self, request).username
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let normalized = try PasskeyService.normalize(username: username)
        if let wait = startsPerUsernameAndIP.hit(who.ip + " " + normalized) ?? startsPerIP.hit(who.ip) ?? startsPerUsername.hit(normalized) {
            throw Problem.rateLimited(retryAfter: wait)
        }
        let (recoveryCase, secret) = try await api.service.recovery.startRecovery(username: normalized, info: who)
        var response = try api.json(Started(id: recoveryCase.id, comparisonCode: recoveryCase.comparisonCode, expiresAt: recoveryCase.expiresAt), status: .created)
        response.setCookie(api.browserCookie(Self.caseCookie, value: secret, maxAge: Int(api.service.policy.recovery.caseLifetime), path: "/api/v1/recovery"))
        return response
    }

    @Sendable func progress(_ request: Request, context: AppRequestContext) async throws -> Response {
        let view = try await api.service.recovery.recoveryCaseView(id: try api.idParameter(context), secret: try caseSecret(request))
        return try api.json(CaseProgress(view))
    }

    @Sendable func code(_ request: Request, context: AppRequestContext) async throws -> Response {
        let who = api.info(request, context)
        let caseID = try api.idParameter(context)
        if let wait = codeAttemptsPerIP.hit("code:" + who.ip) { throw Problem.rateLimited(retryAfter: wait) }
        let code = try await api.decode(CodeEntry.self, request).code
        let view = try await api.service.recovery.enterRecoveryCode(id: caseID, secret: try caseSecret(request), code: code, info: who)
        return try api.json(CaseProgress(view))
    }

    @Sendable func passkeyOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        try api.limit(ip: api.info(request, context).ip)
        return api.json(try await api.service.recovery.recoveryPasskeyOptions(id: try api.idParameter(context), secret: try caseSecret(request)))
    }

    @Sendable func passkeyVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await api.decode(VerifyRequest.self, request)
        let who = api.info(request, context)
        try api.limit(ip: who.ip)
        let (user, passkey, issued) = try await api.service.recovery.recoveryPasskeyVerify(
            id: try api.idParameter(context), secret: try caseSecret(request), credential: input.credential, name: input.name, info: who)
        var response = try api.json(Recovered(user: UserView(user), passkey: api.passkeyView(passkey)), status: .created)
        response.setCookie(api.sessionCookie(issued.token))
        response.setCookie(api.browserCookie(Self.caseCookie, value: "", maxAge: 0, path: "/api/v1/recovery"))
        return response
    }

    // MARK: Admins

    @Sendable func waysIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try api.service.requireFullRights(auth)
        return try api.json(AdminWaysIn(waysIn: api.settings.waysIn.map(WayInView.init)))
    }

    @Sendable func adminCases(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        guard let username = request.uri.queryParameters["username"].map(String.init) else { throw Problem.invalid("username is required.") }
        let cases = try await api.service.recovery.adminCases(auth, username: username)
        return try api.json(AdminCases(cases: cases.map { OwnerCase($0) }))
    }

    @Sendable func adminApprove(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await api.decode(Approval.self, request).comparisonCode
        try api.limit(ip: api.info(request, context).ip, account: auth.user.username)
        try await api.service.recovery.adminApproveRecovery(auth, caseID: try api.idParameter(context), comparisonCode: code, info: api.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func unrecoverable(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let accounts = try await api.service.recovery.unrecoverableAccounts(auth)
        return try api.json(Unrecoverable(accounts: accounts.map { .init(user: UserView($0.user), readiness: ReadinessView($0.readiness)) }))
    }
}
