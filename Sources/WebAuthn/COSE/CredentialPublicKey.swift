import CBOR
import Crypto
import CryptoExtras
import Foundation
import SwiftASN1
import X509

/// A validated public key with the one algorithm it may be used with.
///
/// Built from a COSE_Key (RFC 9052/9053, RFC 8230, WebAuthn §5.8.5) or from an X.509 certificate's
/// key plus an algorithm. Construction validates everything that can be validated: the key type,
/// curve and algorithm agree; coordinates have their exact lengths and the point is on the curve;
/// RSA moduli are 2048 to 16384 bits, odd, with a sane public exponent.
public struct CredentialPublicKey: Sendable {
    enum Backing: Sendable {
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case p521(P521.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey, modulus: [UInt8], exponent: [UInt8])
    }

    let backing: Backing
    /// The algorithm signatures under this key must use.
    public let algorithm: COSEAlgorithm

    /// COSE key parameter labels.
    enum Label {
        static let kty: Int64 = 1
        static let alg: Int64 = 3
        static let crv: Int64 = -1  // EC2, OKP
        static let x: Int64 = -2  // EC2, OKP
        static let y: Int64 = -3  // EC2
        static let n: Int64 = -1  // RSA
        static let e: Int64 = -2  // RSA
    }

    /// Parses and validates a COSE_Key.
    /// - Throws: ``WebAuthnError`` with `unsupported_algorithm` or `invalid_public_key`.
    public init(cose: CBORValue) throws {
        guard let map = cose.map else { throw WebAuthnError(.invalidPublicKey, "the COSE key is not a map") }
        guard let kty = map[int: Label.kty]?.int64 else {
            throw WebAuthnError(.invalidPublicKey, "the COSE key has no integer kty")
        }
        // §5.8.5: the credential public key MUST contain alg.
        guard let algValue = map[int: Label.alg]?.int64, let algInt = Int(exactly: algValue) else {
            throw WebAuthnError(.invalidPublicKey, "the COSE key has no integer alg")
        }
        let alg = COSEAlgorithm(rawValue: algInt)
        if alg == .rs1 { throw WebAuthnError(.unsupportedAlgorithm, "RS1 (SHA-1) is never accepted for a credential key") }

        func bytes(_ label: Int64, _ name: String) throws -> [UInt8] {
            guard let value = map[int: label] else { throw WebAuthnError(.invalidPublicKey, "the COSE key lacks \(name)") }
            guard let b = value.bytes else { throw WebAuthnError(.invalidPublicKey, "\(name) is not a byte string (compressed points are refused)") }
            return b
        }

        switch kty {
        case 2:  // EC2
            guard let crv = map[int: Label.crv]?.int64 else { throw WebAuthnError(.invalidPublicKey, "EC2 key without crv") }
            let x = try bytes(Label.x, "x")
            let y = try bytes(Label.y, "y")
            let expected: (crv: Int64, length: Int)
            switch alg {
            case .es256: expected = (1, 32)
            case .es384: expected = (2, 48)
            case .es512: expected = (3, 66)
            default: throw WebAuthnError(.unsupportedAlgorithm, "alg \(alg.rawValue) is not an EC2 algorithm this server implements")
            }
            guard crv == expected.crv else { throw WebAuthnError(.invalidPublicKey, "crv \(crv) does not match alg \(alg.name)") }
            guard x.count == expected.length, y.count == expected.length else {
                throw WebAuthnError(.invalidPublicKey, "EC coordinates must be \(expected.length) bytes")
            }
            self = try CredentialPublicKey(ecX963: [0x04] + x + y, algorithm: alg)
        case 1:  // OKP
            guard alg == .edDSA || alg == .ed25519 else {
                throw WebAuthnError(.unsupportedAlgorithm, "alg \(alg.rawValue) is not an OKP algorithm this server implements")
            }
            guard map[int: Label.crv]?.int64 == 6 else { throw WebAuthnError(.invalidPublicKey, "OKP key is not Ed25519 (crv 6)") }
            let x = try bytes(Label.x, "x")
            guard x.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else {
                throw WebAuthnError(.invalidPublicKey, "Ed25519 x must be 32 bytes")
            }
            self.init(backing: .ed25519(key), algorithm: alg)
        case 3:  // RSA
            guard [.rs256, .rs384, .rs512, .ps256, .ps384, .ps512].contains(alg) else {
                throw WebAuthnError(.unsupportedAlgorithm, "alg \(alg.rawValue) is not an RSA algorithm this server implements")
            }
            self = try CredentialPublicKey(rsaModulus: try bytes(Label.n, "n"), exponent: try bytes(Label.e, "e"), algorithm: alg)
        default:
            throw WebAuthnError(.unsupportedAlgorithm, "key type \(kty) is not implemented")
        }
    }

