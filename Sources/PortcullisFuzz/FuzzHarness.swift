import CBOR
import Dispatch
import Foundation
import PortcullisTesting
import WebAuthn

/// The inputs the fuzzer drives: the CBOR decoder and both verifiers.
///
/// The first byte picks the entry point; the rest is the input. Registration and authentication inputs
/// are wrapped in a valid JSON envelope and valid client data, so the fuzzer spends its time inside
/// the attestation object, authenticator data and keys rather than on JSON syntax (mode 3 fuzzes the
/// JSON envelope itself).
enum FuzzHarness {
    static let relyingParty: RelyingParty = {
        do { return try RelyingParty(id: "example.org", origins: ["https://example.org"]) } catch { fatalError("static RP") }
    }()
    static let challenge: [UInt8] = Array(0..<32)
    static let createClientData = ClientDataFixture(type: "webauthn.create", challenge: Base64URL.encode(challenge), origin: "https://example.org").bytes
    static let getClientData = ClientDataFixture(type: "webauthn.get", challenge: Base64URL.encode(challenge), origin: "https://example.org").bytes
    static let storedKey = TestKey(.es256)
    static let storedPublicKey: CredentialPublicKey = {
        do { return try CredentialPublicKey(coseBytes: storedKey.coseBytes) } catch { fatalError("static key") }
    }()
    static let trust = AttestationTrust(anchors: [TestPKI().root])

    /// Runs one input. Every outcome but a crash is fine.
    static func run(_ data: [UInt8]) {
        guard let mode = data.first else { return }
        let input = Array(data.dropFirst())
        switch mode % 5 {
        case 0:
            _ = try? CBORDecoder.decode(input)
        case 1:
            registration(attestationObject: input)
        case 2:
            authentication(authenticatorData: input)
        case 3:
            _ = try? RegistrationResponse(json: input)
            _ = try? AuthenticationResponse(json: input)
            _ = try? CollectedClientData(bytes: input)
        default:
            _ = try? CredentialPublicKey(coseBytes: input)
            _ = try? AuthenticatorData(bytes: input)
        }
    }

    static func registration(attestationObject: [UInt8]) {
        // The credential ID the envelope names: taken from the input when it parses, so the fuzzer can
        // reach the steps after the id check.
        let id = (try? AttestationObject(bytes: attestationObject))?.authenticatorData.attestedCredentialData?.credentialID ?? [1]
        let json: JSONValue = .object([
            "id": .string(Base64URL.encode(id)), "rawId": .string(Base64URL.encode(id)), "type": .string("public-key"),
            "response": .object([
                "clientDataJSON": .string(Base64URL.encode(createClientData)),
                "attestationObject": .string(Base64URL.encode(attestationObject)),
            ]),
            "clientExtensionResults": .object([:]),
        ])
        guard let response = try? RegistrationResponse(value: json) else { return }
        let expectations = RegistrationExpectations(
            challenge: challenge, relyingParty: relyingParty, userVerification: .preferred, allowedAlgorithms: COSEAlgorithm.implemented)
        let done = DispatchSemaphore(value: 0)
        Task {
            _ = try? await RegistrationVerifier(trust: trust).verify(response, expecting: expectations, at: FixedClock.now)
            done.signal()
        }
        done.wait()
    }

    static func authentication(authenticatorData: [UInt8]) {
        let id: [UInt8] = [1, 2, 3, 4]
        let signature = storedKey.sign(authenticatorData + Array(FuzzDigest.sha256(getClientData)))
        let json: JSONValue = .object([
            "id": .string(Base64URL.encode(id)), "rawId": .string(Base64URL.encode(id)), "type": .string("public-key"),
            "response": .object([
                "clientDataJSON": .string(Base64URL.encode(getClientData)),
                "authenticatorData": .string(Base64URL.encode(authenticatorData)),
                "signature": .string(Base64URL.encode(signature)),
            ]),
        ])
        guard let response = try? AuthenticationResponse(value: json) else { return }
        let credential = StoredCredential(id: id, publicKey: storedPublicKey, signCount: 0, backupEligible: nil, userHandle: [])
        _ = try? AuthenticationVerifier().verify(
            response, credential: credential,
            expecting: AuthenticationExpectations(challenge: challenge, relyingParty: relyingParty, userVerification: .preferred))
    }

    /// Seeds for every mode, from the virtual authenticator: one file per seed in `directory`.
    static func writeSeeds(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pki = TestPKI()
        let authenticator = VirtualAuthenticator()
        var seeds: [[UInt8]] = []
        let formats: [AttestationFixture] = [
            .none, .packedSelf(), .packed(pki: pki), .apple(pki: pki), .androidKey(pki: pki), .tpm(pki: pki),
            .safetyNet(pki: pki), .compound([.packed(pki: pki), .apple(pki: pki)]),
        ]
        for (index, format) in formats.enumerated() {
            let algorithm = [COSEAlgorithm.es256, .edDSA, .rs256, .es384][index % 4]
            let registration = authenticator.registration(challenge: challenge, algorithm: algorithm, attestation: format)
            seeds.append([1] + registration.attestationObject)
            seeds.append([3] + registration.json())
            seeds.append([4] + registration.key.coseBytes)
            seeds.append([0] + registration.attestationObject)
            let assertion = authenticator.assertion(challenge: challenge, credential: registration)
            seeds.append([2] + assertion.authenticatorData.bytes)
            seeds.append([3] + assertion.json())
        }
        var u2f = authenticator
        u2f.aaguid = .zero
        seeds.append([1] + u2f.registration(challenge: challenge, attestation: .fidoU2F(pki: pki)).attestationObject)
        for (index, seed) in seeds.enumerated() {
            _ = FileManager.default.createFile(atPath: "\(directory)/seed-\(index)", contents: Data(seed))
        }
    }
}
