import Accounts
import Crypto
import Foundation
import WebAuthn
import _CryptoExtras

extension OIDCProvider {
    /// Checks a DPoP proof (RFC 9449 §4.3) for a request of `method` to `url` (without query or
    /// fragment), and, at a resource, its `ath` against `accessToken`. Returns the JWK SHA-256
    /// thumbprint of the proof's key (§6.1), which binds the tokens. A proof's `jti` is accepted once.
    public func verifyDPoP(_ proof: String, method: String, url: String, accessToken: String? = nil) async throws -> String {
        let now = clock()
        let parts = proof.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard proof.utf8.count <= 8192, parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]),
              let header = try? StrictJSON.parse(headerBytes).object, let claims = try? StrictJSON.parse(payloadBytes).object
        else { throw OAuthError.invalidDPoPProof("The DPoP proof is not a JWT.") }
        // §4.3 checks 4-6: typ, a supported asymmetric alg, a public key in jwk.
        guard header["typ"]?.string == "dpop+jwt" else { throw OAuthError.invalidDPoPProof("typ must be dpop+jwt.") }
        guard let alg = header["alg"]?.string.flatMap(SigningAlgorithm.init(rawValue:)) else {
            throw OAuthError.invalidDPoPProof("alg must be one of \(SigningAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard let jwk = header["jwk"]?.object, jwk["d"] == nil, jwk["p"] == nil else { throw OAuthError.invalidDPoPProof("jwk must be a public key.") }
        let signingInput = Array((parts[0] + "." + parts[1]).utf8)
        guard Self.verifySignature(signature, over: signingInput, alg: alg, jwk: jwk) else {
            throw OAuthError.invalidDPoPProof("The DPoP proof's signature does not verify.")
        }
        // Checks 8-11: htm, htu, iat within the window, ath when a token is presented.
        guard claims["htm"]?.string == method else { throw OAuthError.invalidDPoPProof("htm does not match the request's method.") }
        guard let htu = claims["htu"]?.string, Self.withoutQuery(htu) == url else {
            throw OAuthError.invalidDPoPProof("htu does not match the request's URL.")
        }
        guard let iat = claims["iat"]?.int64, abs(TimeInterval(iat) - now.timeIntervalSince1970) <= settings.dpopClockSkew else {
            throw OAuthError.invalidDPoPProof("iat is missing or too far from the server's time.")
        }
        if let accessToken {
            let ath = Base64URL.encode(Array(SHA256.hash(data: Array(accessToken.utf8))))
            guard claims["ath"]?.string == ath else { throw OAuthError.invalidDPoPProof("ath does not match the access token.") }
        }
        guard let jti = claims["jti"]?.string, !jti.isEmpty, jti.count <= 256 else { throw OAuthError.invalidDPoPProof("jti is required.") }
        let jkt = try SigningKeys.thumbprint(.object(jwk))
        // §11.1: a proof replayed within its window is refused.
        let key = sha256("dpop|\(jkt)|\(jti)")
        if try await store.artifact(kind: .dpopProof, key: key) != nil { throw OAuthError.invalidDPoPProof("The DPoP proof was already used.") }
        try await store.saveArtifacts([OIDCArtifact(kind: .dpopProof, key: key, clientID: "", payload: [], createdAt: now,
                                                    expiresAt: now.addingTimeInterval(2 * settings.dpopClockSkew))])
        return jkt
    }

    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }

    static func verifySignature(_ signature: [UInt8], over input: [UInt8], alg: SigningAlgorithm, jwk: JSONObject) -> Bool {
        switch alg.base {
        case .es256:
            guard jwk["kty"]?.string == "EC", jwk["crv"]?.string == "P-256", let x = jwk["x"]?.string.flatMap(Base64URL.decode),
                  let y = jwk["y"]?.string.flatMap(Base64URL.decode), x.count == 32, y.count == 32,
                  let key = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y),
                  let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: input)
        case .rs256:
            guard jwk["kty"]?.string == "RSA", let n = jwk["n"]?.string.flatMap(Base64URL.decode), let e = jwk["e"]?.string.flatMap(Base64URL.decode),
                  n.count >= 256, let key = try? _RSA.Signing.PublicKey(n: n, e: e)
            else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5)
        }
    }
}
