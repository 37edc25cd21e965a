import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import OIDC
import WebAuthn

/// Recovery as strong as a passkey: set-up, cases, proofs, cancels, completion, and admins.
struct RecoveryController: Sendable {
    let kit: APIToolkit
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

    /// The routes; those that need someone signed in sit behind the session cookie's authenticator.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        let signedIn = routes.group().add(middleware: kit.authenticator)
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
        me.post("recovery-requests/decline", use: decline)
        me.post("recovery-requests/:id/cancel", use: cancel)

        let recovery = routes.group("api/v1/recovery")
        // The ways this site recovers an account, and how long each waits: the same for everyone, so
        // the recovery page can say what will happen before anyone names an account.
        recovery.get("rules") { _, _ in
            try kit.json(Rules(rules: kit.service.policy.recovery.effectiveRules.map(RuleView.init),
                               codeEnabled: kit.service.policy.recovery.codeEnabled))
        }
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
        return routes
    }

    // MARK: Helpers

    func caseSecret(_ request: Request) throws -> String { try kit.browserSecret(request, cookie: Self.caseCookie) }

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
        /// The addresses confirmed by their link: only these are told anything.
        let verifiedAddresses: [String]
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
    struct Rules: Encodable { let rules: [RuleView]; let codeEnabled: Bool }
    struct Started: Encodable { let id: UUID; let comparisonCode: String; let expiresAt: Date }
    struct CodeEntry: Decodable { let code: String }
    struct AdminCases: Encodable { let cases: [OwnerCase] }
    struct Unrecoverable: Encodable {
        struct Account: Encodable { let user: UserView; let readiness: ReadinessView }
        let accounts: [Account]
    }

    // MARK: Set-up

    @Sendable func settings(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (settings, contacts, readiness) = try await kit.service.recovery.recoveryOverview(userID: auth.user.id)
        return try kit.json(Overview(
            threshold: settings.threshold,
            recoveryCode: .init(enabled: kit.service.policy.recovery.codeEnabled, set: settings.codeHash != nil, createdAt: settings.codeCreatedAt),
            addresses: settings.addresses,
            verifiedAddresses: settings.verifiedAddresses,
            contacts: contacts.map { ContactView(id: $0.contact.id, user: UserView($0.user), accepted: $0.contact.accepted, createdAt: $0.contact.createdAt) },
            rules: kit.service.policy.recovery.effectiveRules.map(RuleView.init), readiness: ReadinessView(readiness),
            openCases: try await kit.service.recovery.openCases(userID: auth.user.id).map { OwnerCase($0) }))
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await kit.decode(Update.self, request)
        guard input.threshold != nil || input.addresses != nil else { throw Problem.invalid("threshold or addresses is required.") }
        let settings = try await kit.service.recovery.updateRecovery(auth, threshold: input.threshold, addresses: input.addresses, info: kit.info(request, context))
        return try kit.json(Updated(threshold: settings.threshold, addresses: settings.addresses))
    }

    @Sendable func newCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await kit.service.recovery.newRecoveryCode(auth, info: kit.info(request, context))
        return try kit.json(NewCode(code: code), status: .created)
    }

    @Sendable func invite(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let username = try await kit.decode(Invite.self, request).username
        try await kit.limit(ip: kit.info(request, context).ip, account: auth.user.username)
        let contact = try await kit.service.recovery.inviteRecoveryContact(auth, username: username, info: kit.info(request, context))
        return try kit.json(Invited(id: contact.id, accepted: false), status: .created)
    }

    @Sendable func removeContact(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.service.recovery.removeRecoveryContact(auth, id: try kit.idParameter(context), info: kit.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func invitations(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let items = try await kit.service.recovery.recoveryInvitations(auth)
        return try kit.json(Invitations(invitations: items.map {
            InvitationView(id: $0.contact.id, from: UserView($0.owner), accepted: $0.contact.accepted, createdAt: $0.contact.createdAt)
        }))
    }

    @Sendable func accept(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.service.recovery.acceptRecoveryInvitation(auth, id: try kit.idParameter(context), info: kit.info(request, context))
        return Response(status: .noContent)
    }

    // MARK: Approvals and cancels

    @Sendable func requests(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let (approvable, own) = try await kit.service.recovery.recoveryRequests(auth)
        return try kit.json(Requests(approvable: approvable.map { OwnerCase($0.recoveryCase, owner: $0.owner) }, own: own.map { OwnerCase($0) }))
    }

    @Sendable func approve(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await kit.decode(Approval.self, request).comparisonCode
        try await kit.limit(ip: kit.info(request, context).ip, account: auth.user.username)
        try await kit.service.recovery.approveRecovery(auth, caseID: try kit.idParameter(context), comparisonCode: code, info: kit.info(request, context))
        return Response(status: .noContent)
    }

    /// A contact approves by the owner and the code the requester read to them: the case is found
    /// among all the owner's open cases, however many a flood added.
    @Sendable func approveByCode(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await kit.decode(ApprovalByOwner.self, request)
        try await kit.limit(ip: kit.info(request, context).ip, account: auth.user.username)
        try await kit.service.recovery.approveRecovery(auth, ownerID: input.owner, comparisonCode: input.comparisonCode, info: kit.info(request, context))
        return Response(status: .noContent)
    }

    struct Declined: Encodable { let cancelled: Int }
    struct Decline: Decodable { let owner: UUID }

    /// A contact was not asked by the owner: every open case of that owner ends, and the owner is told.
    @Sendable func decline(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let input = try await kit.decode(Decline.self, request)
        let cancelled = try await kit.service.recovery.declineRecovery(auth, ownerID: input.owner, info: kit.info(request, context))
        return try kit.json(Declined(cancelled: cancelled))
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.service.recovery.cancelRecovery(auth, caseID: try kit.idParameter(context), info: kit.info(request, context))
        return Response(status: .noContent)
    }

    // MARK: The requesting browser

    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let username = try await kit.decode(Start.self, request).username
        let who = kit.info(request, context)
        try await kit.limit(ip: who.ip)
        let normalized = try PasskeyService.normalize(username: username)
        // In turn: a request refused by one limit is not counted against the next.
        for (limiter, key) in [(startsPerUsernameAndIP, who.ip + " " + normalized), (startsPerIP, who.ip), (startsPerUsername, normalized)] {
            if let wait = try await limiter.hit(key) { throw Problem.rateLimited(retryAfter: wait) }
        }
        let (recoveryCase, secret) = try await kit.service.recovery.startRecovery(username: normalized, info: who)
        var response = try kit.json(Started(id: recoveryCase.id, comparisonCode: recoveryCase.comparisonCode, expiresAt: recoveryCase.expiresAt), status: .created)
        response.setCookie(kit.browserCookie(Self.caseCookie, value: secret, maxAge: Int(kit.service.policy.recovery.caseLifetime), path: "/api/v1/recovery"))
        return response
    }

    @Sendable func progress(_ request: Request, context: AppRequestContext) async throws -> Response {
        let view = try await kit.service.recovery.recoveryCaseView(id: try kit.idParameter(context), secret: try caseSecret(request))
        return try kit.json(CaseProgress(view))
    }

    @Sendable func code(_ request: Request, context: AppRequestContext) async throws -> Response {
        let who = kit.info(request, context)
        let caseID = try kit.idParameter(context)
        if let wait = try await codeAttemptsPerIP.hit("code:" + who.ip) { throw Problem.rateLimited(retryAfter: wait) }
        let code = try await kit.decode(CodeEntry.self, request).code
        let view = try await kit.service.recovery.enterRecoveryCode(id: caseID, secret: try caseSecret(request), code: code, info: who)
        return try kit.json(CaseProgress(view))
    }

    @Sendable func passkeyOptions(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await kit.limit(ip: kit.info(request, context).ip)
        return kit.json(try await kit.service.recovery.recoveryPasskeyOptions(id: try kit.idParameter(context), secret: try caseSecret(request)))
    }

    @Sendable func passkeyVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let input = try await kit.decode(CeremonyVerification.self, request)
        let who = kit.info(request, context)
        try await kit.limit(ip: who.ip)
        let (user, passkey, issued) = try await kit.service.recovery.recoveryPasskeyVerify(
            id: try kit.idParameter(context), secret: try caseSecret(request), credential: input.credential, name: input.name, info: who)
        var response = try kit.created(user, passkey)
        response.setCookie(kit.sessionCookie(issued.token))
        response.setCookie(kit.browserCookie(Self.caseCookie, value: "", maxAge: 0, path: "/api/v1/recovery"))
        return response
    }

    // MARK: Admins

    @Sendable func waysIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try kit.service.requireFullRights(auth)
        // The running server's keys as stored (a server started with a secret seals any it finds unsealed).
        let sealed = try await kit.oidc.keys.allEncrypted()
        return try kit.json(WaysInReport(kit.settings.waysIn, signingKeysSealed: sealed))
    }

    @Sendable func adminCases(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        guard let username = request.uri.queryParameters["username"].map(String.init) else { throw Problem.invalid("username is required.") }
        let cases = try await kit.service.recovery.adminCases(auth, username: username)
        return try kit.json(AdminCases(cases: cases.map { OwnerCase($0) }))
    }

    @Sendable func adminApprove(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let code = try await kit.decode(Approval.self, request).comparisonCode
        try await kit.limit(ip: kit.info(request, context).ip, account: auth.user.username)
        try await kit.service.recovery.adminApproveRecovery(auth, caseID: try kit.idParameter(context), comparisonCode: code, info: kit.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func unrecoverable(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let accounts = try await kit.service.recovery.unrecoverableAccounts(auth)
        return try kit.json(Unrecoverable(accounts: accounts.map { .init(user: UserView($0.user), readiness: ReadinessView($0.readiness)) }))
    }
}
