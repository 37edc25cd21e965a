import Accounts
import Configuration
import Foundation
import OIDC
import NIOSSL
import Notifications
import PortcullisHTTP
import SQLStore
import WebAuthn

/// Everything `portcullis serve` is configured with: one value per section, each documenting its
/// keys and their defaults (``HTTPConfiguration``, ``RelyingPartyConfiguration``,
/// ``WebAuthnConfiguration``, ``AttestationConfiguration``, ``AAGUIDConfiguration``,
/// ``DatabaseConfiguration``, ``SignupConfiguration``, ``SessionConfiguration``,
/// ``EventsConfiguration``, ``RateLimitConfiguration``, ``WellKnownConfiguration``, ``WebhookConfiguration``,
/// ``SMTPConfiguration``, `recovery` (``RecoveryPolicy/init(reader:)``) and `device`
/// (``DeviceApprovalPolicy/init(reader:)``)), and one top-level key:
/// - `allow_weak_ways_in`: start even when a way in is weaker than the floor (a single proof with
///   neither a wait nor an out-of-band notification). Default `false`.
///
/// The server starts with no configuration at all (http://localhost:8080 on an embedded SQLite
/// file). Environment variables are the upper-case forms of the keys (`rp.id` is `RP_ID`).
public struct ServerConfiguration: Sendable {
    /// Why a configuration was refused: names the key.
    public struct Invalid: Error, CustomStringConvertible {
        public let key: String
        public let reason: String
        public var description: String { "invalid configuration: \(key): \(reason)" }
    }

    public var http = HTTPConfiguration()
    public var rp = RelyingPartyConfiguration()
    public var webauthn = WebAuthnConfiguration()
    public var attestation = AttestationConfiguration()
    public var aaguids = AAGUIDConfiguration()
    public var database = DatabaseConfiguration()
    public var signup = SignupConfiguration()
    public var session = SessionConfiguration()
    /// `events.*`
    public var events = EventsConfiguration()
    public var rateLimit = RateLimitConfiguration()
    public var wellKnown = WellKnownConfiguration()
    public var webhooks = WebhookConfiguration()
    public var smtp = SMTPConfiguration()
    /// Which proofs recover an account, after how long, and the limits on cases.
    public var recovery = RecoveryPolicy()
    /// How long a device's sign-in request lives, and how fast user codes may be guessed.
    public var deviceApproval = DeviceApprovalPolicy()
    /// The OpenID Connect provider.
    public var oidc = OIDCConfiguration()
    /// `pages.*`
    public var pages = PagesConfiguration()
    /// `metrics.*`
    public var metrics = MetricsConfiguration()
    /// `log.*`
    public var log = LogConfiguration()
    /// `tracing.*`
    public var tracing = TracingConfiguration()
    /// Start even when a way in is weaker than the floor.
    public var allowWeakWaysIn = false

    /// Defaults only.
    public init() {}

    /// Reads every section from `reader`, each through `reader.scoped(to:)`, refusing invalid
    /// values with the key's name.
    public init(reader: ConfigReader) throws {
        http = try HTTPConfiguration(reader: reader.scoped(to: ConfigKey(HTTPConfiguration.key)))
        rp = try RelyingPartyConfiguration(reader: reader.scoped(to: ConfigKey(RelyingPartyConfiguration.key)))
        webauthn = try WebAuthnConfiguration(reader: reader.scoped(to: ConfigKey(WebAuthnConfiguration.key)))
        attestation = try AttestationConfiguration(reader: reader.scoped(to: ConfigKey(AttestationConfiguration.key)))
        aaguids = try AAGUIDConfiguration(reader: reader.scoped(to: ConfigKey(AAGUIDConfiguration.key)))
        database = try DatabaseConfiguration(reader: reader.scoped(to: ConfigKey(DatabaseConfiguration.key)))
        signup = try SignupConfiguration(reader: reader.scoped(to: ConfigKey(SignupConfiguration.key)))
        session = try SessionConfiguration(reader: reader.scoped(to: ConfigKey(SessionConfiguration.key)))
        events = try EventsConfiguration(reader: reader.scoped(to: ConfigKey(EventsConfiguration.key)))
        rateLimit = try RateLimitConfiguration(reader: reader.scoped(to: ConfigKey(RateLimitConfiguration.key)))
        wellKnown = try WellKnownConfiguration(reader: reader.scoped(to: ConfigKey(WellKnownConfiguration.key)))
        webhooks = try WebhookConfiguration(reader: reader.scoped(to: ConfigKey(WebhookConfiguration.key)))
        smtp = try SMTPConfiguration(reader: reader.scoped(to: ConfigKey(SMTPConfiguration.key)))
        recovery = try RecoveryPolicy(reader: reader.scoped(to: ConfigKey(RecoveryPolicy.key)))
        deviceApproval = try DeviceApprovalPolicy(reader: reader.scoped(to: ConfigKey(DeviceApprovalPolicy.key)))
        oidc = try OIDCConfiguration(reader: reader.scoped(to: ConfigKey(OIDCConfiguration.key)))
        pages = try PagesConfiguration(reader: reader.scoped(to: ConfigKey(PagesConfiguration.key)))
        metrics = try MetricsConfiguration(reader: reader.scoped(to: ConfigKey(MetricsConfiguration.key)))
        log = try LogConfiguration(reader: reader.scoped(to: ConfigKey(LogConfiguration.key)))
        tracing = try TracingConfiguration(reader: reader.scoped(to: ConfigKey(TracingConfiguration.key)))
        if let v = try SectionReader(reader, section: "").bool("allow_weak_ways_in") { allowWeakWaysIn = v }
        try validate()
    }

