import Configuration
import Foundation
import PortcullisServer
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
        #expect(configuration.rpID == "localhost")
        #expect(configuration.effectiveOrigins == ["http://localhost:8080"])
        #expect(configuration.databaseURL == "sqlite:portcullis.sqlite")
        #expect(configuration.userVerification == .required)
        #expect(configuration.secureCookies == false)
    }

    @Test func valuesAreRead() throws {
        let configuration = try Self.read([
            "rp.id": "example.org", "rp.origins": "https://example.org, https://login.example.org, android:apk-key-hash:abc",
            "http.port": "9000", "signup.mode": "invite-only", "webauthn.user_verification": "preferred",
            "database.url": "postgres://u:p@db:5432/portcullis", "aaguids.denied": "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
        ])
        #expect(configuration.port == 9000)
        #expect(configuration.effectiveOrigins.count == 3)
        #expect(configuration.signupMode.rawValue == "invite-only")
        #expect(configuration.secureCookies)
        #expect(try configuration.relyingParty().origins.contains("https://login.example.org"))
    }

    @Test(arguments: [
        (["http.port": "eighty"], "http.port"),
        (["http.port": "70000"], "http.port"),
        (["rp.origins": "https://evil.example"], "rp.origins"),
        (["rp.id": "127.0.0.1"], "rp.id"),
        (["database.url": "mysql://x"], "database.url"),
        (["signup.mode": "closed"], "signup.mode"),
        (["session.lifetime": "5"], "session.lifetime"),
        (["webauthn.user_verification": "always"], "webauthn.user_verification"),
        (["webauthn.hints": "usb"], "webauthn.hints"),
        (["attestation.conveyance": "enterprise"], "attestation.conveyance"),
        (["aaguids.allowed": "not-an-aaguid"], "aaguids.allowed"),
        (["attestation.mds_blob": "/tmp/blob.jwt"], "attestation.mds_root"),
        (["http.trust_forwarded_for": "maybe"], "http.trust_forwarded_for"),
        (["wellknown.android_apps": "com.example.app"], "wellknown.android_apps"),
        (["webhooks.urls": "https://hooks.example/a"], "webhooks.secret"),
        (["webhooks.urls": "ftp://hooks.example", "webhooks.secret": "whsec_KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="], "webhooks.urls"),
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

    @Test func httpsOriginsGiveSecureHostPrefixedCookies() async throws {
        let harness = try ServerHarness {
            $0.rpID = "example.org"
            $0.origins = ["https://example.org"]
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
