import Accounts

/// What the HTTP layer needs of the configuration, and nothing more. The composition root makes it
/// from the operator's configuration; everything about accounts comes from the service's policy.
public struct HTTPSettings: Sendable {
    /// The origin people are sent to (the device verification URI, enrolment links).
    public var publicOrigin: String
    /// Whether the session cookie is `Secure` with the `__Host-` prefix (the origin is https).
    public var secureCookies: Bool
    /// Take the client IP from `X-Forwarded-For` (behind a proxy).
    public var trustForwardedFor: Bool
    /// Requests per minute per IP address, and per account, on the ceremonies.
    public var ipRequestsPerMinute: Int
    public var accountRequestsPerMinute: Int
    /// Served at `/.well-known/webauthn` (WebAuthn §5.11).
    public var relatedOrigins: [String]
    /// Served at `/.well-known/apple-app-site-association`.
    public var appleAppIDs: [String]
    /// `package:SHA256_FINGERPRINT` entries, served at `/.well-known/assetlinks.json`.
    public var androidApps: [String]
    /// Every way into an account, for the admins' report.
    public var waysIn: [WayIn]
    /// Whether `/metrics` is served by the API's router (not when it has a listener of its own).
    public var metricsOnMainListener: Bool
    /// The bearer token `/metrics` requires, if any.
    public var metricsToken: String?
    /// Whether each request opens a span (traces are exported: `tracing.otlp_endpoint` is set).
    public var traced = false
    /// Where an IP address is, in words (from the operator's IP-range file), or nil.
    public var place: @Sendable (String) -> String? = { _ in nil }

    /// Settings; the defaults are those of a server on http://localhost:8080.
    public init(publicOrigin: String = "http://localhost:8080", secureCookies: Bool = false, trustForwardedFor: Bool = false,
                ipRequestsPerMinute: Int = 120, accountRequestsPerMinute: Int = 30, relatedOrigins: [String] = [],
                appleAppIDs: [String] = [], androidApps: [String] = [], waysIn: [WayIn] = [],
                metricsOnMainListener: Bool = true, metricsToken: String? = nil) {
        self.publicOrigin = publicOrigin
        self.secureCookies = secureCookies
        self.trustForwardedFor = trustForwardedFor
        self.ipRequestsPerMinute = ipRequestsPerMinute
        self.accountRequestsPerMinute = accountRequestsPerMinute
        self.relatedOrigins = relatedOrigins
        self.appleAppIDs = appleAppIDs
        self.androidApps = androidApps
        self.waysIn = waysIn
        self.metricsOnMainListener = metricsOnMainListener
        self.metricsToken = metricsToken
    }
}
