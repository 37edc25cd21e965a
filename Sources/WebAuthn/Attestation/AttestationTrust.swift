import CBOR
import Foundation
import SwiftASN1
// The validation time is the verifier's clock (a fixed one in tests), so expiry is checked at that
// time: swift-certificates offers this through its FixedExpiryValidationTime interface.
@_spi(FixedExpiryValidationTime) import X509

/// The trust decision about a verified attestation, separate from verifying it (§7.1 steps 24–25).
///
/// An attestation is trusted only when its certificate path validates (RFC 5280, swift-certificates)
/// at the time the caller passes in to an anchor the operator supplied, or to an attestation root the
/// FIDO Metadata Service lists for the credential's AAGUID. An anchor may be a root, an intermediate or
/// the attestation certificate itself. A self-signed certificate inside x5c is never an anchor: x5c only
/// ever supplies intermediates. Validity periods matter here, and only here.
public struct AttestationTrust: Sendable {
    /// Anchors that apply to every authenticator.
    public var anchors: [X509CertificateBox]
    /// A verified FIDO MDS BLOB, whose per-AAGUID roots and status reports are used when present.
    public var metadata: MetadataBLOB?
    /// Whether a statement signed with SHA-1 (the RS1 that Windows Hello and firmware TPMs use for
    /// `certInfo`) can be trusted. Such a statement is valid either way (WebAuthn §8.3 verifies `sig`
    /// with whatever `alg` names); this only decides trust.
    public var trustsSHA1Statements: Bool

    /// Trust nothing.
    public static let none = AttestationTrust(anchors: [], metadata: nil)

    /// Creates a trust configuration.
    public init(anchors: [X509CertificateBox], metadata: MetadataBLOB? = nil, trustsSHA1Statements: Bool = true) {
        self.anchors = anchors
        self.metadata = metadata
        self.trustsSHA1Statements = trustsSHA1Statements
    }

    /// The anchors that apply to one AAGUID.
    func anchors(for aaguid: AAGUID) -> [X509CertificateBox] {
        var result = anchors
        if aaguid != .zero, let entry = metadata?.entries[aaguid] { result += entry.attestationRoots }
        return result
    }

    /// Refuses an authenticator model that metadata reports as compromised or revoked.
    func checkStatus(of aaguid: AAGUID) throws {
        if let entry = metadata?.entries[aaguid], let status = entry.compromisingStatus {
            throw WebAuthnError(.authenticatorRevoked, "metadata reports \(aaguid) as \(status)")
        }
    }

    /// Whether the statement's certificate path (or, for compound, any sub-statement's) reaches an anchor.
    func isTrusted(_ result: AttestationStatementResult, aaguid: AAGUID, at now: Date) async -> Bool {
        if !result.subStatements.isEmpty {
            for sub in result.subStatements where await isTrusted(sub.result, aaguid: aaguid, at: now) { return true }
            return false
        }
        if result.signedWithSHA1, !trustsSHA1Statements { return false }
        guard let leaf = result.trustPath.first else { return false }
        let roots = anchors(for: aaguid)
        guard !roots.isEmpty else { return false }
        return await Self.validate(leaf: leaf, intermediates: Array(result.trustPath.dropFirst()), anchors: roots, at: now)
    }

    /// RFC 5280 path validation of `leaf` through `intermediates` to one of `anchors`, at `now`.
    static func validate(leaf: X509CertificateBox, intermediates: [X509CertificateBox], anchors: [X509CertificateBox], at now: Date) async -> Bool {
        // An anchor that is the attestation certificate itself pins it: it is trusted while valid.
        // (RFC 5280 path validation would demand that a one-certificate path's anchor be a CA.)
        if anchors.contains(where: { $0.der == leaf.der }) {
            return leaf.certificate.notValidBefore <= now && now <= leaf.certificate.notValidAfter
        }
        var verifier = Verifier(rootCertificates: CertificateStore(anchors.map(\.certificate))) {
            RFC5280Policy(fixedExpiryValidationTime: now)
            AttestationChainPolicy()
        }
        let result = await verifier.validate(leaf: leaf.certificate, intermediates: CertificateStore(intermediates.map(\.certificate)))
        if case .validCertificate = result { return true }
        return false
    }
}

/// Extra chain rules for attestation paths: no SHA-1 signatures below the anchor, and the critical
/// extensions attestation certificates legitimately carry (the TPM SAN) count as handled.
struct AttestationChainPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.subjectAlternativeName,
        .X509ExtensionID.extendedKeyUsage,
    ]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        // Every signature made below the anchor must not use SHA-1 (the anchor's own self-signature
        // is not relied upon).
        for certificate in chain.dropLast() where certificate.signatureAlgorithm == .sha1WithRSAEncryption {
            return .failsToMeetPolicy(reason: "a certificate in the attestation path is signed with SHA-1")
        }
        return .meetsPolicy
    }
}
