import Accounts
import Configuration
import Foundation
import IPPlaces
import NIOSSL
import Notifications
import SQLStore
import WebAuthn

/// `http.*`: where the server listens, and whom it believes about a client's address.
/// - `http.host`: the address to listen on. Default `127.0.0.1`.
/// - `http.port`: 0 to 65535. Default `8080`.
/// - `http.trust_forwarded_for`: take the client's address from `X-Forwarded-For`, its last entry
///   (the one the proxy appended; only behind a proxy that appends it). Default `false`.
/// - `http.idle_timeout`: seconds a connection may go without a byte of a request before it is
///   closed: a kept-alive connection between requests, and a request whose head or body stalls.
///   Default 75 (longer than the 60 s a load balancer commonly keeps an idle connection to its
///   backends, so the server never closes one the balancer is about to reuse). 1 to 3600.
/// - `http.stop_timeout`: seconds SIGTERM or SIGINT waits for requests in flight to finish; past it
///   the server logs that it did not stop in time and exits with status 7. Default 25 (inside the 30 s
///   a supervisor such as Kubernetes gives before SIGKILL). 1 to 3600.
public struct HTTPConfiguration: Sendable {
    public static let key = "http"
    public var host = "127.0.0.1"
    public var port = 8080
    public var trustForwardedFor = false
    public var idleTimeout: TimeInterval = 75
    public var stopTimeout: TimeInterval = 25

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `http`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.string("host") { host = v }
        if let v = try r.int("port", 0...65535) { port = v }
        if let v = try r.bool("trust_forwarded_for") { trustForwardedFor = v }
        if let v = try r.seconds("idle_timeout", 1...3600) { idleTimeout = v }
        if let v = try r.seconds("stop_timeout", 1...3600) { stopTimeout = v }
    }
}

/// `metrics.*`: who may read the Prometheus metrics.
/// - `metrics.port`: serve `/metrics` on a listener of its own at this port (and no longer on the
///   main one), for a monitoring network. Default none: `/metrics` is on the main listener.
/// - `metrics.host`: that listener's address. Default `127.0.0.1`.
/// - `metrics.token`, `metrics.token_file`: a bearer token `/metrics` requires (`Authorization:
///   Bearer TOKEN`), wherever it is served; at least 16 characters. Default none.
public struct MetricsConfiguration: Sendable {
    public static let key = "metrics"
    public var port: Int?
    public var host = "127.0.0.1"
    public var token: String?

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `metrics`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.int("port", 1...65535) { port = v }
        if let v = r.string("host") { host = v }
        token = try r.secret("token", orFile: "token_file", what: "a token")
        if let token, token.count < 16 || token.contains(where: { $0.isWhitespace }) {
            throw r.invalid(r.secret("token") == nil ? "token_file" : "token", "a metrics token needs 16 characters or more, and no spaces")
        }
    }
}

/// `tracing.*`: OpenTelemetry traces, one span per request, exported over OTLP/HTTP.
/// - `tracing.otlp_endpoint`: the collector's base URL (`http://collector:4318`); spans go to its
///   `/v1/traces`. Default none: no spans are made.
/// - `tracing.protocol`: `http/protobuf` or `http/json`. Default `http/protobuf`.
/// - `tracing.service_name`: the `service.name` of the spans. Default `portcullis`.
/// The standard `OTEL_*` variables (`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_TRACES_SAMPLER`, ...) tune the
/// exporter further.
public struct TracingConfiguration: Sendable {
    public static let key = "tracing"
    public var otlpEndpoint: String?
    public var `protocol` = "http/protobuf"
    public var serviceName = "portcullis"

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `tracing`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.string("otlp_endpoint") {
            guard let url = URLComponents(string: v), url.scheme == "http" || url.scheme == "https", url.host?.isEmpty == false, url.query == nil
            else { throw r.invalid("otlp_endpoint", "an http:// or https:// URL with a host, such as http://collector:4318") }
            otlpEndpoint = v
        }
        if let v = try r.oneOf("protocol", ["http/protobuf", "http/json"], { $0 }) { `protocol` = v }
        if let v = r.string("service_name") {
            guard v.utf8.count <= 255, !v.contains(where: { $0.isNewline }) else { throw r.invalid("service_name", "one line of at most 255 bytes") }
            serviceName = v
        }
    }

    /// Where the spans are posted: the endpoint's `/v1/traces` (OTLP/HTTP's path for traces).
    public var tracesURL: String? {
        otlpEndpoint.map { $0.hasSuffix("/") ? $0 + "v1/traces" : $0 + "/v1/traces" }
    }
}

