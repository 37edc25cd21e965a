import CBOR
import Foundation
import PortcullisTesting
import Testing
@testable import WebAuthn

@Suite struct EnvelopeTests {
    static func registrationJSON(_ edit: (inout JSONObject) -> Void) -> [UInt8] {
        editJSON(Fixtures.authenticator.registration(challenge: Fixtures.challenge), edit)
    }

    static func responseMember(_ key: String, _ value: JSONValue?) -> (inout JSONObject) -> Void {
        { object in
            var response = object["response"]?.object ?? [:]
            response[key] = value
            object["response"] = .object(response)
        }
    }

    static let cases: [(Int, String, WebAuthnError.Code, [UInt8])] = [
        (1, "id is not base64url(rawId)", .credentialIDMismatch, registrationJSON { $0["id"] = .string("AAAA") }),
        (1, "rawId missing", .malformedResponse, registrationJSON { $0["rawId"] = nil }),
        (2, "type is not public-key", .malformedResponse, registrationJSON { $0["type"] = .string("password") }),
        (4, "clientDataJSON as a number", .malformedResponse, registrationJSON(responseMember("clientDataJSON", .int(5)))),
        (4, "attestationObject as a boolean", .malformedResponse, registrationJSON(responseMember("attestationObject", .bool(true)))),
        (4, "clientDataJSON with padding", .malformedResponse, registrationJSON { object in
            let value = object["response"]?.object?["clientDataJSON"]?.string ?? ""
            responseMember("clientDataJSON", .string(value + "="))(&object)
        }),
        (4, "clientDataJSON in the standard alphabet", .malformedResponse, registrationJSON(responseMember("clientDataJSON", .string("ab+/")))),
        (4, "clientDataJSON with white space", .malformedResponse, registrationJSON(responseMember("clientDataJSON", .string("ab cd")))),
        (5, "clientDataJSON over its cap", .responseTooLarge, registrationJSON(responseMember("clientDataJSON", .string(String(repeating: "A", count: 12_000))))),
        (5, "whole body over 64 KiB", .responseTooLarge, Array(repeating: UInt8(ascii: " "), count: 70_000)),
        (6, "not JSON", .malformedResponse, Array("{not json".utf8)),
        (6, "JSON array", .malformedResponse, Array("[]".utf8)),
        (6, "response missing", .malformedResponse, registrationJSON { $0["response"] = nil }),
        (6, "duplicate keys in the envelope", .malformedResponse, Array(#"{"id":"AA","id":"AA"}"#.utf8)),
        (6, "clientExtensionResults not an object", .malformedResponse, registrationJSON { $0["clientExtensionResults"] = .array([]) }),
        (6, "transports not an array", .malformedResponse, registrationJSON(responseMember("transports", .string("usb")))),
    ]

    @Test(arguments: 0..<cases.count)
    func envelopeIsStrict(index: Int) {
        let (row, name, code, json) = Self.cases[index]
        #expect(throws: WebAuthnError.self, "#\(row) \(name)") { try RegistrationResponse(json: json) }
        do {
            _ = try RegistrationResponse(json: json)
        } catch let error as WebAuthnError {
            #expect(error.code == code, "#\(row) \(name): \(error.debugDescription)")
        } catch {
            Issue.record("#\(row) \(name): \(error)")
        }
    }

    @Test func unknownClientDataMembersAreTolerated() async throws {  // row 25
        var fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        fixture.clientData.extra = [("other_keys_can_be_added_here", .string("x")), ("androidPackageName", .string("com.example"))]
        _ = try await Fixtures.verifyRegistration(fixture)
    }

    @Test func aLeadingBOMIsStripped() async throws {  // row 7
        var fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        fixture.clientData.rawOverride = [0xEF, 0xBB, 0xBF] + fixture.clientData.bytes
        _ = try await Fixtures.verifyRegistration(fixture)
    }

    @Test func tokenBindingOtherThanPresentIsIgnored() async throws {  // row 24
        var fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        fixture.clientData.extra = [("tokenBinding", .object(["status": .string("supported")]))]
        _ = try await Fixtures.verifyRegistration(fixture)
    }

    @Test func theExactClientDataBytesAreHashed() async throws {  // row 27
        // Insignificant white space changes the hash; a verifier that re-serialized would still pass.
        let registration = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        var assertion = Fixtures.authenticator.assertion(challenge: Fixtures.challenge, credential: registration)
        let original = assertion.clientData.bytes
        let signature = assertion.signature
        assertion.clientData.rawOverride = Array(String(decoding: original, as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)
        assertion.signatureTransform = { _ in signature }
        await expectCode(.badSignature) { _ = try Fixtures.verifyAssertion(assertion, credential: try Fixtures.stored(registration)) }
    }

    @Test func crossOriginIsAcceptedWhenEmbeddingIsConfigured() async throws {  // rows 21, 23
        var fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        fixture.clientData.crossOrigin = true
        fixture.clientData.topOrigin = "https://partner.example"
        _ = try await Fixtures.verifyRegistration(fixture, expectations: Fixtures.registrationExpectations(topOrigins: ["https://partner.example"]))
    }

    @Test func reservedFlagBitsAreIgnored() async throws {  // row 46
        var fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        fixture.authenticatorData.flags.formUnion(.reserved)
        _ = try await Fixtures.verifyRegistration(fixture)
    }

    @Test func authenticatorAttachmentIsNotASecurityInput() async throws {  // row 116
        let fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge)
        let json = editJSON(fixture) { $0["authenticatorAttachment"] = .string("cross-platform") }
        let response = try RegistrationResponse(json: json)
        _ = try await RegistrationVerifier().verify(response, expecting: Fixtures.registrationExpectations(), at: FixedClock.now)
    }
}

@Suite struct TruncationTests {
    static let formats: [AttestationFixture] = [.none, .packed(pki: Fixtures.pki), .tpm(pki: Fixtures.pki), .androidKey(pki: Fixtures.pki)]

    @Test(arguments: 0..<formats.count)
    func everyPrefixOfAnAttestationObjectIsRefused(index: Int) throws {
        let fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge, attestation: Self.formats[index])
        let bytes = fixture.attestationObject
        _ = try AttestationObject(bytes: bytes)
        for length in 0..<bytes.count {
            #expect(throws: WebAuthnError.self, "prefix \(length)") { try AttestationObject(bytes: Array(bytes.prefix(length))) }
        }
    }

    @Test(arguments: [COSEAlgorithm.es256, .edDSA, .rs256, .es512])
    func everyPrefixOfAuthenticatorDataAndCOSEKeyIsRefused(algorithm: COSEAlgorithm) throws {
        var fixture = Fixtures.authenticator.registration(challenge: Fixtures.challenge, algorithm: algorithm)
        fixture.authenticatorData.flags.insert(.extensionData)
        fixture.authenticatorData.extensions = CBOREncoder.encode(.map(CBORMap([(.text("credProtect"), .unsigned(2))])))
        let authData = fixture.authenticatorData.bytes
        _ = try AuthenticatorData(bytes: authData)
        for length in 0..<authData.count {
            #expect(throws: WebAuthnError.self, "prefix \(length)") { try AuthenticatorData(bytes: Array(authData.prefix(length))) }
        }
        let key = fixture.key.coseBytes
        _ = try CredentialPublicKey(coseBytes: key)
        for length in 0..<key.count {
            #expect(throws: WebAuthnError.self, "prefix \(length)") { try CredentialPublicKey(coseBytes: key.prefix(length)) }
        }
    }

    @Test func everyPrefixOfAResponseJSONIsRefused() throws {
        let json = Fixtures.authenticator.registration(challenge: Fixtures.challenge).json()
        for length in 0..<json.count {
            #expect(throws: WebAuthnError.self) { try RegistrationResponse(json: json.prefix(length)) }
        }
    }
}

@Suite struct Base64URLTests {
    @Test func roundTripsEveryLength() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    /// Foundation's base64, in the URL alphabet without padding, as an independent oracle.
    @Test func agreesWithFoundationOnEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
        }
    }

    /// RFC 4648 §10's vectors (without padding), and the two characters base64url changes.
    @Test(arguments: [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")])
    func encodesTheRFCVectors(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        // Any collection of bytes, not only an array, gives the same text.
        #expect(Base64URL.encode(plain.utf8.lazy.map { $0 }) == encoded)
    }

    @Test func encodesTheURLAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF][...]) == "-_-_")
    }

    @Test(arguments: ["A", "AB=", "AB==", "A+B/", "AB C", "AF", "AAB", "ABCDE", "AAAAAAA=", "é"])
    func refusesNonCanonicalText(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test func acceptsCanonicalText() {
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("AAE") == [0, 1])
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
    }

    @Test func duplicateKeysAreFoundInLargeObjectsToo() {
        var members = (0..<40).map { "\"k\($0)\":\($0)" }
        #expect((try? StrictJSON.parse(Array(("{" + members.joined(separator: ",") + "}").utf8))) != nil)
        members.append("\"k3\":0")
        #expect((try? StrictJSON.parse(Array(("{" + members.joined(separator: ",") + "}").utf8))) == nil)
    }

    /// The serializer escapes exactly `"`, `\` and the control characters, copies every other byte
    /// (multi-byte UTF-8 included), and what it writes parses back to the same value.
    @Test(arguments: [
        ("plain", #""plain""#),
        ("quote \" and \\", #""quote \" and \\""#),
        ("line\nreturn\rtab\t", #""line\nreturn\rtab\t""#),
        ("\u{01}\u{1F}\u{7F}", "\"\\u0001\\u001f\u{7F}\""),
        ("é ü 🔑 \u{2028}", "\"é ü 🔑 \u{2028}\""),
        ("", #""""#),
        ("\"starts, ends\\", #""\"starts, ends\\""#),
        ("\"\"\n\n", #""\"\"\n\n""#),
        ("\u{00}", #""\u0000""#),
    ])
    func serializerEscapesOnlyWhatJSONRequires(text: String, expected: String) throws {
        #expect(StrictJSON.serialize(.string(text)) == expected)
        #expect(StrictJSON.serializedBytes(.string(text)) == Array(expected.utf8))
        let value = JSONValue.object(["k": .string(text), "a": .array([.null, .bool(true), .bool(false), .int(-12)])])
        #expect(try StrictJSON.parse(StrictJSON.serializedBytes(value)) == value)
        #expect(StrictJSON.serialize(value) == #"{"k":"# + expected + #","a":[null,true,false,-12]}"#)
    }
}

@Suite struct AAGUIDTextTests {
    @Test(arguments: [
        ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "fbfc3007154e4ecc8c0b6e020557d7bd"),
        ("FBFC3007-154E-4ECC-8C0B-6E020557D7BD", "fbfc3007154e4ecc8c0b6e020557d7bd"),
        ("00000000-0000-0000-0000-000000000000", "00000000000000000000000000000000"),
    ])
    func parsesEitherCase(_ text: String, _ hex: String) throws {
        let aaguid = try #require(AAGUID(string: text))
        #expect(aaguid.bytes.hexString == hex)
        #expect(aaguid.description == text.lowercased())
    }

    @Test(arguments: [
        "", "fbfc3007154e4ecc8c0b6e020557d7bd", "fbfc3007-154e-4ecc-8c0b-6e020557d7b", "fbfc3007-154e-4ecc-8c0b-6e020557d7bd0",
        "fbfc3007-154e-4ecc-8c0b-6e020557d7bd-", "fbfc300-7154e-4ecc-8c0b-6e020557d7bd", "fbfc3007-154e-4ecc-8c0b+6e020557d7bd",
        "gbfc3007-154e-4ecc-8c0b-6e020557d7bd", "fbfc3007-154e-4ecc-8c0b-6e020557d7b\u{e9}", "{fbfc3007-154e-4ecc-8c0b-6e020557d7bd}",
    ])
    func refusesOtherText(_ text: String) {
        #expect(AAGUID(string: text) == nil)
    }

    @Test func describesEveryByteValue() throws {
        let aaguid = AAGUID(bytes: (0..<16).map { UInt8($0 * 17) })
        #expect(aaguid.description == "00112233-4455-6677-8899-aabbccddeeff")
        #expect(try #require(AAGUID(string: aaguid.description)) == aaguid)
    }

    @Test func everyKnownProviderIsFoundByItsParsedAAGUID() throws {
        #expect(KnownAuthenticators.byID.count == Set(KnownAuthenticators.names.keys).count)
        for (text, name) in KnownAuthenticators.names {
            #expect(KnownAuthenticators.name(for: try #require(AAGUID(string: text))) == name)
        }
        #expect(KnownAuthenticators.name(for: .zero) == nil)
    }
}
