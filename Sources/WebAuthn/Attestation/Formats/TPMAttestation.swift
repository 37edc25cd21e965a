import CBOR
import Crypto
import SwiftASN1
import X509

/// §8.3 TPM attestation.
enum TPMAttestation {
    static let generatedValue: UInt32 = 0xFF54_4347  // TPM_GENERATED_VALUE
    static let attestCertify: UInt16 = 0x8017  // TPM_ST_ATTEST_CERTIFY
    static let aikCertificateEKU: ASN1ObjectIdentifier = [2, 23, 133, 8, 3]  // tcg-kp-AIKCertificate
    static let tpmManufacturer: ASN1ObjectIdentifier = [2, 23, 133, 2, 1]
    static let tpmModel: ASN1ObjectIdentifier = [2, 23, 133, 2, 2]
    static let tpmVersion: ASN1ObjectIdentifier = [2, 23, 133, 2, 3]

    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        let map = try context.map()
        if map[text: "ecdaaKeyId"] != nil { throw WebAuthnError(.attestationInvalid, "tpm ecdaaKeyId is not supported") }
        try AttestationContext.requireOnly(["ver", "alg", "x5c", "sig", "certInfo", "pubArea"], in: map, format: "tpm")
        // ver must be "2.0".
        guard map[text: "ver"]?.text == "2.0" else { throw WebAuthnError(.attestationInvalid, "tpm ver is not \"2.0\"") }
        // §8.3 verifies sig with alg and extraData with alg's hash. The algorithms offered for the
        // credential key (§7.1 step 20) do not apply here: Windows Hello and firmware TPMs sign with RS1.
        let alg = try AttestationContext.algorithm(map, format: "tpm", alsoAccepted: [.rs1])
        let sig = try AttestationContext.signature(map, format: "tpm")
        let chain = try AttestationContext.certificateChain(map[text: "x5c"], format: "tpm")
        guard let certInfoBytes = map[text: "certInfo"]?.bytes, let pubAreaBytes = map[text: "pubArea"]?.bytes else {
            throw WebAuthnError(.attestationInvalid, "tpm certInfo or pubArea is missing")
        }
        let pubArea = try PublicArea(bytes: pubAreaBytes)
        // The key in pubArea's parameters and unique must be the credential public key.
        try pubArea.requireMatches(context.credentialKey)

