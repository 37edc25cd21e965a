import CBOR
import Crypto
import CryptoExtras
import Foundation
import PortcullisTesting
import SwiftASN1
import Testing
import WebAuthn
import X509

@Suite struct TrustTests {
    static let pki = Fixtures.pki
    static let aaguid = Fixtures.authenticator.aaguid

    func packed(_ options: AttestationFixture.PackedOptions = .init(), pki: TestPKI = Fixtures.pki) -> RegistrationFixture {
        Fixtures.authenticator.registration(challenge: Fixtures.challenge, attestation: .packed(pki: pki, options: options))
    }

    @Test func theAttestationCertificateItselfCanBeTheAnchor() async throws {
        // Issue a fixed leaf, then anchor exactly that certificate.
        let key = TestKey(.es256)
        let leaf = Self.pki.issue(subject: TestPKI.attestationSubject(), publicKey: key.certificatePublicKey)
        let fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge, attestation: AttestationFixture(format: "packed") { input in
            .map(CBORMap([(.text("alg"), .int(-7)), (.text("sig"), .bytes(key.sign(input.signedData))), (.text("x5c"), .array([.bytes(leaf.der)]))]))
        })
        #expect(try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [leaf])).trusted)
        #expect(try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [Self.pki.intermediate])).trusted)
        #expect(try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [TestPKI().root])).trusted == false)
    }

    @Test func chromesExplicitDefaultBasicConstraintsAreToleratedForTheCAFlagOnly() async throws {  // row 85
        var options = AttestationFixture.PackedOptions()
        options.explicitDefaultBasicConstraints = true
        let result = try await Fixtures.verifyRegistration(packed(options))
        #expect(result.attestationType == .basic)
        // Any other malformed basicConstraints is still refused.
        let malformed = Fixtures.authenticator.registration(challenge: Fixtures.challenge, attestation: AttestationFixture(format: "packed") { input in
            let key = TestKey(.es256)
            let leaf = Fixtures.pki.issue(
                subject: TestPKI.attestationSubject(), publicKey: key.certificatePublicKey,
                extensions: [Certificate.Extension(oid: .X509ExtensionID.basicConstraints, critical: true, value: [0x30, 0x03, 0x01, 0x01, 0x01, 0x00])])
            return .map(CBORMap([(.text("alg"), .int(-7)), (.text("sig"), .bytes(key.sign(input.signedData))), (.text("x5c"), .array([.bytes(leaf.der)]))]))
        })
        await expectCode(.attestationInvalid) { _ = try await Fixtures.verifyRegistration(malformed) }
    }

    @Test func aChainWithoutItsRootReachesAConfiguredRoot() async throws {  // row 73
        var options = AttestationFixture.PackedOptions()
        options.includeIntermediate = true
        #expect(try await Fixtures.verifyRegistration(packed(options), trust: AttestationTrust(anchors: [Self.pki.root])).trusted)
    }

    @Test func aMissingIntermediateMeansUntrusted() async throws {
        var options = AttestationFixture.PackedOptions()
        options.includeIntermediate = false
        #expect(try await Fixtures.verifyRegistration(packed(options), trust: AttestationTrust(anchors: [Self.pki.root])).trusted == false)
    }

    @Test func validityMattersForTrustOnly() async throws {  // row 74
        var options = AttestationFixture.PackedOptions()
        options.notValidAfter = FixedClock.now.addingTimeInterval(-1)
        let fixture = packed(options)
        let result = try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [Self.pki.root]))
        #expect(result.trusted == false)
        #expect(result.attestationType == .basic)
        let earlier = try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [Self.pki.root]), at: FixedClock.now.addingTimeInterval(-86400))
        #expect(earlier.trusted)
    }

    @Test func anIntermediateWithoutCAIsNotAPath() async throws {  // row 75
        // A "CA" that is a leaf (CA=false) issues the attestation certificate.
        let fakeCAKey = TestKey(.es256)
        let fakeCA = Self.pki.issue(subject: (try? DistinguishedName { CommonName("Not a CA") }) ?? DistinguishedName(), publicKey: fakeCAKey.certificatePublicKey)
        let attestationKey = TestKey(.es256)
        let leaf = try X509CertificateBox(try Certificate(
            version: .v3, serialNumber: .init(), publicKey: attestationKey.certificatePublicKey,
            notValidBefore: FixedClock.certificatesValidFrom, notValidAfter: FixedClock.certificatesValidUntil,
            issuer: fakeCA.certificate.subject, subject: TestPKI.attestationSubject(), signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions([try Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true)]),
            issuerPrivateKey: fakeCAKey.certificatePrivateKey))
        let fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge, attestation: AttestationFixture(format: "packed") { input in
            .map(CBORMap([(.text("alg"), .int(-7)), (.text("sig"), .bytes(attestationKey.sign(input.signedData))),
                          (.text("x5c"), .array([.bytes(leaf.der), .bytes(fakeCA.der), .bytes(Self.pki.intermediate.der)]))]))
        })
        #expect(try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [Self.pki.root])).trusted == false)
    }

    @Test(arguments: [(Certificate.SignatureAlgorithm.sha1WithRSAEncryption, false), (.sha256WithRSAEncryption, true)])
    func sha1SignedChainsAreNotTrusted(algorithm: Certificate.SignatureAlgorithm, trusted: Bool) async throws {  // row 76
        let rootKey = TestKey(.rs256)
        let rootName = try DistinguishedName { CommonName("Legacy TPM Root") }
        let root = try X509CertificateBox(try Certificate(
            version: .v3, serialNumber: .init(), publicKey: rootKey.certificatePublicKey,
            notValidBefore: FixedClock.certificatesValidFrom, notValidAfter: FixedClock.certificatesValidUntil,
            issuer: rootName, subject: rootName, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions([try Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: true)]),
            issuerPrivateKey: rootKey.certificatePrivateKey))
        let attestationKey = TestKey(.es256)
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: attestationKey.certificatePublicKey,
            notValidBefore: FixedClock.certificatesValidFrom, notValidAfter: FixedClock.certificatesValidUntil,
            issuer: rootName, subject: TestPKI.attestationSubject(), signatureAlgorithm: algorithm,
            extensions: try Certificate.Extensions([try Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: true)]),
            issuerPrivateKey: rootKey.certificatePrivateKey)
        let leafBox = try X509CertificateBox(leaf)
        let fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge, attestation: AttestationFixture(format: "packed") { input in
            .map(CBORMap([(.text("alg"), .int(-7)), (.text("sig"), .bytes(attestationKey.sign(input.signedData))), (.text("x5c"), .array([.bytes(leafBox.der)]))]))
        })
        #expect(try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [root])).trusted == trusted)
    }

    @Test func metadataRootsAnchorOnlyTheirOwnAAGUID() async throws {  // rows 77, 79
        let vendor = TestPKI(name: "Vendor")
        let blob = MetadataBLOBFixture.make(pki: Self.pki, entries: [
            .init(aaguid: Self.aaguid, roots: [vendor.intermediate]),  // an intermediate as the anchor
            .init(aaguid: AAGUID(bytes: Array(repeating: 0x77, count: 16)), roots: [TestPKI(name: "Other").root]),
        ])
        let metadata = try await MetadataBLOB(jws: blob, roots: [Self.pki.root], at: FixedClock.now)
        #expect(metadata.number == 42)
        #expect(metadata.entries.count == 2)
        let fixture = packed(pki: vendor)
        #expect(try await Fixtures.verifyRegistration(fixture, trust: AttestationTrust(anchors: [], metadata: metadata)).trusted)

        // The same vendor chain under another AAGUID is not anchored by that entry.
        var other = Fixtures.authenticator
        other.aaguid = AAGUID(bytes: Array(repeating: 0x77, count: 16))
        let otherFixture = other.registration(challenge: Fixtures.challenge, attestation: .packed(pki: vendor))
        #expect(try await Fixtures.verifyRegistration(otherFixture, trust: AttestationTrust(anchors: [], metadata: metadata)).trusted == false)
    }

    @Test(arguments: ["REVOKED", "ATTESTATION_KEY_COMPROMISE", "USER_VERIFICATION_BYPASS", "USER_KEY_REMOTE_COMPROMISE", "USER_KEY_PHYSICAL_COMPROMISE"])
    func compromisedAuthenticatorsAreRefused(status: String) async throws {  // row 78
        let blob = MetadataBLOBFixture.make(pki: Self.pki, entries: [.init(aaguid: Self.aaguid, roots: [Self.pki.root], statuses: ["FIDO_CERTIFIED", status])])
        let metadata = try await MetadataBLOB(jws: blob, roots: [Self.pki.root], at: FixedClock.now)
        await expectCode(.authenticatorRevoked) {
            _ = try await Fixtures.verifyRegistration(packed(), trust: AttestationTrust(anchors: [], metadata: metadata))
        }
    }

    @Test func aBLOBMustVerify() async throws {
        let good = MetadataBLOBFixture.make(pki: Self.pki, entries: [])
        await expectCode(.metadataInvalid) { _ = try await MetadataBLOB(jws: good, roots: [TestPKI().root], at: FixedClock.now) }
        let forged = MetadataBLOBFixture.make(pki: Self.pki, entries: [], corruptSignature: true)
        await expectCode(.metadataInvalid) { _ = try await MetadataBLOB(jws: forged, roots: [Self.pki.root], at: FixedClock.now) }
        await expectCode(.metadataInvalid) { _ = try await MetadataBLOB(jws: Array("a.b".utf8), roots: [Self.pki.root], at: FixedClock.now) }
        var badRoot = MetadataBLOBFixture.Entry(aaguid: Self.aaguid, roots: [])
        badRoot.rawRoots = [Data("not a certificate".utf8).base64EncodedString()]
        let withBadRoot = MetadataBLOBFixture.make(pki: Self.pki, entries: [badRoot])
        await expectCode(.metadataInvalid) { _ = try await MetadataBLOB(jws: withBadRoot, roots: [Self.pki.root], at: FixedClock.now) }
        await expectCode(.metadataInvalid) {
            _ = try await MetadataBLOB(jws: good, roots: [Self.pki.root], at: FixedClock.certificatesValidUntil.addingTimeInterval(86400))
        }
    }
}
