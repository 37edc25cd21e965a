import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import WebAuthn

/// The admin pages' account routes: find, show, disable, enable and delete users, and the audit log.
/// One role policy guards them; ``AdminService`` checks full rights, and a fresh assertion for changes.
struct AdminController: Sendable {
    let kit: APIToolkit

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        let admin = routes.group("api/v1/admin").add(middleware: kit.authenticator)
            .add(middleware: AuthorizationPolicyMiddleware(RolePolicy<Authenticated>(.admin), deniedError: Problem.from(AccountsError.adminRequired())))
        admin.get("users", use: users)
        admin.get("users/:id", use: account)
        admin.post("users/:id/disable") { request, context in try await setDisabled(request, context, disabled: true) }
        admin.post("users/:id/enable") { request, context in try await setDisabled(request, context, disabled: false) }
        admin.delete("users/:id", use: delete)
        admin.get("audit", use: audit)
        return routes
    }

    /// A user in an admin's list.
    struct AdminUserView: Encodable {
        let id: UUID; let username: String; let displayName: String; let createdAt: Date; let disabled: Bool; let admin: Bool
        init(_ user: User) {
            id = user.id; username = user.username; displayName = user.displayName; createdAt = user.createdAt
            disabled = user.disabled; admin = user.isAdmin
        }
    }
    struct Users: Encodable { let users: [AdminUserView] }
    struct Account: Encodable { let user: AdminUserView; let passkeys: [PasskeyView]; let events: [AccountController.EventView] }
    /// An audit entry: the event, and whose timeline it is on.
    struct AuditEntry: Encodable {
        let username: String?
        let event: AccountController.EventView
    }
    struct Audit: Encodable { let entries: [AuditEntry] }

    @Sendable func users(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let query = request.uri.queryParameters.get("q") ?? ""
        return try kit.json(Users(users: try await kit.service.admin.users(auth, matching: query).map(AdminUserView.init)))
    }

    @Sendable func account(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let found = try await kit.service.admin.account(auth, id: try kit.idParameter(context))
        return try kit.json(Account(user: AdminUserView(found.user), passkeys: found.passkeys.map(kit.passkeyView),
                                    events: found.events.map(AccountController.EventView.init)))
    }

    func setDisabled(_ request: Request, _ context: AppRequestContext, disabled: Bool) async throws -> Response {
        let auth = try context.requireIdentity()
        let user = try await kit.service.admin.setDisabled(auth, userID: try kit.idParameter(context), disabled: disabled, info: kit.info(request, context))
        var changed = user
        changed.disabled = disabled
        return try kit.json(AdminUserView(changed))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        try await kit.service.admin.delete(auth, userID: try kit.idParameter(context), info: kit.info(request, context))
        return Response(status: .noContent)
    }

    @Sendable func audit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let auth = try context.requireIdentity()
        let entries = try await kit.service.admin.audit(auth)
        return try kit.json(Audit(entries: entries.map { AuditEntry(username: $0.username, event: AccountController.EventView(event: $0.event)) }))
    }
}
