import CBOR
import Foundation
import PortcullisCommands
import PortcullisTesting
import Testing
import WebAuthn

/// The `portcullis webauthn` contract, run in process and through the built executable.
@Suite struct WebAuthnCommandTests {
    static let challenge: [UInt8] = Array(100..<132)
    static let challengeText = Base64URL.encode(challenge)
    static let pki = TestPKI()

    struct Outcome {
        let status: Int32
        let json: JSONObject
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String], stdin: [UInt8] = []) async -> Outcome {
        let io = CommandIO(stdin: { stdin })
        let status = await PortcullisCLI.run(arguments: arguments, io: io)
        let lines = io.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        let json = lines.count == 1 ? ((try? StrictJSON.parse(Array(lines[0].utf8)))?.object ?? [:]) : [:]
        return Outcome(status: status, json: json, stdout: io.stdout, stderr: io.stderr)
    }

    static func temporaryFile(_ bytes: [UInt8], name: String = UUID().uuidString) -> String {
        let path = NSTemporaryDirectory() + "portcullis-test-" + name
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    static let registrationArguments = ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", challengeText, "--at", "2026-01-01T00:00:00Z"]

    @Test func verifiesARegistrationWithTheContractedOutput() async throws {
        let fixture = VirtualAuthenticator().registration(challenge: Self.challenge, attestation: .packed(pki: Self.pki))
        let anchor = Self.temporaryFile(Array(TestPKI.pem(Self.pki.root).utf8))
        let outcome = await Self.run(Self.registrationArguments + ["--trust-anchor", anchor, "-"], stdin: fixture.json())
        #expect(outcome.status == 0, "\(outcome.stdout) \(outcome.stderr)")
        let j = outcome.json
        #expect(j["verified"] == .bool(true))
        #expect(j["credentialId"] == .string(Base64URL.encode(fixture.credentialID)))
        #expect(j["publicKey"] == .string(Base64URL.encode(fixture.key.coseBytes)))
        #expect(j["algorithm"] == .int(-7))
        #expect(j["signCount"] == .int(0))
        #expect(j["aaguid"] == .string("01020304-0506-0708-090a-0b0c0d0e0f10"))
        #expect(j["attestationFormat"] == .string("packed"))
        #expect(j["attestationType"] == .string("basic"))
        #expect(j["trusted"] == .bool(true))
        #expect(j["userVerified"] == .bool(true))
        #expect(j["backupEligible"] == .bool(false))
        #expect(j["backedUp"] == .bool(false))
        #expect(j.members.map(\.key) == ["verified", "credentialId", "publicKey", "algorithm", "signCount", "aaguid", "attestationFormat", "attestationType", "trusted", "userVerified", "backupEligible", "backedUp"])
    }

    @Test func untrustedAttestationIsAcceptedUnlessTrustIsRequired() async throws {
        let fixture = VirtualAuthenticator().registration(challenge: Self.challenge, attestation: .packed(pki: Self.pki))
        let file = Self.temporaryFile(fixture.json())
        let accepted = await Self.run(Self.registrationArguments + [file])
        #expect(accepted.status == 0)
        #expect(accepted.json["trusted"] == .bool(false))
        let refused = await Self.run(Self.registrationArguments + ["--require-trusted-attestation", file])
        #expect(refused.status == 1)
        #expect(refused.json["verified"] == .bool(false))
        #expect(refused.json["error"] == .string("attestation_untrusted"))
        #expect(refused.json["detail"]?.string?.isEmpty == false)
    }

    @Test func userVerificationDefaultsToPreferred() async throws {
        var fixture = VirtualAuthenticator().registration(challenge: Self.challenge)
        fixture.authenticatorData.flags.remove(.userVerified)
        let file = Self.temporaryFile(fixture.json())
        #expect(await Self.run(Self.registrationArguments + [file]).status == 0)
        let required = await Self.run(Self.registrationArguments + ["--user-verification", "required", file])
        #expect(required.status == 1)
        #expect(required.json["error"] == .string("user_verification_missing"))
    }

    @Test(arguments: [
        ("example.org", "https://login.example.org", "origin_mismatch"),  // an allowed origin, but not the client's
        ("login.example.org", "https://login.example.org", "rp_id_hash_mismatch"),  // client at login., credential for example.org
    ])
    func rejectionsCarryStableCodes(rpID: String, origin: String, code: String) async throws {
        var authenticator = VirtualAuthenticator()
        if code == "rp_id_hash_mismatch" { authenticator.origin = "https://login.example.org" }
        let fixture = authenticator.registration(challenge: Self.challenge)
        let arguments = ["webauthn", "verify-registration", "--rp-id", rpID, "--origin", origin, "--challenge", Self.challengeText, "-"]
        let outcome = await Self.run(arguments, stdin: fixture.json())
        #expect(outcome.status == 1, "\(outcome.stdout) \(outcome.stderr)")
        #expect(outcome.json["error"] == .string(code))
    }

    @Test func aRelatedOriginOutsideTheRPIDIsAnAllowedOrigin() async throws {
        // Related Origin Requests (§5.11): a client at https://example.de uses RP ID example.org.
        var authenticator = VirtualAuthenticator()
        authenticator.origin = "https://example.de"
        let fixture = authenticator.registration(challenge: Self.challenge)
        let base = ["webauthn", "verify-registration", "--rp-id", "example.org", "--challenge", Self.challengeText]
        let related = await Self.run(base + ["--origin", "https://example.org", "--origin", "https://example.de", "-"], stdin: fixture.json())
        #expect(related.status == 0, "\(related.stdout) \(related.stderr)")
        #expect(related.json["verified"] == .bool(true))
        // Listed or not, the comparison is exact: without example.de the same response is refused.
        let unlisted = await Self.run(base + ["--origin", "https://example.org", "--origin", "https://example.com", "-"], stdin: fixture.json())
        #expect(unlisted.status == 1)
        #expect(unlisted.json["error"] == .string("origin_mismatch"))
    }

    @Test func aChallengeStartingWithADashWorksInBothSpellings() async throws {
        var challenge: [UInt8] = [0xF8] + Array(repeating: 1, count: 31)  // base64url "-A..."
        #expect(Base64URL.encode(challenge).hasPrefix("-"))
        let fixture = VirtualAuthenticator().registration(challenge: challenge)
        let text = Base64URL.encode(challenge)
        let base = ["webauthn", "verify-registration", "--rp-id=example.org", "--origin=https://example.org"]
        #expect(await Self.run(base + ["--challenge=\(text)", "-"], stdin: fixture.json()).status == 0)
        #expect(await Self.run(base + ["--challenge", text, "-"], stdin: fixture.json()).status == 0)
        challenge[5] ^= 1
        #expect(await Self.run(base + ["--challenge=\(Base64URL.encode(challenge))", "-"], stdin: fixture.json()).json["error"] == .string("challenge_mismatch"))
    }

    @Test(arguments: [
        ["webauthn", "verify-registration", "--origin", "https://example.org", "--challenge", "AAAA"],  // missing --rp-id
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--challenge", "AAAA"],  // missing --origin
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AA+A"],  // bad base64url
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "--at", "yesterday"],
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "--user-verification", "always"],
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "/nonexistent/file.json"],
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "--trust-anchor", "/nonexistent.pem", "-"],
        ["webauthn", "verify-registration", "--rp-id", "example.org", "--origin", "not an origin", "--challenge", "AAAA", "-"],
        ["webauthn", "verify-authentication", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "--public-key", "AAAA", "--sign-count", "-1", "-"],
        ["webauthn", "verify-authentication", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "--public-key", "!!", "--sign-count", "0", "-"],
        ["webauthn", "verify-authentication", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", "AAAA", "--sign-count", "0", "-"],
        ["webauthn", "verify-registration", "--bogus"],
    ])
    func usageErrorsExitWithTwo(arguments: [String]) async {
        let outcome = await Self.run(arguments, stdin: Array("{}".utf8))
        #expect(outcome.status == 2, "\(arguments): \(outcome.stdout) \(outcome.stderr)")
        #expect(outcome.json["verified"] == .bool(false))
        #expect(outcome.json["error"] == .string("usage"))
    }

    @Test(arguments: ["", "[]", "\"text\"", "42", "{not json"])
    func inputThatIsNotAJSONObjectIsARejection(input: String) async {
        let outcome = await Self.run(Self.registrationArguments + ["-"], stdin: Array(input.utf8))
        #expect(outcome.status == 1)
        #expect(outcome.json["error"] == .string("malformed_response"))
    }

    @Test func verifiesAnAuthentication() async throws {
        let authenticator = VirtualAuthenticator()
        let registration = authenticator.registration(challenge: Self.challenge, algorithm: .edDSA)
        var assertion = authenticator.assertion(challenge: Self.challenge, credential: registration, signCount: 7)
        assertion.authenticatorData.flags.formUnion([.backupEligible, .backedUp])
        let arguments = ["webauthn", "verify-authentication", "--rp-id", "example.org", "--origin", "https://example.org",
                         "--challenge", Self.challengeText, "--public-key", Base64URL.encode(registration.key.coseBytes)]
        let outcome = await Self.run(arguments + ["--sign-count", "3", "-"], stdin: assertion.json())
        #expect(outcome.status == 0, "\(outcome.stdout)")
        #expect(outcome.json == ["verified": .bool(true), "newSignCount": .int(7), "userVerified": .bool(true), "backupEligible": .bool(true), "backedUp": .bool(true)])
        let regression = await Self.run(arguments + ["--sign-count=7", "-"], stdin: assertion.json())
        #expect(regression.status == 1)
        #expect(regression.json["error"] == .string("sign_count_regression"))
        let wrongKey = await Self.run(
            ["webauthn", "verify-authentication", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", Self.challengeText,
             "--public-key", Base64URL.encode(TestKey(.edDSA).coseBytes), "--sign-count", "0", "-"], stdin: assertion.json())
        #expect(wrongKey.json["error"] == .string("bad_signature"))
        let badKey = await Self.run(
            ["webauthn", "verify-authentication", "--rp-id", "example.org", "--origin", "https://example.org", "--challenge", Self.challengeText,
             "--public-key", Base64URL.encode(CBOREncoder.encode(.map(CBORMap([(.int(1), .int(9))])))), "--sign-count", "0", "-"], stdin: assertion.json())
        #expect(badKey.status == 1)
        #expect(badKey.json["error"] == .string("invalid_public_key"))
    }

    @Test func decodeShowsWhatAResponseContains() async throws {
        var authenticator = VirtualAuthenticator()
        authenticator.aaguid = AAGUID(string: "fbfc3007-154e-4ecc-8c0b-6e020557d7bd") ?? .zero
        let fixture = authenticator.registration(challenge: Self.challenge, attestation: .packed(pki: Self.pki))
        let outcome = await Self.run(["webauthn", "decode", "-"], stdin: fixture.json())
        #expect(outcome.status == 0)
        #expect(outcome.json["kind"] == .string("registration"))
        #expect(outcome.json["clientData"]?.object?["type"] == .string("webauthn.create"))
        let authData = outcome.json["authenticatorData"]?.object
        #expect(authData?["provider"] == .string("iCloud Keychain"))
        #expect(authData?["flags"]?.object?["userVerified"] == .bool(true))
        #expect(authData?["publicKey"]?.object?["keyType"] == .string("P-256"))
        let attestation = outcome.json["attestation"]?.object
        #expect(attestation?["format"] == .string("packed"))
        #expect(attestation?["certificates"]?.array?.count == 2)
        #expect(attestation?["certificates"]?.array?.first?.object?["subject"]?.string?.contains("Authenticator Attestation") == true)

        let assertion = authenticator.assertion(challenge: Self.challenge, credential: fixture)
        let decoded = await Self.run(["webauthn", "decode", "-"], stdin: assertion.json())
        #expect(decoded.json["kind"] == .string("authentication"))
        #expect(decoded.json["authenticatorData"]?.object?["signCount"] == .int(1))

        let broken = await Self.run(["webauthn", "decode", "-"], stdin: Array("[1]".utf8))
        #expect(broken.status == 1)
        #expect(broken.json["error"] == .string("malformed_response"))
    }

    @Test func trustAnchorsFromAnMDSBLOB() async throws {
        let vendor = TestPKI(name: "Vendor")
        let authenticator = VirtualAuthenticator()
        let blob = MetadataBLOBFixture.make(pki: Self.pki, entries: [.init(aaguid: authenticator.aaguid, roots: [vendor.root])])
        let blobFile = Self.temporaryFile(blob)
        let rootFile = Self.temporaryFile(Array(TestPKI.pem(Self.pki.root).utf8))
        let fixture = authenticator.registration(challenge: Self.challenge, attestation: .packed(pki: vendor))
        let outcome = await Self.run(Self.registrationArguments + ["--mds-blob", blobFile, "--mds-root", rootFile, "--require-trusted-attestation", "-"], stdin: fixture.json())
        #expect(outcome.status == 0, "\(outcome.stdout) \(outcome.stderr)")
        #expect(outcome.json["trusted"] == .bool(true))
    }

    /// The real executable, for exit statuses and standard streams.
    @Test func theExecutableKeepsTheContract() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("portcullis").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the portcullis product before the tests")
        func run(_ arguments: [String], stdin: [UInt8]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            input.fileHandleForWriting.write(Data(stdin))
            try input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let fixture = VirtualAuthenticator().registration(challenge: Self.challenge)
        let (ok, okOut) = try run(Self.registrationArguments + ["-"], stdin: fixture.json())
        #expect(ok == 0)
        #expect(okOut.hasPrefix("{\"verified\":true"))
        #expect(try run(Self.registrationArguments + ["-"], stdin: Array("[]".utf8)).0 == 1)
        #expect(try run(["webauthn", "verify-registration", "--rp-id", "example.org"], stdin: []).0 == 2)
        #expect(try run(["--help"], stdin: []).0 == 0)
    }
}
