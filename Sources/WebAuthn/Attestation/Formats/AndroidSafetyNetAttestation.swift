import SwiftASN1
import CBOR
import Foundation
import X509

/// §8.5 Android SafetyNet attestation.
///
/// Google has retired the SafetyNet Attestation API, but the format is still specified, so it is
/// verified in full: the JWS signature under its leaf certificate, the leaf issued to
/// attest.android.com, the nonce bound to this ceremony, ctsProfileMatch, and a timestamp within
/// ``allowedClockSkew`` of the time the caller passes in.
enum AndroidSafetyNetAttestation {
    /// How far the JWS timestamp may be from `now`, either way.
    static let allowedClockSkew: TimeInterval = 60

    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        let map = try context.map()
        try AttestationContext.requireOnly(["ver", "response"], in: map, format: "android-safetynet")
        guard let ver = map[text: "ver"]?.text, !ver.isEmpty else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet ver is missing or empty")
        }
        guard let response = map[text: "response"]?.bytes else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet response is missing")
        }
        let jws = try CompactJWS(bytes: response, format: "android-safetynet")
        guard let payload = try? StrictJSON.parse(jws.payload).object else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet payload is not a JSON object")
        }
        // nonce = base64(SHA-256(authenticatorData || clientDataHash)).
        let expectedNonce = Data(CertificateChecks.sha256(context.signedData)).base64EncodedString()
        guard payload["nonce"]?.string == expectedNonce else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet nonce does not match the ceremony")
        }
        guard payload["ctsProfileMatch"]?.bool == true else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet ctsProfileMatch is not true")
        }
        guard let timestamp = payload["timestampMs"]?.int64 else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet timestampMs is missing")
        }
        let issued = Date(timeIntervalSince1970: TimeInterval(timestamp) / 1000)
        guard abs(issued.timeIntervalSince(context.now)) <= allowedClockSkew else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet timestamp is not within \(Int(allowedClockSkew)) s of now")
        }
        let chain = try jws.certificateChain()
        let leaf = chain[0].certificate
        // The attestation certificate must be issued to attest.android.com.
        let commonNames = CertificateChecks.attributeValues(leaf.subject, ASN1ObjectIdentifier.RDNAttributeType.commonName)
        var dnsNames: [String] = []
        if let san = try? leaf.extensions.subjectAlternativeNames {
            for name in san { if case .dnsName(let dns) = name { dnsNames.append(dns) } }
        }
        guard commonNames.contains("attest.android.com") || dnsNames.contains("attest.android.com") else {
            throw WebAuthnError(.attestationInvalid, "android-safetynet certificate is not issued to attest.android.com")
        }
        try jws.verifySignature(with: leaf)
        return AttestationStatementResult(type: .basic, trustPath: chain)
    }
}

/// A JWS in compact serialization whose header carries an x5c chain (SafetyNet, FIDO MDS).
struct CompactJWS {
    let header: JSONObject
    let payload: [UInt8]
    let signature: [UInt8]
    let signingInput: [UInt8]
    let format: String

    init(bytes: [UInt8], format: String) throws {
        self.format = format
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Base64URL.decode(String(decoding: parts[0], as: UTF8.self)),
              let payload = Base64URL.decode(String(decoding: parts[1], as: UTF8.self)),
              let signature = Base64URL.decode(String(decoding: parts[2], as: UTF8.self))
        else {
            throw WebAuthnError(.attestationInvalid, "\(format) JWS is not three base64url parts")
        }
        guard let header = try? StrictJSON.parse(headerBytes).object else {
            throw WebAuthnError(.attestationInvalid, "\(format) JWS header is not a JSON object")
        }
        self.header = header
        self.payload = payload
        self.signature = signature
        self.signingInput = Array(parts[0]) + [UInt8(ascii: ".")] + Array(parts[1])
    }

    /// The x5c header: standard base64 DER certificates, leaf first.
    func certificateChain() throws -> [X509CertificateBox] {
        guard let items = header["x5c"]?.array, !items.isEmpty, items.count <= 8 else {
            throw WebAuthnError(.attestationInvalid, "\(format) JWS header lacks x5c")
        }
        return try items.map {
            guard let text = $0.string, let der = Data(base64Encoded: text) else {
                throw WebAuthnError(.attestationInvalid, "\(format) JWS x5c entry is not base64")
            }
            return try X509CertificateBox(der: Array(der))
        }
    }

    /// Verifies the signature with the certificate's key under the header's `alg`.
    func verifySignature(with certificate: Certificate) throws {
        let algorithm: COSEAlgorithm
        switch header["alg"]?.string {
        case "RS256": algorithm = .rs256
        case "RS384": algorithm = .rs384
        case "RS512": algorithm = .rs512
        case "PS256": algorithm = .ps256
        case "ES256": algorithm = .es256
        case "ES384": algorithm = .es384
        case "ES512": algorithm = .es512
        case "EdDSA": algorithm = .edDSA
        default: throw WebAuthnError(.attestationInvalid, "\(format) JWS alg is not supported")
        }
        var signature = self.signature
        if [.es256, .es384, .es512].contains(algorithm) {
            // JWS ECDSA signatures are raw r || s; convert to DER for the common verifier.
            signature = try Self.derFromRaw(signature)
        }
        do {
            try CertificateChecks.verify(signature: signature, over: signingInput, certificate: certificate, algorithm: algorithm)
        } catch {
            throw WebAuthnError(.attestationInvalid, "\(format) JWS signature does not verify")
        }
    }

    static func derFromRaw(_ raw: [UInt8]) throws -> [UInt8] {
        guard raw.count % 2 == 0, !raw.isEmpty else { throw WebAuthnError(.attestationInvalid, "JWS ECDSA signature has an odd length") }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var b = Array(bytes.drop(while: { $0 == 0 }))
            if b.isEmpty { b = [0] }
            if b[0] & 0x80 != 0 { b.insert(0, at: 0) }
            return [0x02] + derLength(b.count) + b
        }
        let half = raw.count / 2
        let body = integer(raw[..<half]) + integer(raw[half...])
        return [0x30] + derLength(body.count) + body
    }

    static func derLength(_ n: Int) -> [UInt8] {
        n < 0x80 ? [UInt8(n)] : n < 0x100 ? [0x81, UInt8(n)] : [0x82, UInt8(n >> 8), UInt8(n & 0xFF)]
    }
}
