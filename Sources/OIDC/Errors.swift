import Foundation

/// An OAuth 2.0 error as the protocol names it (RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core
/// §3.1.2.6, RFC 6750 §3.1, RFC 8628 §3.5, RFC 9449 §5.2): the `error` code and a description for the
/// developer. Descriptions never carry internal detail.
public struct OAuthError: Error, Hashable, Sendable {
    /// The `error` value.
    public let code: String
    /// The `error_description` value.
    public let description: String

    public init(_ code: String, _ description: String) {
        self.code = code
        self.description = description
    }

    public static func invalidRequest(_ d: String) -> Self { .init("invalid_request", d) }
    public static func invalidClient(_ d: String = "Client authentication failed.") -> Self { .init("invalid_client", d) }
    public static func invalidGrant(_ d: String) -> Self { .init("invalid_grant", d) }
    public static func unauthorizedClient(_ d: String) -> Self { .init("unauthorized_client", d) }
    public static func unsupportedGrantType(_ d: String) -> Self { .init("unsupported_grant_type", d) }
    public static func unsupportedResponseType(_ d: String) -> Self { .init("unsupported_response_type", d) }
    public static func invalidScope(_ d: String) -> Self { .init("invalid_scope", d) }
    public static func accessDenied(_ d: String) -> Self { .init("access_denied", d) }
    public static func loginRequired(_ d: String) -> Self { .init("login_required", d) }
    public static func consentRequired(_ d: String) -> Self { .init("consent_required", d) }
    public static func interactionRequired(_ d: String) -> Self { .init("interaction_required", d) }
    public static func unmetAuthenticationRequirements(_ d: String) -> Self { .init("unmet_authentication_requirements", d) }
    public static func requestNotSupported() -> Self { .init("request_not_supported", "Request objects are not supported.") }
    public static func requestURINotSupported() -> Self {
        .init("request_uri_not_supported", "Only request_uri values from this server's pushed authorization endpoint are accepted.")
    }
    public static func invalidToken(_ d: String) -> Self { .init("invalid_token", d) }
    public static func invalidDPoPProof(_ d: String) -> Self { .init("invalid_dpop_proof", d) }
    public static func authorizationPending() -> Self { .init("authorization_pending", "The person has not decided yet.") }
    public static func slowDown() -> Self { .init("slow_down", "Polling faster than the interval; wait longer between requests.") }
    public static func expiredToken() -> Self { .init("expired_token", "The device code has expired; start again.") }
}

/// An authorization request that must not be redirected anywhere (RFC 6749 §4.1.2.1): the client is
/// unknown, or the redirect URI is missing, unregistered or malformed. The person sees an error page.
public struct AuthorizationPageError: Error, Hashable, Sendable {
    /// What went wrong, for the person and the app's developer.
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// An authorization error to send back to the client's registered redirect URI (RFC 6749 §4.1.2.1).
public struct AuthorizationRedirectError: Error, Hashable, Sendable {
    /// The registered redirect URI the request named.
    public let redirectURI: String
    /// The error.
    public let error: OAuthError
    /// The request's `state`, echoed.
    public let state: String?
}

/// Errors of the provider's own operations (registration and administration).
public struct OIDCError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why.
    public let message: String
    public var description: String { message }
    /// A client registration that cannot be accepted.
    public static func invalidRegistration(_ message: String) -> Self { .init(message: message) }
    /// No client has that ID.
    public static let unknownClient = OIDCError(message: "No client has that ID.")
    /// The signing keys are encrypted and no key secret (or the wrong one) is configured.
    public static let keySecretMismatch = OIDCError(
        message: "The stored signing keys cannot be decrypted with the configured key secret (oidc.key_secret).")
}
