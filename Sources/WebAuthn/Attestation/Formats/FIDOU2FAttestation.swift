import CBOR
import Crypto
import X509

/// §8.6 FIDO U2F attestation.
enum FIDOU2FAttestation {
    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        let map = try context.map()
        try AttestationContext.requireOnly(["sig", "x5c"], in: map, format: "fido-u2f")
        let sig = try AttestationContext.signature(map, format: "fido-u2f")
        let chain = try AttestationContext.certificateChain(map[text: "x5c"], format: "fido-u2f")
        // x5c must hold exactly one certificate, whose key is an EC P-256 key.
        guard chain.count == 1 else { throw WebAuthnError(.attestationInvalid, "fido-u2f x5c must hold exactly one certificate") }
        guard P256.Signing.PublicKey(chain[0].certificate.publicKey) != nil else {
            throw WebAuthnError(.attestationInvalid, "fido-u2f attestation key is not P-256")
        }
        // §8.6 does not constrain the AAGUID (the specification's own fido-u2f test vector carries a
        // non-zero one), so none is required here; a U2F statement's AAGUID is never evidence of a model.
        // The credential key must be an EC2 P-256 key; publicKeyU2F = 0x04 || x || y.
        guard context.credentialKey.algorithm == .es256, let x = context.credentialKey.components["x"], let y = context.credentialKey.components["y"] else {
            throw WebAuthnError(.attestationInvalid, "fido-u2f credential key is not ES256")
        }
        let verificationData: [UInt8] = [0x00] + Array(context.authenticatorData.rpIDHash) + context.clientDataHash
            + context.attestedCredential.credentialID + [0x04] + x + y
        try CertificateChecks.verify(signature: sig, over: verificationData, certificate: chain[0].certificate, algorithm: .es256)
        return AttestationStatementResult(type: .basic, trustPath: chain)
    }
}
