import Foundation

/// What the provider is told: its issuer, its endpoints' paths and its lifetimes.
public struct OIDCSettings: Sendable {
    /// The issuer identifier (Core §2, RFC 8414 §2): the public origin, https in production.
    public var issuer: String
    /// How long an authorization code can be exchanged (RFC 6749 §4.1.2 recommends at most ten
    /// minutes; RFC 9700 asks for short; at most 60 seconds here).
    public var codeLifetime: TimeInterval = 60
    /// How long an access token is valid.
    public var accessTokenLifetime: TimeInterval = 300
    /// How long an ID token is valid.
    public var idTokenLifetime: TimeInterval = 600
    /// How long an offline refresh token lives without use.
    public var offlineRefreshLifetime: TimeInterval = 30 * 86400
    /// How long a person has to sign in or consent before the request must start again.
    public var interactionLifetime: TimeInterval = 600
    /// How long a pushed authorization request may wait (RFC 9126 §2.2 `expires_in`).
    public var pushedRequestLifetime: TimeInterval = 60
    /// How long a remembered consent lasts.
    public var consentLifetime: TimeInterval = 365 * 86400
    /// How long a retired signing key stays published (longer than any JWT it signed lives).
    public var keyRetention: TimeInterval = 86400
    /// How often a node reads the signing keys again, to pick up a rotation done elsewhere.
    public var keyReloadInterval: TimeInterval = 30
    /// How long a session may go unused before it ends: the accounts' own idle timeout
    /// (`session.idle_timeout`), which the composition root passes on. Codes and tokens that end with
    /// their session end then too.
    public var sessionIdleTimeout: TimeInterval = 7 * 86400
    /// How far a DPoP proof's `iat` may be from the server's clock.
    public var dpopClockSkew: TimeInterval = 60

    /// Settings for `issuer` with the default lifetimes.
    public init(issuer: String) { self.issuer = issuer }

    /// The endpoints, as absolute URLs under the issuer.
    public var authorizationEndpoint: String { issuer + OIDCPaths.authorize }
    public var tokenEndpoint: String { issuer + OIDCPaths.token }
    public var userinfoEndpoint: String { issuer + OIDCPaths.userinfo }
    public var jwksURI: String { issuer + OIDCPaths.jwks }
    public var revocationEndpoint: String { issuer + OIDCPaths.revoke }
    public var introspectionEndpoint: String { issuer + OIDCPaths.introspect }
    public var endSessionEndpoint: String { issuer + OIDCPaths.logout }
    public var pushedAuthorizationRequestEndpoint: String { issuer + OIDCPaths.par }
    public var deviceAuthorizationEndpoint: String { issuer + OIDCPaths.deviceAuthorization }
}

/// The paths of the provider's endpoints.
public enum OIDCPaths {
    public static let authorize = "/oauth2/authorize"
    public static let resume = "/oauth2/resume"
    public static let consent = "/oauth2/consent"
    public static let token = "/oauth2/token"
    public static let userinfo = "/oauth2/userinfo"
    public static let jwks = "/oauth2/jwks"
    public static let revoke = "/oauth2/revoke"
    public static let introspect = "/oauth2/introspect"
    public static let logout = "/oauth2/logout"
    public static let par = "/oauth2/par"
    public static let deviceAuthorization = "/oauth2/device_authorization"
}