        let certInfo = try AttestInfo(bytes: certInfoBytes)
        // magic is TPM_GENERATED_VALUE and type is TPM_ST_ATTEST_CERTIFY.
        guard certInfo.magic == generatedValue else { throw WebAuthnError(.attestationInvalid, "tpm certInfo.magic is not TPM_GENERATED_VALUE") }
        guard certInfo.type == attestCertify else { throw WebAuthnError(.attestationInvalid, "tpm certInfo.type is not TPM_ST_ATTEST_CERTIFY") }
        // extraData is the hash of attToBeSigned (authenticatorData || clientDataHash) under alg's hash.
        guard certInfo.extraData == hash(context.signedData, for: alg) else {
            throw WebAuthnError(.attestationInvalid, "tpm certInfo.extraData is not the hash of attToBeSigned")
        }
        // attested.name is nameAlg || H_nameAlg(pubArea).
        guard let nameDigest = nameHash(pubAreaBytes, nameAlg: pubArea.nameAlg) else {
            throw WebAuthnError(.attestationInvalid, "tpm pubArea.nameAlg is not SHA-256, SHA-384 or SHA-512")
        }
        let expectedName = [UInt8(pubArea.nameAlg >> 8), UInt8(pubArea.nameAlg & 0xFF)] + nameDigest
        guard certInfo.attestedName == expectedName else {
            throw WebAuthnError(.attestationInvalid, "tpm certInfo.attested.name is not the name of pubArea")
        }
        // sig is a valid signature over certInfo with the AIK certificate's key and alg.
        let aik = chain[0].certificate
        try CertificateChecks.verify(signature: sig, over: certInfoBytes, certificate: aik, algorithm: alg)
        // §8.3.1 AIK certificate requirements.
        try aikRequirements(aik, aaguid: context.attestedCredential.aaguid)
        return AttestationStatementResult(type: .attCA, trustPath: chain, signedWithSHA1: alg == .rs1)
    }

    static func hash(_ data: [UInt8], for alg: COSEAlgorithm) -> [UInt8] {
        switch alg {
        case .es384, .rs384, .ps384: Array(SHA384.hash(data: data))
        case .es512, .rs512, .ps512: Array(SHA512.hash(data: data))
        case .edDSA, .ed25519: Array(SHA512.hash(data: data))
        case .rs1: Array(Insecure.SHA1.hash(data: data))
        default: Array(SHA256.hash(data: data))
        }
    }

    static func nameHash(_ data: [UInt8], nameAlg: UInt16) -> [UInt8]? {
        switch nameAlg {
        case 0x000B: Array(SHA256.hash(data: data))
        case 0x000C: Array(SHA384.hash(data: data))
        case 0x000D: Array(SHA512.hash(data: data))
        default: nil
        }
    }

    /// §8.3.1 TPM Attestation Statement Certificate Requirements.
    static func aikRequirements(_ certificate: Certificate, aaguid: AAGUID) throws {
        try CertificateChecks.requireVersion3(certificate, format: "tpm")
        // Subject must be empty.
        guard certificate.subject.isEmpty else { throw WebAuthnError(.attestationInvalid, "tpm AIK certificate subject is not empty") }
        // Subject Alternative Name as in the TPM EK profile §3.2.9: critical (the subject is empty),
        // a directoryName with manufacturer, model and version (possibly split over several RDNs).
        guard let sanExtension = certificate.extensions[oid: .X509ExtensionID.subjectAlternativeName] else {
            throw WebAuthnError(.attestationInvalid, "tpm AIK certificate lacks a Subject Alternative Name")
        }
        guard sanExtension.critical else { throw WebAuthnError(.attestationInvalid, "tpm AIK certificate SAN is not critical") }
        let names: SubjectAlternativeNames
        do { names = try SubjectAlternativeNames(sanExtension) } catch {
            throw WebAuthnError(.attestationInvalid, "tpm AIK certificate SAN is malformed")
        }
        var found = false
        for name in names {
            guard case .directoryName(let dn) = name else { continue }
            let manufacturer = CertificateChecks.attributeValues(dn, tpmManufacturer)
            let model = CertificateChecks.attributeValues(dn, tpmModel)
            let version = CertificateChecks.attributeValues(dn, tpmVersion)
            if manufacturer.count == 1, model.count == 1, version.count == 1, manufacturer[0].hasPrefix("id:") { found = true }
        }
        guard found else {
            throw WebAuthnError(.attestationInvalid, "tpm AIK certificate SAN lacks tcg-at-tpmManufacturer, tpmModel or tpmVersion")
        }
        // Extended Key Usage must contain tcg-kp-AIKCertificate.
        let eku: ExtendedKeyUsage?
        do { eku = try certificate.extensions.extendedKeyUsage } catch {
            throw WebAuthnError(.attestationInvalid, "tpm AIK certificate EKU is malformed")
        }
        guard let eku, eku.contains(ExtendedKeyUsage.Usage(oid: aikCertificateEKU)) else {
            throw WebAuthnError(.attestationInvalid, "tpm AIK certificate EKU lacks 2.23.133.8.3")
        }
        try CertificateChecks.requireNotCA(certificate, format: "tpm", required: true)
        try CertificateChecks.checkAAGUIDExtension(certificate, aaguid: aaguid, format: "tpm")
    }

    /// A big-endian reader that refuses to read past the end.
    struct Reader {
        var bytes: ArraySlice<UInt8>
        let what: String

        mutating func u8() throws -> UInt8 {
            guard let b = bytes.popFirst() else { throw truncated() }
            return b
        }
        mutating func u16() throws -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }
        mutating func u32() throws -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }
        mutating func u64() throws -> UInt64 { UInt64(try u32()) << 32 | UInt64(try u32()) }
        mutating func take(_ count: Int) throws -> [UInt8] {
            guard bytes.count >= count else { throw truncated() }
            defer { bytes = bytes.dropFirst(count) }
            return Array(bytes.prefix(count))
        }
        /// A TPM2B: a 16-bit size then that many bytes.
        mutating func sized() throws -> [UInt8] { try take(Int(try u16())) }
        func end() throws {
            guard bytes.isEmpty else { throw WebAuthnError(.attestationInvalid, "tpm \(what) has \(bytes.count) trailing bytes") }
        }
        func truncated() -> WebAuthnError { WebAuthnError(.attestationInvalid, "tpm \(what) is truncated") }
    }

    /// TPMT_PUBLIC (TPM 2.0 Part 2 §12.2.4), for RSA and ECC keys.
    struct PublicArea {
        enum Key {
            case rsa(modulus: [UInt8], exponent: UInt32)
            case ecc(curve: UInt16, x: [UInt8], y: [UInt8])
        }
        let nameAlg: UInt16
        let key: Key

        static let algNull: UInt16 = 0x0010

        init(bytes: [UInt8]) throws {
            var r = Reader(bytes: bytes[...], what: "pubArea")
            let type = try r.u16()
            nameAlg = try r.u16()
            _ = try r.u32()  // objectAttributes
            _ = try r.sized()  // authPolicy
            // TPMT_SYM_DEF_OBJECT: an algorithm, then key bits and mode unless it is TPM_ALG_NULL.
            func symmetric() throws {
                if try r.u16() != Self.algNull { _ = try r.u16(); _ = try r.u16() }
            }
            // A scheme: an algorithm, then a hash algorithm unless it is TPM_ALG_NULL.
            func scheme() throws {
                if try r.u16() != Self.algNull { _ = try r.u16() }
            }
            switch type {
            case 0x0001:  // TPM_ALG_RSA
                try symmetric()
                try scheme()
                _ = try r.u16()  // keyBits
                let exponent = try r.u32()
                let modulus = try r.sized()
                key = .rsa(modulus: modulus, exponent: exponent == 0 ? 65537 : exponent)
            case 0x0023:  // TPM_ALG_ECC
                try symmetric()
                try scheme()
                let curve = try r.u16()
                try scheme()  // kdf
                let x = try r.sized()
                let y = try r.sized()
                key = .ecc(curve: curve, x: x, y: y)
            default:
                throw WebAuthnError(.attestationInvalid, "tpm pubArea.type \(type) is neither RSA nor ECC")
            }
            try r.end()
        }

        func requireMatches(_ credentialKey: CredentialPublicKey) throws {
            let components = credentialKey.components
            switch key {
            case .rsa(let modulus, let exponent):
                var e: [UInt8] = []
                var value = exponent
                while value > 0 { e.insert(UInt8(value & 0xFF), at: 0); value >>= 8 }
                guard let n = components["n"], n == Array(modulus.drop(while: { $0 == 0 })), components["e"] == e else {
                    throw WebAuthnError(.attestationInvalid, "tpm pubArea RSA key is not the credential key")
                }
            case .ecc(let curve, let x, let y):
                let expectedCurve: UInt16? = switch credentialKey.algorithm {
                case .es256: 0x0003
                case .es384: 0x0004
                case .es512: 0x0005
                default: nil
                }
                guard curve == expectedCurve, components["x"] == x, components["y"] == y else {
                    throw WebAuthnError(.attestationInvalid, "tpm pubArea ECC key is not the credential key")
                }
            }
        }
    }

    /// TPMS_ATTEST (TPM 2.0 Part 2 §10.12.12) carrying TPMS_CERTIFY_INFO.
    struct AttestInfo {
        let magic: UInt32
        let type: UInt16
        let extraData: [UInt8]
        let attestedName: [UInt8]

        init(bytes: [UInt8]) throws {
            var r = Reader(bytes: bytes[...], what: "certInfo")
            magic = try r.u32()
            type = try r.u16()
            _ = try r.sized()  // qualifiedSigner
            extraData = try r.sized()
            _ = try r.take(17)  // clockInfo: clock u64, resetCount u32, restartCount u32, safe u8
            _ = try r.u64()  // firmwareVersion
            attestedName = try r.sized()  // TPMS_CERTIFY_INFO.name
            _ = try r.sized()  // TPMS_CERTIFY_INFO.qualifiedName
            try r.end()
        }
    }
}
