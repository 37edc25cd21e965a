import CBOR
import Crypto
import Foundation
import SwiftASN1
import WebAuthn
import X509

/// What an attestation statement is made from.
public struct AttestationInput: Sendable {
    /// The authenticator data bytes.
    public let authenticatorData: [UInt8]
    /// SHA-256 of clientDataJSON.
    public let clientDataHash: [UInt8]
    /// The credential key.
    public let credentialKey: TestKey
    /// The credential ID.
    public let credentialID: [UInt8]
    /// The AAGUID in authenticator data.
    public let aaguid: AAGUID
    /// The rpIdHash in authenticator data.
    public let rpIDHash: [UInt8]

    /// authenticatorData || clientDataHash.
    public var signedData: [UInt8] { authenticatorData + clientDataHash }
}

/// Builds an attestation statement of one format, with knobs for the malformed variants tests need.
public struct AttestationFixture: Sendable {
    /// The `fmt` value.
    public var format: String
    let make: @Sendable (AttestationInput) -> CBORValue

    /// Any format name with any statement builder.
    public init(format: String, make: @escaping @Sendable (AttestationInput) -> CBORValue) {
        self.format = format
        self.make = make
    }

    /// The statement this fixture makes for `input`.
    public func statement(for input: AttestationInput) -> CBORValue { make(input) }

    /// `none`, with an empty statement.
    public static let none = AttestationFixture(format: "none") { _ in .map(CBORMap()) }

    /// `packed` self attestation, signed with the credential key.
    public static func packedSelf(algorithm: COSEAlgorithm? = nil) -> AttestationFixture {
        AttestationFixture(format: "packed") { input in
            .map(CBORMap([
                (.text("alg"), .int(Int64((algorithm ?? input.credentialKey.algorithm).rawValue))),
                (.text("sig"), .bytes(input.credentialKey.sign(input.signedData))),
            ]))
        }
    }

    /// Knobs for packed x5c fixtures.
    public struct PackedOptions: Sendable {
        /// The attestation certificate subject.
        public var subject = TestPKI.attestationSubject()
        /// The AAGUID written into id-fido-gen-ce-aaguid; `nil` leaves the extension out. Defaults to the
        /// authenticator data AAGUID.
        public var aaguidExtension: AAGUID?? = .some(nil)
        /// Marks the AAGUID extension critical.
        public var aaguidExtensionCritical = false
        /// Issues the attestation certificate with CA=true.
        public var isCA = false
        /// The certificate version.
        public var version: Certificate.Version = .v3
        /// The attestation key's algorithm.
        public var attestationAlgorithm: COSEAlgorithm = .es256
        /// Writes another `alg` into the statement than the key's.
        public var statedAlgorithm: COSEAlgorithm?
        /// Appends the intermediate (and the root) to x5c.
        public var includeIntermediate = true
        /// Appends the root to x5c too.
        public var includeRoot = false
        /// Validity period.
        public var notValidBefore = FixedClock.certificatesValidFrom
        /// Validity period.
        public var notValidAfter = FixedClock.certificatesValidUntil
        /// Adds an ecdaaKeyId member.
        public var ecdaaKeyID = false
        /// Writes basicConstraints as SEQUENCE { BOOLEAN FALSE }, as Chrome's virtual authenticator does.
        public var explicitDefaultBasicConstraints = false
        /// Issues the attestation certificate with no Basic Constraints extension at all.
        public var omitBasicConstraints = false
        public init() {}
    }

    /// `packed` with an x5c chain from `pki`.
    public static func packed(pki: TestPKI, options: PackedOptions = PackedOptions()) -> AttestationFixture {
        let attestationKey = TestKey(options.attestationAlgorithm)
        return AttestationFixture(format: "packed") { input in
            var extensions: [Certificate.Extension] = []
            let aaguid: AAGUID? = switch options.aaguidExtension {
            case .none: nil
            case .some(.none): input.aaguid
            case .some(.some(let explicit)): explicit
            }
            if let aaguid {
                extensions.append(Certificate.Extension(
                    oid: [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], critical: options.aaguidExtensionCritical,
                    value: DERBuilder.octetString(aaguid.bytes)[...]))
            }
            if options.explicitDefaultBasicConstraints {
                extensions.append(Certificate.Extension(oid: .X509ExtensionID.basicConstraints, critical: true, value: [0x30, 0x03, 0x01, 0x01, 0x00]))
            }
            let leaf = pki.issue(
                subject: options.subject, publicKey: attestationKey.certificatePublicKey, extensions: extensions,
                isCA: options.isCA, version: options.version,
                notValidBefore: options.notValidBefore, notValidAfter: options.notValidAfter,
                basicConstraints: !options.omitBasicConstraints)
            var chain: [CBORValue] = [.bytes(leaf.der)]
            if options.includeIntermediate { chain.append(.bytes(pki.intermediate.der)) }
            if options.includeRoot { chain.append(.bytes(pki.root.der)) }
            var entries: [(CBORValue, CBORValue)] = [
                (.text("alg"), .int(Int64((options.statedAlgorithm ?? attestationKey.algorithm).rawValue))),
                (.text("sig"), .bytes(attestationKey.sign(input.signedData))),
                (.text("x5c"), .array(chain)),
            ]
            if options.ecdaaKeyID { entries.append((.text("ecdaaKeyId"), .bytes([1, 2, 3]))) }
            return .map(CBORMap(entries))
        }
    }