/// `rp.*`: the relying party (WebAuthn §5.1.2, §5.4.2).
/// - `rp.id`: the RP ID, a registrable domain or `localhost`. Default `localhost`.
/// - `rp.name`: the name authenticators show, and the pages' title. Default `Portcullis`.
/// - `rp.origins`: allowed origins (list): web origins, and `android:apk-key-hash:` origins.
///   Default: this server's own address on the RP ID (`http://localhost:8080`).
public struct RelyingPartyConfiguration: Sendable {
    public static let key = "rp"
    public var id = "localhost"
    public var name = "Portcullis"
    public var origins: [String] = []

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `rp`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.string("id") { id = v }
        if let v = r.string("name") { name = v }
        if let v = r.list("origins") { origins = v }
    }
}

/// `webauthn.*`: what the ceremonies ask of authenticators.
/// - `webauthn.user_verification`: `required`, `preferred` or `discouraged`. Default `required`.
/// - `webauthn.hints`: a list of `security-key`, `client-device`, `hybrid` (WebAuthn §5.8.7). Default none.
public struct WebAuthnConfiguration: Sendable {
    public static let key = "webauthn"
    public var userVerification = UserVerificationRequirement.required
    public var hints: [PublicKeyCredentialHint] = []

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `webauthn`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.oneOf("user_verification", UserVerificationRequirement.allCases.map(\.rawValue), UserVerificationRequirement.init(rawValue:)) {
            userVerification = v
        }
        if let v = r.list("hints") {
            hints = try v.map { text in
                guard let hint = PublicKeyCredentialHint(rawValue: text) else {
                    throw r.invalid("hints", "\"\(text)\" is not one of \(PublicKeyCredentialHint.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return hint
            }
        }
    }
}

/// `attestation.*`: whether registrations must prove what made them, and whom to believe.
/// - `attestation.conveyance`: `none` or `direct`. Default `none`.
/// - `attestation.trust_anchors`: PEM files of trusted roots (list). Default none.
/// - `attestation.mds_blob`, `attestation.mds_root`: a FIDO Metadata Service BLOB and the root it
///   is signed under; both or neither. Default neither.
/// - `attestation.require_trusted`: refuse registrations whose attestation no anchor trusts. Default `false`.
/// - `attestation.trust_sha1_statements`: whether a TPM statement signed with SHA-1 (Windows
///   Hello's RS1) can be trusted. Default `true`.
public struct AttestationConfiguration: Sendable {
    public static let key = "attestation"
    public var conveyance = AttestationConveyancePreference.none
    public var trustAnchorFiles: [String] = []
    public var mdsBLOBFile: String?
    public var mdsRootFile: String?
    public var requireTrusted = false
    public var trustSHA1Statements = true

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `attestation`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        // Only what this server can use: `indirect` and `enterprise` would let a client decide what is verified.
        if let v = try r.oneOf("conveyance", [AttestationConveyancePreference.none, .direct].map(\.rawValue), AttestationConveyancePreference.init(rawValue:)) {
            conveyance = v
        }
        if let v = r.list("trust_anchors") { trustAnchorFiles = v }
        mdsBLOBFile = r.string("mds_blob")
        mdsRootFile = r.string("mds_root")
        if let v = try r.bool("require_trusted") { requireTrusted = v }
        if let v = try r.bool("trust_sha1_statements") { trustSHA1Statements = v }
        if (mdsBLOBFile == nil) != (mdsRootFile == nil) {
            throw r.invalid("mds_root", "attestation.mds_blob and attestation.mds_root go together")
        }
    }
}

/// `aaguids.*`: which authenticator models may register.
/// - `aaguids.allowed`: only these AAGUIDs (list). Default: any.
/// - `aaguids.denied`: never these AAGUIDs (list). Default none.
public struct AAGUIDConfiguration: Sendable {
    public static let key = "aaguids"
    public var allowed: [String] = []
    public var denied: [String] = []

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `aaguids`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.list("allowed") { allowed = v }
        if let v = r.list("denied") { denied = v }
        for (key, list) in [("allowed", allowed), ("denied", denied)] {
            for aaguid in list where AAGUID(string: aaguid) == nil { throw r.invalid(key, "\"\(aaguid)\" is not an AAGUID") }
        }
    }
}

