import CBOR
import Crypto
import Foundation
import PortcullisTesting
import Testing
import WebAuthn
import X509

/// A registration fixture mutation and the code it must produce.
struct RegistrationCase: CustomTestStringConvertible, Sendable {
    let row: Int
    let name: String
    let code: WebAuthnError.Code
    var algorithm: COSEAlgorithm = .es256
    var attestation: AttestationFixture = .none
    var aaguid: AAGUID? = nil
    var expectations: RegistrationExpectations = Fixtures.registrationExpectations()
    var trust: AttestationTrust = .none
    let mutate: @Sendable (inout RegistrationFixture) -> Void

    var testDescription: String { "#\(row) \(name)" }

    func run() async {
        var authenticator = Fixtures.authenticator
        if let aaguid { authenticator.aaguid = aaguid }
        var fixture = authenticator.registration(challenge: Fixtures.challenge, algorithm: algorithm, attestation: attestation)
        mutate(&fixture)
        await expectCode(code) {
            _ = try await Fixtures.verifyRegistration(fixture, expectations: expectations, trust: trust)
        }
    }
}

/// Replaces a member of the response JSON object at a path.
func editJSON(_ fixture: RegistrationFixture, _ edit: (inout JSONObject) -> Void) -> [UInt8] {
    guard case .object(var object) = fixture.jsonValue else { return [] }
    edit(&object)
    return Array(StrictJSON.serialize(.object(object)).utf8)
}

/// One negative test per row of the security checklist that concerns registration.
@Suite struct ChecklistRegistrationTests {
    static let pki = Fixtures.pki

