import Configuration
import Foundation
import Notifications
import OIDC
import PortcullisApp
import PortcullisHTTP
import Testing
import WebAuthn
import HTTPTypes
import Accounts

@Suite struct ConfigurationTests {
    static func read(_ values: [String: String]) throws -> ServerConfiguration {
        let provider = InMemoryProvider(values: Dictionary(uniqueKeysWithValues: values.map { (AbsoluteConfigKey(stringLiteral: $0.key), ConfigValue(stringLiteral: $0.value)) }))
        return try ServerConfiguration(reader: ConfigReader(provider: provider))
    }

    @Test func defaultsStartOnLocalhostWithSQLite() throws {
        let configuration = try Self.read([:])
        #expect(configuration.rp.id == "localhost")
        #expect(configuration.effectiveOrigins == ["http://localhost:8080"])
        #expect(configuration.database.url == "sqlite:portcullis.sqlite")
        #expect(configuration.database.maxConnections == 8)
        #expect(configuration.webauthn.userVerification == .required)
        #expect(configuration.secureCookies == false)
    }

    @Test func theLimitsAreReadWithSafeDefaults() throws {
        let defaults = try Self.read([:])
        #expect(defaults.deviceApproval == DeviceApprovalPolicy(requestLifetime: 600, guessesPerIPPerMinute: 10, guessesPerMinute: 600))
        #expect(defaults.recovery.blockAfterCancel == 86400 && defaults.recovery.caseLifetime == 7 * 86400)
        #expect(defaults.recovery.maxCodeAttempts == 5 && defaults.recovery.codeAttemptsPerIP == 10)
        #expect(defaults.recovery.startsPerUsernameAndIP == 5 && defaults.recovery.startsPerIP == 20 && defaults.recovery.startsPerUsername == 100)
        #expect(defaults.attestation.trustSHA1Statements)
        let set = try Self.read([
            "device.code_lifetime": "300", "device.guesses_per_ip_per_minute": "4", "device.guesses_per_minute": "50",
            "recovery.block_after_cancel": "3600", "recovery.case_lifetime": "86400", "recovery.code_attempts_per_case": "3",
            "recovery.code_attempts_per_ip": "6", "recovery.starts_per_username_ip": "2", "recovery.starts_per_ip": "9",
            "recovery.starts_per_username": "40", "attestation.trust_sha1_statements": "false",
        ])
        #expect(set.deviceApproval == DeviceApprovalPolicy(requestLifetime: 300, guessesPerIPPerMinute: 4, guessesPerMinute: 50))
        #expect(set.recovery.blockAfterCancel == 3600 && set.recovery.caseLifetime == 86400)
        #expect(set.recovery.maxCodeAttempts == 3 && set.recovery.codeAttemptsPerIP == 6)
        #expect(set.recovery.startsPerUsernameAndIP == 2 && set.recovery.startsPerIP == 9 && set.recovery.startsPerUsername == 40)
        #expect(!set.attestation.trustSHA1Statements)
        // The ways-in report names them.
        let device = try #require(set.waysIn.first { $0.name == "device-approval" })
        #expect(device.limits.contains("a request and its user code expire after 5m"))
        #expect(device.limits.contains("4 user-code guesses per IP address per minute, 50 across the server"))
        for way in set.waysIn where way.name.hasPrefix("recovery:") {
            #expect(way.limits.contains("2 case starts per username and IP address per hour, 9 per IP address, 40 per username from all addresses"))
            #expect(way.limits.contains("3 wrong recovery codes per case, 6 code attempts per IP address per 10 minutes"))
            #expect(way.limits.contains("a case expires after 24h; \"this wasn't me\" blocks new cases for 1h"))
        }
    }

    /// Events are kept a year unless configured; `0` keeps them for ever.
    @Test(arguments: [
        ([:], Optional(365 * 86400.0)),
        (["events.retention": "0"], nil),
        (["events.retention": "604800"], 604800),
        (["events.retention": "3153600000"], 3153600000),
    ] as [([String: String], TimeInterval?)])
    func eventRetentionIsRead(values: [String: String], retention: TimeInterval?) throws {
        #expect(try Self.read(values).events.retention == retention)
    }

