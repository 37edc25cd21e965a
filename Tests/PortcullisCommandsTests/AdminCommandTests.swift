import Accounts
import Foundation
import Logging
import PortcullisCommands
import PortcullisTesting
import SQLStore
import Testing
import WebAuthn

/// `portcullis admin ...` and `portcullis check-config` in process, on an SQLite file.
@Suite(.serialized) struct AdminCommandTests {
    static func run(_ arguments: [String], _ environment: [String: String]) async -> (status: Int32, io: CommandIO) {
        let io = CommandIO(stdin: { [] })
        return (await OperatorCLI.run(arguments, environment: environment, io: io), io)
    }

    @Test func grantRevokeAndEnrolAdminProofs() async throws {
        let path = NSTemporaryDirectory() + "portcullis-admin-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let environment = ["DATABASE_URL": "sqlite:" + path]

        // Three users and an open case for alice, written straight to the database.
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let store = SQLAccountStore(backend: backend)
        try await store.migrate()
        var users: [String: User] = [:]
        for name in ["alice", "dave", "erin"] {
            let user = StoreFixtures.user(name, at: Date())
            let passkey = StoreFixtures.passkey(for: user)
            let challenge = StoreFixtures.challenge(.signup, pending: user, expiresAt: Date().addingTimeInterval(300))
            try await store.saveChallenge(challenge)
            try await store.createUser(user, passkey: passkey, session: StoreFixtures.session(for: user, passkey: passkey), event: StoreFixtures.event(.signup, for: user),
                                       inviteHash: nil, challenge: challenge.challenge, now: Date())
            users[name] = user
        }
        let caseID = UUID()
        let alice = try #require(users["alice"])
        try await store.createRecoveryCase(RecoveryCase(
            id: caseID, userID: alice.id, secretHash: Array(repeating: 1, count: 32), comparisonCode: "424242", status: .open, createdAt: Date(),
            expiresAt: Date().addingTimeInterval(86400), ip: "192.0.2.9", userAgent: "new phone"), event: nil)
        try await backend.close()

        // Not an admin yet: refused, nothing added.
        let early = await Self.run(["admin", "enrol", "alice", "--admin", "dave", "--comparison-code", "424 242"], environment)
        #expect(early.status == 5)  // refused
        #expect(early.io.stderr.hasPrefix("refused: "))
        #expect(early.io.stderr.contains("admin"))
        #expect(await Self.run(["admin", "grant", "dave"], environment).status == 0)
        let nobody = await Self.run(["admin", "grant", "nobody"], environment)
        #expect(nobody.status == 4 && nobody.io.stderr.hasPrefix("not found: "))
        // A wrong comparison code finds no case.
        #expect(await Self.run(["admin", "enrol", "alice", "--admin", "dave", "--comparison-code", "000000"], environment).status == 5)
        let enrolled = await Self.run(["admin", "enrol", "alice", "--admin", "dave", "--comparison-code", "424 242"], environment)
        #expect(enrolled.status == 0, "\(enrolled.io.stderr)")
        #expect(enrolled.io.stdout.contains(caseID.uuidString.lowercased()))
        // The same admin twice is a replay.
        #expect(await Self.run(["admin", "enrol", "alice", "--admin", "dave", "--comparison-code", "424242"], environment).status == 5)
        #expect(await Self.run(["admin", "revoke", "dave"], environment).status == 0)

        let reopened = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let check = SQLAccountStore(backend: reopened)
        let stored = try #require(try await check.recoveryCase(id: caseID))
        #expect(stored.proofs.map(\.kind) == [.admin])
        #expect(stored.proofs.first?.via == "cli")
        // One command-line proof does not release a case under the default two-admin rule.
        #expect(RecoveryPolicy().release(of: stored.proofs, threshold: 2) == nil)
        #expect(try await check.user(username: "dave")?.isAdmin == false)
        let daveEvents = try await check.events(userID: try #require(users["dave"]).id, limit: 10).map(\.kind)
        #expect(daveEvents.contains(.adminGranted) && daveEvents.contains(.adminRevoked))
        #expect(try await check.events(userID: alice.id, limit: 10).contains { $0.kind == .recoveryApproved && $0.detail["via"] == "cli" })
        try await reopened.close()
    }

    /// A JSON configuration file, read by the command as an operator runs it: typed values are
    /// read, and a value of the wrong type stops the command with the key's name (a configuration error, status 3).
    @Test(arguments: [
        (#"{"http": {"port": 9443, "trust_forwarded_for": true}, "recovery": {"starts_per_ip": 7}}"#, 0, nil),
        (#"{"http": {"port": "eighty"}}"#, 3, "http.port"),
        (#"{"http": {"port": true}}"#, 3, "http.port"),
        (#"{"recovery": {"code_enabled": "sometimes"}}"#, 3, "recovery.code_enabled"),
        (#"{"signup": {"mode": 1}}"#, 3, "signup.mode"),
        (#"{"http": {"trust_forwarded_for": 2}}"#, 3, "http.trust_forwarded_for"),
        (#"{"rp": {"origins": ["http://localhost:8080", 3]}}"#, 3, "rp.origins"),
        (#"{"http": {"port": 9443}, "http": {"port": 9444}}"#, 3, "configuration file"),
    ] as [(String, Int32, String?)])
    func aConfigurationFileIsReadStrictly(json: String, status: Int32, key: String?) async throws {
        let path = NSTemporaryDirectory() + "portcullis-config-\(UUID().uuidString).json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = await Self.run(["check-config", "--json", "--config", path], [:])
        #expect(result.status == status, "\(result.io.stderr)")
        if status != 0 { #expect(result.io.stderr.hasPrefix("configuration error: ")) }
        if let key { #expect(result.io.stderr.contains(key), "\(result.io.stderr)") }
        if status == 0 { #expect(result.io.stdout.contains("7 per IP address")) }
    }

    /// Without --json, a table a person reads: a row per way in, with the one below the floor marked.
    @Test func checkConfigPrintsATableForPeople() async throws {
        let weak = await Self.run(["check-config"], ["RECOVERY_RULES": "code:0, contacts:24h"])
        #expect(weak.status == 1)
        let lines = weak.io.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("WAY IN") == true && lines.first?.contains("BELOW FLOOR") == true)
        let code = try #require(lines.first { $0.hasPrefix("recovery:code ") })
        #expect(code.contains(" YES ") && code.contains("the recovery code"))
        let contacts = try #require(lines.first { $0.hasPrefix("recovery:contacts ") })
        #expect(contacts.contains(" 24h ") && contacts.contains(" no "))
        #expect(lines.contains { $0.hasPrefix("device-approval: yields device-approval session") && $0.contains("limits: ") })
        #expect(weak.io.stdout.contains("Signing keys: The OpenID Connect signing keys are stored unsealed"))
        #expect((try? StrictJSON.parse(Array(weak.io.stdout.utf8))) == nil)  // not JSON
    }

    @Test func checkConfigReportsEveryWayInAndTheFloor() async throws {
        let fine = await Self.run(["check-config", "--json"], [:])
        #expect(fine.status == 0)
        let report = try #require(try StrictJSON.parse(Array(fine.io.stdout.utf8)).object?["waysIn"]?.array)
        #expect(report.count == 7)
        #expect(report.allSatisfy { $0.object?["belowFloor"] == .bool(false) })
        #expect(report.first?.object?["phishingResistant"] == .bool(true))
        #expect(try StrictJSON.parse(Array(fine.io.stdout.utf8)).object?["signingKeysSealed"] == .bool(false))
        let sealed = await Self.run(["check-config", "--json"], ["OIDC_KEY_SECRET": "a long key-encryption secret"])
        #expect(try StrictJSON.parse(Array(sealed.io.stdout.utf8)).object?["signingKeysSealed"] == .bool(true))

        let weak = await Self.run(["check-config", "--json"], ["RECOVERY_RULES": "code:0"])
        #expect(weak.status == 1)
        #expect(weak.io.stdout.contains("\"belowFloor\":true"))
        #expect(weak.io.stderr.contains("recovery.rules"))
        #expect(await Self.run(["check-config"], ["RECOVERY_RULES": "code:0", "ALLOW_WEAK_WAYS_IN": "true"]).status == 0)
        let nonsense = await Self.run(["check-config"], ["RECOVERY_RULES": "nonsense"])
        #expect(nonsense.status == 3 && nonsense.io.stderr.hasPrefix("configuration error: recovery.rules: "))

        // The limits each way runs under are in the report, as configured; out-of-bounds values are refused.
        let tuned = await Self.run(["check-config", "--json"], ["DEVICE_CODE_LIFETIME": "300", "RECOVERY_STARTS_PER_USERNAME_IP": "2"])
        let tunedReport = try #require(try StrictJSON.parse(Array(tuned.io.stdout.utf8)).object?["waysIn"]?.array)
        let device = try #require(tunedReport.first { $0.object?["name"] == .string("device-approval") }?.object)
        #expect(device["limits"]?.array?.contains(.string("a request and its user code expire after 5m")) == true)
        let recovery = try #require(tunedReport.first { $0.object?["name"]?.string?.hasPrefix("recovery:") == true }?.object)
        #expect(recovery["limits"]?.array?.first?.string?.hasPrefix("2 case starts per username and IP address per hour") == true)
        let outOfBounds = await Self.run(["check-config"], ["DEVICE_CODE_LIFETIME": "5"])
        #expect(outOfBounds.status == 3)
        #expect(outOfBounds.io.stderr.contains("device.code_lifetime"))

        // serve refuses to start on the same configuration, naming the key, before it opens anything.
        let serve = await Self.run(["serve"], ["RECOVERY_RULES": "code:0", "DATABASE_URL": "memory:"])
        #expect(serve.status == 3)
        #expect(serve.io.stderr.contains("recovery.rules") && serve.io.stderr.contains("allow_weak_ways_in"))
    }
}

/// `serve` on an address it cannot listen on says which address, why, and which key to change.
@Suite struct BindFailureTests {
    @Test func aPortInUseIsNamedWithTheKeyToChange() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let outcome = await AdminCommandTests.run(["serve"], ["HTTP_PORT": String(port), "DATABASE_URL": "memory:"])
        #expect(outcome.status == 6)
        #expect(outcome.io.stderr.hasPrefix("cannot listen: 127.0.0.1:\(port): the port is in use"))
        #expect(outcome.io.stderr.contains("http.port (HTTP_PORT)"))
    }
}

/// Commands that only read never create a database, and an empty answer says so.
@Suite struct ReadOnlyCommandTests {
    @Test func listingAndShowingCreateNoDatabase() async throws {
        let path = NSTemporaryDirectory() + "portcullis-absent-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let environment = ["DATABASE_URL": "sqlite:" + path]
        let listed = await AdminCommandTests.run(["user", "list"], environment)
        #expect(listed.status == 0 && listed.io.stdout.isEmpty)
        #expect(listed.io.stderr == "no users: there is no database at \(path) yet (nothing was created)\n")
        let shown = await AdminCommandTests.run(["user", "show", "alice"], environment)
        #expect(shown.status == 4 && shown.io.stderr.hasPrefix("not found: no user named alice"))
        #expect(!FileManager.default.fileExists(atPath: path))
        // Once it exists (migrate creates it), an empty list says so too.
        #expect(await AdminCommandTests.run(["migrate"], environment).status == 0)
        let empty = await AdminCommandTests.run(["user", "list"], environment)
        #expect(empty.status == 0 && empty.io.stdout.isEmpty && empty.io.stderr == "no users yet\n")
    }
}

/// Keys the server does not read are refused, with the nearest one it does; and the README's
/// configuration table and the keys read are the same list.
@Suite struct UnknownKeyTests {
    @Test(arguments: [
        (#"{"http": {"prot": 9443}}"#, "configuration error: http.prot: no such key; did you mean http.port?\n"),
        (#"{"recovery": {"rule": "code:1h"}}"#, "configuration error: recovery.rule: no such key; did you mean recovery.rules?\n"),
        (#"{"smpt": {"host": "mail.example.org"}}"#, "configuration error: smpt.host: no such key; did you mean smtp.host?\n"),
    ])
    func anUnknownKeyIsRefusedWithTheNearestKnownOne(json: String, message: String) async throws {
        let path = NSTemporaryDirectory() + "portcullis-config-\(UUID().uuidString).json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = await AdminCommandTests.run(["check-config", "--config", path], [:])
        #expect(result.status == 3)
        #expect(result.io.stderr == message)
    }

    @Test func theReadmeDocumentsExactlyTheKeysRead() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        // The first cells of the tables in the "Configuration" section.
        let start = try #require(text.range(of: "\n## Configuration\n"))
        let section = text[start.upperBound...].prefix { _ in true }
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        var documented = Set<String>()
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| `") {
            let firstCell = line.dropFirst(2).prefix { $0 != "|" }
            for match in firstCell.matches(of: /`([a-z0-9_]+(?:\.[a-z0-9_]+)*)`/) { documented.insert(String(match.output.1)) }
        }
        let known = try ConfigurationLoader.knownKeys()
        #expect(documented.subtracting(known).sorted() == [], "documented but not read")
        #expect(known.subtracting(documented).sorted() == [], "read but not documented")
    }
}

/// `portcullis events`: a user's timeline, or the audit log, newest first, filtered by `--since`.
@Suite struct EventsCommandTests {
    @Test func timelinesAndTheAuditLog() async throws {
        let path = NSTemporaryDirectory() + "portcullis-events-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let environment = ["DATABASE_URL": "sqlite:" + path]
        // No database yet: nothing is created, and a named user is not found.
        let none = await AdminCommandTests.run(["events"], environment)
        #expect(none.status == 0 && none.io.stderr.hasPrefix("no events: there is no database at"))
        #expect(await AdminCommandTests.run(["events", "--user", "dave"], environment).status == 4)
        #expect(!FileManager.default.fileExists(atPath: path))

        // dave signed up (at the fixtures' fixed time), then an operator made him an admin (now).
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let store = SQLAccountStore(backend: backend)
        try await store.migrate()
        _ = try await StoreFixtures.signUp(store, "dave", now: FixedClock.now)
        try await backend.close()
        #expect(await AdminCommandTests.run(["admin", "grant", "dave"], environment).status == 0)

        func lines(_ arguments: [String]) async throws -> [JSONObject] {
            let result = await AdminCommandTests.run(arguments, environment)
            #expect(result.status == 0, "\(arguments): \(result.io.stderr)")
            return try result.io.stdout.split(separator: "\n").map { try #require(try StrictJSON.parse(Array($0.utf8)).object) }
        }
        let timeline = try await lines(["events", "--user", "DAVE"])
        #expect(timeline.compactMap { $0["kind"]?.string } == ["admin_granted", "signup"])
        #expect(timeline.allSatisfy { $0["user"] == .string("dave") })
        let audit = try await lines(["events"])
        #expect(audit.compactMap { $0["kind"]?.string } == ["admin_granted"])
        #expect(audit.first?["ip"] == .string("command line"))
        #expect(try await lines(["events", "--user", "dave", "--since", "1h"]).compactMap { $0["kind"]?.string } == ["admin_granted"])
        #expect(try await lines(["events", "--user", "dave", "--since", "2000-01-01T00:00:00Z"]).count == 2)
        let late = await AdminCommandTests.run(["events", "--since", "2999-01-01T00:00:00Z"], environment)
        #expect(late.status == 0 && late.io.stdout.isEmpty && late.io.stderr == "no events since 2999-01-01T00:00:00Z\n")
        #expect(await AdminCommandTests.run(["events", "--since", "yesterday"], environment).status == 2)
    }
}
