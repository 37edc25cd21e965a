import SwiftASN1
import CBOR
import X509

/// §8.2 Packed attestation.
enum PackedAttestation {
    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        let map = try context.map()
        // ECDAA was removed from WebAuthn; a statement carrying ecdaaKeyId is refused.
        if map[text: "ecdaaKeyId"] != nil { throw WebAuthnError(.attestationInvalid, "packed ecdaaKeyId is not supported") }
        try AttestationContext.requireOnly(["alg", "sig", "x5c"], in: map, format: "packed")
        let alg = try AttestationContext.algorithm(map, format: "packed")
        let sig = try AttestationContext.signature(map, format: "packed")

        if map[text: "x5c"] != nil {
            // §8.2 verification procedure, x5c present.
            let chain = try AttestationContext.certificateChain(map[text: "x5c"], format: "packed")
            let leaf = chain[0].certificate
            // Verify sig over authenticatorData || clientDataHash with the attestation certificate's key and alg.
            try CertificateChecks.verify(signature: sig, over: context.signedData, certificate: leaf, algorithm: alg)
            // §8.2.1 certificate requirements.
            try requirements(leaf, aaguid: context.attestedCredential.aaguid)
            return AttestationStatementResult(type: .basic, trustPath: chain)
        }
        // Self attestation: alg must be the credential key's, and sig verifies under the credential key.
        guard alg == context.credentialKey.algorithm else {
            throw WebAuthnError(.attestationInvalid, "packed self attestation alg \(alg.name) differs from the credential's \(context.credentialKey.algorithm.name)")
        }
        do { try context.credentialKey.verify(signature: sig, over: context.signedData) } catch {
            throw WebAuthnError(.attestationInvalid, "packed self attestation signature does not verify")
        }
        return AttestationStatementResult(type: .self)
    }

    /// §8.2.1 Certificate Requirements for Packed Attestation Statements.
    static func requirements(_ certificate: Certificate, aaguid: AAGUID) throws {
        try CertificateChecks.requireVersion3(certificate, format: "packed")
        let subject = certificate.subject
        let country = CertificateChecks.attributeValues(subject, ASN1ObjectIdentifier.RDNAttributeType.countryName)
        let organization = CertificateChecks.attributeValues(subject, ASN1ObjectIdentifier.RDNAttributeType.organizationName)
        let unit = CertificateChecks.attributeValues(subject, ASN1ObjectIdentifier.RDNAttributeType.organizationalUnitName)
        let common = CertificateChecks.attributeValues(subject, ASN1ObjectIdentifier.RDNAttributeType.commonName)
        guard country.count == 1, let c = country.first, c.count == 2, c.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw WebAuthnError(.attestationInvalid, "packed certificate subject lacks a two-letter C")
        }
        guard organization.count == 1, organization[0].isEmpty == false else {
            throw WebAuthnError(.attestationInvalid, "packed certificate subject lacks O")
        }
        guard unit == ["Authenticator Attestation"] else {
            throw WebAuthnError(.attestationInvalid, "packed certificate subject OU is not \"Authenticator Attestation\"")
        }
        guard common.count == 1, common[0].isEmpty == false else {
            throw WebAuthnError(.attestationInvalid, "packed certificate subject lacks CN")
        }
        try CertificateChecks.checkAAGUIDExtension(certificate, aaguid: aaguid, format: "packed")
        try CertificateChecks.requireNotCA(certificate, format: "packed", required: true)
    }
}
