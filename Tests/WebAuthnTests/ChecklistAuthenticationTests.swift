import CBOR
import Crypto
import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// An assertion mutation and the code it must produce.
struct AssertionCase: CustomTestStringConvertible, Sendable {
    let row: Int
    let name: String
    let code: WebAuthnError.Code
    var algorithm: COSEAlgorithm = .es256
    var storedSignCount: UInt32 = 0
    var storedBackupEligible: Bool? = false
    var uvInitialized = false
    var expectations: AuthenticationExpectations = Fixtures.authenticationExpectations()
    let mutate: @Sendable (inout AssertionFixture) -> Void

    var testDescription: String { "#\(row) \(name)" }

    func run() async throws {
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge, algorithm: algorithm)
        var stored = try Fixtures.stored(registration, signCount: storedSignCount, backupEligible: storedBackupEligible)
        stored.uvInitialized = uvInitialized
        var assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration)
        mutate(&assertion)
        await expectCode(code) { _ = try Fixtures.verifyAssertion(assertion, credential: stored, expectations: expectations) }
    }
}

@Suite struct ChecklistAuthenticationTests {
    static let cases: [AssertionCase] = [
        AssertionCase(row: 10, name: "create type at authentication", code: .clientDataTypeMismatch) { $0.clientData.type = "webauthn.create" },
        AssertionCase(row: 10, name: "payment.get type", code: .clientDataTypeMismatch) { $0.clientData.type = "payment.get" },
        AssertionCase(row: 11, name: "challenge mismatch", code: .challengeMismatch) { $0.clientData.challenge = "AAAA" },
        AssertionCase(row: 15, name: "origin mismatch", code: .originMismatch) { $0.clientData.origin = "https://example.com" },
        AssertionCase(row: 21, name: "crossOrigin true", code: .crossOriginNotAllowed) { $0.clientData.crossOrigin = true },
        AssertionCase(row: 34, name: "authenticator data of 36 bytes", code: .malformedAuthenticatorData) {
            $0.authenticatorData.rpIDHash = Array($0.authenticatorData.rpIDHash.prefix(31))
        },
        AssertionCase(row: 39, name: "AT=0, ED=0 with extra bytes", code: .malformedAuthenticatorData) { $0.authenticatorData.trailing = [0xA0] },
        AssertionCase(row: 41, name: "assertion authenticator data with AT", code: .malformedAuthenticatorData) {
            $0.authenticatorData.flags.insert(.attestedCredentialData)
            $0.authenticatorData.aaguid = .zero
            $0.authenticatorData.credentialID = [1, 2, 3]
            $0.authenticatorData.credentialPublicKey = TestKey(.es256).coseBytes
        },
        AssertionCase(row: 44, name: "rpIdHash of another RP", code: .rpIDHashMismatch) { $0.authenticatorData.rpIDHash = Array(repeating: 0, count: 32) },
        AssertionCase(row: 47, name: "UP not set", code: .userPresenceMissing) { $0.authenticatorData.flags.remove(.userPresent) },
        AssertionCase(row: 48, name: "UV not set where required", code: .userVerificationMissing) { $0.authenticatorData.flags.remove(.userVerified) },
        AssertionCase(row: 49, name: "UV downgrade after uvInitialized", code: .userVerificationMissing, uvInitialized: true,
                      expectations: Fixtures.authenticationExpectations(userVerification: .preferred)) { $0.authenticatorData.flags.remove(.userVerified) },
        AssertionCase(row: 50, name: "BS without BE", code: .backupStateInvalid) { $0.authenticatorData.flags.insert(.backedUp) },
        AssertionCase(row: 51, name: "BE appears after registration without it", code: .backupEligibilityChanged) { $0.authenticatorData.flags.insert(.backupEligible) },
        AssertionCase(row: 51, name: "BE disappears after registration with it", code: .backupEligibilityChanged, storedBackupEligible: true) { _ in },
        AssertionCase(row: 52, name: "counter equal to the stored one", code: .signCountRegression, storedSignCount: 5) { $0.authenticatorData.signCount = 5 },
        AssertionCase(row: 52, name: "counter below the stored one", code: .signCountRegression, storedSignCount: 5) { $0.authenticatorData.signCount = 4 },
        AssertionCase(row: 52, name: "counter drops to zero", code: .signCountRegression, storedSignCount: 5) { $0.authenticatorData.signCount = 0 },
        AssertionCase(row: 62, name: "ECDSA r = 0", code: .badSignature) { $0.signatureTransform = { _ in [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01] } },
        AssertionCase(row: 62, name: "ECDSA s = 0", code: .badSignature) { $0.signatureTransform = { _ in [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00] } },
        AssertionCase(row: 62, name: "ECDSA r = n (P-256 order)", code: .badSignature) {
            $0.signatureTransform = { sig in
                let n: [UInt8] = [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                  0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51]
                let s: [UInt8] = [0x01]
                let body = [0x02, UInt8(n.count)] + n + [0x02, UInt8(s.count)] + s
                return [0x30, UInt8(body.count)] + body
            }
        },
        AssertionCase(row: 62, name: "negative r", code: .badSignature) { $0.signatureTransform = { _ in [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01] } },
        AssertionCase(row: 63, name: "trailing bytes after the DER signature", code: .badSignature) { $0.signatureTransform = { $0 + [0x00] } },
        AssertionCase(row: 63, name: "non-minimal INTEGER", code: .badSignature) { $0.signatureTransform = { _ in [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01] } },
        AssertionCase(row: 63, name: "BER long-form length", code: .badSignature) {
            $0.signatureTransform = { sig in [0x30, 0x81] + sig.dropFirst() }
        },
        AssertionCase(row: 63, name: "raw r||s instead of DER", code: .badSignature) {
            $0.signatureTransform = { sig in (try? P256.Signing.ECDSASignature(derRepresentation: sig)).map { Array($0.rawRepresentation) } ?? sig }
        },
        AssertionCase(row: 63, name: "an extra INTEGER in the sequence", code: .badSignature) {
            $0.signatureTransform = { sig in
                let body = Array(sig.dropFirst(2)) + [0x02, 0x01, 0x01]
                return [0x30, UInt8(body.count)] + body
            }
        },
        AssertionCase(row: 64, name: "signature by another key", code: .badSignature) { $0.signingKey = TestKey(.es256) },
        AssertionCase(row: 64, name: "authenticator data changed after signing", code: .badSignature) {
            $0.signatureTransform = { sig in sig }
            $0.authenticatorData.signCount = 9
            let signedOver = $0
            $0.signatureTransform = { _ in
                var copy = signedOver
                copy.authenticatorData.signCount = 10
                copy.signatureTransform = nil
                return copy.signature
            }
        },
        AssertionCase(row: 66, name: "PS256 signed with PKCS#1 v1.5", code: .badSignature, algorithm: .ps256) {
            $0.signingKey = TestKey(.rs256)
        },
        AssertionCase(row: 66, name: "RS256 signed with PSS", code: .badSignature, algorithm: .rs256) {
            $0.signingKey = TestKey(.ps256)
        },
        AssertionCase(row: 66, name: "EdDSA signature of 63 bytes", code: .badSignature, algorithm: .edDSA) { $0.signatureTransform = { Array($0.dropLast()) } },
        AssertionCase(row: 106, name: "credential not in allowCredentials", code: .credentialIDMismatch,
                      expectations: {
                          var e = Fixtures.authenticationExpectations()
                          e.allowedCredentialIDs = [[9, 9, 9]]
                          return e
                      }()) { _ in },
        AssertionCase(row: 107, name: "response names another credential than the stored one", code: .credentialIDMismatch) { $0.credentialID = [7, 7, 7] },
        AssertionCase(row: 109, name: "userHandle of another user", code: .userHandleMismatch) { $0.userHandle = Array("user-2".utf8) },
        AssertionCase(row: 110, name: "discoverable sign-in without userHandle", code: .userHandleMismatch,
                      expectations: Fixtures.authenticationExpectations(requireUserHandle: true)) { $0.userHandle = nil },
        AssertionCase(row: 110, name: "discoverable sign-in with an empty userHandle", code: .userHandleMismatch,
                      expectations: Fixtures.authenticationExpectations(requireUserHandle: true)) { $0.userHandle = [] },
    ]

