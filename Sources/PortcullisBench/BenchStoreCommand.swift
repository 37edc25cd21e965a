import Accounts
import ArgumentParser
import Foundation
import PortcullisCommands
import Logging
import PortcullisApp
import PortcullisTesting
import SQLStore
import Synchronization
import WebAuthn

/// `portcullis-bench store`: the store's share of a sign-in, without HTTP, JSON or signatures: each
/// task runs, in turn, the three store calls a discoverable sign-in makes (save the challenge; read the
/// challenge and the passkey's owner; use up the challenge, move the counter, add the session and
/// the event), so that a change to the store can be measured and profiled on its own.
struct BenchStoreCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Sign-in store work (save challenge, read, record) per second, against a fresh or given database."
    )

    @Option(help: "The database URL (sqlite:PATH or postgres://...); by default a new SQLite file in a temporary directory.")
    var database: String?
    @Option(help: "Accounts to insert first (one passkey each).") var accounts = 2000
    @Option(help: "Tasks running sign-ins at once.") var concurrency = 1
    @Option(help: "Seconds to measure.") var seconds = 5.0

    func run(io: CommandIO) async throws -> Int32 {
        guard accounts > 0, concurrency > 0, seconds > 0 else { throw UsageError("--accounts, --concurrency and --seconds must be positive") }
        var scratch: URL?
        let url: String
        if let database {
            url = database
        } else {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            scratch = directory
            url = "sqlite:" + directory.appendingPathComponent("bench.sqlite").path
        }
        defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
        let prefix = "bench-store-" + UUID().uuidString.prefix(8).lowercased()
        let count = accounts, tasks = concurrency, duration = seconds

        let (signIns, elapsed, cpu) = try await withOpenedStore(url: url, logger: Logger(label: "bench")) { opened in
            try await opened.migrate()
            guard let store = opened.store as? SQLAccountStore else { throw UsageError("bench store needs an SQL database") }
            try await store.insertFillerAccounts(count: count, prefix: prefix, publicKey: TestKey(.es256).coseBytes, now: Date())
            var credentials: [(user: UUID, credential: [UInt8])] = []
            for n in 0..<count {
                guard let user = try await store.user(username: "\(prefix)-\(n)"), let passkey = try await store.passkeys(userID: user.id).first
                else { throw UsageError("filler account \(n) is missing") }
                credentials.append((user.id, passkey.credentialID))
            }
            let done = Counter()
            let all = credentials
            let random = SystemRandomSource()
            let cpuBefore = processCPUSeconds()
            let start = ContinuousClock.now
            let deadline = start + .milliseconds(Int64(duration * 1000))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<tasks {
                    let mine = stride(from: worker, to: all.count, by: tasks).map { all[$0] }
                    group.addTask {
                        var counters = [UInt32](repeating: 0, count: mine.count)
                        var turn = 0
                        while ContinuousClock.now < deadline {
                            let slot = turn % mine.count
                            turn += 1
                            let now = Date()
                            let challenge = Base64URL.encode(random.bytes(32))
                            try await store.saveChallenge(CeremonyChallenge(challenge: challenge, kind: .login, expiresAt: now.addingTimeInterval(300)))
                            let context = try await store.assertionContext(challenge: challenge, credentialID: mine[slot].credential, now: now)
                            guard context.challenge != nil, context.credential != nil else { throw UsageError("the sign-in read found nothing") }
                            let session = Session(
                                id: random.timeOrderedUUID(at: now), tokenHash: random.bytes(32), userID: mine[slot].user,
                                birth: SessionBirth(kind: .passkey, credentialID: mine[slot].credential, userVerified: true, deviceBound: false),
                                createdAt: now, lastSeenAt: now, expiresAt: now.addingTimeInterval(86400), authenticatedAt: now,
                                ip: "127.0.0.1", userAgent: "bench")
                            let event = SecurityEvent(id: random.timeOrderedUUID(at: now), userID: mine[slot].user, kind: .signin, at: now,
                                                      ip: "127.0.0.1", userAgent: "bench", detail: ["passkey": "Filler", "provider": "unknown"])
                            try await store.recordAssertion(
                                credentialID: mine[slot].credential, expectedSignCount: counters[slot], newSignCount: counters[slot] + 1,
                                backedUp: true, uvInitialized: true, newSession: session, reauthenticatedSession: nil, event: event,
                                challenge: challenge, kind: .login, now: now)
                            counters[slot] += 1
                            done.value.add(1, ordering: .relaxed)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let cpu = processCPUSeconds() - cpuBefore
            return (done.value.load(ordering: .relaxed), elapsed.inSeconds, cpu)
        }
        io.out(String(format: "portcullis-bench store: %@, %d accounts, concurrency %d\n", database ?? "sqlite (temporary file)", accounts, concurrency))
        io.out(String(format: "sign-ins (store work only): %d in %.1f s = %.0f /s, %.1f µs each\n", signIns, elapsed, Double(signIns) / elapsed,
                      elapsed / Double(max(1, signIns)) * 1e6))
        io.out(String(format: "CPU of this process (all threads, user + system): %.2f cores, %.1f µs per sign-in\n", cpu / elapsed,
                      cpu / Double(max(1, signIns)) * 1e6))
        return 0
    }
}

/// A count shared by the benchmark's tasks.
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// User and system CPU time of the whole process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
