import Crypto
import Foundation
import JWTKit
import WebAuthn
import _CryptoExtras

/// A signing key as stored: its private key (sealed with the key-encryption secret when one is
/// configured), and when it stopped signing.
public struct StoredSigningKey: Sendable, Hashable {
    /// The key ID: the RFC 7638 thumbprint of its public JWK.
    public var kid: String
    /// The algorithm it signs with.
    public var algorithm: SigningAlgorithm
    /// The private key: DER (RSA) or raw (P-256) bytes, or those bytes sealed by ``KeyEncryption``.
    public var privateKey: [UInt8]
    /// Whether ``privateKey`` is sealed.
    public var encrypted: Bool
    /// When it was made.
    public var createdAt: Date
    /// When a newer key replaced it; it is still published until every token it signed has expired.
    public var retiredAt: Date?

    public init(kid: String, algorithm: SigningAlgorithm, privateKey: [UInt8], encrypted: Bool, createdAt: Date, retiredAt: Date? = nil) {
        self.kid = kid
        self.algorithm = algorithm
        self.privateKey = privateKey
        self.encrypted = encrypted
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}

/// Seals private keys at rest with AES-256-GCM under a key derived (HKDF-SHA256) from the operator's
/// key-encryption secret (`oidc.key_secret`).
public struct KeyEncryption: Sendable {
    let key: SymmetricKey

    /// The sealing key for `secret`; nil when no secret is configured.
    public init?(secret: String?) {
        guard let secret, !secret.isEmpty else { return nil }
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(secret.utf8)), info: Array("portcullis oidc signing keys v1".utf8), outputByteCount: 32)
    }

    func seal(_ plaintext: [UInt8], kid: String) throws -> [UInt8] {
        guard let combined = try AES.GCM.seal(plaintext, using: key, authenticating: Array(kid.utf8)).combined else {
            throw OIDCError.keySecretMismatch
        }
        return Array(combined)
    }

    func open(_ sealed: [UInt8], kid: String) throws -> [UInt8] {
        do {
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: Array(kid.utf8)))
        } catch {
            throw OIDCError.keySecretMismatch
        }
    }
}

/// One usable key: its signer, its verifier and its public JWK.
struct LoadedKey: Sendable {
    var stored: StoredSigningKey
    let signer: JWSSigner
    /// Verifies the tokens this key signed.
    let collection: JWTKeyCollection
    let jwk: JSONValue
}

/// Signs with one key into the JWS compact serialization (RFC 7515 §7.1), on the caller's task.
/// jwt-kit signs inside its key collection, an actor: every token then waited its turn there, two
/// executor hops each, and an exchange signs two. Verification stays with jwt-kit.
struct JWSSigner: Sendable {
    enum Key: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    let kid: String
    let algorithm: SigningAlgorithm
    let key: Key

    /// BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature), `typ` in the header.
    func sign(_ payload: JSONValue, type: String) throws -> String {
        let header = JSONValue.object(JSONObject(distinctMembers: [("alg", .string(algorithm.rawValue)), ("kid", .string(kid)), ("typ", .string(type))]))
        let input = Base64URL.encode(StrictJSON.serializedBytes(header)) + "." + Base64URL.encode(StrictJSON.serializedBytes(payload))
        let digest = SHA256.hash(data: Array(input.utf8))
        let signature: [UInt8]
        switch key {
        // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256.
        case .rsa(let key): signature = Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        // RFC 7518 §3.4: ECDSA P-256 with SHA-256, the signature as R and S, 32 bytes each.
        case .p256(let key): signature = Array(try key.signature(for: digest).rawRepresentation)
        }
        return input + "." + Base64URL.encode(signature)
    }
}

