import ArgumentParser
import Foundation
import WebAuthn

/// Options both verify commands share.
struct CeremonyOptions: ParsableArguments {
    @Option(name: .customLong("rp-id"), help: "The relying party ID.")
    var rpID: String

    @Option(name: .customLong("origin"), help: "An allowed origin (repeatable).")
    var origins: [String] = []

    @Option(name: .customLong("challenge"), parsing: .unconditional, help: "The expected challenge, base64url.")
    var challenge: String

    @Option(name: .customLong("user-verification"), help: "required | preferred | discouraged (default preferred).")
    var userVerification: String = "preferred"

    @Argument(help: "The response JSON file, or - for standard input.")
    var file: String?

    func relyingParty() throws -> RelyingParty {
        guard !origins.isEmpty else { throw UsageError("at least one --origin is required") }
        do { return try RelyingParty(id: rpID, origins: origins) } catch let error as WebAuthnError {
            throw UsageError(error.detail)
        }
    }

    func challengeBytes() throws -> [UInt8] {
        guard let bytes = Base64URL.decode(challenge), !bytes.isEmpty else {
            throw UsageError("--challenge is not non-empty base64url")
        }
        return bytes
    }

    func userVerificationRequirement() throws -> UserVerificationRequirement {
        guard let uv = UserVerificationRequirement(rawValue: userVerification) else {
            throw UsageError("--user-verification must be required, preferred or discouraged")
        }
        return uv
    }
}

/// The policy of the command: the algorithms it offers.
enum CommandPolicy {
    static let offeredAlgorithms: [COSEAlgorithm] = [.edDSA, .es256, .es384, .es512, .ps256, .rs256]
}

/// Writes a verification outcome as the one JSON object the contract promises.
enum VerificationOutput {
    static func rejected(_ error: WebAuthnError, io: CommandIO) -> Int32 {
        io.out(StrictJSON.serialize(.object([
            "verified": .bool(false), "error": .string(error.code.rawValue), "detail": .string(error.detail),
        ])) + "\n")
        return 1
    }

    static func verified(_ object: JSONObject, io: CommandIO) -> Int32 {
        io.out(StrictJSON.serialize(.object(object)) + "\n")
        return 0
    }
}

struct VerifyRegistrationCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-registration",
        abstract: "Verify a RegistrationResponseJSON (WebAuthn L3 §7.1)."
    )

    @OptionGroup var ceremony: CeremonyOptions

    @Option(name: .customLong("at"), help: "The time to verify at, ISO 8601 (default now).")
    var at: String?

    @Option(name: .customLong("trust-anchor"), help: "A PEM file of trust anchors (repeatable).")
    var trustAnchors: [String] = []

    @Flag(name: .customLong("require-trusted-attestation"), help: "Reject attestation that does not chain to an anchor.")
    var requireTrustedAttestation = false

    @Option(name: .customLong("mds-blob"), help: "A FIDO Metadata Service v3 BLOB file.")
    var mdsBLOB: String?

    @Option(name: .customLong("mds-root"), help: "The PEM file of the MDS root the BLOB must chain to.")
    var mdsRoot: String?

    func run(io: CommandIO) async throws -> Int32 {
        let rp = try ceremony.relyingParty()
        let challenge = try ceremony.challengeBytes()
        let uv = try ceremony.userVerificationRequirement()
        let now = try CommandTime.parse(at)
        var anchors: [X509CertificateBox] = []
        for path in trustAnchors { anchors += try CommandFiles.certificates(path) }
        var metadata: MetadataBLOB?
        if let mdsBLOB {
            guard let mdsRoot else { throw UsageError("--mds-blob needs --mds-root") }
            let roots = try CommandFiles.certificates(mdsRoot)
            let blob = try io.readInput(mdsBLOB)
            do { metadata = try await MetadataBLOB(jws: blob, roots: roots, at: now) } catch let error as WebAuthnError {
                throw UsageError("--mds-blob: \(error.detail)")
            }
        }
        let input = try io.readInput(ceremony.file)
        let expectations = RegistrationExpectations(
            challenge: challenge, relyingParty: rp, userVerification: uv,
            allowedAlgorithms: CommandPolicy.offeredAlgorithms, requireTrustedAttestation: requireTrustedAttestation)
        do {
            let response = try RegistrationResponse(json: input)
            let result = try await RegistrationVerifier(trust: AttestationTrust(anchors: anchors, metadata: metadata))
                .verify(response, expecting: expectations, at: now)
            return VerificationOutput.verified([
                "verified": .bool(true),
                "credentialId": .string(Base64URL.encode(result.credentialID)),
                "publicKey": .string(Base64URL.encode(result.publicKeyBytes)),
                "algorithm": .int(result.algorithm.rawValue),
                "signCount": .int(result.signCount),
                "aaguid": .string(result.aaguid.description),
                "attestationFormat": .string(result.attestationFormat),
                "attestationType": .string(result.attestationType.rawValue),
                "trusted": .bool(result.trusted),
                "userVerified": .bool(result.userVerified),
                "backupEligible": .bool(result.backupEligible),
                "backedUp": .bool(result.backedUp),
            ], io: io)
        } catch let error as WebAuthnError {
            return VerificationOutput.rejected(error, io: io)
        }
    }
}

struct VerifyAuthenticationCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-authentication",
        abstract: "Verify an AuthenticationResponseJSON (WebAuthn L3 §7.2) against a stored key."
    )

    @OptionGroup var ceremony: CeremonyOptions

    @Option(name: .customLong("public-key"), parsing: .unconditional, help: "The stored COSE key, base64url.")
    var publicKey: String

    @Option(name: .customLong("sign-count"), help: "The stored signature counter.")
    var signCount: String

    func run(io: CommandIO) async throws -> Int32 {
        let rp = try ceremony.relyingParty()
        let challenge = try ceremony.challengeBytes()
        let uv = try ceremony.userVerificationRequirement()
        guard let count = UInt32(signCount) else { throw UsageError("--sign-count must be an integer from 0 to 4294967295") }
        guard let keyBytes = Base64URL.decode(publicKey), !keyBytes.isEmpty else {
            throw UsageError("--public-key is not non-empty base64url")
        }
        let input = try io.readInput(ceremony.file)
        do {
            let key = try CredentialPublicKey(coseBytes: keyBytes)
            let response = try AuthenticationResponse(json: input)
            let credential = StoredCredential(
                id: response.credential.rawID, publicKey: key, signCount: count, backupEligible: nil,
                userHandle: response.userHandle ?? [])
            let result = try AuthenticationVerifier().verify(
                response, credential: credential,
                expecting: AuthenticationExpectations(challenge: challenge, relyingParty: rp, userVerification: uv))
            return VerificationOutput.verified([
                "verified": .bool(true),
                "newSignCount": .int(result.newSignCount),
                "userVerified": .bool(result.userVerified),
                "backupEligible": .bool(result.backupEligible),
                "backedUp": .bool(result.backedUp),
            ], io: io)
        } catch let error as WebAuthnError {
            return VerificationOutput.rejected(error, io: io)
        }
    }
}

enum CommandTime {
    static func parse(_ text: String?) throws -> Date {
        guard let text else { return Date() }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        throw UsageError("--at is not an ISO 8601 date-time such as 2026-01-01T00:00:00Z")
    }
}

enum CommandFiles {
    static func certificates(_ path: String) throws -> [X509CertificateBox] {
        guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path)") }
        do { return try X509CertificateBox.certificates(pem: String(decoding: data, as: UTF8.self)) } catch let error as WebAuthnError {
            throw UsageError("\(path): \(error.detail)")
        }
    }
}
