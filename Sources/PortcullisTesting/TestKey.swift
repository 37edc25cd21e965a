import CBOR
import Crypto
import CryptoExtras
import Foundation
import WebAuthn
import X509

/// A software private key for fixtures, with its COSE algorithm.
public struct TestKey: Sendable {
    enum Backing: Sendable {
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }
    let backing: Backing
    /// The algorithm the key signs with.
    public let algorithm: COSEAlgorithm

    /// A fresh key for `algorithm`. RSA keys come from a per-process cache, as generating them is slow.
    public init(_ algorithm: COSEAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .es256: backing = .p256(P256.Signing.PrivateKey())
        case .es384: backing = .p384(P384.Signing.PrivateKey())
        case .es512: backing = .p521(P521.Signing.PrivateKey())
        case .edDSA, .ed25519: backing = .ed25519(Curve25519.Signing.PrivateKey())
        default: backing = .rsa(TestKey.sharedRSAKey)
        }
    }

    /// One 2048-bit RSA key per process.
    static let sharedRSAKey: _RSA.Signing.PrivateKey = {
        // A fixed size; generation failing would be a broken crypto library.
        (try? _RSA.Signing.PrivateKey(keySize: .bits2048)) ?? { fatalError("RSA key generation failed") }()
    }()

    /// The private key as PKCS#8 PEM (P-256 keys only), for TLS test servers.
    public var pemPrivateKey: String? {
        if case .p256(let key) = backing { return key.pemRepresentation }
        return nil
    }

    /// The COSE_Key map, labels in CTAP2 canonical order.
    public var coseKey: CBORValue {
        func ec(_ crv: Int64, _ x963: Data) -> CBORValue {
            let point = Array(x963.dropFirst())
            let half = point.count / 2
            return .map(CBORMap([
                (.int(1), .int(2)), (.int(3), .int(Int64(algorithm.rawValue))), (.int(-1), .int(crv)),
                (.int(-2), .bytes(Array(point[..<half]))), (.int(-3), .bytes(Array(point[half...]))),
            ]))
        }
        switch backing {
        case .p256(let k): return ec(1, k.publicKey.x963Representation)
        case .p384(let k): return ec(2, k.publicKey.x963Representation)
        case .p521(let k): return ec(3, k.publicKey.x963Representation)
        case .ed25519(let k):
            return .map(CBORMap([
                (.int(1), .int(1)), (.int(3), .int(Int64(algorithm.rawValue))), (.int(-1), .int(6)),
                (.int(-2), .bytes(Array(k.publicKey.rawRepresentation))),
            ]))
        case .rsa(let k):
            let p = try? k.publicKey.getKeyPrimitives()
            return .map(CBORMap([
                (.int(1), .int(3)), (.int(3), .int(Int64(algorithm.rawValue))),
                (.int(-1), .bytes(Array(p?.modulus ?? Data()))), (.int(-2), .bytes(Array(p?.publicExponent ?? Data()))),
            ]))
        }
    }

    /// The COSE_Key bytes.
    public var coseBytes: [UInt8] { CBOREncoder.encode(coseKey) }

    /// Signs `data` the way WebAuthn expects for the algorithm (DER for ECDSA).
    public func sign(_ data: [UInt8]) -> [UInt8] {
        do {
            switch backing {
            case .p256(let k): return Array(try k.signature(for: data).derRepresentation)
            case .p384(let k): return Array(try k.signature(for: data).derRepresentation)
            case .p521(let k): return Array(try k.signature(for: data).derRepresentation)
            case .ed25519(let k): return Array(try k.signature(for: data))
            case .rsa(let k):
                switch algorithm {
                case .ps256: return Array(try k.signature(for: SHA256.hash(data: data), padding: .PSS).rawRepresentation)
                case .ps384: return Array(try k.signature(for: SHA384.hash(data: data), padding: .PSS).rawRepresentation)
                case .ps512: return Array(try k.signature(for: SHA512.hash(data: data), padding: .PSS).rawRepresentation)
                case .rs384: return Array(try k.signature(for: SHA384.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
                case .rs512: return Array(try k.signature(for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
                case .rs1: return Array(try k.signature(for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
                default: return Array(try k.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
                }
            }
        } catch {
            fatalError("signing failed: \(error)")
        }
    }

    /// The key as swift-certificates sees it, for issuing certificates.
    public var certificatePrivateKey: Certificate.PrivateKey {
        switch backing {
        case .p256(let k): Certificate.PrivateKey(k)
        case .p384(let k): Certificate.PrivateKey(k)
        case .p521(let k): Certificate.PrivateKey(k)
        case .ed25519(let k): Certificate.PrivateKey(k)
        case .rsa(let k): Certificate.PrivateKey(k)
        }
    }

    /// The public half as a certificate public key.
    public var certificatePublicKey: Certificate.PublicKey { certificatePrivateKey.publicKey }

    /// The signature algorithm this key issues certificates with.
    public var certificateSignatureAlgorithm: Certificate.SignatureAlgorithm {
        switch backing {
        case .p256: .ecdsaWithSHA256
        case .p384: .ecdsaWithSHA384
        case .p521: .ecdsaWithSHA512
        case .ed25519: .ed25519
        case .rsa: .sha256WithRSAEncryption
        }
    }

    /// The raw x and y of an EC key.
    public var ecCoordinates: (x: [UInt8], y: [UInt8])? {
        let x963: Data
        switch backing {
        case .p256(let k): x963 = k.publicKey.x963Representation
        case .p384(let k): x963 = k.publicKey.x963Representation
        case .p521(let k): x963 = k.publicKey.x963Representation
        default: return nil
        }
        let point = Array(x963.dropFirst())
        return (Array(point[..<(point.count / 2)]), Array(point[(point.count / 2)...]))
    }

    /// The RSA modulus and exponent.
    public var rsaPrimitives: (n: [UInt8], e: [UInt8])? {
        guard case .rsa(let k) = backing, let p = try? k.publicKey.getKeyPrimitives() else { return nil }
        return (Array(p.modulus), Array(p.publicExponent))
    }
}