/// `database.*`: where accounts are kept.
/// - `database.url`: `sqlite:PATH`, `postgres://user:password@host:port/database` (with `sslmode`
///   `disable`, `require` or `verify-full` and `sslrootcert`, as ``PostgresConnectionSettings``
///   reads them; `verify-full` by default for a host that is not local) or `memory:`.
///   Default `sqlite:portcullis.sqlite`.
/// - `database.max_connections`: PostgreSQL connections one node keeps at most, 1 to 1000. Default 8.
public struct DatabaseConfiguration: Sendable {
    public static let key = "database"
    public var url = "sqlite:portcullis.sqlite"
    public var maxConnections = PostgresBackend.defaultMaximumConnections

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `database`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.string("url") { url = v }
        if let v = try r.int("max_connections", 1...1000) { maxConnections = v }
        try validate()
    }

    /// Checks the URL's form (and, for PostgreSQL, its TLS settings) without connecting.
    public func validate() throws {
        func invalid(_ reason: String) -> ServerConfiguration.Invalid { ServerConfiguration.Invalid(key: "\(Self.key).url", reason: reason) }
        guard url == "memory:" || (url.hasPrefix("sqlite:") && url.count > 7) || url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw invalid("must be sqlite:PATH, postgres://user:password@host:port/database or memory:")
        }
        if url.hasPrefix("postgres") {
            do { _ = try PostgresConnectionSettings(url: url) } catch let error as SQLStoreError { throw invalid(error.description) }
        }
    }
}

/// `signup.*`: who may create accounts.
/// - `signup.mode`: `open` or `invite-only`. Default `open`.
public struct SignupConfiguration: Sendable {
    public static let key = "signup"
    public var mode = AccountsPolicy.SignupMode.open

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `signup`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.oneOf("mode", AccountsPolicy.SignupMode.allCases.map(\.rawValue), AccountsPolicy.SignupMode.init(rawValue:)) { mode = v }
    }
}

/// `session.*`: how long a session lives, and where its address is.
/// - `session.idle_timeout`: seconds without use before a session ends, 60 to 366 days. Default 7 days.
/// - `session.lifetime`: seconds after its birth a session ends however used, 60 to 366 days. Default 30 days.
/// - `session.places_file`: an IP-range CSV file in the shape of DB-IP's IP to City Lite or IP to
///   Country Lite, read once at start, so sessions and device requests show a place beside the
///   address. Default none (the address alone).
public struct SessionConfiguration: Sendable {
    public static let key = "session"
    public var idleTimeout: TimeInterval = 7 * 86400
    public var lifetime: TimeInterval = 30 * 86400
    public var placesFile: String?

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `session`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.seconds("idle_timeout", 60...(366 * 86400)) { idleTimeout = v }
        if let v = try r.seconds("lifetime", 60...(366 * 86400)) { lifetime = v }
        if let v = r.string("places_file") { placesFile = v }
    }

    /// The places file, read and checked (nil without one). Countries are named in English.
    public func places() throws -> PlaceTable? {
        guard let placesFile else { return nil }
        let english = Locale(identifier: "en")
        do {
            return try PlaceTable(contentsOfFile: placesFile) { english.localizedString(forRegionCode: $0) }
        } catch {
            throw ServerConfiguration.Invalid(key: "session.places_file", reason: "\(placesFile): \(error)")
        }
    }
}

/// `events.*`: how long the security timeline keeps what it records.
/// - `events.retention`: seconds an event is kept, 7 days to 100 years, or `0` to keep every event
///   for ever. Default 365 days. Older events (the account's timeline, the admin audit log, and
///   outbox entries no channel took) are deleted, oldest first, by the sweep that runs every minute.
///   The `security event` log lines are not affected.
public struct EventsConfiguration: Sendable {
    public static let key = "events"
    /// How long an event is kept; nil keeps every event for ever.
    public var retention: TimeInterval? = 365 * 86400
    /// The shortest retention: a week, well past the last delivery attempt of an outbox entry.
    static let shortest = 7 * 86400

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `events`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.int("retention", 0...(100 * 366 * 86400)) {
            guard v == 0 || v >= Self.shortest else {
                throw r.invalid("retention", "\"\(v)\" is neither 0 (keep every event) nor at least \(Self.shortest) (7 days)")
            }
            retention = v == 0 ? nil : TimeInterval(v)
        }
    }
}

