import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// Typed options encode to the Level 3 JSON the browser parses, and their expectations are what a
/// response to them is verified against.
@Suite struct CeremonyOptionsTests {
    static let rp = Fixtures.relyingParty()

    static func creation(exclude: [PublicKeyCredentialDescriptor] = [], hints: [PublicKeyCredentialHint] = []) -> PublicKeyCredentialCreationOptions {
        PublicKeyCredentialCreationOptions(
            relyingParty: rp, relyingPartyName: "Example", userHandle: [1, 2, 3], userName: "alice", userDisplayName: "Alice",
            challenge: Fixtures.challenge, algorithms: [.es256, .rs256], timeoutMilliseconds: 300_000, excludeCredentials: exclude,
            hints: hints)
    }

    @Test func creationOptionsEncodeToTheLevel3JSON() {
        let json = StrictJSON.serialize(Self.creation(exclude: [PublicKeyCredentialDescriptor(id: [9, 9], transports: [.usb])], hints: [.securityKey]).json)
        #expect(json == #"{"rp":{"id":"example.org","name":"Example"},"user":{"id":"AQID","name":"alice","displayName":"Alice"},"#
            + #""challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","pubKeyCredParams":[{"type":"public-key","alg":-7},{"type":"public-key","alg":-257}],"#
            + #""timeout":300000,"excludeCredentials":[{"type":"public-key","id":"CQk","transports":["usb"]}],"#
            + #""authenticatorSelection":{"residentKey":"required","requireResidentKey":true,"userVerification":"required"},"#
            + #""attestation":"none","extensions":{"credProps":true},"hints":["security-key"]}"#)
    }

    @Test func requestOptionsEncodeToTheLevel3JSON() {
        let options = PublicKeyCredentialRequestOptions(
            challenge: [1], relyingParty: Self.rp, timeoutMilliseconds: 1000, allowCredentials: [PublicKeyCredentialDescriptor(id: [2])],
            userVerification: .preferred)
        #expect(StrictJSON.serialize(options.json)
            == #"{"challenge":"AQ","timeout":1000,"rpId":"example.org","allowCredentials":[{"type":"public-key","id":"Ag"}],"userVerification":"preferred"}"#)
    }

    @Test func aRegistrationAnsweringTheOptionsVerifiesAgainstTheirExpectations() async throws {
        let options = Self.creation()
        let fixture = Fixtures.authenticator.registration(challenge: options.challenge)
        let verified = try await Fixtures.verifyRegistration(fixture, expectations: options.expectations())
        #expect(verified.algorithm == .es256)

        // Another ceremony's challenge, an algorithm not offered, an excluded credential: refused.
        var other = options
        other.challenge = Array(repeating: 7, count: 32)
        await expectCode(.challengeMismatch) { _ = try await Fixtures.verifyRegistration(fixture, expectations: other.expectations()) }
        var rsaOnly = options
        rsaOnly.algorithms = [.rs256]
        await expectCode(.unsupportedAlgorithm) { _ = try await Fixtures.verifyRegistration(fixture, expectations: rsaOnly.expectations()) }
        let excluding = Self.creation(exclude: [PublicKeyCredentialDescriptor(id: fixture.credentialID)])
        #expect(excluding.expectations().excludedCredentialIDs == [fixture.credentialID])
        await #expect(throws: (any Error).self) { _ = try await Fixtures.verifyRegistration(fixture, expectations: excluding.expectations()) }
    }

    @Test func requestExpectationsFollowTheAllowList() throws {
        let discoverable = PublicKeyCredentialRequestOptions(challenge: Fixtures.challenge, relyingParty: Self.rp)
        #expect(discoverable.expectations().requireUserHandle)
        #expect(discoverable.expectations().allowedCredentialIDs.isEmpty)
        let listed = PublicKeyCredentialRequestOptions(challenge: Fixtures.challenge, relyingParty: Self.rp, allowCredentials: [.init(id: [5])])
        #expect(!listed.expectations().requireUserHandle)
        #expect(listed.expectations().allowedCredentialIDs == [[5]])

        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        let assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration)
        _ = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration), expectations: discoverable.expectations())
    }

    @Test func vocabulariesParseTheirOwnSpellingsOnly() {
        for value in ResidentKeyRequirement.allCases { #expect(ResidentKeyRequirement(rawValue: value.rawValue) == value) }
        for value in AttestationConveyancePreference.allCases { #expect(AttestationConveyancePreference(rawValue: value.rawValue) == value) }
        #expect(ResidentKeyRequirement(rawValue: "Required") == nil)
        #expect(AttestationConveyancePreference(rawValue: "") == nil)
    }
}
