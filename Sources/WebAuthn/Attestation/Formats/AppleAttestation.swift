import CBOR
import Crypto
import SwiftASN1
import X509

/// §8.8 Apple Anonymous attestation.
enum AppleAttestation {
    /// The nonce extension, 1.2.840.113635.100.8.2.
    static let nonceExtension: ASN1ObjectIdentifier = [1, 2, 840, 113635, 100, 8, 2]

    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        let map = try context.map()
        try AttestationContext.requireOnly(["x5c"], in: map, format: "apple")
        let chain = try AttestationContext.certificateChain(map[text: "x5c"], format: "apple")
        let credCert = chain[0].certificate
        // nonce = SHA-256(authenticatorData || clientDataHash), found in the credCert's extension.
        let expected = CertificateChecks.sha256(context.signedData)
        guard let ext = credCert.extensions[oid: nonceExtension] else {
            throw WebAuthnError(.attestationInvalid, "apple credCert lacks the nonce extension")
        }
        let nonce: [UInt8]
        do {
            // SEQUENCE { [1] EXPLICIT OCTET STRING }
            let node = try DER.parse(ext.value)
            nonce = try DER.sequence(node, identifier: .sequence) { nodes in
                try DER.explicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { inner in
                    Array(try ASN1OctetString(derEncoded: inner).bytes)
                }
            }
        } catch {
            throw WebAuthnError(.attestationInvalid, "apple nonce extension is malformed")
        }
        guard nonce == expected else { throw WebAuthnError(.attestationInvalid, "apple nonce does not match the ceremony") }
        // The credential public key must be the credCert's subject public key.
        guard context.credentialKey.matches(certificateKey: credCert.publicKey) else {
            throw WebAuthnError(.attestationInvalid, "apple credCert key is not the credential key")
        }
        return AttestationStatementResult(type: .anonCA, trustPath: chain)
    }
}
