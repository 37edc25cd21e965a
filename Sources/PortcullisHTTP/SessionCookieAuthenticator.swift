import Accounts
import Hummingbird
import HummingbirdAuth

/// Puts the session that the session cookie names into the request context (see
/// ``PasskeyService/authenticate(token:)``: live, within its lifetimes, of an enabled user). Without
/// a cookie, or with one that names no live session, the request goes on unauthenticated and
/// `requireIdentity()` refuses it. Session cookies now; bearer tokens later, through the same door.
package struct SessionCookieAuthenticator: AuthenticatorMiddleware {
    package typealias Context = AppRequestContext
    let service: PasskeyService
    let cookieName: String

    package func authenticate(request: Request, context: AppRequestContext) async throws -> Authenticated? {
        guard let token = request.cookies[cookieName]?.value else { return nil }
        return try await service.authenticate(token: token)
    }
}

/// The roles a signed-in identity holds, for the one admin policy (`RolePolicy(.admin)`).
public enum Role: Hashable, Sendable {
    /// May see the ways-in report and the accounts that could not recover, and approve others' recoveries.
    case admin
}

extension Authenticated: RoleProviding {
    public var roles: Set<Role> { user.isAdmin ? [.admin] : [] }
}