    static let cases: [RegistrationCase] = [
        // B. clientDataJSON
        RegistrationCase(row: 7, name: "invalid UTF-8 in clientDataJSON", code: .malformedClientData) {
            $0.clientData.rawOverride = [0x7B, 0xFF, 0x7D]
        },
        RegistrationCase(row: 8, name: "clientDataJSON is an array", code: .malformedClientData) {
            $0.clientData.rawOverride = Array("[1,2]".utf8)
        },
        RegistrationCase(row: 8, name: "clientData.challenge missing", code: .malformedClientData) {
            $0.clientData.rawOverride = Array(#"{"type":"webauthn.create","origin":"https://example.org"}"#.utf8)
        },
        RegistrationCase(row: 8, name: "clientData.origin is a number", code: .malformedClientData) {
            $0.clientData.rawOverride = Array(#"{"type":"webauthn.create","challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","origin":5}"#.utf8)
        },
        RegistrationCase(row: 9, name: "assertion type replayed into create", code: .clientDataTypeMismatch) { $0.clientData.type = "webauthn.get" },
        RegistrationCase(row: 11, name: "challenge mismatch", code: .challengeMismatch) { $0.clientData.challenge = Base64URL.encode(Array(1...32)) },
        RegistrationCase(row: 11, name: "same challenge padded", code: .challengeMismatch) {
            $0.clientData.challenge = Base64URL.encode(Fixtures.challenge) + "="
        },
        RegistrationCase(row: 11, name: "same challenge in the standard alphabet", code: .challengeMismatch) {
            $0.clientData.challenge = Data(Fixtures.challenge).base64EncodedString()
        },
        RegistrationCase(row: 15, name: "origin not configured", code: .originMismatch) { $0.clientData.origin = "https://evil.example" },
        RegistrationCase(row: 16, name: "lookalike suffix origin", code: .originMismatch) { $0.clientData.origin = "https://example.org.evil.com" },
        RegistrationCase(row: 16, name: "lookalike prefix origin", code: .originMismatch) { $0.clientData.origin = "https://badexample.org" },
        RegistrationCase(row: 16, name: "userinfo origin", code: .originMismatch) { $0.clientData.origin = "https://example.org@evil.com" },
        RegistrationCase(row: 16, name: "origin with a path", code: .originMismatch) { $0.clientData.origin = "https://example.org/login" },
        RegistrationCase(row: 16, name: "origin with a trailing slash", code: .originMismatch) { $0.clientData.origin = "https://example.org/" },
        RegistrationCase(row: 17, name: "http instead of https", code: .originMismatch) { $0.clientData.origin = "http://example.org" },
        RegistrationCase(row: 18, name: "origin with upper case and default port is not the serialized origin", code: .originMismatch) {
            $0.clientData.origin = "HTTPS://EXAMPLE.ORG:443"
        },
        RegistrationCase(row: 19, name: "subdomain origin not configured", code: .originMismatch) { $0.clientData.origin = "https://evil.sub.example.org" },
        RegistrationCase(row: 20, name: "apk-key-hash origin not configured", code: .originMismatch) { $0.clientData.origin = "android:apk-key-hash:abc" },
        RegistrationCase(row: 21, name: "crossOrigin true without embedding allowed", code: .crossOriginNotAllowed) { $0.clientData.crossOrigin = true },
        RegistrationCase(row: 22, name: "topOrigin without crossOrigin", code: .crossOriginNotAllowed) { $0.clientData.topOrigin = "https://example.com" },
        RegistrationCase(row: 23, name: "topOrigin not expected", code: .crossOriginNotAllowed, expectations: Fixtures.registrationExpectations(topOrigins: ["https://partner.example"])) {
            $0.clientData.crossOrigin = true
            $0.clientData.topOrigin = "https://evil.example"
        },
        RegistrationCase(row: 24, name: "tokenBinding present", code: .tokenBindingNotSupported) {
            $0.clientData.extra = [("tokenBinding", .object(["status": .string("present"), "id": .string("AAAA")]))]
        },
        RegistrationCase(row: 24, name: "tokenBinding not an object", code: .malformedClientData) {
            $0.clientData.extra = [("tokenBinding", .string("present"))]
        },
        RegistrationCase(row: 26, name: "duplicate challenge key", code: .malformedClientData) {
            $0.clientData.rawOverride = Array(#"{"type":"webauthn.create","challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","challenge":"x","origin":"https://example.org"}"#.utf8)
        },
        RegistrationCase(row: 26, name: "duplicate type key", code: .malformedClientData) {
            $0.clientData.rawOverride = Array(#"{"type":"webauthn.get","type":"webauthn.create","challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","origin":"https://example.org"}"#.utf8)
        },

        // C. attestationObject and CBOR
        RegistrationCase(row: 28, name: "attestationObject is an array", code: .malformedCBOR) {
            $0.attestationObjectTransform = { _ in CBOREncoder.encode(.array([.unsigned(1)])) }
        },
        RegistrationCase(row: 28, name: "fmt is not text", code: .malformedCBOR) {
            $0.attestationObjectTransform = { bytes in
                guard let map = (try? CBORDecoder.decode(bytes))?.map else { return bytes }
                return CBOREncoder.encode(.map(CBORMap([(.text("fmt"), .unsigned(1)), (.text("attStmt"), map[text: "attStmt"] ?? .null), (.text("authData"), map[text: "authData"] ?? .null)])))
            }
        },
        RegistrationCase(row: 28, name: "authData is not bytes", code: .malformedCBOR) {
            $0.attestationObjectTransform = { _ in
                CBOREncoder.encode(.map(CBORMap([(.text("fmt"), .text("none")), (.text("attStmt"), .map(CBORMap())), (.text("authData"), .text("x"))])))
            }
        },
        RegistrationCase(row: 28, name: "attStmt is not a map", code: .malformedCBOR) {
            $0.attestationObjectTransform = { bytes in
                guard let map = (try? CBORDecoder.decode(bytes))?.map else { return bytes }
                return CBOREncoder.encode(.map(CBORMap([(.text("fmt"), .text("none")), (.text("attStmt"), .array([])), (.text("authData"), map[text: "authData"] ?? .null)])))
            }
        },
        RegistrationCase(row: 29, name: "bytes after the attestation object", code: .malformedCBOR) { $0.attestationObjectTransform = { $0 + [0x00] } },
        RegistrationCase(row: 30, name: "deeply nested attStmt", code: .malformedCBOR) {
            $0.attestationObjectTransform = { bytes in
                guard let map = (try? CBORDecoder.decode(bytes))?.map else { return bytes }
                var deep: CBORValue = .null
                for _ in 0..<40 { deep = .array([deep]) }
                return CBOREncoder.encode(.map(CBORMap([(.text("fmt"), .text("none")), (.text("attStmt"), .map(CBORMap([(.text("x"), deep)]))), (.text("authData"), map[text: "authData"] ?? .null)])))
            }
        },
        RegistrationCase(row: 31, name: "duplicate map key in the attestation object", code: .malformedCBOR) {
            $0.attestationObjectTransform = { bytes in
                // a3 63 "fmt" ... → a4 with a second "fmt" appended
                var out = bytes
                out[0] = 0xA4
                return out + CBOREncoder.encode(.text("fmt")) + CBOREncoder.encode(.text("none"))
            }
        },
        RegistrationCase(row: 31, name: "indefinite-length map", code: .malformedCBOR) {
            $0.attestationObjectTransform = { bytes in [0xBF] + bytes.dropFirst() + [0xFF] }
        },
        RegistrationCase(row: 31, name: "tagged attestation object", code: .malformedCBOR) { $0.attestationObjectTransform = { [0xD8, 0x18] + $0 } },
        RegistrationCase(row: 32, name: "declared length beyond the input", code: .malformedCBOR) { $0.attestationObjectTransform = { Array($0.dropLast(3)) } },
        RegistrationCase(row: 33, name: "fmt with another case", code: .unsupportedAttestationFormat) { $0.formatOverride = "None" },
        RegistrationCase(row: 33, name: "fmt longer than 32 bytes", code: .unsupportedAttestationFormat) { $0.formatOverride = String(repeating: "p", count: 33) },
        RegistrationCase(row: 68, name: "unknown fmt", code: .unsupportedAttestationFormat) { $0.formatOverride = "custom" },

        // D. authenticatorData
        RegistrationCase(row: 35, name: "credentialIdLength beyond the data", code: .malformedAuthenticatorData) {
            $0.authenticatorData.credentialIDLengthOverride = 1000
        },
        RegistrationCase(row: 36, name: "credential ID of 1024 bytes", code: .credentialIDLengthInvalid) {
            $0.authenticatorData.credentialID = [UInt8](repeating: 9, count: 1024)
        },
        RegistrationCase(row: 36, name: "credential ID of 0 bytes", code: .credentialIDLengthInvalid) {
            $0.authenticatorData.credentialID = []
        },
        RegistrationCase(row: 37, name: "bytes after the COSE key without ED", code: .malformedAuthenticatorData) { $0.authenticatorData.trailing = [0x00] },
        RegistrationCase(row: 38, name: "ED set but no extensions", code: .malformedAuthenticatorData) { $0.authenticatorData.flags.insert(.extensionData) },
        RegistrationCase(row: 38, name: "extensions followed by junk", code: .malformedAuthenticatorData) {
            $0.authenticatorData.flags.insert(.extensionData)
            $0.authenticatorData.extensions = CBOREncoder.encode(.map(CBORMap([(.text("credProtect"), .unsigned(2))]))) + [0x01]
        },
        RegistrationCase(row: 38, name: "extensions not a map", code: .malformedAuthenticatorData) {
            $0.authenticatorData.flags.insert(.extensionData)
            $0.authenticatorData.extensions = CBOREncoder.encode(.array([]))
        },
        RegistrationCase(row: 40, name: "registration without AT", code: .malformedAuthenticatorData) {
            $0.authenticatorData.flags.remove(.attestedCredentialData)
        },
        RegistrationCase(row: 44, name: "rpIdHash of another RP", code: .rpIDHashMismatch) {
            $0.authenticatorData.rpIDHash = Array(SHA256.hash(data: Array("evil.example".utf8)))
        },
        RegistrationCase(row: 45, name: "rpIdHash of an appid URL", code: .rpIDHashMismatch) {
            $0.authenticatorData.rpIDHash = Array(SHA256.hash(data: Array("https://example.org/appid.json".utf8)))
        },
        RegistrationCase(row: 47, name: "UP not set", code: .userPresenceMissing) { $0.authenticatorData.flags.remove(.userPresent) },
        RegistrationCase(row: 48, name: "UV not set where required", code: .userVerificationMissing) { $0.authenticatorData.flags.remove(.userVerified) },
        RegistrationCase(row: 50, name: "BS without BE", code: .backupStateInvalid) { $0.authenticatorData.flags.insert(.backedUp) },

        // E. credential public key
        RegistrationCase(row: 55, name: "algorithm not offered", code: .unsupportedAlgorithm, algorithm: .es384, expectations: Fixtures.registrationExpectations(algorithms: [.es256])) { _ in },
        RegistrationCase(row: 56, name: "EC2 key with alg EdDSA", code: .unsupportedAlgorithm) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: 3, with: .int(-8))
        },
        RegistrationCase(row: 56, name: "ES256 with crv P-384", code: .invalidPublicKey) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -1, with: .int(2))
        },
        RegistrationCase(row: 56, name: "EC2 without crv", code: .invalidPublicKey) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.removing($0.key.coseKey, label: -1)
        },
        RegistrationCase(row: 56, name: "OKP key with alg ES256", code: .unsupportedAlgorithm, algorithm: .edDSA) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: 3, with: .int(-7))
        },
        RegistrationCase(row: 57, name: "EC point off the curve", code: .invalidPublicKey) {
            var y = $0.key.ecCoordinates?.y ?? []
            y[31] ^= 0x01
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -3, with: .bytes(y))
        },
        RegistrationCase(row: 57, name: "EC coordinate of the wrong length", code: .invalidPublicKey) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -2, with: .bytes([UInt8](repeating: 1, count: 31)))
        },
        RegistrationCase(row: 57, name: "compressed point (y as a boolean)", code: .invalidPublicKey) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -3, with: .bool(true))
        },
        RegistrationCase(row: 57, name: "identity point (all zero)", code: .invalidPublicKey) {
            let zero = COSEKeyEdits.replacing($0.key.coseKey, label: -2, with: .bytes([UInt8](repeating: 0, count: 32)))
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing((try? CBORDecoder.decode(zero)) ?? .null, label: -3, with: .bytes([UInt8](repeating: 0, count: 32)))
        },
        RegistrationCase(row: 58, name: "RSA modulus of 1024 bits", code: .invalidPublicKey, algorithm: .rs256) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -1, with: .bytes([0xC1] + [UInt8](repeating: 0x55, count: 126) + [0x01]))
        },
        RegistrationCase(row: 58, name: "RSA even modulus", code: .invalidPublicKey, algorithm: .rs256) {
            var n = $0.key.rsaPrimitives?.n ?? []
            n[n.count - 1] &= 0xFE
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -1, with: .bytes(n))
        },
        RegistrationCase(row: 58, name: "RSA exponent 1", code: .invalidPublicKey, algorithm: .rs256) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -2, with: .bytes([0x01]))
        },
        RegistrationCase(row: 58, name: "RSA exponent 0", code: .invalidPublicKey, algorithm: .rs256) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -2, with: .bytes([0x00]))
        },
        RegistrationCase(row: 58, name: "RSA oversized exponent", code: .invalidPublicKey, algorithm: .rs256) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -2, with: .bytes([0x01, 0, 0, 0, 0, 0x01]))
        },
        RegistrationCase(row: 59, name: "credential key with alg RS1", code: .unsupportedAlgorithm, algorithm: .rs256) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: 3, with: .int(-65535))
        },
        RegistrationCase(row: 59, name: "credential key with alg ES256K", code: .unsupportedAlgorithm) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: 3, with: .int(-47))
        },
        RegistrationCase(row: 59, name: "credential key of an unknown kty", code: .unsupportedAlgorithm) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: 1, with: .int(7))
        },
        RegistrationCase(row: 60, name: "Ed25519 x of 31 bytes", code: .invalidPublicKey, algorithm: .edDSA) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -2, with: .bytes([UInt8](repeating: 3, count: 31)))
        },
        RegistrationCase(row: 60, name: "Ed448 curve", code: .invalidPublicKey, algorithm: .edDSA) {
            $0.authenticatorData.credentialPublicKey = COSEKeyEdits.replacing($0.key.coseKey, label: -1, with: .int(7))
        },
        RegistrationCase(row: 43, name: "Firefox A3 map header with four entries", code: .malformedAuthenticatorData, algorithm: .edDSA) {
            var bytes = $0.key.coseBytes
            bytes[0] = 0xA3
            $0.authenticatorData.credentialPublicKey = bytes
        },
        RegistrationCase(row: 42, name: "COSE key with a non-shortest integer", code: .malformedCBOR) {
            // kty 2 written as 0x18 0x02 instead of 0x02: re-encoding would hide it.
            var bytes = $0.key.coseBytes
            bytes.replaceSubrange(2...2, with: [0x18, 0x02])
            $0.authenticatorData.credentialPublicKey = bytes
        },

        // A. envelope (registration)
        RegistrationCase(row: 3, name: "rawId differs from the attested credential ID", code: .credentialIDMismatch) {
            let other = Base64URL.encode([UInt8](repeating: 0xAB, count: 16))
            $0.idOverride = other
            $0.rawIDOverride = other
        },
        RegistrationCase(row: 105, name: "credential listed in excludeCredentials", code: .credentialIDMismatch,
                         expectations: {
                             var e = Fixtures.registrationExpectations()
                             e.excludedCredentialIDs = [[UInt8](repeating: 0x42, count: 16)]
                             return e
                         }()) {
            $0.authenticatorData.credentialID = [UInt8](repeating: 0x42, count: 16)
        },

        // G. attestation, common
        RegistrationCase(row: 69, name: "none with a non-empty attStmt", code: .attestationInvalid,
                         attestation: AttestationFixture(format: "none") { _ in .map(CBORMap([(.text("x5c"), .array([]))])) }) { _ in },
        RegistrationCase(row: 70, name: "trusted attestation required, got none", code: .attestationUntrusted,
                         expectations: Fixtures.registrationExpectations(requireTrusted: true), trust: AttestationTrust(anchors: [Fixtures.pki.root])) { _ in },
        RegistrationCase(row: 70, name: "trusted attestation required, got self", code: .attestationUntrusted, attestation: .packedSelf(),
                         expectations: Fixtures.registrationExpectations(requireTrusted: true), trust: AttestationTrust(anchors: [Fixtures.pki.root])) { _ in },
        RegistrationCase(row: 71, name: "x5c with no trust anchors configured", code: .attestationUntrusted, attestation: .packed(pki: Fixtures.pki),
                         expectations: Fixtures.registrationExpectations(requireTrusted: true)) { _ in },
        RegistrationCase(row: 72, name: "x5c ending in its own self-signed root", code: .attestationUntrusted,
                         attestation: .packed(pki: TestPKI(name: "Attacker"), options: { var o = AttestationFixture.PackedOptions(); o.includeRoot = true; return o }()),
                         expectations: Fixtures.registrationExpectations(requireTrusted: true), trust: AttestationTrust(anchors: [Fixtures.pki.root])) { _ in },
        RegistrationCase(row: 74, name: "attestation certificate expired at now", code: .attestationUntrusted,
                         attestation: .packed(pki: Fixtures.pki, options: {
                             var o = AttestationFixture.PackedOptions()
                             o.notValidAfter = FixedClock.now.addingTimeInterval(-86400)
                             return o
                         }()),
                         expectations: Fixtures.registrationExpectations(requireTrusted: true), trust: AttestationTrust(anchors: [Fixtures.pki.root])) { _ in },
        RegistrationCase(row: 74, name: "attestation certificate not yet valid at now", code: .attestationUntrusted,
                         attestation: .packed(pki: Fixtures.pki, options: {
                             var o = AttestationFixture.PackedOptions()
                             o.notValidBefore = FixedClock.now.addingTimeInterval(86400)
                             return o
                         }()),
                         expectations: Fixtures.registrationExpectations(requireTrusted: true), trust: AttestationTrust(anchors: [Fixtures.pki.root])) { _ in },
        RegistrationCase(row: 75, name: "attestation certificate with CA=true", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.isCA = true; return o }())) { _ in },
        // §8.2.1: the certificate MUST have Basic Constraints with CA false; leaving it out is not the same.
        RegistrationCase(row: 75, name: "packed attestation certificate without Basic Constraints", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.omitBasicConstraints = true; return o }())) { _ in },

        // H. packed
        RegistrationCase(row: 80, name: "packed x5c signature by another key", code: .badSignature,
                         attestation: AttestationFixture(format: "packed") { input in
                             guard case .map(let m) = AttestationFixture.packed(pki: Fixtures.pki).statement(for: input) else { return .null }
                             return .map(CBORMap(m.entries.map { ($0.key, $0.key == .text("sig") ? .bytes(TestKey(.es256).sign(input.signedData)) : $0.value) }))
                         }) { _ in },
        RegistrationCase(row: 80, name: "packed alg unknown", code: .unsupportedAlgorithm,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.statedAlgorithm = COSEAlgorithm(rawValue: -999); return o }())) { _ in },
        RegistrationCase(row: 67, name: "packed alg ES384 for a P-256 certificate key", code: .unsupportedAlgorithm,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.statedAlgorithm = .es384; return o }())) { _ in },
        RegistrationCase(row: 81, name: "packed certificate version 1", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.version = .v1; return o }())) { _ in },
        RegistrationCase(row: 81, name: "packed certificate OU wrong", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: {
                             var o = AttestationFixture.PackedOptions()
                             o.subject = (try? DistinguishedNameFixtures.subject(ou: "Something Else")) ?? o.subject
                             return o
                         }())) { _ in },
        RegistrationCase(row: 81, name: "packed certificate without C", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: {
                             var o = AttestationFixture.PackedOptions()
                             o.subject = (try? DistinguishedNameFixtures.subject(country: nil)) ?? o.subject
                             return o
                         }())) { _ in },
        RegistrationCase(row: 81, name: "packed certificate without CN", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: {
                             var o = AttestationFixture.PackedOptions()
                             o.subject = (try? DistinguishedNameFixtures.subject(commonName: nil)) ?? o.subject
                             return o
                         }())) { _ in },
        RegistrationCase(row: 82, name: "packed AAGUID extension differs", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.aaguidExtension = .some(AAGUID(bytes: Array(repeating: 0xEE, count: 16))); return o }())) { _ in },
        RegistrationCase(row: 82, name: "packed AAGUID extension critical", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.aaguidExtensionCritical = true; return o }())) { _ in },
        RegistrationCase(row: 83, name: "packed self with another alg than the key's", code: .attestationInvalid, attestation: .packedSelf(algorithm: .es384)) { _ in },
        RegistrationCase(row: 83, name: "packed self with a bad signature", code: .attestationInvalid,
                         attestation: AttestationFixture(format: "packed") { input in
                             .map(CBORMap([(.text("alg"), .int(-7)), (.text("sig"), .bytes(TestKey(.es256).sign(input.signedData)))]))
                         }) { _ in },
        RegistrationCase(row: 84, name: "packed ecdaaKeyId", code: .attestationInvalid,
                         attestation: .packed(pki: Fixtures.pki, options: { var o = AttestationFixture.PackedOptions(); o.ecdaaKeyID = true; return o }())) { _ in },

        // I. tpm
        RegistrationCase(row: 86, name: "tpm ver 1.2", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.version = "1.2"; return o }())) { _ in },
        RegistrationCase(row: 87, name: "tpm pubArea holds another key", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.otherKeyInPubArea = true; return o }())) { _ in },
        RegistrationCase(row: 87, name: "tpm pubArea holds another RSA key", code: .attestationInvalid, algorithm: .rs256,
                         attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.rsaExponentOverride = 3; return o }())) { _ in },
        RegistrationCase(row: 88, name: "tpm magic wrong", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.magic = 0xFF54_4348; return o }())) { _ in },
        RegistrationCase(row: 88, name: "tpm type wrong", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.type = 0x8018; return o }())) { _ in },
        RegistrationCase(row: 89, name: "tpm extraData wrong", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.wrongExtraData = true; return o }())) { _ in },
        RegistrationCase(row: 90, name: "tpm attested name wrong", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.wrongName = true; return o }())) { _ in },
        RegistrationCase(row: 91, name: "tpm pubArea with a trailing byte", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.trailingPubArea = true; return o }())) { _ in },
        RegistrationCase(row: 92, name: "tpm AIK with a subject", code: .attestationInvalid,
                         attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.subject = TestPKI.attestationSubject(); return o }())) { _ in },
        RegistrationCase(row: 92, name: "tpm AIK without the AIK EKU", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.omitEKU = true; return o }())) { _ in },
        RegistrationCase(row: 92, name: "tpm AIK SAN not critical", code: .attestationInvalid, attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.sanCritical = false; return o }())) { _ in },
        RegistrationCase(row: 93, name: "tpm AIK AAGUID extension differs", code: .attestationInvalid,
                         attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.aaguidExtension = AAGUID(bytes: Array(repeating: 0xEE, count: 16)); return o }())) { _ in },
        // Row 94 lists RS1 as refused; §8.3 verifies sig with whatever alg names (Windows Hello signs
        // with RS1), so an RS1 statement is accepted (TPMTests) as long as extraData uses SHA-1.
        RegistrationCase(row: 94, name: "tpm alg RS1 with a SHA-256 extraData", code: .attestationInvalid,
                         attestation: .tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.aikAlgorithm = .rs1; o.extraDataHashOverride = .es256; return o }())) { _ in },
        RegistrationCase(row: 94, name: "tpm alg RS1 naming an EC AIK", code: .unsupportedAlgorithm,
                         attestation: AttestationFixture(format: "tpm") { input in
                             guard case .map(let m) = AttestationFixture.tpm(pki: Fixtures.pki, options: { var o = AttestationFixture.TPMOptions(); o.extraDataHashOverride = .rs1; return o }()).statement(for: input) else { return .null }
                             return .map(CBORMap(m.entries.map { ($0.key, $0.key == .text("alg") ? .int(-65535) : $0.value) }))
                         }) { _ in },

        // J. android-key, safetynet, fido-u2f, apple, compound
        RegistrationCase(row: 95, name: "android-key certificate key is not the credential key", code: .attestationInvalid,
                         attestation: AttestationFixture(format: "android-key") { input in
                             let other = AttestationFixture.input(input, credentialKey: TestKey(.es256))
                             return AttestationFixture.androidKey(pki: Fixtures.pki).statement(for: other)
                         }) { _ in },
        RegistrationCase(row: 96, name: "android-key challenge wrong", code: .attestationInvalid, attestation: .androidKey(pki: Fixtures.pki, options: { var o = AttestationFixture.AndroidKeyOptions(); o.wrongChallenge = true; return o }())) { _ in },
        RegistrationCase(row: 97, name: "android-key allApplications", code: .attestationInvalid, attestation: .androidKey(pki: Fixtures.pki, options: { var o = AttestationFixture.AndroidKeyOptions(); o.allApplications = true; return o }())) { _ in },
        RegistrationCase(row: 98, name: "android-key origin imported", code: .attestationInvalid, attestation: .androidKey(pki: Fixtures.pki, options: { var o = AttestationFixture.AndroidKeyOptions(); o.origin = 2; return o }())) { _ in },
        RegistrationCase(row: 98, name: "android-key purpose without SIGN", code: .attestationInvalid, attestation: .androidKey(pki: Fixtures.pki, options: { var o = AttestationFixture.AndroidKeyOptions(); o.purposes = [3]; return o }())) { _ in },
        RegistrationCase(row: 99, name: "android-key KeyDescription with trailing data", code: .attestationInvalid, attestation: .androidKey(pki: Fixtures.pki, options: { var o = AttestationFixture.AndroidKeyOptions(); o.trailingBytes = true; return o }())) { _ in },
        RegistrationCase(row: 100, name: "safetynet nonce wrong", code: .attestationInvalid, attestation: .safetyNet(pki: Fixtures.pki, options: { var o = AttestationFixture.SafetyNetOptions(); o.wrongNonce = true; return o }())) { _ in },
        RegistrationCase(row: 100, name: "safetynet ctsProfileMatch false", code: .attestationInvalid, attestation: .safetyNet(pki: Fixtures.pki, options: { var o = AttestationFixture.SafetyNetOptions(); o.ctsProfileMatch = false; return o }())) { _ in },
        RegistrationCase(row: 100, name: "safetynet wrong hostname", code: .attestationInvalid, attestation: .safetyNet(pki: Fixtures.pki, options: { var o = AttestationFixture.SafetyNetOptions(); o.hostname = "attest.evil.com"; return o }())) { _ in },
        RegistrationCase(row: 100, name: "safetynet stale timestamp", code: .attestationInvalid, attestation: .safetyNet(pki: Fixtures.pki, options: { var o = AttestationFixture.SafetyNetOptions(); o.timestamp = FixedClock.now.addingTimeInterval(-3600); return o }())) { _ in },
        RegistrationCase(row: 100, name: "safetynet bad JWS signature", code: .attestationInvalid, attestation: .safetyNet(pki: Fixtures.pki, options: { var o = AttestationFixture.SafetyNetOptions(); o.badSignature = true; return o }())) { _ in },
        RegistrationCase(row: 101, name: "fido-u2f with two certificates", code: .attestationInvalid, attestation: .fidoU2F(pki: Fixtures.pki, extraCertificate: true), aaguid: .zero) { _ in },
        // Row 101 also lists "AAGUID ≠ 0"; §8.6 has no such step and the specification's own fido-u2f
        // vector (§16) carries a non-zero AAGUID, so the spec wins (see SpecVectorTests).
        RegistrationCase(row: 101, name: "fido-u2f with an Ed25519 credential", code: .attestationInvalid, algorithm: .edDSA, attestation: .fidoU2F(pki: Fixtures.pki), aaguid: .zero) { _ in },
        RegistrationCase(row: 101, name: "fido-u2f signature over other data", code: .badSignature, attestation: .fidoU2F(pki: Fixtures.pki), aaguid: .zero) {
            // The signature binds the credential ID; one more byte of ID in authData breaks it.
            $0.attestation = AttestationFixture(format: "fido-u2f") { input in
                let shifted = AttestationFixture.input(input, credentialID: input.credentialID + [0])
                return AttestationFixture.fidoU2F(pki: Fixtures.pki).statement(for: shifted)
            }
        },
        RegistrationCase(row: 102, name: "apple nonce wrong", code: .attestationInvalid, attestation: .apple(pki: Fixtures.pki, wrongNonce: true)) { _ in },
        RegistrationCase(row: 102, name: "apple certificate key is not the credential key", code: .attestationInvalid, attestation: .apple(pki: Fixtures.pki, otherKey: true)) { _ in },
        RegistrationCase(row: 103, name: "compound with one statement", code: .attestationInvalid, attestation: .compound([.packedSelf()])) { _ in },
        RegistrationCase(row: 103, name: "compound nested", code: .attestationInvalid, attestation: .compound([.packedSelf(), .compound([.packedSelf(), .packedSelf()])])) { _ in },
        RegistrationCase(row: 103, name: "compound with a failing member", code: .attestationInvalid, attestation: .compound([.packedSelf(), .apple(pki: Fixtures.pki, wrongNonce: true)])) { _ in },
        RegistrationCase(row: 103, name: "compound with a non-map entry", code: .attestationInvalid,
                         attestation: AttestationFixture(format: "compound") { _ in .array([.unsigned(1), .unsigned(2)]) }) { _ in },
        RegistrationCase(row: 103, name: "compound attStmt as a map", code: .malformedCBOR,
                         attestation: AttestationFixture(format: "compound") { _ in .map(CBORMap()) }) { _ in },
    ]

    @Test(arguments: cases)
    func refusesWithTheRightCode(_ testCase: RegistrationCase) async {
        await testCase.run()
    }
}