/// `ratelimit.*`: requests on the ceremonies per minute.
/// - `ratelimit.ip_per_minute`: per client address, 1 to 1,000,000. Default 120.
/// - `ratelimit.account_per_minute`: per account, 1 to 1,000,000. Default 30.
public struct RateLimitConfiguration: Sendable {
    public static let key = "ratelimit"
    public var ipPerMinute = 120
    public var accountPerMinute = 30

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `ratelimit`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.int("ip_per_minute", 1...1_000_000) { ipPerMinute = v }
        if let v = try r.int("account_per_minute", 1...1_000_000) { accountPerMinute = v }
    }
}

/// `wellknown.*`: what `/.well-known/` tells browsers and mobile platforms.
/// - `wellknown.related_origins`: https origins outside the RP ID that may use it, served at
///   `/.well-known/webauthn` (WebAuthn §5.11); each must be in `rp.origins` too. Default none.
/// - `wellknown.apple_app_ids`: `TEAMID.bundle.id` entries for `apple-app-site-association`. Default none.
/// - `wellknown.android_apps`: `package:SHA256_FINGERPRINT` entries for `assetlinks.json`. Default none.
public struct WellKnownConfiguration: Sendable {
    public static let key = "wellknown"
    public var relatedOrigins: [String] = []
    public var appleAppIDs: [String] = []
    public var androidApps: [String] = []

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `wellknown`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.list("related_origins") { relatedOrigins = v }
        if let v = r.list("apple_app_ids") { appleAppIDs = v }
        if let v = r.list("android_apps") { androidApps = v }
        for app in androidApps where app.split(separator: ":", maxSplits: 1).count != 2 {
            throw r.invalid("android_apps", "\"\(app)\" is not package:SHA256_FINGERPRINT")
        }
    }
}

/// `webhooks.*`: the security timeline, posted as Standard Webhooks.
/// - `webhooks.urls`: http(s) endpoints (list). Default none.
/// - `webhooks.secret`: the `whsec_BASE64` secret (24 bytes or more) that signs deliveries; needed
///   when there are endpoints. Default none.
public struct WebhookConfiguration: Sendable {
    public static let key = "webhooks"
    public var urls: [String] = []
    public var secret: String?

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `webhooks`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.list("urls") { urls = v }
        secret = r.secret("secret")
        guard !urls.isEmpty else { return }
        guard let secret, WebhookSigner(secret: secret) != nil else {
            throw r.invalid("secret", "webhooks need a secret of the form whsec_BASE64 (24 bytes or more)")
        }
        for url in urls where !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            throw r.invalid("urls", "\"\(url)\" is not an http(s) URL")
        }
    }

    /// The webhook channel, when endpoints are configured.
    var channel: WebhookChannel? {
        guard !urls.isEmpty, let secret, let signer = WebhookSigner(secret: secret) else { return nil }
        return WebhookChannel(urls: urls, signer: signer)
    }
}

/// `smtp.*`: e-mail to users' notification addresses (it notifies; it never signs anyone in).
/// - `smtp.host`: the SMTP server. Default none (no e-mail).
/// - `smtp.port`: 1 to 65535. Default 587 for `starttls`, 465 for `tls`, 25 for `none`.
/// - `smtp.security`: `starttls` (required, not opportunistic), `tls` or `none`. Default `starttls`.
/// - `smtp.username`, `smtp.password`: AUTH, sent only over TLS. Default none.
/// - `smtp.from`: the sender address; needed with a host. Default none.
/// - `smtp.ca_file`: PEM roots to trust for the server's certificate instead of the system's. Default none.
public struct SMTPConfiguration: Sendable {
    public static let key = "smtp"
    public var host: String?
    public var port: Int?
    public var security = SMTPMailer.Security.starttls
    public var username: String?
    public var password: String?
    public var from: String?
    public var caFile: String?

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `smtp`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        host = r.string("host")
        port = try r.int("port", 1...65535)
        if let v = try r.oneOf("security", SMTPMailer.Security.allCases.map(\.rawValue), SMTPMailer.Security.init(rawValue:)) { security = v }
        username = r.string("username")
        password = r.secret("password")
        from = r.string("from")
        caFile = r.string("ca_file")
        guard host != nil || from != nil else { return }
        guard host != nil else { throw r.invalid("host", "e-mail needs an SMTP host") }
        guard let from, (try? PasskeyService.validate(address: from)) != nil else { throw r.invalid("from", "e-mail needs a sender address") }
        if username != nil, security == .none { throw r.invalid("security", "credentials are sent only over TLS (starttls or tls)") }
    }

    /// The SMTP client this section describes, when e-mail is configured.
    public func mailer() throws -> SMTPMailer? {
        guard let host else { return nil }
        var roots: [NIOSSLCertificate]?
        if let caFile {
            do { roots = try NIOSSLCertificate.fromPEMFile(caFile) } catch {
                throw ServerConfiguration.Invalid(key: "smtp.ca_file", reason: "cannot read PEM certificates from \(caFile)")
            }
        }
        let port = port ?? (security == .tls ? 465 : security == .starttls ? 587 : 25)
        return SMTPMailer(host: host, port: port, security: security, username: username, password: password, trustRoots: roots)
    }
}

