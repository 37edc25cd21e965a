import Accounts
import Configuration
import Foundation
import NIOSSL
import Notifications
import PortcullisHTTP
import SQLStore
import WebAuthn

/// Everything `portcullis serve` is configured with. Every field has a documented default, so the
/// server starts with no configuration at all (http://localhost:8080 on an embedded SQLite file).
///
/// Keys (environment variables are the upper-case forms: `rp.id` is `RP_ID`):
/// `rp.id`, `rp.name`, `rp.origins` (list; web origins and `android:apk-key-hash:` origins),
/// `http.host`, `http.port`, `http.trust_forwarded_for`, `database.url` (`sqlite:PATH` or
/// `postgres://user:password@host:port/db`, with `sslmode` and `sslrootcert` as
/// ``PostgresConnectionSettings`` reads them), `database.max_connections` (PostgreSQL connections
/// one node keeps at most, 8), `signup.mode` (`open` | `invite-only`),
/// `session.idle_timeout` and `session.lifetime` (seconds), `webauthn.user_verification`
/// (`required` | `preferred` | `discouraged`), `webauthn.hints` (list), `attestation.conveyance`
/// (`none` | `direct`), `attestation.trust_anchors` (list of PEM files), `attestation.mds_blob`,
/// `attestation.mds_root`, `attestation.require_trusted`, `aaguids.allowed`, `aaguids.denied` (lists),
/// `wellknown.related_origins`, `wellknown.apple_app_ids`, `wellknown.android_apps`
/// (`package:SHA256_FINGERPRINT` entries), `ratelimit.ip_per_minute`, `ratelimit.account_per_minute`,
/// `recovery.rules` (`PROOFS:WAIT` list, see ``RecoveryPolicy/parseRules(_:adminApprovals:)``),
/// `recovery.admin_approvals` (distinct admins an admin rule needs, 2), `recovery.code_enabled`,
/// `recovery.cooling_period` (seconds), `recovery.case_lifetime` (seconds, 7 days),
/// `recovery.block_after_cancel` (seconds a "this wasn't me" blocks new cases, 1 day),
/// `recovery.code_attempts_per_case` (5), `recovery.code_attempts_per_ip` (per 10 minutes, 10),
/// `recovery.starts_per_username_ip`, `recovery.starts_per_ip`, `recovery.starts_per_username` (per hour: 5, 20, 100),
/// `device.code_lifetime` (seconds, 600), `device.guesses_per_ip_per_minute` (10),
/// `device.guesses_per_minute` (600, across the server), `attestation.trust_sha1_statements` (true),
/// `allow_weak_ways_in` (start even when a way in is below the floor),
/// `smtp.host`, `smtp.port`, `smtp.security` (`starttls` | `tls` | `none`), `smtp.username`, `smtp.password`,
/// `smtp.from`, `smtp.ca_file` (e-mail to users' notification addresses).
public struct ServerConfiguration: Sendable {
    /// Why a configuration was refused: names the key.
    public struct Invalid: Error, CustomStringConvertible {
        public let key: String
        public let reason: String
        public var description: String { "invalid configuration: \(key): \(reason)" }
    }