    /// `fido-u2f` with an attestation certificate from `pki`.
    public static func fidoU2F(pki: TestPKI, extraCertificate: Bool = false) -> AttestationFixture {
        let attestationKey = TestKey(.es256)
        return AttestationFixture(format: "fido-u2f") { input in
            let leaf = pki.issue(subject: TestPKI.attestationSubject(), publicKey: attestationKey.certificatePublicKey)
            let (x, y) = input.credentialKey.ecCoordinates ?? ([], [])
            let data: [UInt8] = [0x00] + input.rpIDHash + input.clientDataHash + input.credentialID + [0x04] + x + y
            var chain: [CBORValue] = [.bytes(leaf.der)]
            if extraCertificate { chain.append(.bytes(pki.intermediate.der)) }
            return .map(CBORMap([(.text("sig"), .bytes(attestationKey.sign(data))), (.text("x5c"), .array(chain))]))
        }
    }

    /// `apple` with a credential certificate from `pki`.
    public static func apple(pki: TestPKI, wrongNonce: Bool = false, otherKey: Bool = false) -> AttestationFixture {
        AttestationFixture(format: "apple") { input in
            var nonce = Array(SHA256.hash(data: input.signedData))
            if wrongNonce { nonce[0] ^= 0xFF }
            let ext = DERBuilder.sequence(DERBuilder.explicit(1, DERBuilder.octetString(nonce)))
            let key = otherKey ? TestKey(input.credentialKey.algorithm).certificatePublicKey : input.credentialKey.certificatePublicKey
            let leaf = pki.issue(
                subject: TestPKI.attestationSubject(), publicKey: key,
                extensions: [Certificate.Extension(oid: [1, 2, 840, 113635, 100, 8, 2], critical: false, value: ext[...])])
            return .map(CBORMap([(.text("x5c"), .array([.bytes(leaf.der), .bytes(pki.intermediate.der)]))]))
        }
    }

    /// Public initialiser for the input, for tests that build statements over altered inputs.
    public static func input(_ base: AttestationInput, credentialKey: TestKey? = nil, credentialID: [UInt8]? = nil) -> AttestationInput {
        AttestationInput(
            authenticatorData: base.authenticatorData, clientDataHash: base.clientDataHash,
            credentialKey: credentialKey ?? base.credentialKey, credentialID: credentialID ?? base.credentialID,
            aaguid: base.aaguid, rpIDHash: base.rpIDHash)
    }

    /// Knobs for android-key fixtures.
    public struct AndroidKeyOptions: Sendable {
        /// Puts allApplications in the TEE list.
        public var allApplications = false
        /// The origin value in the TEE list.
        public var origin = 0
        /// The purposes in the TEE list.
        public var purposes = [2]
        /// Replaces the challenge.
        public var wrongChallenge = false
        /// Appends bytes after the KeyDescription.
        public var trailingBytes = false
        /// Puts origin and purpose in softwareEnforced instead.
        public var softwareEnforced = false
        public init() {}
    }

