import CBOR
import Foundation
import PortcullisTesting
import Testing
import WebAuthn
import X509

/// The specification's own test vectors (WebAuthn L3 §16), verified at a fixed time.
@Suite struct SpecVectorTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let registration: [String: String]
        let authentication: [String: String]
        var testDescription: String { name }
    }

    static let document: JSONObject = {
        guard let url = Bundle.module.url(forResource: "webauthn-l3-section16", withExtension: "json", subdirectory: "Vectors"),
              let data = FileManager.default.contents(atPath: url.path),
              let object = (try? StrictJSON.parse(Array(data)))?.object
        else { return [:] }
        return object
    }()

    static let vectors: [Vector] = (document["vectors"]?.array ?? []).compactMap { value in
        guard let object = value.object, let name = object["name"]?.string,
              let registration = object["registration"]?.object, let authentication = object["authentication"]?.object
        else { return nil }
        func strings(_ o: JSONObject) -> [String: String] {
            Dictionary(uniqueKeysWithValues: o.members.compactMap { m in m.value.string.map { (m.key, $0) } })
        }
        return Vector(name: name, registration: strings(registration), authentication: strings(authentication))
    }

    static var root: X509CertificateBox? {
        guard let hex = document["attestationRootCertificate"]?.string, let der = [UInt8](hex: hex) else { return nil }
        return try? X509CertificateBox(der: der)
    }

    /// When the vectors are verified: inside the certificates' 2024–3024 validity.
    static let now = FixedClock.now

    /// What each vector must produce: format, attestation type, trusted, or the refusal.
    static let expected: [String: (format: String, type: AttestationType, trusted: Bool)] = [
        "none-es256": ("none", .none, false),
        "packed-self-es256": ("packed", .self, false),
        "none-es256-crossOrigin": ("none", .none, false),
        "none-es256-topOrigin": ("none", .none, false),
        "none-es256-long-credential-id": ("none", .none, false),
        "packed-es256": ("packed", .basic, true),
        "packed-es384": ("packed", .basic, true),
        "packed-es512": ("packed", .basic, true),
        "packed-rs256": ("packed", .basic, true),
        "packed-eddsa": ("packed", .basic, true),
        "tpm-es256": ("tpm", .attCA, true),
        "apple-es256": ("apple", .anonCA, true),
        "fido-u2f-es256": ("fido-u2f", .basic, true),
    ]

    @Test func theVectorsAreAllThere() throws {
        #expect(Self.vectors.count == 14)
        let root = try #require(Self.root)
        #expect(CertificateChecksForTests.commonName(root) == "WebAuthn test vectors")
    }

    static func registrationJSON(_ v: Vector) throws -> (json: [UInt8], credentialID: [UInt8]) {
        let attestationObject = try #require([UInt8](hex: v.registration["attestationObject"] ?? ""))
        let clientData = try #require([UInt8](hex: v.registration["clientDataJSON"] ?? ""))
        let id = try #require(try AttestationObject(bytes: attestationObject).authenticatorData.attestedCredentialData?.credentialID)
        let json: JSONValue = .object([
            "id": .string(Base64URL.encode(id)), "rawId": .string(Base64URL.encode(id)), "type": .string("public-key"),
            "response": .object(["clientDataJSON": .string(Base64URL.encode(clientData)), "attestationObject": .string(Base64URL.encode(attestationObject))]),
            "clientExtensionResults": .object([:]),
        ])
        return (Array(StrictJSON.serialize(json).utf8), id)
    }

    static func relyingParty(for name: String) throws -> RelyingParty {
        // The crossOrigin and topOrigin vectors come from an RP embedded in https://example.com.
        let embedded = name.hasSuffix("crossOrigin") || name.hasSuffix("topOrigin")
        return try RelyingParty(id: "example.org", origins: ["https://example.org"], allowedTopOrigins: embedded ? ["https://example.com"] : [])
    }

    @Test(arguments: vectors)
    func registrationAndAuthenticationVerify(_ vector: Vector) async throws {
        let rp = try Self.relyingParty(for: vector.name)
        let (json, credentialID) = try Self.registrationJSON(vector)
        let challenge = try #require([UInt8](hex: vector.registration["challenge"] ?? ""))
        let expectations = RegistrationExpectations(
            challenge: challenge, relyingParty: rp, userVerification: .preferred, allowedAlgorithms: COSEAlgorithm.implemented)
        let verifier = RegistrationVerifier(trust: AttestationTrust(anchors: [try #require(Self.root)]))
        let response = try RegistrationResponse(json: json)

        if vector.name == "android-key-es256" {
            // The vector's KeyDescription has empty softwareEnforced and teeEnforced lists, so it names
            // neither origin KM_ORIGIN_GENERATED nor purpose KM_PURPOSE_SIGN, which §8.4 requires.
            await expectCode(.attestationInvalid) { _ = try await verifier.verify(response, expecting: expectations, at: Self.now) }
        } else {
            let result = try await verifier.verify(response, expecting: expectations, at: Self.now)
            let expected = try #require(Self.expected[vector.name])
            #expect(result.attestationFormat == expected.format)
            #expect(result.attestationType == expected.type)
            #expect(result.trusted == expected.trusted)
            #expect(result.credentialID == credentialID)
            // A wrong challenge must fail the same vector.
            var wrong = expectations
            wrong.challenge[0] ^= 1
            await expectCode(.challengeMismatch) { _ = try await verifier.verify(response, expecting: wrong, at: Self.now) }
        }

        // Authentication with the registered key.
        let attestation = try AttestationObject(bytes: try #require([UInt8](hex: vector.registration["attestationObject"] ?? "")))
        let attested = try #require(attestation.authenticatorData.attestedCredentialData)
        let stored = StoredCredential(
            id: credentialID, publicKey: try CredentialPublicKey(cose: attested.publicKeyCOSE), signCount: 0,
            backupEligible: attestation.authenticatorData.flags.contains(.backupEligible), userHandle: [])
        let assertion: JSONValue = .object([
            "id": .string(Base64URL.encode(credentialID)), "rawId": .string(Base64URL.encode(credentialID)), "type": .string("public-key"),
            "response": .object([
                "clientDataJSON": .string(Base64URL.encode(try #require([UInt8](hex: vector.authentication["clientDataJSON"] ?? "")))),
                "authenticatorData": .string(Base64URL.encode(try #require([UInt8](hex: vector.authentication["authenticatorData"] ?? "")))),
                "signature": .string(Base64URL.encode(try #require([UInt8](hex: vector.authentication["signature"] ?? "")))),
            ]),
        ])
        let authChallenge = try #require([UInt8](hex: vector.authentication["challenge"] ?? ""))
        let authResult = try AuthenticationVerifier().verify(
            try AuthenticationResponse(value: assertion), credential: stored,
            expecting: AuthenticationExpectations(challenge: authChallenge, relyingParty: rp, userVerification: .preferred))
        #expect(authResult.newSignCount == 0)
        // Tampering with the signed bytes must fail.
        let tampered = try AuthenticationResponse(value: assertion)
        var other = stored
        other.publicKey = try CredentialPublicKey(coseBytes: TestKey(stored.publicKey.algorithm).coseBytes)
        await expectCode(.badSignature) {
            _ = try AuthenticationVerifier().verify(
                tampered, credential: other,
                expecting: AuthenticationExpectations(challenge: authChallenge, relyingParty: rp, userVerification: .preferred))
        }
    }

    @Test func vectorsAreUntrustedWithoutTheirRoot() async throws {
        let vector = try #require(Self.vectors.first { $0.name == "packed-es256" })
        let (json, _) = try Self.registrationJSON(vector)
        let challenge = try #require([UInt8](hex: vector.registration["challenge"] ?? ""))
        let result = try await RegistrationVerifier(trust: .none).verify(
            try RegistrationResponse(json: json),
            expecting: RegistrationExpectations(challenge: challenge, relyingParty: try Self.relyingParty(for: vector.name), userVerification: .preferred),
            at: Self.now)
        #expect(result.trusted == false)
    }
}

enum CertificateChecksForTests {
    static func commonName(_ certificate: X509CertificateBox) -> String? {
        certificate.certificate.subject.description.split(separator: ",").first { $0.hasPrefix("CN=") }.map { String($0.dropFirst(3)) }
    }
}