/// Makes, loads and publishes signing keys.
public enum SigningKeys {
    /// A new key for `algorithm`: RSA 2048 for RS256, P-256 for ES256. Sealed when `encryption` is given.
    public static func generate(_ algorithm: SigningAlgorithm, encryption: KeyEncryption?, now: Date) throws -> StoredSigningKey {
        let raw: [UInt8]
        switch algorithm.base {
        case .rs256: raw = Array(try _RSA.Signing.PrivateKey(keySize: .bits2048).derRepresentation)
        case .es256: raw = Array(P256.Signing.PrivateKey().rawRepresentation)
        }
        let kid = try thumbprint(jwk(algorithm, raw: raw))
        let bytes = try encryption.map { try $0.seal(raw, kid: kid) } ?? raw
        return StoredSigningKey(kid: kid, algorithm: algorithm, privateKey: bytes, encrypted: encryption != nil, createdAt: now)
    }

    /// The key ready to sign and verify. Throws ``OIDCError/keySecretMismatch`` when it is sealed and
    /// `encryption` is missing or wrong.
    static func load(_ stored: StoredSigningKey, encryption: KeyEncryption?) async throws -> LoadedKey {
        let raw: [UInt8]
        if stored.encrypted {
            guard let encryption else { throw OIDCError.keySecretMismatch }
            raw = try encryption.open(stored.privateKey, kid: stored.kid)
        } else {
            raw = stored.privateKey
        }
        let collection = JWTKeyCollection()
        let kid = JWKIdentifier(string: stored.kid)
        let signing: JWSSigner.Key
        switch stored.algorithm.base {
        case .rs256:
            let key = try _RSA.Signing.PrivateKey(derRepresentation: raw)
            await collection.add(rsa: try Insecure.RSA.PublicKey(backing: key.publicKey), digestAlgorithm: .sha256, kid: kid)
            signing = .rsa(key)
        case .es256:
            let key = try P256.Signing.PrivateKey(rawRepresentation: raw)
            await collection.add(ecdsa: try ES256PublicKey(backing: key.publicKey), kid: kid)
            signing = .p256(key)
        }
        return LoadedKey(stored: stored, signer: JWSSigner(kid: stored.kid, algorithm: stored.algorithm, key: signing), collection: collection,
                         jwk: try jwk(stored.algorithm, raw: raw, kid: stored.kid))
    }

    /// The public JWK of a private key (RFC 7517 §4, RFC 7518 §6), with `kid`, `use` and `alg` when `kid` is given.
    static func jwk(_ algorithm: SigningAlgorithm, raw: [UInt8], kid: String? = nil) throws -> JSONValue {
        var members: [(String, JSONValue)]
        switch algorithm.base {
        case .rs256:
            let primitives = try _RSA.Signing.PrivateKey(derRepresentation: raw).publicKey.getKeyPrimitives()
            members = [("kty", .string("RSA")), ("n", .string(Base64URL.encode(Array(primitives.modulus)))),
                       ("e", .string(Base64URL.encode(Array(primitives.publicExponent))))]
        case .es256:
            let point = Array(try P256.Signing.PrivateKey(rawRepresentation: raw).publicKey.x963Representation)
            members = [("kty", .string("EC")), ("crv", .string("P-256")), ("x", .string(Base64URL.encode(Array(point[1..<33])))),
                       ("y", .string(Base64URL.encode(Array(point[33..<65]))))]
        }
        if let kid { members += [("kid", .string(kid)), ("use", .string("sig")), ("alg", .string(algorithm.rawValue))] }
        return .object(JSONObject(members))
    }

    /// The RFC 7638 thumbprint of a public JWK: SHA-256 over its required members in lexicographic
    /// order, base64url.
    static func thumbprint(_ jwk: JSONValue) throws -> String {
        guard let object = jwk.object else { throw OIDCError.keySecretMismatch }
        let required: [String]
        switch object["kty"]?.string {
        case "RSA": required = ["e", "kty", "n"]
        case "EC": required = ["crv", "kty", "x", "y"]
        default: throw OAuthError.invalidDPoPProof("Unsupported key type.")
        }
        var members: [(String, JSONValue)] = []
        for name in required {
            guard let value = object[name], value.string != nil else { throw OAuthError.invalidDPoPProof("The key lacks \(name).") }
            members.append((name, value))
        }
        return Base64URL.encode(Array(SHA256.hash(data: StrictJSON.serializedBytes(.object(JSONObject(members))))))
    }
}
