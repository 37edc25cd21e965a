import CBOR
/// A COSE algorithm identifier (IANA "COSE Algorithms" registry).
public struct COSEAlgorithm: Hashable, Sendable, CustomStringConvertible {
    /// The registered integer.
    public let rawValue: Int

    /// Wraps any registered integer; whether it is supported is decided where it is used.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// ECDSA with SHA-256 on P-256.
    public static let es256 = COSEAlgorithm(rawValue: -7)
    /// ECDSA with SHA-384 on P-384.
    public static let es384 = COSEAlgorithm(rawValue: -35)
    /// ECDSA with SHA-512 on P-521.
    public static let es512 = COSEAlgorithm(rawValue: -36)
    /// EdDSA (with a WebAuthn credential, Ed25519).
    public static let edDSA = COSEAlgorithm(rawValue: -8)
    /// Ed25519 (fully specified, RFC 9864).
    public static let ed25519 = COSEAlgorithm(rawValue: -19)
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    public static let rs256 = COSEAlgorithm(rawValue: -257)
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    public static let rs384 = COSEAlgorithm(rawValue: -258)
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    public static let rs512 = COSEAlgorithm(rawValue: -259)
    /// RSASSA-PSS with SHA-256 (salt length 32).
    public static let ps256 = COSEAlgorithm(rawValue: -37)
    /// RSASSA-PSS with SHA-384 (salt length 48).
    public static let ps384 = COSEAlgorithm(rawValue: -38)
    /// RSASSA-PSS with SHA-512 (salt length 64).
    public static let ps512 = COSEAlgorithm(rawValue: -39)
    /// RSASSA-PKCS1-v1_5 with SHA-1. Known so that it can be refused by name; never accepted.
    public static let rs1 = COSEAlgorithm(rawValue: -65535)

    /// Every algorithm this verifier implements for credential keys.
    public static let implemented: [COSEAlgorithm] = [.es256, .es384, .es512, .edDSA, .ed25519, .rs256, .rs384, .rs512, .ps256, .ps384, .ps512]

    /// A name for people: `ES256`, `EdDSA`, ...
    public var name: String {
        switch self {
        case .es256: "ES256"
        case .es384: "ES384"
        case .es512: "ES512"
        case .edDSA: "EdDSA"
        case .ed25519: "Ed25519"
        case .rs256: "RS256"
        case .rs384: "RS384"
        case .rs512: "RS512"
        case .ps256: "PS256"
        case .ps384: "PS384"
        case .ps512: "PS512"
        case .rs1: "RS1"
        default: "COSE(\(rawValue))"
        }
    }

    public var description: String { name }
}
