import PortcullisTesting
import Testing
import WebAuthn

@Suite struct RelyingPartyTests {
    @Test(arguments: [
        ("https://example.org", "https://example.org"),
        ("HTTPS://EXAMPLE.ORG:443", "https://example.org"),  // row 18
        ("https://Login.Example.org:8443/", "https://login.example.org:8443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost:80", "http://localhost"),
        ("android:apk-key-hash:Abc-_123", "android:apk-key-hash:Abc-_123"),  // row 20: opaque, case kept
    ])
    func configuredOriginsAreNormalizedOnce(input: String, expected: String) throws {
        #expect(try RelyingParty.normalize(origin: input) == expected)
    }

    @Test(arguments: [
        "example.org", "https://example.org/path", "https://user@example.org", "ftp://example.org",
        "https://example.org?x", "http://example.org", "https://exämple.org", "https://example.org:0", "android:apk-key-hash:",
    ])
    func badOriginsAreRefusedAtConfiguration(input: String) {
        #expect(throws: WebAuthnError.self) { try RelyingParty.normalize(origin: input) }
    }

    @Test(arguments: [
        ("127.0.0.1", ["https://127.0.0.1"]),  // row 117: IP address
        ("org", ["https://example.org"]),  // single-label public suffix
        ("", ["https://example.org"]),
        ("example.org", []),
    ])
    func theRPIDAndOriginsMustBeWellFormed(rpID: String, origins: [String]) {
        #expect(throws: WebAuthnError.self) { try RelyingParty(id: rpID, origins: origins) }
    }

    @Test func subdomainsAndNativeAppsWorkWhenConfigured() throws {  // rows 19, 20
        let rp = try RelyingParty(id: "example.org", origins: ["https://login.example.org", "android:apk-key-hash:abc"])
        #expect(rp.origins == ["https://login.example.org", "android:apk-key-hash:abc"])
        #expect(!rp.origins.contains("android:apk-key-hash:ABC"))
    }

    @Test(arguments: [
        (["https://example.de"], ["https://example.de"]),  // another domain (§5.11)
        (["https://badexample.org"], ["https://badexample.org"]),  // a suffix without a label boundary is another domain
        (["https://login.example.org", "https://example.co.uk:8443"], ["https://example.co.uk:8443"]),
        (["https://example.org", "android:apk-key-hash:abc"], []),
    ] as [([String], [String])])
    func relatedOriginsAreAllowedAndNamed(origins: [String], related: [String]) throws {
        let rp = try RelyingParty(id: "example.org", origins: origins)
        #expect(rp.relatedOrigins == Set(related))
    }

    @Test func aRelatedOriginIsComparedExactly() async throws {
        // A client at https://example.de using RP ID example.org (the client checked the .well-known list).
        var authenticator = VirtualAuthenticator()
        authenticator.origin = "https://example.de"
        let fixture = authenticator.registration(challenge: Fixtures.challenge)
        func expectations(_ origins: [String]) throws -> RegistrationExpectations {
            RegistrationExpectations(challenge: Fixtures.challenge, relyingParty: try RelyingParty(id: "example.org", origins: origins))
        }
        let result = try await Fixtures.verifyRegistration(fixture, expectations: try expectations(["https://example.org", "https://example.de"]))
        #expect(result.credentialID == fixture.credentialID)
        for origins in [["https://example.org"], ["https://example.de:8443"], ["https://www.example.de"], ["https://example.org", "https://example.com"]] {
            await expectCode(.originMismatch) { _ = try await Fixtures.verifyRegistration(fixture, expectations: try expectations(origins)) }
        }
    }

    /// Swift's `Set<String>.contains` finds U+212A KELVIN SIGN equal to `K`, so an APK key hash origin
    /// (base64, with capitals) had a look-alike twin that passed the origin check.
    @Test func anOriginIsComparedByteForByte() async throws {
        let configured = "android:apk-key-hash:AbcK9"
        let twin = "android:apk-key-hash:Abc\u{212A}9"
        #expect(Set([configured]).contains(twin))  // what the check relied on
        let rp = try RelyingParty(id: "example.org", origins: ["https://example.org", configured])
        #expect(rp.allows(origin: configured))
        #expect(!rp.allows(origin: twin))
        var authenticator = VirtualAuthenticator()
        authenticator.origin = twin
        let fixture = authenticator.registration(challenge: Fixtures.challenge)
        let expectations = RegistrationExpectations(challenge: Fixtures.challenge, relyingParty: rp)
        await expectCode(.originMismatch) { _ = try await Fixtures.verifyRegistration(fixture, expectations: expectations) }
        authenticator.origin = configured
        let result = try await Fixtures.verifyRegistration(authenticator.registration(challenge: Fixtures.challenge), expectations: expectations)
        #expect(result.credentialID.count > 0)
    }
}
