import Accounts
import Foundation
import Logging
import PortcullisCommands
import PortcullisTesting
import SQLStore
import Synchronization
import Testing
import WebAuthn
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Real `portcullis serve` processes: stateless nodes on one PostgreSQL database, and durability
/// across SIGKILL on SQLite.
@Suite(.serialized) struct ServerProcessTests {
    static let frontOrigin = "http://localhost:8080"
    static let authenticator = VirtualAuthenticator(rpID: "localhost", origin: frontOrigin)

    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("portcullis").path
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A running node.
    final class Node: @unchecked Sendable {
        let process = Process()
        let port: Int
        var base: String { "http://127.0.0.1:\(port)" }

        init(database: String, directory: String) throws {
            port = ServerProcessTests.freePort()
            process.executableURL = URL(fileURLWithPath: ServerProcessTests.binary)
            process.arguments = ["serve"]
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            // Only the basics of this process's environment: tests running commands in process set
            // configuration variables in it for a moment, which must not reach this server.
            var environment = ProcessInfo.processInfo.environment.filter { key, _ in
                ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"].contains(key) || key.hasPrefix("PORTCULLIS_TEST_")
            }
            environment["DATABASE_URL"] = database
            environment["HTTP_PORT"] = String(port)
            environment["RP_ORIGINS"] = ServerProcessTests.frontOrigin
            environment["RATELIMIT_IP_PER_MINUTE"] = "100000"
            environment["RATELIMIT_ACCOUNT_PER_MINUTE"] = "100000"
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func waitUntilReady() async throws {
            for _ in 0..<300 {
                if let reply = try? await ServerProcessTests.send(self, "GET", "/readyz"), reply.status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw CancellationError()
        }

        func kill(_ signal: Int32) {
            Foundation.kill(process.processIdentifier, signal)
            process.waitUntilExit()
        }
    }

    struct Reply: Sendable {
        let status: Int
        let json: JSONObject
        let cookie: String?
    }

    static func send(_ node: Node, _ method: String, _ path: String, json: JSONValue? = nil, cookie: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: node.base + path)!)
        request.httpMethod = method
        request.setValue(frontOrigin, forHTTPHeaderField: "Origin")
        if let cookie { request.setValue(cookie, forHTTPHeaderField: "Cookie") }
        if let json {
            request.httpBody = Data(StrictJSON.serialize(json).utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        let setCookie = http?.value(forHTTPHeaderField: "Set-Cookie")?.split(separator: ";").first.map(String.init)
        return Reply(status: http?.statusCode ?? 0, json: (try? StrictJSON.parse(Array(data)))?.object ?? [:], cookie: setCookie)
    }

    static func challenge(_ reply: Reply) -> [UInt8] {
        Base64URL.decode(reply.json["publicKey"]?.object?["challenge"]?.string ?? "") ?? []
    }

    /// Signs up `username`, beginning on `begin` and finishing on `finish`.
    static func signUp(_ username: String, begin: Node, finish: Node) async throws -> (Reply, RegistrationFixture, [UInt8]) {
        let options = try await send(begin, "POST", "/api/v1/signup/options", json: .object(["username": .string(username)]))
        let handle = Base64URL.decode(options.json["publicKey"]?.object?["user"]?.object?["id"]?.string ?? "") ?? []
        let credential = authenticator.registration(challenge: challenge(options))
        let verify = try await send(finish, "POST", "/api/v1/signup/verify", json: .object(["credential": credential.jsonValue]))
        return (verify, credential, handle)
    }

    @Test func statelessNodesOnOnePostgreSQLDatabase() async throws {
        guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"] else { return }
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary))
        let directory = NSTemporaryDirectory()
        let a = try Node(database: url, directory: directory)
        let b = try Node(database: url, directory: directory)
        defer {
            a.kill(SIGTERM)
            b.kill(SIGTERM)
        }
        try await a.waitUntilReady()
        try await b.waitUntilReady()

        let username = "node-\(UUID().uuidString.prefix(8).lowercased())"
        let (signUp, credential, handle) = try await Self.signUp(username, begin: a, finish: b)
        #expect(signUp.status == 201)

        let options = try await Self.send(b, "POST", "/api/v1/login/options", json: .object([:]))
        let assertion = Self.authenticator.assertion(challenge: Self.challenge(options), credential: credential, signCount: 1, userHandle: handle)
        let signIn = try await Self.send(b, "POST", "/api/v1/login/verify", json: .object(["credential": assertion.jsonValue]))
        #expect(signIn.status == 200)
        let cookie = try #require(signIn.cookie)
        let me = try await Self.send(a, "GET", "/api/v1/me", cookie: cookie)
        #expect(me.status == 200)
        #expect(me.json["user"]?.object?["username"] == .string(username))

        // An unknown username looks the same from either node (one shared secret).
        let fakeA = try await Self.send(a, "POST", "/api/v1/login/options", json: .object(["username": .string("ghost")]))
        let fakeB = try await Self.send(b, "POST", "/api/v1/login/options", json: .object(["username": .string("ghost")]))
        #expect(fakeA.json["publicKey"]?.object?["allowCredentials"] == fakeB.json["publicKey"]?.object?["allowCredentials"])
    }