extension DeviceApprovalPolicy {
    /// `device.*`: sign-in by approval from another device.
    /// - `device.code_lifetime`: seconds a request and its user code live, 60 to 3600. Default 600.
    /// - `device.guesses_per_ip_per_minute`: user-code guesses per client address, 1 to 1000. Default 10.
    /// - `device.guesses_per_minute`: user-code guesses across the server, 1 to 100,000. Default 600.
    public static let key = "device"

    /// Reads the section from a reader scoped to `device`.
    public init(reader: ConfigReader) throws {
        self.init()
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.seconds("code_lifetime", 60...3600) { requestLifetime = v }
        if let v = try r.int("guesses_per_ip_per_minute", 1...1000) { guessesPerIPPerMinute = v }
        if let v = try r.int("guesses_per_minute", 1...100_000) { guessesPerMinute = v }
    }
}

extension RecoveryPolicy {
    /// `recovery.*`: which proofs recover an account, after how long, and the limits on cases.
    /// - `recovery.rules`: `PROOFS:WAIT` list (see ``RecoveryPolicy/parseRules(_:adminApprovals:)``).
    ///   Default `contacts:24h, code:3d, contact+code:1h, admins:0`.
    /// - `recovery.admin_approvals`: distinct admins an admin rule needs, 1 to 10. Default 2.
    /// - `recovery.code_enabled`: whether users may hold a recovery code. Default `true`.
    /// - `recovery.cooling_period`: seconds a recovered session has fewer rights, 0 to 30 days. Default 1 day.
    /// - `recovery.case_lifetime`: seconds before a case expires, 1 hour to 30 days. Default 7 days.
    /// - `recovery.block_after_cancel`: seconds a "this wasn't me" blocks new cases, 60 s to 30 days. Default 1 day.
    /// - `recovery.code_attempts_per_case`: wrong codes per case, 1 to 20. Default 5.
    /// - `recovery.code_attempts_per_ip`: code attempts per client address per 10 minutes, 1 to 1000. Default 10.
    /// - `recovery.starts_per_username_ip`, `recovery.starts_per_ip`, `recovery.starts_per_username`:
    ///   case starts per hour, 1 to 100, 10,000 and 100,000. Defaults 5, 20, 100.
    public static let key = "recovery"

    /// Reads the section from a reader scoped to `recovery`.
    public init(reader: ConfigReader) throws {
        self.init()
        let r = SectionReader(reader, section: Self.key)
        let adminApprovals = try r.int("admin_approvals", 1...10) ?? RecoveryPolicy.defaultAdminApprovals
        rules = RecoveryPolicy.defaultRules(adminApprovals: adminApprovals)
        if let v = r.string("rules") {
            do { rules = try RecoveryPolicy.parseRules(v, adminApprovals: adminApprovals) } catch let error as RecoveryPolicy.RuleError {
                throw r.invalid("rules", error.description)
            }
        }
        if let v = try r.bool("code_enabled") { codeEnabled = v }
        if let v = try r.seconds("cooling_period", 0...(30 * 86400)) { coolingPeriod = v }
        if let v = try r.seconds("case_lifetime", 3600...(30 * 86400)) { caseLifetime = v }
        if let v = try r.seconds("block_after_cancel", 60...(30 * 86400)) { blockAfterCancel = v }
        if let v = try r.int("code_attempts_per_case", 1...20) { maxCodeAttempts = v }
        if let v = try r.int("code_attempts_per_ip", 1...1000) { codeAttemptsPerIP = v }
        if let v = try r.int("starts_per_username_ip", 1...100) { startsPerUsernameAndIP = v }
        if let v = try r.int("starts_per_ip", 1...10_000) { startsPerIP = v }
        if let v = try r.int("starts_per_username", 1...100_000) { startsPerUsername = v }
        if effectiveRules.isEmpty { throw r.invalid("rules", "every rule needs a recovery code, and recovery.code_enabled is false") }
    }
}