    public var rpID = "localhost"
    public var rpName = "Portcullis"
    public var origins: [String] = []
    public var host = "127.0.0.1"
    public var port = 8080
    public var trustForwardedFor = false
    public var databaseURL = "sqlite:portcullis.sqlite"
    /// PostgreSQL connections this node keeps at most.
    public var databaseMaxConnections = PostgresBackend.defaultMaximumConnections
    public var signupMode = AccountsPolicy.SignupMode.open
    public var sessionIdleTimeout: TimeInterval = 7 * 86400
    public var sessionLifetime: TimeInterval = 30 * 86400
    public var userVerification = UserVerificationRequirement.required
    public var hints: [String] = []
    public var attestationConveyance = "none"
    public var trustAnchorFiles: [String] = []
    public var mdsBLOBFile: String?
    public var mdsRootFile: String?
    public var requireTrustedAttestation = false
    public var allowedAAGUIDs: [String] = []
    public var deniedAAGUIDs: [String] = []
    public var relatedOrigins: [String] = []
    public var appleAppIDs: [String] = []
    public var androidApps: [String] = []
    /// Webhook endpoints for the security timeline, and the `whsec_` secret that signs deliveries.
    public var webhookURLs: [String] = []
    public var webhookSecret: String?
    public var ipRequestsPerMinute = 120
    public var accountRequestsPerMinute = 30
    /// Which proofs recover an account, after how long, and the limits on cases.
    public var recovery = RecoveryPolicy()
    /// How long a device's sign-in request lives, and how fast user codes may be guessed.
    public var deviceApproval = DeviceApprovalPolicy()
    /// Whether a TPM statement signed with SHA-1 (Windows Hello's RS1) can be trusted.
    public var trustSHA1Statements = true
    /// Start even when a way in is weaker than the floor (a single proof with neither a wait nor an
    /// out-of-band notification).
    public var allowWeakWaysIn = false
    /// E-mail notifications: the SMTP server, how to reach it, and the sender.
    public var smtpHost: String?
    public var smtpPort: Int?
    public var smtpSecurity = SMTPMailer.Security.starttls
    public var smtpUsername: String?
    public var smtpPassword: String?
    public var smtpFrom: String?
    public var smtpCAFile: String?

    /// Defaults only.
    public init() {}

    /// Reads every key from `reader`, refusing invalid values with the key's name.
    public init(reader: ConfigReader) throws {
        func string(_ key: String) -> String? { reader.string(forKey: ConfigKey(key)).flatMap { $0.isEmpty ? nil : $0 } }
        func list(_ key: String) -> [String]? {
            if let array = reader.stringArray(forKey: ConfigKey(key)) { return array.filter { !$0.isEmpty } }
            return string(key).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = string(key) ?? reader.int(forKey: ConfigKey(key)).map(String.init) else { return nil }
            guard let value = Int(text), range.contains(value) else { throw Invalid(key: key, reason: "\"\(text)\" is not an integer in \(range)") }
            return value
        }
        func bool(_ key: String) throws -> Bool? {
            if let value = reader.bool(forKey: ConfigKey(key)) { return value }
            guard let text = string(key) else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: throw Invalid(key: key, reason: "\"\(text)\" is not true or false")
            }
        }
        func oneOf(_ key: String, _ allowed: [String]) throws -> String? {
            guard let text = string(key) else { return nil }
            guard allowed.contains(text) else { throw Invalid(key: key, reason: "\"\(text)\" is not one of \(allowed.joined(separator: ", "))") }
            return text
        }

