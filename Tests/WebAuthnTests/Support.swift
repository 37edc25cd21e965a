import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// Shared expectations for the fixtures in these tests.
enum Fixtures {
    static let challenge: [UInt8] = Array(0..<32)
    static let pki = TestPKI()
    static let authenticator = VirtualAuthenticator()

    static func relyingParty(topOrigins: [String] = []) -> RelyingParty {
        // The configuration is fixed and valid; a throw here is a broken test.
        (try? RelyingParty(id: "example.org", origins: ["https://example.org"], allowedTopOrigins: topOrigins))!
    }

    static func registrationExpectations(
        userVerification: UserVerificationRequirement = .required,
        algorithms: [COSEAlgorithm] = COSEAlgorithm.implemented,
        requireTrusted: Bool = false,
        topOrigins: [String] = []
    ) -> RegistrationExpectations {
        RegistrationExpectations(
            challenge: challenge, relyingParty: relyingParty(topOrigins: topOrigins), userVerification: userVerification,
            allowedAlgorithms: algorithms, requireTrustedAttestation: requireTrusted)
    }

    static func verifyRegistration(
        _ fixture: RegistrationFixture,
        expectations: RegistrationExpectations = registrationExpectations(),
        trust: AttestationTrust = .none,
        at now: Date = FixedClock.now
    ) async throws -> VerifiedRegistration {
        let response = try RegistrationResponse(json: fixture.json())
        return try await RegistrationVerifier(trust: trust).verify(response, expecting: expectations, at: now)
    }

    static func authenticationExpectations(userVerification: UserVerificationRequirement = .required, requireUserHandle: Bool = false) -> AuthenticationExpectations {
        AuthenticationExpectations(challenge: challenge, relyingParty: relyingParty(), userVerification: userVerification, requireUserHandle: requireUserHandle)
    }

    static func stored(_ registration: RegistrationFixture, signCount: UInt32 = 0, backupEligible: Bool? = false) throws -> StoredCredential {
        StoredCredential(
            id: registration.credentialID, publicKey: try CredentialPublicKey(coseBytes: registration.key.coseBytes),
            signCount: signCount, backupEligible: backupEligible, userHandle: Array("user-1".utf8))
    }

    static func verifyAssertion(
        _ fixture: AssertionFixture,
        credential: StoredCredential,
        expectations: AuthenticationExpectations = authenticationExpectations()
    ) throws -> VerifiedAuthentication {
        let response = try AuthenticationResponse(json: fixture.json())
        return try AuthenticationVerifier().verify(response, credential: credential, expecting: expectations)
    }
}

/// Expects a WebAuthnError with `code` from an async expression.
func expectCode(_ code: WebAuthnError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as WebAuthnError {
        #expect(error.code == code, "got \(error.debugDescription)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected WebAuthnError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
