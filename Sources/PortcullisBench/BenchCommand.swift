import ArgumentParser
import Crypto
import Foundation
import PortcullisCommands
import PortcullisTesting
import WebAuthn

/// `portcullis-bench ...`: measurements, never tests. A program of its own, so that the production
/// `portcullis` does not link the test fixtures (the load generator needs a software authenticator).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis-bench",
        abstract: "Measure Portcullis (build with -c release).",
        subcommands: [BenchVerifyCommand.self, BenchLoginCommand.self, BenchStoreCommand.self, BenchOIDCCommand.self, BenchSoakCommand.self]
    )
}

/// The `portcullis-bench` command line.
public enum PortcullisBenchCLI {
    /// Runs `portcullis-bench` with `arguments` (without the program name); returns the exit status.
    public static func run(arguments: [String], io: CommandIO) async -> Int32 {
        await PortcullisCLI.run(BenchCommand.self, arguments: arguments, io: io)
    }
}

/// `portcullis-bench verify`: complete verifications per second on one core.
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

        // The ES256 ratio is measured interleaved, in short alternating slices, so that a change of
        // CPU speed during the run (this is a VM) affects both sides alike.
        let es256 = authenticator.registration(challenge: challenge, algorithm: .es256)
        let es256JSON = authenticator.assertion(challenge: challenge, credential: es256, signCount: 1).json()
        let es256Stored = StoredCredential(
            id: es256.credentialID, publicKey: try CredentialPublicKey(coseBytes: es256.key.coseBytes),
            signCount: 0, backupEligible: false, userHandle: Array("user-1".utf8))
        let assertionExpectations = AuthenticationExpectations(challenge: challenge, relyingParty: rp)
        let verifier = AuthenticationVerifier()
        var rawCount = 0, rawTime = Duration.zero, fullCount = 0, fullTime = Duration.zero
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int64(seconds * 2000))
        while clock.now < end {
            let t0 = clock.now
            for _ in 0..<200 { precondition(publicKey.isValidSignature(signature, for: message)) }
            let t1 = clock.now
            for _ in 0..<200 {
                let response = try AuthenticationResponse(json: es256JSON)
                _ = try verifier.verify(response, credential: es256Stored, expecting: assertionExpectations)
            }
            let t2 = clock.now
            rawTime += t1 - t0
            fullTime += t2 - t1
            rawCount += 200
            fullCount += 200
        }
        func perSecond(_ count: Int, _ time: Duration) -> Double {
            Double(count) / time.inSeconds
        }
        let raw = perSecond(rawCount, rawTime)
        let es256Rate = perSecond(fullCount, fullTime)
        results.append(("raw P-256 verify (swift-crypto)", raw))
        results.append(("ES256 assertion, complete (JSON, client data, authenticator data, signature)", es256Rate))

        for algorithm in [COSEAlgorithm.edDSA, .rs256] {
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

        var out = "portcullis-bench verify (one thread; raw P-256 and ES256 interleaved for \(2 * seconds) s, the others \(seconds) s each)\n"
        for (name, rate) in results { out += String(format: "%12.0f /s  %@\n", rate, name) }
        out += String(format: "ES256 complete assertion rate is %.1f%% of the raw P-256 rate\n", es256Rate / raw * 100)
        io.out(out)
        return 0
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

extension Duration {
    /// The duration in seconds, for rates and latencies.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