    /// `android-key` with a credential certificate from `pki`.
    public static func androidKey(pki: TestPKI, options: AndroidKeyOptions = AndroidKeyOptions()) -> AttestationFixture {
        AttestationFixture(format: "android-key") { input in
            var challenge = input.clientDataHash
            if options.wrongChallenge { challenge[0] ^= 0xFF }
            var fields: [UInt8] = DERBuilder.explicit(1, DERBuilder.tlv([0x31], options.purposes.flatMap { DERBuilder.integer($0) }))
            if options.allApplications { fields += DERBuilder.explicit(600, DERBuilder.null) }
            fields += DERBuilder.explicit(702, DERBuilder.integer(options.origin))
            let list = DERBuilder.tlv([0x30], fields)
            let empty = DERBuilder.tlv([0x30], [])
            var description = DERBuilder.sequence(
                DERBuilder.integer(3), DERBuilder.enumerated(1), DERBuilder.integer(4), DERBuilder.enumerated(1),
                DERBuilder.octetString(challenge), DERBuilder.octetString([]),
                options.softwareEnforced ? list : empty, options.softwareEnforced ? empty : list)
            if options.trailingBytes { description += [0x00] }
            let leaf = pki.issue(
                subject: TestPKI.attestationSubject(), publicKey: input.credentialKey.certificatePublicKey,
                extensions: [Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 11129, 2, 1, 17], critical: false, value: description[...])])
            return .map(CBORMap([
                (.text("alg"), .int(Int64(input.credentialKey.algorithm.rawValue))),
                (.text("sig"), .bytes(input.credentialKey.sign(input.signedData))),
                (.text("x5c"), .array([.bytes(leaf.der), .bytes(pki.intermediate.der)])),
            ]))
        }
    }

    /// Knobs for TPM fixtures.
    public struct TPMOptions: Sendable {
        /// `ver`.
        public var version = "2.0"
        /// certInfo magic.
        public var magic: UInt32 = 0xFF54_4347
        /// certInfo type.
        public var type: UInt16 = 0x8017
        /// Corrupts extraData.
        public var wrongExtraData = false
        /// Corrupts attested.name.
        public var wrongName = false
        /// Puts another key in pubArea.
        public var otherKeyInPubArea = false
        /// Appends a byte to pubArea.
        public var trailingPubArea = false
        /// Gives the AIK certificate a subject.
        public var subject: DistinguishedName = DistinguishedName()
        /// Leaves EKU out.
        public var omitEKU = false
        /// Makes the SAN non-critical.
        public var sanCritical = true
        /// The AIK certificate's AAGUID extension.
        public var aaguidExtension: AAGUID?
        /// Writes another RSA exponent into pubArea.
        public var rsaExponentOverride: UInt32?
        /// The AIK's algorithm: `sig` is made with it and extraData uses its hash (RS1: SHA-1, as
        /// Windows Hello and firmware TPMs sign).
        public var aikAlgorithm: COSEAlgorithm = .es256
        /// The hash algorithm extraData is made with, when it should differ from the AIK's.
        public var extraDataHashOverride: COSEAlgorithm?
        public init() {}
    }

    /// `tpm` with an AIK certificate from `pki`. Credential keys: ES256 or RS256.
    public static func tpm(pki: TestPKI, options: TPMOptions = TPMOptions()) -> AttestationFixture {
        let aik = TestKey(options.aikAlgorithm)
        return AttestationFixture(format: "tpm") { input in
            let be16 = { (v: UInt16) -> [UInt8] in [UInt8(v >> 8), UInt8(v & 0xFF)] }
            let be32 = { (v: UInt32) -> [UInt8] in [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
            let sized = { (b: [UInt8]) -> [UInt8] in be16(UInt16(b.count)) + b }
            let keyForPubArea = options.otherKeyInPubArea ? TestKey(input.credentialKey.algorithm) : input.credentialKey
            var pubArea: [UInt8]
            let nameAlg: UInt16 = 0x000B
            if let (n, e) = keyForPubArea.rsaPrimitives {
                let exponent = e.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                pubArea = be16(0x0001) + be16(nameAlg) + be32(0x0006_0472) + sized([])
                    + be16(0x0010) + be16(0x0010) + be16(2048) + be32(options.rsaExponentOverride ?? (exponent == 65537 ? 0 : exponent)) + sized(n)
            } else {
                let (x, y) = keyForPubArea.ecCoordinates ?? ([], [])
                let curve: UInt16 = switch keyForPubArea.algorithm {
                case .es384: 0x0004
                case .es512: 0x0005
                default: 0x0003
                }
                pubArea = be16(0x0023) + be16(nameAlg) + be32(0x0006_0472) + sized([])
                    + be16(0x0010) + be16(0x0010) + be16(curve) + be16(0x0010) + sized(x) + sized(y)
            }
            if options.trailingPubArea { pubArea.append(0) }
            var extraData: [UInt8] = switch options.extraDataHashOverride ?? options.aikAlgorithm {
            case .rs1: Array(Insecure.SHA1.hash(data: input.signedData))
            case .es384, .rs384, .ps384: Array(SHA384.hash(data: input.signedData))
            case .es512, .rs512, .ps512: Array(SHA512.hash(data: input.signedData))
            default: Array(SHA256.hash(data: input.signedData))
            }
            if options.wrongExtraData { extraData[0] ^= 0xFF }
            var name = be16(nameAlg) + Array(SHA256.hash(data: pubArea))
            if options.wrongName { name[5] ^= 0xFF }
            let certInfo = be32(options.magic) + be16(options.type) + sized([0x00, 0x0B] + [UInt8](repeating: 7, count: 32))
                + sized(extraData) + [UInt8](repeating: 0, count: 17) + [UInt8](repeating: 0, count: 8) + sized(name) + sized([])
            let tpmName = DistinguishedName([RelativeDistinguishedName([
                RelativeDistinguishedName.Attribute(type: [2, 23, 133, 2, 1], utf8String: "id:FFFFF1D0"),
                RelativeDistinguishedName.Attribute(type: [2, 23, 133, 2, 2], utf8String: "Portcullis vTPM"),
                RelativeDistinguishedName.Attribute(type: [2, 23, 133, 2, 3], utf8String: "id:00020000"),
            ])])
            var extensions: [Certificate.Extension] = []
            if let san = try? Certificate.Extension(SubjectAlternativeNames([.directoryName(tpmName)]), critical: options.sanCritical) {
                extensions.append(san)
            }
            if !options.omitEKU, let eku = try? Certificate.Extension(ExtendedKeyUsage([.init(oid: [2, 23, 133, 8, 3])]), critical: false) {
                extensions.append(eku)
            }
            if let aaguid = options.aaguidExtension {
                extensions.append(Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], critical: false, value: DERBuilder.octetString(aaguid.bytes)[...]))
            }
            let leaf = pki.issue(subject: options.subject, publicKey: aik.certificatePublicKey, extensions: extensions)
            return .map(CBORMap([
                (.text("ver"), .text(options.version)),
                (.text("alg"), .int(Int64(options.aikAlgorithm.rawValue))),
                (.text("x5c"), .array([.bytes(leaf.der), .bytes(pki.intermediate.der)])),
                (.text("sig"), .bytes(aik.sign(certInfo))),
                (.text("certInfo"), .bytes(certInfo)),
                (.text("pubArea"), .bytes(pubArea)),
            ]))
        }
    }

    /// Knobs for SafetyNet fixtures.
    public struct SafetyNetOptions: Sendable {
        /// The JWS timestamp.
        public var timestamp = FixedClock.now
        /// `ctsProfileMatch`.
        public var ctsProfileMatch = true
        /// The leaf certificate's common name.
        public var hostname = "attest.android.com"
        /// Corrupts the nonce.
        public var wrongNonce = false
        /// Corrupts the JWS signature.
        public var badSignature = false
        public init() {}
    }

    /// `android-safetynet` with a JWS signed by a leaf from `pki`.
    public static func safetyNet(pki: TestPKI, options: SafetyNetOptions = SafetyNetOptions()) -> AttestationFixture {
        let signer = TestKey(.rs256)
        return AttestationFixture(format: "android-safetynet") { input in
            let leaf = pki.issue(
                subject: (try? DistinguishedName { CountryName("US"); OrganizationName("Google LLC"); CommonName(options.hostname) }) ?? DistinguishedName(),
                publicKey: signer.certificatePublicKey)
            var nonce = Array(SHA256.hash(data: input.signedData))
            if options.wrongNonce { nonce[0] ^= 0xFF }
            let header: JSONValue = .object(["alg": .string("RS256"), "x5c": .array([
                .string(Data(leaf.der).base64EncodedString()), .string(Data(pki.intermediate.der).base64EncodedString()),
            ])])
            let payload: JSONValue = .object([
                "nonce": .string(Data(nonce).base64EncodedString()),
                "timestampMs": .int(Int64(options.timestamp.timeIntervalSince1970 * 1000)),
                "apkPackageName": .string("com.google.android.gms"),
                "ctsProfileMatch": .bool(options.ctsProfileMatch),
                "basicIntegrity": .bool(true),
            ])
            let jws = CompactJWSBuilder.sign(header: header, payload: payload, key: signer, corrupt: options.badSignature)
            return .map(CBORMap([(.text("ver"), .text("200616037")), (.text("response"), .bytes(Array(jws.utf8)))]))
        }
    }

    /// `compound` of several statements.
    public static func compound(_ parts: [AttestationFixture]) -> AttestationFixture {
        AttestationFixture(format: "compound") { input in
            .array(parts.map { .map(CBORMap([(.text("fmt"), .text($0.format)), (.text("attStmt"), $0.statement(for: input))])) })
        }
    }
}

/// Signs compact JWS for fixtures (SafetyNet responses, MDS BLOBs).
public enum CompactJWSBuilder {
    /// `base64url(header).base64url(payload).base64url(signature)`.
    public static func sign(header: JSONValue, payload: JSONValue, key: TestKey, corrupt: Bool = false) -> String {
        let input = Base64URL.encode(Array(StrictJSON.serialize(header).utf8)) + "." + Base64URL.encode(Array(StrictJSON.serialize(payload).utf8))
        var signature = key.sign(Array(input.utf8))
        if key.algorithm == .es256, let raw = try? P256.Signing.ECDSASignature(derRepresentation: signature).rawRepresentation {
            signature = Array(raw)
        }
        if corrupt { signature[signature.count / 2] ^= 0x01 }
        return input + "." + Base64URL.encode(signature)
    }
}
