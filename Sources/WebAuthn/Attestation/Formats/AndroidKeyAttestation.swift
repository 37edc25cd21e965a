import CBOR
import SwiftASN1
import X509

/// §8.4 Android Key attestation.
enum AndroidKeyAttestation {
    /// The key attestation extension, 1.3.6.1.4.1.11129.2.1.17.
    static let keyDescriptionExtension: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 11129, 2, 1, 17]

    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        let map = try context.map()
        try AttestationContext.requireOnly(["alg", "sig", "x5c"], in: map, format: "android-key")
        let alg = try AttestationContext.algorithm(map, format: "android-key")
        let sig = try AttestationContext.signature(map, format: "android-key")
        let chain = try AttestationContext.certificateChain(map[text: "x5c"], format: "android-key")
        let leaf = chain[0].certificate
        // Verify sig over authenticatorData || clientDataHash with the first certificate's key and alg.
        try CertificateChecks.verify(signature: sig, over: context.signedData, certificate: leaf, algorithm: alg)
        // The credential public key must be the first certificate's public key.
        guard context.credentialKey.matches(certificateKey: leaf.publicKey) else {
            throw WebAuthnError(.attestationInvalid, "android-key certificate key is not the credential key")
        }
        guard let ext = leaf.extensions[oid: keyDescriptionExtension] else {
            throw WebAuthnError(.attestationInvalid, "android-key certificate lacks the key description extension")
        }
        let description = try KeyDescription(der: ext.value)
        // attestationChallenge must be the clientDataHash.
        guard description.attestationChallenge == context.clientDataHash else {
            throw WebAuthnError(.attestationInvalid, "android-key attestationChallenge is not the clientDataHash")
        }
        // allApplications must be absent from both lists: the key must be scoped to the RP.
        guard !description.softwareEnforced.allApplications, !description.teeEnforced.allApplications else {
            throw WebAuthnError(.attestationInvalid, "android-key key is usable by all applications")
        }
        // origin and purpose, from the union of teeEnforced and softwareEnforced.
        let origins = [description.teeEnforced.origin, description.softwareEnforced.origin].compactMap { $0 }
        guard !origins.isEmpty, origins.allSatisfy({ $0 == 0 }) else {  // KM_ORIGIN_GENERATED
            throw WebAuthnError(.attestationInvalid, "android-key key origin is not KM_ORIGIN_GENERATED")
        }
        let purposes = description.teeEnforced.purposes.union(description.softwareEnforced.purposes)
        guard purposes.contains(2) else {  // KM_PURPOSE_SIGN
            throw WebAuthnError(.attestationInvalid, "android-key key purpose does not include KM_PURPOSE_SIGN")
        }
        return AttestationStatementResult(type: .basic, trustPath: chain)
    }

    /// The parts of the KeyDescription extension that §8.4 checks.
    struct KeyDescription {
        let attestationChallenge: [UInt8]
        let softwareEnforced: AuthorizationList
        let teeEnforced: AuthorizationList

        init(der: ArraySlice<UInt8>) throws {
            do {
                let node = try DER.parse(der)
                (attestationChallenge, softwareEnforced, teeEnforced) = try DER.sequence(node, identifier: .sequence) { nodes in
                    // attestationVersion, attestationSecurityLevel, keymasterVersion, keymasterSecurityLevel:
                    // INTEGER or ENUMERATED.
                    for _ in 0..<4 {
                        guard let n = nodes.next(), n.identifier == .integer || n.identifier == .enumerated else {
                            throw WebAuthnError(.attestationInvalid, "android-key KeyDescription header is malformed")
                        }
                    }
                    let challenge = Array(try ASN1OctetString(derEncoded: &nodes).bytes)
                    _ = try ASN1OctetString(derEncoded: &nodes)  // uniqueId
                    guard let software = nodes.next(), let tee = nodes.next() else {
                        throw WebAuthnError(.attestationInvalid, "android-key KeyDescription lacks authorization lists")
                    }
                    return (challenge, try AuthorizationList(node: software), try AuthorizationList(node: tee))
                }
            } catch let error as WebAuthnError {
                throw error
            } catch {
                throw WebAuthnError(.attestationInvalid, "android-key KeyDescription is not valid DER")
            }
        }
    }

    /// An AuthorizationList: a SEQUENCE of explicitly tagged, context-specific fields in ascending tag order.
    struct AuthorizationList {
        var purposes: Set<Int> = []
        var origin: Int?
        var allApplications = false

        init(node: ASN1Node) throws {
            guard node.identifier == .sequence, case .constructed(let children) = node.content else {
                throw WebAuthnError(.attestationInvalid, "android-key AuthorizationList is not a SEQUENCE")
            }
            var lastTag: UInt = 0
            var first = true
            for child in children {
                guard child.identifier.tagClass == .contextSpecific, case .constructed(let inner) = child.content else {
                    throw WebAuthnError(.attestationInvalid, "android-key AuthorizationList holds an untagged field")
                }
                let tag = child.identifier.tagNumber
                guard first || tag > lastTag else {
                    throw WebAuthnError(.attestationInvalid, "android-key AuthorizationList tags are repeated or out of order")
                }
                first = false
                lastTag = tag
                var innerIterator = inner.makeIterator()
                guard let value = innerIterator.next(), innerIterator.next() == nil else {
                    throw WebAuthnError(.attestationInvalid, "android-key AuthorizationList field \(tag) is not one explicit value")
                }
                switch tag {
                case 1:  // purpose: SET OF INTEGER
                    guard value.identifier == .set, case .constructed(let members) = value.content else {
                        throw WebAuthnError(.attestationInvalid, "android-key purpose is not a SET")
                    }
                    for member in members { purposes.insert(try Int(derEncoded: member)) }
                case 600:  // allApplications: NULL
                    allApplications = true
                case 702:  // origin: INTEGER
                    origin = try Int(derEncoded: value)
                default:
                    continue
                }
            }
        }
    }
}