    @Test(arguments: cases)
    func refusesWithTheRightCode(_ testCase: AssertionCase) async throws {
        try await testCase.run()
    }

    @Test func syncedPasskeysWithZeroCountersAreAccepted() throws {  // row 53
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        var assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration, signCount: 0)
        assertion.authenticatorData.flags.formUnion([.backupEligible, .backedUp])
        let result = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration, signCount: 0, backupEligible: true))
        #expect(result.newSignCount == 0)
        #expect(result.backedUp)
    }

    @Test func theAssertedCounterIsReportedNotStoredPlusOne() throws {  // row 54
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        let assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration, signCount: 1000)
        #expect(try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration, signCount: 7)).newSignCount == 1000)
    }

    @Test func aChangeOfBackupEligibilityCanBeReportedInsteadOfRefused() throws {  // row 51, policy
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        var assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration)
        assertion.authenticatorData.flags.insert(.backupEligible)
        var expectations = Fixtures.authenticationExpectations()
        expectations.refuseBackupEligibilityChange = false
        let result = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration), expectations: expectations)
        #expect(result.backupEligibilityChanged)
    }

    @Test func nonDiscoverableSignInWithoutUserHandleIsAccepted() throws {  // row 112
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        var assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration)
        assertion.userHandle = nil
        _ = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration))
    }

    @Test func unsolicitedExtensionOutputsAreDecodedAndIgnored() throws {  // row 113, 115
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        var assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration)
        assertion.authenticatorData.flags.insert(.extensionData)
        assertion.authenticatorData.extensions = CBOREncoder.encode(.map(CBORMap([(.text("largeBlob"), .bytes(Array(repeating: 1, count: 64)))])))
        let result = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration))
        #expect(result.authenticatorExtensions?[text: "largeBlob"] != nil)
    }

    @Test func aStoredKeyThatNoLongerValidatesFailsTheAssertion() {  // row 61
        var key = TestKey(.es256).coseKey
        key = (try? CBORDecoder.decode(COSEKeyEdits.replacing(key, label: -2, with: .bytes(Array(repeating: 0, count: 32))))) ?? key
        #expect(throws: WebAuthnError.self) { try CredentialPublicKey(cose: key) }
    }
}
