import Foundation
import PortcullisTesting
import Testing
import WebAuthn

@Suite struct RoundTripTests {
    @Test(arguments: COSEAlgorithm.implemented)
    func registrationAndAssertionVerifyForEveryAlgorithm(algorithm: COSEAlgorithm) async throws {
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge, algorithm: algorithm)
        let verified = try await Fixtures.verifyRegistration(registration)
        #expect(verified.algorithm == algorithm)
        #expect(verified.publicKeyBytes == registration.key.coseBytes)
        #expect(verified.credentialID == registration.credentialID)
        #expect(verified.attestationFormat == "none")
        #expect(verified.attestationType == .none)
        #expect(verified.trusted == false)
        #expect(verified.userVerified)
        #expect(verified.residentKey == true)

        let assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration, signCount: 5)
        let result = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration))
        #expect(result.newSignCount == 5)
        #expect(result.userVerified)
        #expect(!result.backupEligibilityChanged)
    }

    static let formats: [(String, AttestationFixture, AttestationType)] = [
        ("none", .none, .none),
        ("packed", .packedSelf(), .self),
        ("packed", .packed(pki: Fixtures.pki), .basic),
        ("fido-u2f", .fidoU2F(pki: Fixtures.pki), .basic),
        ("apple", .apple(pki: Fixtures.pki), .anonCA),
        ("android-key", .androidKey(pki: Fixtures.pki), .basic),
        ("tpm", .tpm(pki: Fixtures.pki), .attCA),
        ("android-safetynet", .safetyNet(pki: Fixtures.pki), .basic),
        ("compound", .compound([.packed(pki: Fixtures.pki), .apple(pki: Fixtures.pki)]), .basic),
    ]

    @Test(arguments: 0..<formats.count)
    func everyAttestationFormatVerifiesAndIsTrustedOnlyWithAnAnchor(index: Int) async throws {
        let (format, attestation, type) = Self.formats[index]
        var authenticator = Fixtures.authenticator
        if format == "fido-u2f" { authenticator.aaguid = .zero }
        let registration = authenticator.registration(challenge: Fixtures.challenge, attestation: attestation)
        let untrusted = try await Fixtures.verifyRegistration(registration)
        #expect(untrusted.attestationFormat == format)
        #expect(untrusted.attestationType == type)
        #expect(untrusted.trusted == false)

        // fido-u2f carries exactly one certificate, so its anchor must be the issuing intermediate:
        // an anchor may be an intermediate.
        let anchor = format == "fido-u2f" ? Fixtures.pki.intermediate : Fixtures.pki.root
        let anchored = try await Fixtures.verifyRegistration(registration, trust: AttestationTrust(anchors: [anchor]))
        #expect(anchored.trusted == (type != .none && type != .self))
    }

    @Test(arguments: [COSEAlgorithm.rs256, .es384, .es512])
    func tpmAndAndroidKeyAcceptOtherKeyTypes(algorithm: COSEAlgorithm) async throws {
        for attestation in [AttestationFixture.tpm(pki: Fixtures.pki), .androidKey(pki: Fixtures.pki), .apple(pki: Fixtures.pki)] {
            let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge, algorithm: algorithm, attestation: attestation)
            let verified = try await Fixtures.verifyRegistration(registration, trust: AttestationTrust(anchors: [Fixtures.pki.root]))
            #expect(verified.trusted, "\(attestation.format) with \(algorithm)")
        }
    }
}
