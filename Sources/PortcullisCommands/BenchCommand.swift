import ArgumentParser
import Crypto
import Foundation
import PortcullisTesting
import WebAuthn

/// `portcullis bench ...`: measurements, never tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Portcullis (build with -c release).",
        subcommands: [BenchVerifyCommand.self, BenchLoginCommand.self]
    )
}

/// `portcullis bench verify`: complete verifications per second on one core.
struct BenchVerifyCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Complete WebAuthn verifications per second on one thread, against raw P-256 verifications."
    )

    @Option(help: "Seconds to run each measurement.")
    var seconds: Double = 3

    func run(io: CommandIO) async throws -> Int32 {
        guard seconds > 0, seconds <= 600 else { throw UsageError("--seconds must be in (0, 600]") }
        let challenge = Array(0..<UInt8(32))
        let rp = try RelyingParty(id: "example.org", origins: ["https://example.org"])
        let authenticator = VirtualAuthenticator()
        var results: [(String, Double)] = []

        // Raw swift-crypto P-256: verify one signature over a 69-byte message, as an assertion would.
        let key = P256.Signing.PrivateKey()
        let message = Array(repeating: UInt8(7), count: 37 + 32)
        let signature = try key.signature(for: message)
        let publicKey = key.publicKey
        let raw = measure(seconds) { precondition(publicKey.isValidSignature(signature, for: message)) }
        results.append(("raw P-256 verify (swift-crypto)", raw))

        for algorithm in [COSEAlgorithm.es256, .edDSA, .rs256] {
            let registration = authenticator.registration(challenge: challenge, algorithm: algorithm)
            let json = authenticator.assertion(challenge: challenge, credential: registration, signCount: 1).json()
            let stored = StoredCredential(
                id: registration.credentialID, publicKey: try CredentialPublicKey(coseBytes: registration.key.coseBytes),
                signCount: 0, backupEligible: false, userHandle: Array("user-1".utf8))
            let expectations = AuthenticationExpectations(challenge: challenge, relyingParty: rp)
            let verifier = AuthenticationVerifier()
            let rate = try measureThrowing(seconds) {
                let response = try AuthenticationResponse(json: json)
                _ = try verifier.verify(response, credential: stored, expecting: expectations)
            }
            results.append(("\(algorithm.name) assertion, complete (JSON, client data, authenticator data, signature)", rate))
        }

        let pki = TestPKI()
        let registration = authenticator.registration(challenge: challenge, attestation: .packed(pki: pki)).json()
        let trust = AttestationTrust(anchors: [pki.root])
        let registrationExpectations = RegistrationExpectations(challenge: challenge, relyingParty: rp, allowedAlgorithms: COSEAlgorithm.implemented)
        let now = FixedClock.now
        var count = 0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let response = try RegistrationResponse(json: registration)
            let verified = try await RegistrationVerifier(trust: trust).verify(response, expecting: registrationExpectations, at: now)
            precondition(verified.trusted)
            count += 1
        }
        results.append(("packed x5c registration, trusted chain (ES256 leaf + intermediate + root)", Double(count) / Date().timeIntervalSince(start)))

        var out = "portcullis bench verify (one thread, \(seconds) s each)\n"
        for (name, rate) in results { out += String(format: "%12.0f /s  %@\n", rate, name) }
        if let es256 = results.first(where: { $0.0.hasPrefix("ES256") })?.1 {
            out += String(format: "ES256 complete assertion rate is %.1f%% of the raw P-256 rate\n", es256 / raw * 100)
        }
        io.out(out)
        return 0
    }

    func measure(_ seconds: Double, _ body: () -> Void) -> Double {
        var count = 0
        let start = Date()
        while true {
            for _ in 0..<64 { body() }
            count += 64
            let elapsed = Date().timeIntervalSince(start)
            if elapsed >= seconds { return Double(count) / elapsed }
        }
    }

    func measureThrowing(_ seconds: Double, _ body: () throws -> Void) throws -> Double {
        var count = 0
        let start = Date()
        while true {
            for _ in 0..<64 { try body() }
            count += 64
            let elapsed = Date().timeIntervalSince(start)
            if elapsed >= seconds { return Double(count) / elapsed }
        }
    }
}