    /// Parses and validates COSE_Key bytes that must be exactly one CBOR map.
    public init(coseBytes: some Collection<UInt8>) throws {
        let value: CBORValue
        do { value = try CBORDecoder.decode(coseBytes) } catch let error as CBORError {
            throw WebAuthnError(.malformedCBOR, "COSE key: \(error.debugDescription)")
        }
        try self.init(cose: value)
    }

    init(backing: Backing, algorithm: COSEAlgorithm) {
        self.backing = backing
        self.algorithm = algorithm
    }

    init(ecX963 point: [UInt8], algorithm: COSEAlgorithm) throws {
        // The x963 initialisers refuse points that are not on the curve.
        do {
            switch algorithm {
            case .es256: self.init(backing: .p256(try P256.Signing.PublicKey(x963Representation: point)), algorithm: algorithm)
            case .es384: self.init(backing: .p384(try P384.Signing.PublicKey(x963Representation: point)), algorithm: algorithm)
            case .es512: self.init(backing: .p521(try P521.Signing.PublicKey(x963Representation: point)), algorithm: algorithm)
            default: throw WebAuthnError(.unsupportedAlgorithm, "not an ECDSA algorithm")
            }
        } catch let error as WebAuthnError {
            throw error
        } catch {
            throw WebAuthnError(.invalidPublicKey, "the EC point is not on the curve")
        }
    }

    init(rsaModulus n: [UInt8], exponent e: [UInt8], algorithm: COSEAlgorithm) throws {
        let modulus = Array(n.drop(while: { $0 == 0 }))
        let exponent = Array(e.drop(while: { $0 == 0 }))
        guard let top = modulus.first else { throw WebAuthnError(.invalidPublicKey, "RSA modulus is zero") }
        let bits = modulus.count * 8 - top.leadingZeroBitCount
        guard bits >= 2048 else { throw WebAuthnError(.invalidPublicKey, "RSA modulus of \(bits) bits is under 2048") }
        guard bits <= 16384 else { throw WebAuthnError(.invalidPublicKey, "RSA modulus of \(bits) bits is over 16384") }
        guard let last = modulus.last, last & 1 == 1 else { throw WebAuthnError(.invalidPublicKey, "RSA modulus is even") }
        guard !exponent.isEmpty, exponent.count <= 4, let lastE = exponent.last, lastE & 1 == 1,
              exponent.count > 1 || exponent[0] >= 3
        else {
            throw WebAuthnError(.invalidPublicKey, "RSA public exponent must be odd, at least 3 and at most 32 bits")
        }
        do {
            let key = try _RSA.Signing.PublicKey(n: modulus, e: exponent)
            self.init(backing: .rsa(key, modulus: modulus, exponent: exponent), algorithm: algorithm)
        } catch {
            throw WebAuthnError(.invalidPublicKey, "RSA key refused by the crypto library")
        }
    }

    /// The key of an X.509 certificate, to be used with `algorithm`.
    ///
    /// The algorithm must fit the key: an attestation statement's `alg` cannot choose a hash or
    /// curve that the certificate's key was not made for. RS1 is possible here only: a certificate key
    /// verifies attestation statements (a TPM's), never assertions.
    /// - Throws: ``WebAuthnError`` `unsupported_algorithm` when they do not fit.
    public init(certificateKey key: Certificate.PublicKey, algorithm: COSEAlgorithm) throws {
        if let p = P256.Signing.PublicKey(key), algorithm == .es256 {
            self.init(backing: .p256(p), algorithm: algorithm)
        } else if let p = P384.Signing.PublicKey(key), algorithm == .es384 {
            self.init(backing: .p384(p), algorithm: algorithm)
        } else if let p = P521.Signing.PublicKey(key), algorithm == .es512 {
            self.init(backing: .p521(p), algorithm: algorithm)
        } else if let p = Curve25519.Signing.PublicKey(key), algorithm == .edDSA || algorithm == .ed25519 {
            self.init(backing: .ed25519(p), algorithm: algorithm)
        } else if let r = _RSA.Signing.PublicKey(key), [.rs256, .rs384, .rs512, .ps256, .ps384, .ps512, .rs1].contains(algorithm) {
            guard r.keySizeInBits >= 2048 else { throw WebAuthnError(.invalidPublicKey, "certificate RSA key under 2048 bits") }
            guard let primitives = try? r.getKeyPrimitives() else { throw WebAuthnError(.invalidPublicKey, "certificate RSA key unreadable") }
            let n = Array(primitives.modulus.drop(while: { $0 == 0 }))
            let e = Array(primitives.publicExponent.drop(while: { $0 == 0 }))
            self.init(backing: .rsa(r, modulus: n, exponent: e), algorithm: algorithm)
        } else {
            throw WebAuthnError(.unsupportedAlgorithm, "alg \(algorithm.name) does not fit the certificate's key type")
        }
    }

