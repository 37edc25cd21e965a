import CBOR
import Crypto
import Foundation
import SwiftASN1
import X509

/// Everything an attestation statement format's verification procedure receives (§6.5.2).
struct AttestationContext {
    let statement: CBORValue
    let authenticatorData: AuthenticatorData
    let attestedCredential: AttestedCredentialData
    let credentialKey: CredentialPublicKey
    let clientDataHash: [UInt8]
    /// The time the caller passed in; used only by formats that carry their own timestamp (SafetyNet).
    let now: Date

    /// authenticatorData || clientDataHash: what most formats sign.
    var signedData: [UInt8] { authenticatorData.rawBytes + clientDataHash }

    func map() throws -> CBORMap {
        guard let map = statement.map else { throw WebAuthnError(.attestationInvalid, "attStmt is not a map") }
        return map
    }

    /// Refuses members the format does not define, so nothing unverified rides along.
    static func requireOnly(_ keys: Set<String>, in map: CBORMap, format: String) throws {
        for entry in map {
            guard let key = entry.key.text, keys.contains(key) else {
                throw WebAuthnError(.attestationInvalid, "\(format) attStmt has an unexpected member")
            }
        }
    }

    /// The statement's `alg`: one this verifier implements, or one of `alsoAccepted` (the TPM format
    /// accepts RS1 for its own signature; it is never accepted for a credential key).
    static func algorithm(_ map: CBORMap, format: String, alsoAccepted: [COSEAlgorithm] = []) throws -> COSEAlgorithm {
        guard let value = map[text: "alg"]?.int64, let alg = Int(exactly: value) else {
            throw WebAuthnError(.attestationInvalid, "\(format) attStmt.alg is missing or not an integer")
        }
        let algorithm = COSEAlgorithm(rawValue: alg)
        guard COSEAlgorithm.implemented.contains(algorithm) || alsoAccepted.contains(algorithm) else {
            throw WebAuthnError(.unsupportedAlgorithm, "\(format) attStmt.alg \(alg) is not accepted")
        }
        return algorithm
    }

    static func signature(_ map: CBORMap, format: String) throws -> [UInt8] {
        guard let sig = map[text: "sig"]?.bytes, !sig.isEmpty else {
            throw WebAuthnError(.attestationInvalid, "\(format) attStmt.sig is missing or not bytes")
        }
        return sig
    }

    /// Parses x5c: a non-empty array of DER certificates, at most 8.
    static func certificateChain(_ value: CBORValue?, format: String) throws -> [X509CertificateBox] {
        guard let items = value?.array, !items.isEmpty else {
            throw WebAuthnError(.attestationInvalid, "\(format) attStmt.x5c is missing, empty or not an array")
        }
        guard items.count <= 8 else { throw WebAuthnError(.attestationInvalid, "\(format) attStmt.x5c has more than 8 certificates") }
        return try items.map {
            guard let der = $0.bytes else { throw WebAuthnError(.attestationInvalid, "\(format) x5c holds a non-bytes item") }
            return try X509CertificateBox(der: der)
        }
    }
}

/// Certificate checks that several formats share.
enum CertificateChecks {
    /// id-fido-gen-ce-aaguid (1.3.6.1.4.1.45724.1.1.4).
    static let aaguidExtension: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4]

    static func requireVersion3(_ certificate: Certificate, format: String) throws {
        guard certificate.version == .v3 else {
            throw WebAuthnError(.attestationInvalid, "\(format) attestation certificate is not X.509 version 3")
        }
    }

    /// The attestation certificate is not a CA. With `required` (packed §8.2.1, tpm §8.3.1: "The Basic
    /// Constraints extension MUST have the CA component set to false"), the extension must be present;
    /// otherwise only a CA=true is refused.
    static func requireNotCA(_ certificate: Certificate, format: String, required: Bool) throws {
        guard let ext = certificate.extensions[oid: .X509ExtensionID.basicConstraints] else {
            if required { throw WebAuthnError(.attestationInvalid, "\(format) attestation certificate has no Basic Constraints extension") }
            return
        }
        // Chrome's virtual authenticator writes basicConstraints as SEQUENCE { BOOLEAN FALSE }, spelling
        // out the DEFAULT that DER forbids encoding. Strict DER refuses it; it is tolerated here, and only
        // here, because what it says (not a CA) is exactly what is required.
        if Array(ext.value) == [0x30, 0x03, 0x01, 0x01, 0x00] { return }
        do {
            if case .isCertificateAuthority? = try certificate.extensions.basicConstraints {
                throw WebAuthnError(.attestationInvalid, "\(format) attestation certificate has CA=true")
            }
        } catch let error as WebAuthnError {
            throw error
        } catch {
            throw WebAuthnError(.attestationInvalid, "\(format) attestation certificate has malformed basic constraints")
        }
    }

    /// When the certificate has id-fido-gen-ce-aaguid, it must be non-critical and equal the AAGUID
    /// in authenticator data (§8.2.1, §8.3.1).
    static func checkAAGUIDExtension(_ certificate: Certificate, aaguid: AAGUID, format: String) throws {
        guard let ext = certificate.extensions[oid: aaguidExtension] else { return }
        guard !ext.critical else {
            throw WebAuthnError(.attestationInvalid, "\(format) certificate marks the AAGUID extension critical")
        }
        let value: ASN1OctetString
        do { value = try ASN1OctetString(derEncoded: ext.value) } catch {
            throw WebAuthnError(.attestationInvalid, "\(format) certificate AAGUID extension is not an OCTET STRING")
        }
        guard Array(value.bytes) == aaguid.bytes else {
            throw WebAuthnError(.attestationInvalid, "\(format) certificate AAGUID extension differs from the authenticator data AAGUID")
        }
    }

    /// The string values of one attribute type in a distinguished name.
    static func attributeValues(_ name: DistinguishedName, _ type: ASN1ObjectIdentifier) -> [String] {
        var values: [String] = []
        for rdn in name {
            for attribute in rdn where attribute.type == type {
                values.append(String(describing: attribute.value))
            }
        }
        return values
    }

    /// Verifies a signature made with a certificate's key under the statement's `alg`.
    static func verify(signature: [UInt8], over data: [UInt8], certificate: Certificate, algorithm: COSEAlgorithm) throws {
        let key = try CredentialPublicKey(certificateKey: certificate.publicKey, algorithm: algorithm)
        try key.verify(signature: signature, over: data)
    }

    static func sha256(_ data: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: data)) }
}
