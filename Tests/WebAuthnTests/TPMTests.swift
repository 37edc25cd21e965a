import CBOR
import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// TPM attestation (§8.3) from real authenticators, and the RS1 that Windows Hello signs with.
@Suite struct TPMTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let rpID: String
        let origin: String
        let challenge: String
        let credential: JSONValue
        var testDescription: String { name }
    }

    static let vectors: [Vector] = {
        guard let url = Bundle.module.url(forResource: "tpm-real-authenticators", withExtension: "json", subdirectory: "Vectors"),
              let data = FileManager.default.contents(atPath: url.path),
              let items = (try? StrictJSON.parse(Array(data)))?.object?["vectors"]?.array
        else { return [] }
        return items.compactMap { item in
            guard let o = item.object, let name = o["name"]?.string, let rpID = o["rpId"]?.string, let origin = o["origin"]?.string,
                  let challenge = o["challenge"]?.string, let credential = o["credential"]
            else { return nil }
            return Vector(name: name, rpID: rpID, origin: origin, challenge: challenge, credential: credential)
        }
    }()

    /// Inside every certificate's validity in the vectors (they were made in 2021).
    static let madeAt = Date(timeIntervalSince1970: 1_625_097_600)  // 2021-07-01

    static func expectations(_ vector: Vector, challenge: [UInt8]? = nil) throws -> RegistrationExpectations {
        RegistrationExpectations(
            challenge: try #require(challenge ?? Base64URL.decode(vector.challenge)),
            relyingParty: try RelyingParty(id: vector.rpID, origins: [vector.origin]),
            userVerification: .preferred, allowedAlgorithms: COSEAlgorithm.implemented)
    }

    static func response(_ vector: Vector) throws -> RegistrationResponse {
        try RegistrationResponse(value: vector.credential)
    }

    @Test func theVectorsAreAllThere() {
        #expect(Self.vectors.map(\.name) == [
            "attestation_surface_pro_4", "attestation_dell_xps_13", "attestation_lenovo_carbon_x1", "tpm_with_ecc_public_area_type",
        ])
    }

    @Test(arguments: vectors)
    func aRealTPMRegistrationVerifies(_ vector: Vector) async throws {
        let response = try Self.response(vector)
        let result = try await RegistrationVerifier().verify(response, expecting: try Self.expectations(vector), at: Self.madeAt)
        #expect(result.attestationFormat == "tpm")
        #expect(result.attestationType == .attCA)
        #expect(result.trustPath.count == 2)
        #expect(result.trusted == false)  // Microsoft's TPM root is not configured here
        // The same bytes answering another challenge are refused.
        var other = try #require(Base64URL.decode(vector.challenge))
        other[0] ^= 1
        await expectCode(.challengeMismatch) {
            _ = try await RegistrationVerifier().verify(response, expecting: try Self.expectations(vector, challenge: other), at: Self.madeAt)
        }
    }

    @Test func windowsHelloSignsCertInfoWithRS1() throws {
        // The Surface Pro 4's statement names alg -65535; its credential key is RS256.
        let vector = try #require(Self.vectors.first)
        let response = try Self.response(vector)
        let attestation = try AttestationObject(bytes: response.attestationObject)
        #expect(attestation.statement.map?[text: "alg"]?.int64 == -65535)
        let key = try CredentialPublicKey(cose: try #require(attestation.authenticatorData.attestedCredentialData).publicKeyCOSE)
        #expect(key.algorithm == .rs256)
    }

    @Test func anRS1StatementIsValidAndItsTrustIsTheOperatorsChoice() async throws {
        var options = AttestationFixture.TPMOptions()
        options.aikAlgorithm = .rs1
        let fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge, algorithm: .rs256, attestation: .tpm(pki: Fixtures.pki, options: options))
        let anchored = AttestationTrust(anchors: [Fixtures.pki.root])
        let trusted = try await Fixtures.verifyRegistration(fixture, trust: anchored)
        #expect(trusted.attestationType == .attCA && trusted.trusted)
        var strict = anchored
        strict.trustsSHA1Statements = false
        let untrusted = try await Fixtures.verifyRegistration(fixture, trust: strict)
        #expect(untrusted.attestationType == .attCA && untrusted.trusted == false)
        await expectCode(.attestationUntrusted) {
            _ = try await Fixtures.verifyRegistration(fixture, expectations: Fixtures.registrationExpectations(requireTrusted: true), trust: strict)
        }
        // A SHA-256 AIK signature is trusted under the strict policy.
        let sha256 = Fixtures.authenticator.registration(challenge: Fixtures.challenge, algorithm: .rs256, attestation: .tpm(pki: Fixtures.pki))
        #expect(try await Fixtures.verifyRegistration(sha256, trust: strict).trusted)
    }

    @Test func rs1IsStillNeverACredentialKey() async throws {
        // A TPM statement's RS1 does not open the credential key to RS1.
        await expectCode(.unsupportedAlgorithm) {
            _ = try CredentialPublicKey(coseBytes: COSEKeyEdits.replacing(TestKey(.rs256).coseKey, label: 3, with: .int(-65535)))
        }
    }
}