    /// Whether this key and another are the same public key (algorithm aside).
    public func sameKey(as other: CredentialPublicKey) -> Bool {
        switch (backing, other.backing) {
        case (.p256(let a), .p256(let b)): a.x963Representation == b.x963Representation
        case (.p384(let a), .p384(let b)): a.x963Representation == b.x963Representation
        case (.p521(let a), .p521(let b)): a.x963Representation == b.x963Representation
        case (.ed25519(let a), .ed25519(let b)): a.rawRepresentation == b.rawRepresentation
        case (.rsa(_, let n1, let e1), .rsa(_, let n2, let e2)): n1 == n2 && e1 == e2
        default: false
        }
    }

    /// Whether this key is the public key of `certificate`.
    public func matches(certificateKey key: Certificate.PublicKey) -> Bool {
        switch backing {
        case .p256(let a): P256.Signing.PublicKey(key)?.x963Representation == a.x963Representation
        case .p384(let a): P384.Signing.PublicKey(key)?.x963Representation == a.x963Representation
        case .p521(let a): P521.Signing.PublicKey(key)?.x963Representation == a.x963Representation
        case .ed25519(let a): Curve25519.Signing.PublicKey(key)?.rawRepresentation == a.rawRepresentation
        case .rsa(_, let n, let e):
            if let r = _RSA.Signing.PublicKey(key), let p = try? r.getKeyPrimitives() {
                Array(p.modulus.drop(while: { $0 == 0 })) == n && Array(p.publicExponent.drop(while: { $0 == 0 })) == e
            } else {
                false
            }
        }
    }

    /// EC coordinates (x, y) for EC2 keys, or the RSA (n, e), or the Ed25519 x.
    public var components: [String: [UInt8]] {
        switch backing {
        case .p256(let k): Self.split(k.x963Representation)
        case .p384(let k): Self.split(k.x963Representation)
        case .p521(let k): Self.split(k.x963Representation)
        case .ed25519(let k): ["x": Array(k.rawRepresentation)]
        case .rsa(_, let n, let e): ["n": n, "e": e]
        }
    }

    private static func split(_ x963: Data) -> [String: [UInt8]] {
        let bytes = Array(x963.dropFirst())
        let half = bytes.count / 2
        return ["x": Array(bytes[..<half]), "y": Array(bytes[half...])]
    }

    /// A name for the key type and size: `P-256`, `Ed25519`, `RSA-2048`, ...
    public var keyTypeName: String {
        switch backing {
        case .p256: "P-256"
        case .p384: "P-384"
        case .p521: "P-521"
        case .ed25519: "Ed25519"
        case .rsa(let k, _, _): "RSA-\(k.keySizeInBits)"
        }
    }

