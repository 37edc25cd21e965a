import Foundation
import PortcullisCommands
import Synchronization
import PortcullisTesting
import WebAuthn

/// An account the load generator signed up: its software credential and user handle.
struct BenchAccount: Sendable {
    let credential: RegistrationFixture
    let handle: [UInt8]
}

/// Signs up `users` accounts named `PREFIX-INDEX` through the JSON API, `concurrency` at a time, as
/// the pages do: what `login` and `oidc` measure sign-ins with.
func benchSignUps(url: String, origin: String, authenticator: VirtualAuthenticator, prefix: String, users: Int, concurrency: Int) async throws
    -> [BenchAccount]
{
    try await withThrowingTaskGroup(of: [BenchAccount].self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                let client = try await BenchConnection.connect(url: url)
                defer { Task { await client.close() } }
                func post(_ path: String, _ body: JSONValue) async throws -> (Int, JSONValue?) {
                    let response = try await client.post(path, origin: origin, body: StrictJSON.serializedBytes(body))
                    return (response.status, try? StrictJSON.parse(response.body))
                }
                var made: [BenchAccount] = []
                var index = worker
                while index < users {
                    let options = try await post("/api/v1/signup/options", .object(["username": .string("\(prefix)-\(index)")]))
                    let publicKey = options.1?.object?["publicKey"]?.object
                    guard options.0 == 200, let challenge = publicKey?["challenge"]?.string.flatMap(Base64URL.decode),
                          let handle = publicKey?["user"]?.object?["id"]?.string.flatMap(Base64URL.decode)
                    else { throw UsageError("sign-up options failed with status \(options.0)") }
                    let credential = authenticator.registration(challenge: challenge)
                    let verify = try await post("/api/v1/signup/verify", .object(["credential": credential.jsonValue]))
                    guard verify.0 == 201 else { throw UsageError("sign-up verify failed with status \(verify.0): \(verify.1.map(StrictJSON.serialize) ?? "")") }
                    made.append(BenchAccount(credential: credential, handle: handle))
                    index += concurrency
                }
                return made
            }
        }
        return try await group.reduce(into: [BenchAccount]()) { $0 += $1 }
    }
}

/// What a measured phase collects from its workers: latencies, and failures by what failed.
final class BenchResults: Sendable {
    let latencies = Mutex<[Double]>([])
    let errors = Mutex<[String: Int]>([:])
    func add(_ seconds: Double) { latencies.withLock { $0.append(seconds) } }
    func fail(_ what: String) { errors.withLock { $0[what, default: 0] += 1 } }

    /// The `p` percentile of the latencies, in milliseconds (0 when there are none).
    func percentile(_ p: Double) -> Double {
        let sorted = latencies.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000
    }
}