/// `oidc.*`: the OpenID Connect provider.
/// - `oidc.issuer`: the issuer identifier. Default: the public origin (the first web origin of `rp.origins`).
/// - `oidc.key_secret`: the secret that seals the signing keys' private halves in the database
///   (AES-256-GCM under an HKDF-derived key). Default none: the keys are stored unsealed, and the
///   ways-in report says so. Keys stored unsealed are sealed when a server starts with a secret.
/// - `oidc.key_secret_file`: a file holding that secret (its first line), instead of the value.
/// - `oidc.code_lifetime`: seconds an authorization code can be exchanged, 1 to 60. Default `60`.
/// - `oidc.access_token_lifetime`: seconds, 30 to 3600. Default `300`.
/// - `oidc.id_token_lifetime`: seconds, 30 to 86400. Default `600`.
/// - `oidc.offline_refresh_lifetime`: seconds an unused offline refresh token lives, 3600 to 31536000. Default 30 days.
/// - `oidc.key_reload_interval`: seconds between a node's reads of the signing keys (how soon it signs
///   with a key `portcullis keys rotate` added), 1 to 3600. Default `30`.
public struct OIDCConfiguration: Sendable {
    public static let key = "oidc"
    public var issuer: String?
    public var keySecret: String?
    public var codeLifetime: TimeInterval = 60
    public var accessTokenLifetime: TimeInterval = 300
    public var idTokenLifetime: TimeInterval = 600
    public var offlineRefreshLifetime: TimeInterval = 30 * 86400
    public var keyReloadInterval: TimeInterval = 30

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `oidc`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.string("issuer") {
            guard let components = URLComponents(string: v), ["https", "http"].contains(components.scheme ?? ""), components.host != nil,
                  components.query == nil, components.fragment == nil, !v.hasSuffix("/")
            else { throw r.invalid("issuer", "must be an https URL with no query, fragment or trailing slash") }
            issuer = v
        }
        keySecret = try r.secret("key_secret", orFile: "key_secret_file", what: "a secret")
        if let v = try r.seconds("code_lifetime", 1...60) { codeLifetime = v }
        if let v = try r.seconds("access_token_lifetime", 30...3600) { accessTokenLifetime = v }
        if let v = try r.seconds("id_token_lifetime", 30...86400) { idTokenLifetime = v }
        if let v = try r.seconds("offline_refresh_lifetime", 3600...31_536_000) { offlineRefreshLifetime = v }
        if let v = try r.seconds("key_reload_interval", 1...3600) { keyReloadInterval = v }
    }
}

/// `pages.*`: how the pages look (their title is `rp.name`).
/// - `pages.accent_color`: the colour of buttons and links, `#rrggbb`. Default `#1d4ed8`.
/// - `pages.logo_file`: a PNG, JPEG, WebP or SVG file (at most 256 KiB) shown at the top of every
///   page, read once at start. Default none.
public struct PagesConfiguration: Sendable {
    public static let key = "pages"
    public var accentColor = "#1d4ed8"
    public var logoFile: String?

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `pages`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = r.string("accent_color") {
            // Written into a stylesheet: exactly a hex colour, nothing that could end the declaration.
            guard v.utf8.count == 7, v.hasPrefix("#"), [UInt8](hex: v.dropFirst()) != nil else {
                throw r.invalid("accent_color", "\"\(v)\" is not a colour written #rrggbb")
            }
            accentColor = v.lowercased()
        }
        if let v = r.string("logo_file") { logoFile = v }
    }

    /// The logo's bytes and content type, read and checked (nil without one).
    public func logo() throws -> (bytes: [UInt8], contentType: String)? {
        guard let logoFile else { return nil }
        let types = ["png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "svg": "image/svg+xml"]
        guard let type = types[(logoFile as NSString).pathExtension.lowercased()] else {
            throw ServerConfiguration.Invalid(key: "pages.logo_file", reason: "\(logoFile) is not a .png, .jpg, .webp or .svg file")
        }
        guard let data = FileManager.default.contents(atPath: logoFile) else {
            throw ServerConfiguration.Invalid(key: "pages.logo_file", reason: "cannot read \(logoFile)")
        }
        guard !data.isEmpty, data.count <= 256 * 1024 else {
            throw ServerConfiguration.Invalid(key: "pages.logo_file", reason: "\(logoFile) must hold 1 byte to 256 KiB")
        }
        return (Array(data), type)
    }
}