    /// Verifies `signature` over `data` with this key and its algorithm.
    ///
    /// ECDSA signatures must be strict DER (`Ecdsa-Sig-Value`, §6.5.5) with 0 < r, s < n; EdDSA
    /// signatures are 64 raw bytes; RSA signatures use the padding and hash the algorithm names.
    /// - Throws: ``WebAuthnError`` `bad_signature`. A failed check is never a boolean to ignore.
    public func verify(signature: some Collection<UInt8>, over data: some DataProtocol) throws {
        let valid: Bool
        switch backing {
        case .p256(let key):
            let sig = try Self.strictECDSASignature(signature, coordinateLength: 32)
            valid = (try? P256.Signing.ECDSASignature(rawRepresentation: sig)).map { key.isValidSignature($0, for: data) } ?? false
        case .p384(let key):
            let sig = try Self.strictECDSASignature(signature, coordinateLength: 48)
            valid = (try? P384.Signing.ECDSASignature(rawRepresentation: sig)).map { key.isValidSignature($0, for: data) } ?? false
        case .p521(let key):
            let sig = try Self.strictECDSASignature(signature, coordinateLength: 66)
            valid = (try? P521.Signing.ECDSASignature(rawRepresentation: sig)).map { key.isValidSignature($0, for: data) } ?? false
        case .ed25519(let key):
            let sig = Array(signature)
            valid = sig.count == 64 && key.isValidSignature(sig, for: data)
        case .rsa(let key, _, _):
            let sig = _RSA.Signing.RSASignature(rawRepresentation: Array(signature))
            switch algorithm {
            case .rs256: valid = key.isValidSignature(sig, for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5)
            case .rs384: valid = key.isValidSignature(sig, for: SHA384.hash(data: data), padding: .insecurePKCS1v1_5)
            case .rs512: valid = key.isValidSignature(sig, for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5)
            case .ps256: valid = key.isValidSignature(sig, for: SHA256.hash(data: data), padding: .PSS)
            case .ps384: valid = key.isValidSignature(sig, for: SHA384.hash(data: data), padding: .PSS)
            case .ps512: valid = key.isValidSignature(sig, for: SHA512.hash(data: data), padding: .PSS)
            // Reached only for a certificate key (see init(certificateKey:algorithm:)).
            case .rs1: valid = key.isValidSignature(sig, for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5)
            default: valid = false
            }
        }
        guard valid else { throw WebAuthnError(.badSignature, "the \(algorithm.name) signature does not verify") }
    }

    /// Checks that `signature` is exactly one DER `SEQUENCE { INTEGER r, INTEGER s }` with positive,
    /// minimally encoded integers no longer than the curve order, and returns r || s, each left-padded
    /// to `coordinateLength` (the raw form the crypto library takes without parsing DER again).
    ///
    /// Read by hand over the bytes: this runs on every sign-in.
    static func strictECDSASignature(_ signature: some Collection<UInt8>, coordinateLength: Int) throws -> [UInt8] {
        let bytes = Array(signature)
        func fail(_ why: String) -> WebAuthnError { WebAuthnError(.badSignature, "the ECDSA signature is not strict DER: \(why)") }
        var index = 0
        /// Reads a definite length in its minimal form.
        func readLength() throws -> Int {
            guard index < bytes.count else { throw fail("truncated length") }
            let first = bytes[index]
            index += 1
            if first < 0x80 { return Int(first) }
            guard first == 0x81 else { throw fail("length form") }  // ECDSA values never need more than one length byte
            guard index < bytes.count else { throw fail("truncated length") }
            let value = Int(bytes[index])
            index += 1
            guard value >= 0x80 else { throw fail("non-minimal length") }
            return value
        }
        guard bytes.count >= 8, bytes[0] == 0x30 else { throw fail("not a SEQUENCE") }
        var raw = [UInt8](repeating: 0, count: 2 * coordinateLength)
        index = 1
        let sequenceLength = try readLength()
        guard sequenceLength == bytes.count - index else { throw fail("SEQUENCE length does not match, or trailing bytes") }
        for part in 0..<2 {
            guard index < bytes.count, bytes[index] == 0x02 else { throw fail("not an INTEGER") }
            index += 1
            let length = try readLength()
            guard length >= 1, index + length <= bytes.count else { throw fail("INTEGER length") }
            let first = bytes[index]
            // DER: minimal two's complement; r and s must be positive.
            if length > 1, first == 0, bytes[index + 1] & 0x80 == 0 { throw WebAuthnError(.badSignature, "ECDSA r or s is not minimally encoded") }
            guard first & 0x80 == 0 else { throw WebAuthnError(.badSignature, "ECDSA r or s is negative") }
            var magnitude = length
            var cursor = index
            while magnitude > 0, bytes[cursor] == 0 {
                magnitude -= 1
                cursor += 1
            }
            guard magnitude > 0, magnitude <= coordinateLength else { throw WebAuthnError(.badSignature, "ECDSA r or s is zero or too long") }
            let destination = (part + 1) * coordinateLength - magnitude
            for offset in 0..<magnitude { raw[destination + offset] = bytes[cursor + offset] }
            index += length
        }
        guard index == bytes.count else { throw fail("more than two INTEGERs") }
        return raw
    }
}