        if let v = string("rp.id") { rpID = v }
        if let v = string("rp.name") { rpName = v }
        if let v = list("rp.origins") { origins = v }
        if let v = string("http.host") { host = v }
        if let v = try int("http.port", 0...65535) { port = v }
        if let v = try bool("http.trust_forwarded_for") { trustForwardedFor = v }
        if let v = string("database.url") { databaseURL = v }
        if let v = try int("database.max_connections", 1...1000) { databaseMaxConnections = v }
        if let v = try oneOf("signup.mode", ["open", "invite-only"]) { signupMode = AccountsPolicy.SignupMode(rawValue: v) ?? .open }
        if let v = try int("session.idle_timeout", 60...(366 * 86400)) { sessionIdleTimeout = TimeInterval(v) }
        if let v = try int("session.lifetime", 60...(366 * 86400)) { sessionLifetime = TimeInterval(v) }
        if let v = try oneOf("webauthn.user_verification", ["required", "preferred", "discouraged"]) {
            userVerification = UserVerificationRequirement(rawValue: v) ?? .required
        }
        if let v = list("webauthn.hints") {
            guard v.allSatisfy(["security-key", "client-device", "hybrid"].contains) else {
                throw Invalid(key: "webauthn.hints", reason: "hints are security-key, client-device and hybrid")
            }
            hints = v
        }
        if let v = try oneOf("attestation.conveyance", ["none", "direct"]) { attestationConveyance = v }
        if let v = list("attestation.trust_anchors") { trustAnchorFiles = v }
        mdsBLOBFile = string("attestation.mds_blob")
        mdsRootFile = string("attestation.mds_root")
        if let v = try bool("attestation.require_trusted") { requireTrustedAttestation = v }
        if let v = list("aaguids.allowed") { allowedAAGUIDs = v }
        if let v = list("aaguids.denied") { deniedAAGUIDs = v }
        if let v = list("wellknown.related_origins") { relatedOrigins = v }
        if let v = list("wellknown.apple_app_ids") { appleAppIDs = v }
        if let v = list("wellknown.android_apps") { androidApps = v }
        if let v = list("webhooks.urls") { webhookURLs = v }
        webhookSecret = reader.string(forKey: "webhooks.secret", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        if let v = try int("ratelimit.ip_per_minute", 1...1_000_000) { ipRequestsPerMinute = v }
        if let v = try int("ratelimit.account_per_minute", 1...1_000_000) { accountRequestsPerMinute = v }
        let adminApprovals = try int("recovery.admin_approvals", 1...10) ?? RecoveryPolicy.defaultAdminApprovals
        recovery.rules = RecoveryPolicy.defaultRules(adminApprovals: adminApprovals)
        if let v = string("recovery.rules") {
            do { recovery.rules = try RecoveryPolicy.parseRules(v, adminApprovals: adminApprovals) } catch let error as RecoveryPolicy.RuleError {
                throw Invalid(key: "recovery.rules", reason: error.description)
            }
        }
        if let v = try bool("recovery.code_enabled") { recovery.codeEnabled = v }
        if let v = try int("recovery.cooling_period", 0...(30 * 86400)) { recovery.coolingPeriod = TimeInterval(v) }
        if let v = try int("recovery.case_lifetime", 3600...(30 * 86400)) { recovery.caseLifetime = TimeInterval(v) }
        if let v = try int("recovery.block_after_cancel", 60...(30 * 86400)) { recovery.blockAfterCancel = TimeInterval(v) }
        if let v = try int("recovery.code_attempts_per_case", 1...20) { recovery.maxCodeAttempts = v }
        if let v = try int("recovery.code_attempts_per_ip", 1...1000) { recovery.codeAttemptsPerIP = v }
        if let v = try int("recovery.starts_per_username_ip", 1...100) { recovery.startsPerUsernameAndIP = v }
        if let v = try int("recovery.starts_per_ip", 1...10_000) { recovery.startsPerIP = v }
        if let v = try int("recovery.starts_per_username", 1...100_000) { recovery.startsPerUsername = v }
        if let v = try int("device.code_lifetime", 60...3600) { deviceApproval.requestLifetime = TimeInterval(v) }
        if let v = try int("device.guesses_per_ip_per_minute", 1...1000) { deviceApproval.guessesPerIPPerMinute = v }
        if let v = try int("device.guesses_per_minute", 1...100_000) { deviceApproval.guessesPerMinute = v }
        if let v = try bool("attestation.trust_sha1_statements") { trustSHA1Statements = v }
        if let v = try bool("allow_weak_ways_in") { allowWeakWaysIn = v }
        smtpHost = string("smtp.host")
        smtpPort = try int("smtp.port", 1...65535)
        if let v = try oneOf("smtp.security", ["starttls", "tls", "none"]) { smtpSecurity = SMTPMailer.Security(rawValue: v) ?? .starttls }
        smtpUsername = string("smtp.username")
        smtpPassword = reader.string(forKey: "smtp.password", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        smtpFrom = string("smtp.from")
        smtpCAFile = string("smtp.ca_file")
        try validate()
    }

    /// The allowed origins, defaulting to this server's own address on localhost.
    public var effectiveOrigins: [String] {
        if !origins.isEmpty { return origins }
        return port == 80 ? ["http://\(rpID)"] : ["http://\(rpID):\(port)"]
    }

    /// Whether the session cookie must be `Secure` with the `__Host-` prefix.
    public var secureCookies: Bool { effectiveOrigins.contains { $0.hasPrefix("https://") } }

    /// The origin people are sent to: the first web origin.
    public var publicOrigin: String { effectiveOrigins.first { $0.hasPrefix("http") } ?? "" }

    /// What the HTTP layer needs of this configuration.
    public var httpSettings: HTTPSettings {
        HTTPSettings(
            publicOrigin: publicOrigin, secureCookies: secureCookies, trustForwardedFor: trustForwardedFor,
            ipRequestsPerMinute: ipRequestsPerMinute, accountRequestsPerMinute: accountRequestsPerMinute,
            relatedOrigins: relatedOrigins, appleAppIDs: appleAppIDs, androidApps: androidApps, waysIn: waysIn)
    }

    /// Checks the values that can be checked without I/O.
    public func validate() throws {
        let rp: RelyingParty
        do { rp = try relyingParty() } catch let error as WebAuthnError {
            throw Invalid(key: origins.isEmpty ? "rp.id" : "rp.origins", reason: error.detail)
        }
        try checkRelatedOrigins(rp)
        guard databaseURL == "memory:" || (databaseURL.hasPrefix("sqlite:") && databaseURL.count > 7) || databaseURL.hasPrefix("postgres://")
                || databaseURL.hasPrefix("postgresql://")
        else {
            throw Invalid(key: "database.url", reason: "must be sqlite:PATH, postgres://user:password@host:port/database or memory:")
        }
        if databaseURL.hasPrefix("postgres") {
            do { _ = try PostgresConnectionSettings(url: databaseURL) } catch let error as SQLStoreError {
                throw Invalid(key: "database.url", reason: error.description)
            }
        }
        for aaguid in allowedAAGUIDs + deniedAAGUIDs where AAGUID(string: aaguid) == nil {
            throw Invalid(key: allowedAAGUIDs.contains(aaguid) ? "aaguids.allowed" : "aaguids.denied", reason: "\"\(aaguid)\" is not an AAGUID")
        }
        if (mdsBLOBFile == nil) != (mdsRootFile == nil) {
            throw Invalid(key: "attestation.mds_root", reason: "attestation.mds_blob and attestation.mds_root go together")
        }
        if !webhookURLs.isEmpty {
            guard let secret = webhookSecret, WebhookSigner(secret: secret) != nil else {
                throw Invalid(key: "webhooks.secret", reason: "webhooks need a secret of the form whsec_BASE64 (24 bytes or more)")
            }
            for url in webhookURLs where !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                throw Invalid(key: "webhooks.urls", reason: "\"\(url)\" is not an http(s) URL")
            }
        }
        if smtpHost != nil || smtpFrom != nil {
            guard smtpHost != nil else { throw Invalid(key: "smtp.host", reason: "e-mail needs an SMTP host") }
            guard let from = smtpFrom, (try? PasskeyService.validate(address: from)) != nil else {
                throw Invalid(key: "smtp.from", reason: "e-mail needs a sender address")
            }
            if smtpUsername != nil, smtpSecurity == .none {
                throw Invalid(key: "smtp.security", reason: "credentials are sent only over TLS (starttls or tls)")
            }
        }
        if recovery.effectiveRules.isEmpty {
            throw Invalid(key: "recovery.rules", reason: "every rule needs a recovery code, and recovery.code_enabled is false")
        }
        for app in androidApps where app.split(separator: ":", maxSplits: 1).count != 2 {
            throw Invalid(key: "wellknown.android_apps", reason: "\"\(app)\" is not package:SHA256_FINGERPRINT")
        }
    }