    /// The provider's settings: its issuer (the configured one, or the public origin) and lifetimes.
    public var oidcSettings: OIDCSettings {
        var settings = OIDCSettings(issuer: oidc.issuer ?? publicOrigin)
        settings.codeLifetime = oidc.codeLifetime
        settings.accessTokenLifetime = oidc.accessTokenLifetime
        settings.idTokenLifetime = oidc.idTokenLifetime
        settings.offlineRefreshLifetime = oidc.offlineRefreshLifetime
        settings.keyReloadInterval = oidc.keyReloadInterval
        settings.sessionIdleTimeout = session.idleTimeout
        settings.keyRetention = max(settings.keyRetention, oidc.idTokenLifetime, oidc.accessTokenLifetime) + 3600
        return settings
    }

    /// The allowed origins, defaulting to this server's own address on localhost.
    public var effectiveOrigins: [String] {
        if !rp.origins.isEmpty { return rp.origins }
        return http.port == 80 ? ["http://\(rp.id)"] : ["http://\(rp.id):\(http.port)"]
    }

    /// Whether the session cookie must be `Secure` with the `__Host-` prefix.
    public var secureCookies: Bool { effectiveOrigins.contains { $0.hasPrefix("https://") } }

    /// The origin people are sent to: the first web origin.
    public var publicOrigin: String { effectiveOrigins.first { $0.hasPrefix("http") } ?? "" }

    /// What the HTTP layer needs of this configuration.
    public var httpSettings: HTTPSettings {
        var settings = HTTPSettings(
            publicOrigin: publicOrigin, secureCookies: secureCookies, trustForwardedFor: http.trustForwardedFor,
            ipRequestsPerMinute: rateLimit.ipPerMinute, accountRequestsPerMinute: rateLimit.accountPerMinute,
            relatedOrigins: wellKnown.relatedOrigins, appleAppIDs: wellKnown.appleAppIDs, androidApps: wellKnown.androidApps, waysIn: waysIn,
            metricsOnMainListener: metrics.port == nil, metricsToken: metrics.token)
        settings.traced = tracing.otlpEndpoint != nil
        return settings
    }

    /// Checks what no single section can: the relying party against its origins and the
    /// well-known list, and the database URL of a configuration built in code.
    public func validate() throws {
        let relyingParty: RelyingParty
        do { relyingParty = try self.relyingParty() } catch let error as WebAuthnError {
            throw Invalid(key: rp.origins.isEmpty ? "rp.id" : "rp.origins", reason: error.detail)
        }
        try checkRelatedOrigins(relyingParty)
        try database.validate()
        _ = try pages.logo()
        _ = try session.places()
    }

