import ArgumentParser
import Foundation
import PortcullisCommands
import PortcullisTesting
import Synchronization
import WebAuthn

/// `portcullis-bench soak`: mixed load held for a long time, sampled every minute, to show that the
/// server neither leaks nor slows down: sign-ins, sign-ups, passkey changes and device approvals, as
/// people would make them, each from an address of its own (the server must trust
/// `X-Forwarded-For`, as behind a proxy).
struct BenchSoakCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Run mixed load (sign-ins, sign-ups, passkey changes, device approvals) at a set rate, sampling RSS, open files and latency."
    )

    @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "The origin the server allows (what a browser would send).") var origin = "http://localhost:8080"
    @Option(name: .customLong("rp-id"), help: "The server's RP ID.") var rpID = "localhost"
    @Option(help: "Accounts to sign up before the run.") var users = 200
    @Option(help: "Operations in flight at once.") var concurrency = 32
    @Option(help: "Operations per second to hold; 0 runs as fast as the server answers (to measure the maximum).") var rate = 0.0
    @Option(help: "Seconds to run.") var duration = 1800.0
    @Option(help: "Seconds between samples.") var sample = 60.0
    @Option(name: .customLong("server-pid"), help: "The server's process ID, to sample its RSS and open files from /proc.") var serverPID: Int32?

    /// What one operation is, by its share of the mix (out of 20).
    enum Kind: String, CaseIterable, Sendable {
        case signIn = "sign-in", signUp = "sign-up", passkeyChange = "passkey change", deviceApproval = "device approval"
        static func of(ticket: Int) -> Kind {
            switch ticket % 20 {
            case 0..<14: .signIn
            case 14..<16: .signUp
            case 16..<18: .passkeyChange
            default: .deviceApproval
            }
        }
    }

    /// Writes at once, not when the command ends: a half-hour run shows each sample as it is taken.
    static func emit(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

    func run(io: CommandIO) async throws -> Int32 {
        guard users > 0, concurrency > 0, duration > 0, sample > 0, rate >= 0 else {
            throw UsageError("--users, --concurrency, --duration and --sample must be positive, --rate not negative")
        }
        let authenticator = VirtualAuthenticator(rpID: rpID, origin: origin)
        let runID = UUID().uuidString.prefix(8).lowercased()
        let accounts = try await benchSignUps(url: url, origin: origin, authenticator: authenticator, prefix: "soak-\(runID)", users: users,
                                              concurrency: concurrency)
        let window = SoakWindow()
        let tickets = SoakTickets()
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int64(duration * 1000))
        let pid = serverPID
        let (rate, sample, concurrency, url, origin) = (self.rate, self.sample, self.concurrency, self.url, self.origin)
        Self.emit("portcullis-bench soak: \(url), rate \(rate == 0 ? "unpaced" : String(format: "%.0f /s", rate)), concurrency \(concurrency), \(Int(duration)) s, \(accounts.count) accounts to start\n")
        Self.emit("  min      ops    ops/s  errors  sign-in p50  sign-in p99  all p99 ms  lag ms   RSS MB  open files\n")
        let samples = try await withThrowingTaskGroup(of: [SoakSample].self) { group in
            for worker in 0..<concurrency {
                let mine = stride(from: worker, to: accounts.count, by: concurrency).map { accounts[$0] }
                group.addTask {
                    let person = try await SoakWorker(
                        worker: worker, url: url, origin: origin, authenticator: authenticator, accounts: mine, prefix: "soak-\(runID)-w\(worker)")
                    while true {
                        let ticket = tickets.next()
                        var lag = Duration.zero
                        if rate > 0 {
                            let due = start + .nanoseconds(Int64(Double(ticket) / rate * 1e9))
                            guard due < end else { break }
                            let now = ContinuousClock.now
                            if due > now { try await Task.sleep(until: due) } else { lag = now - due }
                        }
                        guard ContinuousClock.now < end else { break }
                        let kind = Kind.of(ticket: ticket)
                        let began = ContinuousClock.now
                        do {
                            try await person.perform(kind, address: SoakWorker.address(worker: worker, ticket: ticket))
                            window.record(kind, seconds: (ContinuousClock.now - began).inSeconds, lag: lag.inSeconds)
                        } catch {
                            window.fail(kind, String(describing: error))
                        }
                    }
                    await person.close()
                    return []
                }
            }
            group.addTask {
                var samples: [SoakSample] = []
                while ContinuousClock.now < end {
                    let next = min(end, start + .milliseconds(Int64(Double(samples.count + 1) * sample * 1000)))
                    try await Task.sleep(until: next)
                    let taken = window.take(pid: pid, index: samples.count + 1)
                    Self.emit(taken.line + "\n")
                    samples.append(taken)
                }
                return samples
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let summary = SoakSample.summary(samples)
        Self.emit(summary.text)
        return summary.clean ? 0 : 1
    }
}

/// One worker: a person's connection and the accounts it signs in with, in turn.
final class SoakWorker: Sendable {
    struct Account: Sendable { let credential: RegistrationFixture; let handle: [UInt8]; var signCount: UInt32 }
    struct Failed: Error, CustomStringConvertible { let description: String }

    let connection: BenchConnection
    let origin: String
    let authenticator: VirtualAuthenticator
    let prefix: String
    /// Used by this worker's one task only.
    private let state: Mutex<(accounts: [Account], turn: Int, made: Int)>

    init(worker: Int, url: String, origin: String, authenticator: VirtualAuthenticator, accounts: [BenchAccount], prefix: String) async throws {
        connection = try await BenchConnection.connect(url: url)
        self.origin = origin
        self.authenticator = authenticator
        self.prefix = prefix
        state = Mutex((accounts.map { Account(credential: $0.credential, handle: $0.handle, signCount: 0) }, 0, 0))
    }

    /// A client address for one operation: many addresses, as people behind a proxy have.
    static func address(worker: Int, ticket: Int) -> String { "10.\(worker % 256).\((ticket >> 8) & 255).\(ticket & 255)" }

    func close() async { await connection.close() }

    func perform(_ kind: BenchSoakCommand.Kind, address: String) async throws {
        switch kind {
        case .signIn:
            let cookie = try await signIn(address: address)
            try await call("POST", "/api/v1/logout", cookie: cookie, address: address, expect: 204)
        case .signUp:
            let username = state.withLock { state in
                state.made += 1
                return "\(prefix)-\(state.made)"
            }
            let options = try await call("POST", "/api/v1/signup/options", body: .object(["username": .string(username)]), address: address)
            let publicKey = options.body?.object?["publicKey"]?.object
            guard let challenge = publicKey?["challenge"]?.string.flatMap(Base64URL.decode),
                  let handle = publicKey?["user"]?.object?["id"]?.string.flatMap(Base64URL.decode)
            else { throw Failed(description: "sign-up options without a challenge") }
            let credential = authenticator.registration(challenge: challenge)
            let verify = try await call("POST", "/api/v1/signup/verify", body: .object(["credential": credential.jsonValue]), address: address, expect: 201)
            state.withLock { $0.accounts.append(Account(credential: credential, handle: handle, signCount: 0)) }
            try await call("POST", "/api/v1/logout", cookie: verify.cookie, address: address, expect: 204)
        case .passkeyChange:
            let cookie = try await signIn(address: address)
            let options = try await call("POST", "/api/v1/me/passkeys/options", cookie: cookie, body: .object([:]), address: address)
            guard let challenge = options.body?.object?["publicKey"]?.object?["challenge"]?.string.flatMap(Base64URL.decode) else {
                throw Failed(description: "add-passkey options without a challenge")
            }
            let added = authenticator.registration(challenge: challenge)
            try await call("POST", "/api/v1/me/passkeys/verify", cookie: cookie, body: .object(["credential": added.jsonValue]), address: address, expect: 201)
            try await call("DELETE", "/api/v1/me/passkeys/" + Base64URL.encode(added.credentialID), route: "/api/v1/me/passkeys/{id}", cookie: cookie, address: address)
            try await call("POST", "/api/v1/logout", cookie: cookie, address: address, expect: 204)
        case .deviceApproval:
            let started = try await call("POST", "/api/v1/device/start", address: address)
            guard let userCode = started.body?.object?["user_code"]?.string, let deviceCode = started.body?.object?["device_code"]?.string else {
                throw Failed(description: "device start without codes")
            }
            let approver = try await signIn(address: address)
            try await call("POST", "/api/v1/device/approve", cookie: approver, body: .object(["user_code": .string(userCode)]), address: address, expect: 204)
            let approved = try await call("POST", "/api/v1/device/poll", body: .object(["device_code": .string(deviceCode)]), address: address)
            try await call("POST", "/api/v1/logout", cookie: approved.cookie, address: address, expect: 204)
            try await call("POST", "/api/v1/logout", cookie: approver, address: address, expect: 204)
        }
    }

    /// A discoverable sign-in with the next account in turn; answers the session cookie.
    func signIn(address: String) async throws -> String? {
        let options = try await call("POST", "/api/v1/login/options", body: .object([:]), address: address)
        guard let challenge = options.body?.object?["publicKey"]?.object?["challenge"]?.string.flatMap(Base64URL.decode) else {
            throw Failed(description: "sign-in options without a challenge")
        }
        let account = state.withLock { state -> Account in
            let slot = state.turn % state.accounts.count
            state.turn += 1
            state.accounts[slot].signCount += 1
            return state.accounts[slot]
        }
        let assertion = authenticator.assertion(challenge: challenge, credential: account.credential, signCount: account.signCount, userHandle: account.handle)
        return try await call("POST", "/api/v1/login/verify", body: .object(["credential": assertion.jsonValue]), address: address).cookie
    }

    /// One request; throws unless the status is `expect`, naming the route (not the path, so that
    /// failures of one kind count together).
    @discardableResult
    func call(_ method: String, _ path: String, route: String? = nil, cookie: String? = nil, body: JSONValue? = nil, address: String, expect: Int = 200)
        async throws
        -> (cookie: String?, body: JSONValue?)
    {
        var headers = [("Origin", origin), ("X-Forwarded-For", address)]
        if let cookie { headers.append(("Cookie", cookie)) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response = try await connection.send(method, path, headers: headers, body: body.map(StrictJSON.serializedBytes) ?? [])
        let parsed = try? StrictJSON.parse(response.body)
        guard response.status == expect else {
            throw Failed(description: "\(method) \(route ?? path) \(response.status) \(parsed?.object?["code"]?.string ?? "")")
        }
        return (response.cookie, parsed)
    }
}

/// Numbers the operations in the order the workers take them: the mix and the schedule follow it.
final class SoakTickets: Sendable {
    private let counter = Atomic<Int>(0)
    func next() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// What the workers collected since the last sample.
final class SoakWindow: Sendable {
    private struct State {
        var latencies: [BenchSoakCommand.Kind: [Double]] = [:]
        var errors: [String: Int] = [:]
        var maxLag = 0.0
        var began = ContinuousClock.now
    }
    private let state = Mutex(State())

    func record(_ kind: BenchSoakCommand.Kind, seconds: Double, lag: Double) {
        state.withLock {
            $0.latencies[kind, default: []].append(seconds)
            $0.maxLag = max($0.maxLag, lag)
        }
    }

    func fail(_ kind: BenchSoakCommand.Kind, _ what: String) {
        state.withLock { $0.errors[kind.rawValue + ": " + what.prefix(120), default: 0] += 1 }
    }

    /// The sample since the last one, and a fresh window.
    func take(pid: Int32?, index: Int) -> SoakSample {
        let taken = state.withLock { state -> State in
            let taken = state
            state = State()
            return taken
        }
        let elapsed = (ContinuousClock.now - taken.began).inSeconds
        let all = taken.latencies.values.flatMap { $0 }.sorted()
        let signIns = (taken.latencies[.signIn] ?? []).sorted()
        return SoakSample(
            index: index, operations: all.count, rate: Double(all.count) / max(elapsed, 0.001), errors: taken.errors,
            signInP50: percentile(signIns, 0.5), signInP99: percentile(signIns, 0.99), allP99: percentile(all, 0.99), lag: taken.maxLag * 1000,
            rssMB: pid.flatMap(Self.residentMB), openFiles: pid.flatMap(Self.openFiles))
    }

    private func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000
    }

    /// VmRSS from /proc/PID/status, in MB.
    static func residentMB(_ pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kilobytes / 1024
    }

    /// Entries of /proc/PID/fd.
    static func openFiles(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }
}

/// One sample's figures.
struct SoakSample: Sendable {
    let index: Int
    let operations: Int
    let rate: Double
    let errors: [String: Int]
    let signInP50: Double, signInP99: Double, allP99: Double, lag: Double
    let rssMB: Double?
    let openFiles: Int?

    var errorCount: Int { errors.values.reduce(0, +) }

    var line: String {
        String(format: "%5d %8d %8.0f %7d %12.1f %12.1f %11.1f %7.0f ", index, operations, rate, errorCount, signInP50, signInP99, allP99, lag)
            + Self.padded(rssMB.map { String(format: "%.1f", $0) } ?? "-", 8) + " " + Self.padded(openFiles.map(String.init) ?? "-", 11)
            + (errors.isEmpty ? "" : "  " + errors.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: "; "))
    }

    static func padded(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }

    /// The whole run: totals, and how the first full sample compares with the last.
    static func summary(_ samples: [SoakSample]) -> (text: String, clean: Bool) {
        let operations = samples.reduce(0) { $0 + $1.operations }
        let errors = samples.reduce(0) { $0 + $1.errorCount }
        var text = "total: \(operations) operations, \(errors) errors\n"
        if let first = samples.first, let last = samples.last {
            let rss = samples.compactMap(\.rssMB), files = samples.compactMap(\.openFiles)
            text += String(format: "sign-in p99: first sample %.1f ms, last %.1f ms, highest %.1f ms\n", first.signInP99, last.signInP99,
                           samples.map(\.signInP99).max() ?? 0)
            if let low = rss.min(), let high = rss.max(), let firstRSS = rss.first, let lastRSS = rss.last {
                text += String(format: "RSS: first sample %.1f MB, last %.1f MB, lowest %.1f MB, highest %.1f MB\n", firstRSS, lastRSS, low, high)
            }
            if let low = files.min(), let high = files.max() { text += "open files: \(low) to \(high)\n" }
        }
        return (text, errors == 0)
    }
}