    @Test func everyAcknowledgedSignUpSurvivesSIGKILL() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary))
        let directory = NSTemporaryDirectory() + "portcullis-kill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = "sqlite:\(directory)/portcullis.sqlite"
        let node = try Node(database: database, directory: directory)
        try await node.waitUntilReady()

        // Load: four workers signing up until the node is killed.
        let acknowledged = Acknowledged()
        let workers = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for index in 0..<10_000 {
                            let username = "k\(worker)-\(index)"
                            guard let (reply, _, _) = try? await Self.signUp(username, begin: node, finish: node) else { return }
                            if reply.status == 201, let cookie = reply.cookie { acknowledged.add(username, cookie) }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(3))
        node.kill(SIGKILL)
        await workers.value
        let survivors = acknowledged.all
        #expect(survivors.count > 10, "the load produced only \(survivors.count) sign-ups")

        // Restart on the same file: every acknowledged sign-up is there, with a working session.
        let restarted = try Node(database: database, directory: directory)
        try await restarted.waitUntilReady()
        for (username, cookie) in survivors {
            let me = try await Self.send(restarted, "GET", "/api/v1/me", cookie: cookie)
            #expect(me.status == 200, "\(username) lost")
            #expect(me.json["passkeys"]?.array?.count == 1)
        }
        // No half-written account: every stored user has a passkey and a sign-up event.
        let backend = try await SQLiteBackend.open(path: "\(directory)/portcullis.sqlite", logger: Logger(label: "test"))
        let store = SQLAccountStore(backend: backend)
        let users = try await store.listUsers(limit: 100_000)
        #expect(users.count >= survivors.count)
        for user in users {
            #expect(try await store.passkeys(userID: user.id).count == 1)
            #expect(try await store.events(userID: user.id, limit: 10).contains { $0.kind == .signup })
        }
        try await backend.close()

        // SIGTERM drains and exits cleanly.
        restarted.kill(SIGTERM)
        #expect(restarted.process.terminationStatus == 0)

        // The operator commands work on the same database.
        let io = CommandIO(stdin: { [] })
        let environment = ["DATABASE_URL": database]
        let listed = await OperatorCLI.run(["user", "list"], environment: environment, io: io)
        #expect(listed == 0)
        #expect(io.stdout.split(separator: "\n").count == users.count)
        let first = try #require(users.first?.username)
        #expect(await OperatorCLI.run(["user", "disable", first], environment: environment, io: CommandIO(stdin: { [] })) == 0)
        let shown = CommandIO(stdin: { [] })
        #expect(await OperatorCLI.run(["user", "show", first], environment: environment, io: shown) == 0)
        #expect(shown.stdout.contains("\"disabled\":true"))
        #expect(shown.stdout.contains("\"sessions\":0"))
        #expect(await OperatorCLI.run(["user", "delete", first], environment: environment, io: CommandIO(stdin: { [] })) == 2)
        #expect(await OperatorCLI.run(["user", "delete", first, "--yes"], environment: environment, io: CommandIO(stdin: { [] })) == 0)
        #expect(await OperatorCLI.run(["user", "show", first], environment: environment, io: CommandIO(stdin: { [] })) == 4)
        let migrate = CommandIO(stdin: { [] })
        #expect(await OperatorCLI.run(["migrate"], environment: environment, io: migrate) == 0)
        #expect(migrate.stdout.hasPrefix("migrated "))
        let badConfig = CommandIO(stdin: { [] })
        #expect(await OperatorCLI.run(["migrate"], environment: ["DATABASE_URL": "mysql://nope"], io: badConfig) == 3)
        #expect(badConfig.stderr.contains("database.url"))
        let invite = CommandIO(stdin: { [] })
        #expect(await OperatorCLI.run(["invite", "create"], environment: environment, io: invite) == 0)
        let lines = invite.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("http") && lines[0].contains("/?invite=") && lines[1].hasPrefix("expires 20"))
        #expect(lines.first.map { $0.split(separator: "=").last?.count } == 24)
    }
}

/// Runs operator commands in process against a database named through the environment. The
/// environment is the process's own, so one command runs at a time: tests in parallel would
/// otherwise read each other's DATABASE_URL.
enum OperatorCLI {
    static let lock = OneAtATime()

    static func run(_ arguments: [String], environment: [String: String], io: CommandIO) async -> Int32 {
        await lock.acquire()
        for (key, value) in environment { setenv(key, value, 1) }
        let status = await PortcullisCLI.run(arguments: arguments, io: io)
        for key in environment.keys { unsetenv(key) }
        await lock.release()
        return status
    }
}

/// An asynchronous lock: waiters are resumed one at a time, in order.
actor OneAtATime {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }
}

/// Sign-ups the server acknowledged, collected from several tasks.
final class Acknowledged: Sendable {
    private let entries = Mutex<[(String, String)]>([])
    func add(_ username: String, _ cookie: String) { entries.withLock { $0.append((username, cookie)) } }
    var all: [(String, String)] { entries.withLock { $0 } }
}