    /// Related origins (WebAuthn §5.11) are configured twice and must agree: a browser uses the RP ID
    /// from an origin outside it only when `/.well-known/webauthn` (`wellknown.related_origins`) lists
    /// that origin, and the server accepts a response only from an origin in `rp.origins`.
    func checkRelatedOrigins(_ rp: RelyingParty) throws {
        var listed = Set<String>()
        for origin in wellKnown.relatedOrigins {
            guard let normalized = try? RelyingParty.normalize(origin: origin), normalized.hasPrefix("https://") else {
                throw Invalid(key: "wellknown.related_origins", reason: "\"\(origin)\" is not an https origin")
            }
            guard rp.origins.contains(normalized) else {
                throw Invalid(key: "wellknown.related_origins", reason: "\"\(origin)\" is not in rp.origins, so the server would refuse what browsers there send")
            }
            listed.insert(normalized)
        }
        for origin in rp.relatedOrigins.sorted() where !listed.contains(origin) {
            throw Invalid(key: "rp.origins", reason: "\"\(origin)\" is outside RP ID \"\(rp.id)\"; browsers use it only when wellknown.related_origins lists it too")
        }
    }

    /// Refuses a configuration with a way in weaker than the floor (a single proof with neither a
    /// waiting period nor an out-of-band notification), unless `allow_weak_ways_in` is set. `serve`
    /// checks it before it starts; `check-config` reports it.
    public func checkWaysInFloor() throws {
        if !allowWeakWaysIn, let weak = waysIn.first(where: \.belowFloor) {
            throw Invalid(key: "recovery.rules", reason: "\(weak.name) is a single proof with neither a waiting period nor an out-of-band notification; "
                          + "add a wait or a webhook, or set allow_weak_ways_in = true")
        }
    }

    /// The out-of-band channels that tell an owner about their account.
    public var notificationChannels: [String] { (webhooks.urls.isEmpty ? [] : ["webhook"]) + (smtp.host == nil ? [] : ["email"]) }

    /// Every way into an account under this configuration.
    public var waysIn: [WayIn] { WaysIn.report(recovery: recovery, deviceApproval: deviceApproval, externalChannels: notificationChannels) }

    /// The relying party this configuration describes.
    public func relyingParty() throws -> RelyingParty {
        try RelyingParty(id: rp.id, origins: effectiveOrigins)
    }

    /// The account policy, loading trust anchors and metadata from their files.
    public func accountsPolicy(now: Date) async throws -> AccountsPolicy {
        var anchors: [X509CertificateBox] = []
        for file in attestation.trustAnchorFiles {
            guard let data = FileManager.default.contents(atPath: file) else { throw Invalid(key: "attestation.trust_anchors", reason: "cannot read \(file)") }
            do { anchors += try X509CertificateBox.certificates(pem: String(decoding: data, as: UTF8.self)) } catch {
                throw Invalid(key: "attestation.trust_anchors", reason: "\(file) holds no PEM certificate")
            }
        }
        var metadata: MetadataBLOB?
        if let blobFile = attestation.mdsBLOBFile, let rootFile = attestation.mdsRootFile {
            guard let blob = FileManager.default.contents(atPath: blobFile) else { throw Invalid(key: "attestation.mds_blob", reason: "cannot read \(blobFile)") }
            guard let root = FileManager.default.contents(atPath: rootFile),
                  let roots = try? X509CertificateBox.certificates(pem: String(decoding: root, as: UTF8.self))
            else { throw Invalid(key: "attestation.mds_root", reason: "cannot read a PEM certificate from \(rootFile)") }
            do { metadata = try await MetadataBLOB(jws: Array(blob), roots: roots, at: now) } catch let error as WebAuthnError {
                throw Invalid(key: "attestation.mds_blob", reason: error.detail)
            }
        }
        return AccountsPolicy(
            relyingParty: try relyingParty(), relyingPartyName: rp.name, userVerification: webauthn.userVerification, signupMode: signup.mode,
            attestationConveyance: attestation.conveyance,
            attestationTrust: AttestationTrust(anchors: anchors, metadata: metadata, trustsSHA1Statements: attestation.trustSHA1Statements),
            requireTrustedAttestation: attestation.requireTrusted, allowedAAGUIDs: Set(aaguids.allowed.map { $0.lowercased() }),
            deniedAAGUIDs: Set(aaguids.denied.map { $0.lowercased() }), sessionIdleTimeout: session.idleTimeout,
            sessionAbsoluteLifetime: session.lifetime, hints: webauthn.hints, recovery: recovery, deviceApproval: deviceApproval)
    }
}