    /// Related origins (WebAuthn §5.11) are configured twice and must agree: a browser uses the RP ID
    /// from an origin outside it only when `/.well-known/webauthn` (`wellknown.related_origins`) lists
    /// that origin, and the server accepts a response only from an origin in `rp.origins`.
    func checkRelatedOrigins(_ rp: RelyingParty) throws {
        var listed = Set<String>()
        for origin in relatedOrigins {
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
    public var notificationChannels: [String] { (webhookURLs.isEmpty ? [] : ["webhook"]) + (smtpHost == nil ? [] : ["email"]) }

    /// The SMTP client this configuration describes, when e-mail is configured.
    public func mailer() throws -> SMTPMailer? {
        guard let host = smtpHost else { return nil }
        var roots: [NIOSSLCertificate]?
        if let file = smtpCAFile {
            do { roots = try NIOSSLCertificate.fromPEMFile(file) } catch { throw Invalid(key: "smtp.ca_file", reason: "cannot read PEM certificates from \(file)") }
        }
        let port = smtpPort ?? (smtpSecurity == .tls ? 465 : smtpSecurity == .starttls ? 587 : 25)
        return SMTPMailer(host: host, port: port, security: smtpSecurity, username: smtpUsername, password: smtpPassword, trustRoots: roots)
    }

    /// Every way into an account under this configuration.
    public var waysIn: [WayIn] { WaysIn.report(recovery: recovery, deviceApproval: deviceApproval, externalChannels: notificationChannels) }

    /// The relying party this configuration describes.
    public func relyingParty() throws -> RelyingParty {
        try RelyingParty(id: rpID, origins: effectiveOrigins)
    }

    /// The account policy, loading trust anchors and metadata from their files.
    public func accountsPolicy(now: Date) async throws -> AccountsPolicy {
        var anchors: [X509CertificateBox] = []
        for file in trustAnchorFiles {
            guard let data = FileManager.default.contents(atPath: file) else { throw Invalid(key: "attestation.trust_anchors", reason: "cannot read \(file)") }
            do { anchors += try X509CertificateBox.certificates(pem: String(decoding: data, as: UTF8.self)) } catch {
                throw Invalid(key: "attestation.trust_anchors", reason: "\(file) holds no PEM certificate")
            }
        }
        var metadata: MetadataBLOB?
        if let blobFile = mdsBLOBFile, let rootFile = mdsRootFile {
            guard let blob = FileManager.default.contents(atPath: blobFile) else { throw Invalid(key: "attestation.mds_blob", reason: "cannot read \(blobFile)") }
            guard let root = FileManager.default.contents(atPath: rootFile),
                  let roots = try? X509CertificateBox.certificates(pem: String(decoding: root, as: UTF8.self))
            else { throw Invalid(key: "attestation.mds_root", reason: "cannot read a PEM certificate from \(rootFile)") }
            do { metadata = try await MetadataBLOB(jws: Array(blob), roots: roots, at: now) } catch let error as WebAuthnError {
                throw Invalid(key: "attestation.mds_blob", reason: error.detail)
            }
        }
        return AccountsPolicy(
            relyingParty: try relyingParty(), relyingPartyName: rpName, userVerification: userVerification, signupMode: signupMode,
            attestationConveyance: attestationConveyance, attestationTrust: AttestationTrust(anchors: anchors, metadata: metadata, trustsSHA1Statements: trustSHA1Statements),
            requireTrustedAttestation: requireTrustedAttestation, allowedAAGUIDs: Set(allowedAAGUIDs.map { $0.lowercased() }),
            deniedAAGUIDs: Set(deniedAAGUIDs.map { $0.lowercased() }), sessionIdleTimeout: sessionIdleTimeout,
            sessionAbsoluteLifetime: sessionLifetime, hints: hints, recovery: recovery, deviceApproval: deviceApproval)
    }
}
