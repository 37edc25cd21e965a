import ArgumentParser
import Foundation
import PortcullisCommands
import Logging
import PortcullisApp
import SQLStore
import NIOCore
import PortcullisTesting
import Synchronization
import WebAuthn

/// `portcullis-bench login`: a load generator with its own software authenticator.
struct BenchLoginCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign up N users, then run complete discoverable sign-ins (options + verify) against a running server."
    )

    @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "The origin the server allows (what a browser would send).") var origin = "http://localhost:8080"
    @Option(name: .customLong("rp-id"), help: "The server's RP ID.") var rpID = "localhost"
    @Option(help: "Users to sign up first.") var users = 100
    @Option(help: "Requests in flight at once.") var concurrency = 16
    @Option(help: "Seconds of sign-ins to measure.") var duration = 10.0
    @Option(help: "First insert this many filler accounts (one passkey each) straight into --database, so sign-ins run against a database of that size.")
    var preload = 0
    @Option(help: "The server's database URL, for --preload (sqlite:PATH or postgres://...).") var database: String?

    func run(io: CommandIO) async throws -> Int32 {
        guard users > 0, concurrency > 0, duration > 0 else { throw UsageError("--users, --concurrency and --duration must be positive") }
        let authenticator = VirtualAuthenticator(rpID: rpID, origin: origin)
        let runID = UUID().uuidString.prefix(8).lowercased()
        var out = ""

        if preload > 0 {
            guard let database else { throw UsageError("--preload needs --database, the server's database URL") }
            let began = Date()
            let publicKey = TestKey(.es256).coseBytes
            let count = preload
            try await withOpenedStore(url: database, logger: Logger(label: "bench")) { opened in
                try await opened.migrate()
                guard let store = opened.store as? SQLAccountStore else { throw UsageError("--preload needs an SQL database") }
                try await store.insertFillerAccounts(count: count, prefix: "filler-\(runID)", publicKey: publicKey, now: Date())
            }
            out += String(format: "preloaded %d filler accounts in %.1f s\n", preload, Date().timeIntervalSince(began))
        }

        // Sign-ups.
        let signUpStart = Date()
        let accounts = try await benchSignUps(url: url, origin: origin, authenticator: authenticator, prefix: "bench-\(runID)", users: users,
                                              concurrency: concurrency)
        let signUpSeconds = Date().timeIntervalSince(signUpStart)

        // Sign-ins: each worker signs in its own accounts in turn (counters stay in order per account).
        let results = BenchResults()
        let deadline = Date().addingTimeInterval(duration)
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<min(concurrency, accounts.count) {
                let mine = stride(from: worker, to: accounts.count, by: concurrency).map { accounts[$0] }
                group.addTask {
                    let client = try await BenchConnection.connect(url: url)
                    defer { Task { await client.close() } }
                    var counters = [UInt32](repeating: 0, count: mine.count)
                    var turn = 0
                    while Date() < deadline {
                        let slot = turn % mine.count
                        turn += 1
                        let began = ContinuousClock.now
                        let options = try await post(client, "/api/v1/login/options", .object([:]))
                        guard options.0 == 200, let challenge = options.1?.object?["publicKey"]?.object?["challenge"]?.string.flatMap(Base64URL.decode) else {
                            results.fail("options \(options.0)")
                            continue
                        }
                        counters[slot] += 1
                        let assertion = authenticator.assertion(challenge: challenge, credential: mine[slot].credential, signCount: counters[slot], userHandle: mine[slot].handle)
                        let verify = try await post(client, "/api/v1/login/verify", .object(["credential": assertion.jsonValue]))
                        if verify.0 == 200 {
                            let elapsed = ContinuousClock.now - began
                            results.add(elapsed.inSeconds)
                        } else {
                            results.fail("verify \(verify.0) \(verify.1?.object?["code"]?.string ?? "")")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Date().timeIntervalSince(start)
        let latencies = results.latencies.withLock { $0 }
        let percentile = results.percentile
        out += "portcullis-bench login: \(url), \(accounts.count) users, concurrency \(concurrency), \(duration) s\n"
        out += String(format: "sign-ups: %d in %.1f s (%.0f /s)\n", accounts.count, signUpSeconds, Double(accounts.count) / signUpSeconds)
        out += String(format: "sign-ins: %d complete in %.1f s = %.0f /s\n", latencies.count, elapsed, Double(latencies.count) / elapsed)
        out += String(format: "latency of a complete sign-in (options + verify): p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", percentile(0.5), percentile(0.95), percentile(0.99))
        let errors = results.errors.withLock { $0 }
        out += "errors: " + (errors.isEmpty ? "none" : errors.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")) + "\n"
        io.out(out)
        return errors.isEmpty ? 0 : 1
    }

    func post(_ client: BenchConnection, _ path: String, _ body: JSONValue) async throws -> (Int, JSONValue?) {
        let response = try await client.post(path, origin: origin, body: StrictJSON.serializedBytes(body))
        return (response.status, try? StrictJSON.parse(response.body))
    }
}