    /// A connection may idle 75 s and a stop may take 25 s unless configured.
    @Test(arguments: [
        ([:], 75.0, 25.0),
        (["http.idle_timeout": "1", "http.stop_timeout": "3600"], 1, 3600),
        (["http.idle_timeout": "3600", "http.stop_timeout": "1"], 3600, 1),
    ] as [([String: String], TimeInterval, TimeInterval)])
    func connectionTimeoutsAreRead(values: [String: String], idle: TimeInterval, stop: TimeInterval) throws {
        let http = try Self.read(values).http
        #expect(http.idleTimeout == idle)
        #expect(http.stopTimeout == stop)
    }

    /// A JSON file holds typed values: numbers, booleans and arrays are read as such.
    @Test func typedValuesAreRead() throws {
        let provider = InMemoryProvider(values: [
            "http.port": ConfigValue(.int(9100), isSecret: false),
            "http.trust_forwarded_for": ConfigValue(.bool(true), isSecret: false),
            "rp.origins": ConfigValue(.stringArray(["http://localhost:9100", " http://localhost:9200 "]), isSecret: false),
            "session.idle_timeout": ConfigValue(.int(3600), isSecret: false),
            "recovery.code_enabled": ConfigValue(.bool(false), isSecret: false),
            "recovery.rules": ConfigValue(.string("contacts:24h, admins:0"), isSecret: false),
        ])
        let configuration = try ServerConfiguration(reader: ConfigReader(provider: provider))
        #expect(configuration.http.port == 9100)
        #expect(configuration.http.trustForwardedFor)
        #expect(configuration.rp.origins == ["http://localhost:9100", "http://localhost:9200"])
        #expect(configuration.session.idleTimeout == 3600)
        // The provider ends an app's codes and tokens with an idle session by the same timeout.
        #expect(configuration.oidcSettings.sessionIdleTimeout == 3600)
        #expect(!configuration.recovery.codeEnabled)
    }

    /// A value of the wrong type is refused with its key, never taken as the default.
    @Test(arguments: [
        ("http.port", ConfigValue(.bool(true), isSecret: false)),
        ("http.port", ConfigValue(.double(80.5), isSecret: false)),
        ("http.trust_forwarded_for", ConfigValue(.int(2), isSecret: false)),
        ("session.lifetime", ConfigValue(.stringArray(["3600"]), isSecret: false)),
        ("signup.mode", ConfigValue(.int(1), isSecret: false)),
    ])
    func wronglyTypedValuesNameTheirKey(key: String, value: ConfigValue) {
        let provider = InMemoryProvider(values: [AbsoluteConfigKey(stringLiteral: key): value])
        #expect { _ = try ServerConfiguration(reader: ConfigReader(provider: provider)) } throws: { error in
            (error as? ServerConfiguration.Invalid)?.key == key
        }
    }

    /// The pages' branding: a colour written exactly `#rrggbb` (it goes into a stylesheet) and a logo
    /// file of a known image type, readable and small.
    @Test(arguments: [
        ("pages.accent_color", "red"), ("pages.accent_color", "#12345g"), ("pages.accent_color", "#123456;}body{display:none"),
        ("pages.accent_color", "#1234567"), ("pages.logo_file", "/etc/hostname"), ("pages.logo_file", "/nonexistent/logo.png"),
    ])
    func badBrandingIsRefusedWithItsKey(key: String, value: String) {
        #expect { _ = try Self.read([key: value]) } throws: { error in (error as? ServerConfiguration.Invalid)?.key == key }
    }

    @Test func brandingIsRead() throws {
        let logo = NSTemporaryDirectory() + "portcullis-logo-\(UUID().uuidString).svg"
        try Data("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8).write(to: URL(fileURLWithPath: logo))
        defer { try? FileManager.default.removeItem(atPath: logo) }
        let configuration = try Self.read(["pages.accent_color": "#AA3300", "pages.logo_file": logo])
        #expect(configuration.pages.accentColor == "#aa3300")
        #expect(try configuration.pages.logo()?.contentType == "image/svg+xml")
        #expect(try Self.read([:]).pages.logo() == nil)
    }

    /// Environment variables: nested keys are joined with `_` and upper-cased, lists are
    /// comma-separated, booleans may be yes/no or 1/0.
    @Test func environmentVariablesAreRead() throws {
        let provider = EnvironmentVariablesProvider(environmentVariables: [
            "HTTP_PORT": "9300", "HTTP_TRUST_FORWARDED_FOR": "yes", "RP_ORIGINS": "http://localhost:9300, http://localhost:9400",
            "RECOVERY_STARTS_PER_USERNAME_IP": "3", "DEVICE_GUESSES_PER_MINUTE": "70", "ALLOW_WEAK_WAYS_IN": "1",
        ])
        let configuration = try ServerConfiguration(reader: ConfigReader(provider: provider))
        #expect(configuration.http.port == 9300)
        #expect(configuration.http.trustForwardedFor)
        #expect(configuration.rp.origins == ["http://localhost:9300", "http://localhost:9400"])
        #expect(configuration.recovery.startsPerUsernameAndIP == 3)
        #expect(configuration.deviceApproval.guessesPerMinute == 70)
        #expect(configuration.allowWeakWaysIn)
    }

    @Test func relatedOriginsAreConfiguredTwiceAndAgree() throws {
        let configuration = try Self.read([
            "rp.id": "example.org", "rp.origins": "https://example.org, https://example.de, https://login.example.org",
            "wellknown.related_origins": "https://example.de",
        ])
        #expect(try configuration.relyingParty().relatedOrigins == ["https://example.de"])
    }

    @Test func valuesAreRead() throws {
        let configuration = try Self.read([
            "rp.id": "example.org", "rp.origins": "https://example.org, https://login.example.org, android:apk-key-hash:abc",
            "http.port": "9000", "signup.mode": "invite-only", "webauthn.user_verification": "preferred",
            "database.url": "postgres://u:p@db:5432/portcullis", "aaguids.denied": "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
            "database.max_connections": "32",
        ])
        #expect(configuration.http.port == 9000)
        #expect(configuration.database.maxConnections == 32)
        #expect(configuration.effectiveOrigins.count == 3)
        #expect(configuration.signup.mode.rawValue == "invite-only")
        #expect(configuration.secureCookies)
        #expect(try configuration.relyingParty().origins.contains("https://login.example.org"))
    }

    @Test(arguments: [
        (["http.port": "eighty"], "http.port"),
        (["http.port": "70000"], "http.port"),
        (["rp.origins": "https://evil.example"], "rp.origins"),
        (["rp.id": "127.0.0.1"], "rp.id"),
        (["database.url": "mysql://x"], "database.url"),
        (["database.url": "postgres://u:p@10.0.0.5/portcullis"], "database.url"),  // remote: verify-full needs the host's name
        (["database.url": "postgres://u:p@db.example.com/portcullis?sslmode=prefer"], "database.url"),
        (["database.max_connections": "0"], "database.max_connections"),
        (["database.max_connections": "many"], "database.max_connections"),
        (["signup.mode": "closed"], "signup.mode"),
        (["session.lifetime": "5"], "session.lifetime"),
        (["events.retention": "86400"], "events.retention"),  // shorter than a week
        (["events.retention": "-1"], "events.retention"),
        (["events.retention": "a year"], "events.retention"),
        (["http.idle_timeout": "0"], "http.idle_timeout"),
        (["http.idle_timeout": "3601"], "http.idle_timeout"),
        (["http.stop_timeout": "0"], "http.stop_timeout"),
        (["http.stop_timeout": "soon"], "http.stop_timeout"),
        (["webauthn.user_verification": "always"], "webauthn.user_verification"),
        (["webauthn.hints": "usb"], "webauthn.hints"),
        (["attestation.conveyance": "enterprise"], "attestation.conveyance"),
        (["aaguids.allowed": "not-an-aaguid"], "aaguids.allowed"),
        (["attestation.mds_blob": "/tmp/blob.jwt"], "attestation.mds_root"),
        (["http.trust_forwarded_for": "maybe"], "http.trust_forwarded_for"),
        (["wellknown.android_apps": "com.example.app"], "wellknown.android_apps"),
        (["webhooks.urls": "https://hooks.example/a"], "webhooks.secret"),
        (["webhooks.urls": "ftp://hooks.example", "webhooks.secret": "whsec_KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="], "webhooks.urls"),
        (["recovery.rules": "passwords:1h"], "recovery.rules"),
        (["device.code_lifetime": "30"], "device.code_lifetime"),
        (["device.code_lifetime": "7200"], "device.code_lifetime"),
        (["device.guesses_per_ip_per_minute": "0"], "device.guesses_per_ip_per_minute"),
        (["device.guesses_per_minute": "ten"], "device.guesses_per_minute"),
        (["recovery.block_after_cancel": "10"], "recovery.block_after_cancel"),
        (["recovery.case_lifetime": "60"], "recovery.case_lifetime"),
        (["recovery.code_attempts_per_case": "21"], "recovery.code_attempts_per_case"),
        (["recovery.code_attempts_per_ip": "0"], "recovery.code_attempts_per_ip"),
        (["recovery.starts_per_username_ip": "101"], "recovery.starts_per_username_ip"),
        (["recovery.starts_per_ip": "0"], "recovery.starts_per_ip"),
        (["recovery.starts_per_username": "-1"], "recovery.starts_per_username"),
        (["attestation.trust_sha1_statements": "sometimes"], "attestation.trust_sha1_statements"),
        (["rp.id": "example.org", "rp.origins": "https://example.org, https://example.de"], "rp.origins"),
        (["rp.id": "example.org", "rp.origins": "https://example.org", "wellknown.related_origins": "https://example.de"], "wellknown.related_origins"),
        (["rp.id": "example.org", "rp.origins": "https://example.org", "wellknown.related_origins": "http://example.de"], "wellknown.related_origins"),
        (["recovery.rules": "code:soon"], "recovery.rules"),
        (["recovery.rules": "code:1h", "recovery.code_enabled": "false"], "recovery.rules"),
        (["recovery.admin_approvals": "0"], "recovery.admin_approvals"),
        (["recovery.cooling_period": "-1"], "recovery.cooling_period"),
        (["allow_weak_ways_in": "perhaps"], "allow_weak_ways_in"),
        (["smtp.host": "mail.example.org"], "smtp.from"),
        (["smtp.host": "mail.example.org", "smtp.from": "not an address"], "smtp.from"),
        (["smtp.from": "portcullis@example.org"], "smtp.host"),
        (["smtp.host": "mail.example.org", "smtp.from": "p@example.org", "smtp.security": "none", "smtp.username": "u"], "smtp.security"),
        (["smtp.security": "ssl"], "smtp.security"),
        (["smtp.port": "0"], "smtp.port"),
        (["tracing.otlp_endpoint": "collector:4318"], "tracing.otlp_endpoint"),
        (["tracing.otlp_endpoint": "grpc://collector:4317"], "tracing.otlp_endpoint"),
        (["tracing.otlp_endpoint": "http://collector:4318?token=x"], "tracing.otlp_endpoint"),
        (["tracing.protocol": "grpc"], "tracing.protocol"),
        (["tracing.service_name": "two\nlines"], "tracing.service_name"),
    ])
    func invalidValuesNameTheirKey(values: [String: String], key: String) {
        do {
            _ = try Self.read(values)
            Issue.record("accepted \(values)")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.key == key, "\(error)")
            #expect(error.description.contains(key))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: [
        ("http://collector:4318", "http://collector:4318/v1/traces"), ("https://otel.example.org/", "https://otel.example.org/v1/traces"),
        ("http://127.0.0.1:4318/base", "http://127.0.0.1:4318/base/v1/traces"),
    ])
    func tracesGoToTheCollectorsTracesPath(endpoint: String, posted: String) throws {
        let configuration = try Self.read(["tracing.otlp_endpoint": endpoint, "tracing.protocol": "http/json", "tracing.service_name": "id-eu"])
        #expect(configuration.tracing.tracesURL == posted && configuration.tracing.protocol == "http/json")
        #expect(configuration.tracing.serviceName == "id-eu" && configuration.httpSettings.traced)
        #expect(try !Self.read([:]).httpSettings.traced && Self.read([:]).tracing.tracesURL == nil)
    }

    @Test func emailIsAChannel() throws {
        let configuration = try Self.read(["smtp.host": "mail.example.org", "smtp.from": "portcullis@example.org", "smtp.security": "tls"])
        #expect(configuration.notificationChannels == ["email"])
        let mailer = try #require(try configuration.smtp.mailer())
        #expect(mailer.port == 465)
        #expect(try Self.read([:]).notificationChannels.isEmpty)
        // E-mail lifts a single proof above the floor, as a webhook does.
        try Self.read(["recovery.rules": "code:0", "smtp.host": "mail.example.org", "smtp.from": "p@example.org"]).checkWaysInFloor()
    }

    @Test func recoveryPolicyIsRead() throws {
        let configuration = try Self.read([
            "recovery.rules": "3contacts:2d, code+contact:6h, admins:0", "recovery.admin_approvals": "3", "recovery.cooling_period": "172800",
        ])
        #expect(configuration.recovery.rules.map(\.description) == ["3contacts:2d", "contact+code:6h", "admins:0"])
        #expect(configuration.recovery.rules.last?.admins == 3)
        #expect(configuration.recovery.coolingPeriod == 172800)
        #expect(try Self.read([:]).recovery.rules.map(\.description) == ["contacts:24h", "code:3d", "contact+code:1h", "admins:0"])
    }

    /// A way in below the floor (one proof, no wait, no out-of-band notification) stops the start,
    /// unless the operator says so explicitly; a webhook or a wait lifts it above the floor.
    @Test(arguments: [
        (["recovery.rules": "code:0"], false),
        (["recovery.rules": "admins:0", "recovery.admin_approvals": "1"], false),
        (["recovery.rules": "code:0", "allow_weak_ways_in": "true"], true),
        (["recovery.rules": "code:1m"], true),
        (["recovery.rules": "code+contact:0"], true),
        (["recovery.rules": "code:0", "webhooks.urls": "https://hooks.example/a", "webhooks.secret": "whsec_KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="], true),
        ([:], true),
    ])
    func theFloorStopsTheStart(values: [String: String], starts: Bool) throws {
        let configuration = try Self.read(values)
        if starts {
            try configuration.checkWaysInFloor()
        } else {
            #expect(throws: ServerConfiguration.Invalid.self) { try configuration.checkWaysInFloor() }
            do { try configuration.checkWaysInFloor() } catch let error as ServerConfiguration.Invalid {
                #expect(error.key == "recovery.rules")
                #expect(error.description.contains("allow_weak_ways_in"))
            }
        }
    }

    @Test func httpsOriginsGiveSecureHostPrefixedCookies() async throws {
        let harness = try await ServerHarness {
            $0.rp.id = "example.org"
            $0.rp.origins = ["https://example.org"]
        }
        try await harness.run { client in
            let reply = try await ServerHarness.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string("erin")]),
                                                     origin: "https://example.org")
            #expect(reply.status == .ok)
            let authenticator = VirtualAuthenticatorForHTTPS.authenticator
            let credential = authenticator.registration(challenge: try ServerHarness.challenge(reply))
            let verify = try await ServerHarness.send(client, .post, "/api/v1/signup/verify", json: .object(["credential": credential.jsonValue]),
                                                      origin: "https://example.org")
            #expect(verify.status == .created)
            let cookie = try #require(verify.headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-portcullis="))
            #expect(cookie.contains("Secure"))
            #expect(cookie.contains("Path=/"))
            #expect(!cookie.contains("Domain"))
        }
    }
}

import PortcullisTesting

enum VirtualAuthenticatorForHTTPS {
    static let authenticator = VirtualAuthenticator(rpID: "example.org", origin: "https://example.org")
}

/// Configured hints reach the options of every ceremony, in order (WebAuthn §5.8.7).
@Suite struct HintTests {
    @Test func configuredHintsAreSentInOrder() async throws {
        let harness = try await ServerHarness {
            $0.webauthn.hints = [.hybrid, .securityKey]
        }
        try await harness.run { client in
            for path in ["/api/v1/signup/options", "/api/v1/login/options"] {
                let reply = try await ServerHarness.send(client, .post, path, json: .object(["username": .string("hana")]))
                #expect(reply.object["publicKey"]?.object?["hints"] == .array([.string("hybrid"), .string("security-key")]), "\(path)")
            }
        }
        let none = try await ServerHarness()
        try await none.run { client in
            let reply = try await ServerHarness.send(client, .post, "/api/v1/login/options", json: .object([:]))
            #expect(reply.object["publicKey"]?.object?["hints"] == nil)
        }
    }
}
