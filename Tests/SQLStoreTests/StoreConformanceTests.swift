import Accounts
import Foundation
import Logging
import PortcullisTesting
import SQLStore
import Testing

/// The same tests on every store: in memory, SQLite, and PostgreSQL when
/// `PORTCULLIS_TEST_POSTGRES_URL` names a database (scripts/test starts a throwaway cluster).
@Suite(.serialized) struct StoreConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite, postgres
        var testDescription: String { rawValue }
    }

    static var kinds: [Kind] {
        ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"] == nil ? [.memory, .sqlite] : Kind.allCases
    }

    /// Runs `body` against a fresh, migrated store of `kind`.
    static func withStore(_ kind: Kind, _ body: @escaping @Sendable (any AccountStore) async throws -> Void) async throws {
        switch kind {
        case .memory:
            try await body(MemoryAccountStore())
        case .sqlite:
            let path = NSTemporaryDirectory() + "portcullis-store-\(UUID().uuidString).sqlite"
            let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
            let store = SQLAccountStore(backend: backend)
            try await store.migrate()
            try await store.migrate()  // idempotent
            try await body(store)
            try await backend.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"] else { return }
            let backend = try PostgresBackend(url: url, logger: Logger(label: "test"))
            try await backend.withRunningClient {
                let store = SQLAccountStore(backend: backend)
                try await store.migrate()
                try await store.migrate()
                try await body(store)
            }
        }
    }

    static let now = FixedClock.now

    /// Creates a user with a passkey and session through a sign-up challenge.
    static func signUp(_ store: any AccountStore, _ name: String = "user-\(UUID().uuidString.prefix(8))") async throws -> (User, Passkey, Session) {
        try await StoreFixtures.signUp(store, name, now: now)
    }

    /// The admin page's search: a username prefix, with LIKE's wildcards taken literally; and the
    /// audit log: the newest admin-action events across users, nothing else.
    @Test(arguments: kinds)
    func usernamePrefixesAndTheAuditLog(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let tag = "p" + UUID().uuidString.prefix(6).lowercased()
            let (user, _, _) = try await Self.signUp(store, tag + "_b")
            _ = try await Self.signUp(store, tag + "xb")
            #expect(try await store.users(usernamePrefix: tag + "_", limit: 10).map(\.username) == [tag + "_b"])
            #expect(try await store.users(usernamePrefix: tag, limit: 10).map(\.username) == [tag + "_b", tag + "xb"])
            #expect(try await store.users(usernamePrefix: tag, limit: 1).count == 1)
            #expect(try await store.users(usernamePrefix: tag + "%", limit: 10).isEmpty)
            // Later than any earlier run's events on a shared PostgreSQL database.
            let later = Date(timeIntervalSince1970: 4_000_000_000 + Date().timeIntervalSince1970.rounded())
            let disabled = StoreFixtures.event(.userDisabled, for: user, at: later)
            try await store.appendEvent(disabled)
            try await store.appendEvent(StoreFixtures.event(.signin, for: user, at: later.addingTimeInterval(1)))
            #expect(try await store.adminEvents(limit: 1).map(\.id) == [disabled.id])
        }
    }

    @Test(arguments: kinds)
    func signUpCreatesEverythingOrNothing(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            // Names unique to this run, so the suite can run again on the same PostgreSQL database.
            let tag = UUID().uuidString.prefix(6).lowercased()
            let (user, passkey, session) = try await Self.signUp(store, "Alice-\(tag)")
            #expect(try await store.user(username: "ALICE-\(tag.uppercased())")?.id == user.id)
            #expect(try await store.user(id: user.id)?.handle == user.handle)
            #expect(try await store.user(handle: user.handle)?.username == "alice-\(tag)")
            #expect(try await store.passkey(credentialID: passkey.credentialID) == passkey)
            #expect(try await store.session(tokenHash: session.tokenHash) == session)
            #expect(try await store.events(userID: user.id, limit: 10).map(\.kind) == [.signup])

            // A taken username: nothing of the second account exists afterwards, and its challenge remains.
            let twin = StoreFixtures.user("alice-\(tag)")
            let twinKey = StoreFixtures.passkey(for: twin)
            let challenge = StoreFixtures.challenge(.signup, pending: twin)
            try await store.saveChallenge(challenge)
            await #expect(throws: StoreError.usernameTaken) {
                try await store.createUser(twin, passkey: twinKey, session: StoreFixtures.session(for: twin, passkey: twinKey),
                                           event: StoreFixtures.event(.signup, for: twin), inviteHash: nil, challenge: challenge.challenge, now: Self.now)
            }
            #expect(try await store.passkey(credentialID: twinKey.credentialID) == nil)
            #expect(try await store.user(id: twin.id) == nil)
            #expect(try await store.challenge(challenge.challenge) != nil)

            // A credential ID that is registered already (to anyone).
            let other = StoreFixtures.user("bob-\(tag)")
            let stolen = StoreFixtures.passkey(for: other, id: passkey.credentialID)
            let challenge2 = StoreFixtures.challenge(.signup, pending: other)
            try await store.saveChallenge(challenge2)
            await #expect(throws: StoreError.credentialExists) {
                try await store.createUser(other, passkey: stolen, session: StoreFixtures.session(for: other, passkey: stolen),
                                           event: StoreFixtures.event(.signup, for: other), inviteHash: nil, challenge: challenge2.challenge, now: Self.now)
            }
            #expect(try await store.user(username: "bob-\(tag)") == nil)
        }
    }

    @Test(arguments: kinds)
    func challengesAreSingleUseKindBoundAndExpire(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            // Reusing the sign-up challenge fails.
            let login = StoreFixtures.challenge(.login, user: user)
            try await store.saveChallenge(login)
            #expect(try await store.challenge(login.challenge) == login)
            func record(_ challenge: String, kind: CeremonyKind, expected: UInt32, new: UInt32, now: Date = Self.now) async throws {
                let session = StoreFixtures.session(for: user, passkey: passkey)
                try await store.recordAssertion(credentialID: passkey.credentialID, expectedSignCount: expected, newSignCount: new,
                                                backedUp: true, uvInitialized: true, newSession: session, reauthenticatedSession: nil,
                                                event: StoreFixtures.event(.signin, for: user), challenge: challenge, kind: kind, now: now)
            }
            await #expect(throws: StoreError.challengeGone) { try await record(login.challenge, kind: .reauth, expected: 0, new: 1) }
            try await record(login.challenge, kind: .login, expected: 0, new: 1)
            await #expect(throws: StoreError.challengeGone) { try await record(login.challenge, kind: .login, expected: 1, new: 2) }
            #expect(try await store.passkey(credentialID: passkey.credentialID)?.signCount == 1)

            let expired = StoreFixtures.challenge(.login, user: user, expiresAt: Self.now.addingTimeInterval(-1))
            try await store.saveChallenge(expired)
            await #expect(throws: StoreError.challengeGone) { try await record(expired.challenge, kind: .login, expected: 1, new: 2) }
            #expect(try await store.sweepExpiredChallenges(now: Self.now) == 1)
            #expect(try await store.challenge(expired.challenge) == nil)

            // A stale counter: refused, and the challenge is left as it was.
            let another = StoreFixtures.challenge(.login, user: user)
            try await store.saveChallenge(another)
            await #expect(throws: StoreError.conflict) { try await record(another.challenge, kind: .login, expected: 0, new: 5) }
            #expect(try await store.challenge(another.challenge) != nil)
        }
    }

    /// The sign-in read: a challenge and a credential at once, each found or not on its own, the
    /// same records as the separate reads give, and the owner's open recovery cases counted.
    @Test(arguments: kinds)
    func assertionContextReadsChallengeAndCredentialTogether(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            let bound = StoreFixtures.challenge(.reauth, user: user)
            try await store.saveChallenge(bound)
            let unknownCredential = Array("no-such-credential-\(UUID().uuidString)".utf8)

            var context = try await store.assertionContext(challenge: bound.challenge, credentialID: passkey.credentialID, now: Self.now)
            #expect(context.challenge == bound)
            #expect(context.credential?.passkey == passkey)
            #expect(context.credential?.user == user)
            #expect(context.credential?.openRecoveryCases == 0)

            context = try await store.assertionContext(challenge: bound.challenge, credentialID: unknownCredential, now: Self.now)
            #expect(context.challenge == bound)
            #expect(context.credential == nil)

            context = try await store.assertionContext(challenge: "no-such-challenge", credentialID: passkey.credentialID, now: Self.now)
            #expect(context.challenge == nil)
            #expect(context.credential?.passkey == passkey)

            context = try await store.assertionContext(challenge: "no-such-challenge", credentialID: unknownCredential, now: Self.now)
            #expect(context.challenge == nil)
            #expect(context.credential == nil)

            // A sign-up challenge carries its pending user; open cases count until they expire.
            let pendingUser = StoreFixtures.user("pending-\(UUID().uuidString.prefix(6).lowercased())")
            let signup = StoreFixtures.challenge(.signup, pending: pendingUser)
            try await store.saveChallenge(signup)
            let open = RecoveryCase(id: UUID(), userID: user.id, secretHash: Array(repeating: 9, count: 32), comparisonCode: "123456", status: .open,
                                    createdAt: Self.now, expiresAt: Self.now.addingTimeInterval(60), ip: "192.0.2.1", userAgent: "phone")
            try await store.createRecoveryCase(open, event: StoreFixtures.event(.recoveryStarted, for: user))
            context = try await store.assertionContext(challenge: signup.challenge, credentialID: passkey.credentialID, now: Self.now)
            #expect(context.challenge == signup)
            #expect(context.credential?.openRecoveryCases == 1)
            context = try await store.assertionContext(challenge: signup.challenge, credentialID: passkey.credentialID, now: Self.now.addingTimeInterval(61))
            #expect(context.credential?.openRecoveryCases == 0)
        }
    }

    @Test(arguments: kinds)
    func twoConcurrentCompletionsOfOneChallengeExactlyOneSucceeds(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            // First a counter that moves (0 -> 1), then one that stays (1 -> 1, as with authenticators
            // that always report the same count): only the single use of the challenge stops the others.
            for (round, counts) in [(expected: UInt32(0), new: UInt32(1)), (expected: 1, new: 1)].enumerated() {
                let login = StoreFixtures.challenge(.login, user: user)
                try await store.saveChallenge(login)
                let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do {
                                try await store.recordAssertion(
                                    credentialID: passkey.credentialID, expectedSignCount: counts.expected, newSignCount: counts.new, backedUp: true,
                                    uvInitialized: true, newSession: StoreFixtures.session(for: user, passkey: passkey), reauthenticatedSession: nil,
                                    event: StoreFixtures.event(.signin, for: user), challenge: login.challenge, kind: .login, now: Self.now)
                                return true
                            } catch is StoreError {
                                return false
                            }
                        }
                    }
                    return try await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 }.count == 1)
                #expect(try await store.sessions(userID: user.id).count == 2 + round)
                #expect(try await store.events(userID: user.id, limit: 100).filter { $0.kind == .signin }.count == 1 + round)
            }
        }
    }

    @Test(arguments: kinds)
    func passkeysCanBeRenamedAddedAndDeletedButNeverTheLast(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            let (mallory, _, _) = try await Self.signUp(store)
            await #expect(throws: StoreError.lastPasskey) {
                try await store.deletePasskey(credentialID: passkey.credentialID, userID: user.id, event: StoreFixtures.event(.passkeyRemoved, for: user))
            }
            await #expect(throws: StoreError.notFound) {
                try await store.renamePasskey(credentialID: passkey.credentialID, userID: mallory.id, name: "x", event: StoreFixtures.event(.passkeyRenamed, for: mallory))
            }
            try await store.renamePasskey(credentialID: passkey.credentialID, userID: user.id, name: "Laptop", event: StoreFixtures.event(.passkeyRenamed, for: user))
            #expect(try await store.passkey(credentialID: passkey.credentialID)?.name == "Laptop")

            let second = StoreFixtures.passkey(for: user)
            let add = StoreFixtures.challenge(.add, user: user)
            try await store.saveChallenge(add)
            try await store.addPasskey(second, event: StoreFixtures.event(.passkeyAdded, for: user), challenge: add.challenge, now: Self.now)
            #expect(try await store.passkeys(userID: user.id).count == 2)
            let add2 = StoreFixtures.challenge(.add, user: user)
            try await store.saveChallenge(add2)
            await #expect(throws: StoreError.credentialExists) {
                try await store.addPasskey(second, event: StoreFixtures.event(.passkeyAdded, for: user), challenge: add2.challenge, now: Self.now)
            }
            await #expect(throws: StoreError.notFound) {
                try await store.deletePasskey(credentialID: second.credentialID, userID: mallory.id, event: StoreFixtures.event(.passkeyRemoved, for: mallory))
            }
            try await store.deletePasskey(credentialID: passkey.credentialID, userID: user.id, event: StoreFixtures.event(.passkeyRemoved, for: user))
            #expect(try await store.passkeys(userID: user.id).map(\.credentialID) == [second.credentialID])
        }
    }

    @Test(arguments: kinds)
    func deletingAPasskeyEndsTheSessionsBornFromItAndOnlyThose(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, first, signUpSession) = try await Self.signUp(store)
            let (other, _, otherSession) = try await Self.signUp(store)
            let second = StoreFixtures.passkey(for: user)
            let add = StoreFixtures.challenge(.add, user: user)
            try await store.saveChallenge(add)
            try await store.addPasskey(second, event: StoreFixtures.event(.passkeyAdded, for: user), challenge: add.challenge, now: Self.now)
            // A sign-in with each passkey, and a device approved with the first.
            var counts: [[UInt8]: UInt32] = [:]
            func signIn(_ passkey: Passkey, birth: SessionBirth) async throws -> Session {
                var session = StoreFixtures.session(for: user, passkey: passkey)
                session.birth = birth
                let login = StoreFixtures.challenge(.login, user: user)
                try await store.saveChallenge(login)
                let count = counts[passkey.credentialID, default: 0]
                try await store.recordAssertion(
                    credentialID: passkey.credentialID, expectedSignCount: count, newSignCount: count + 1, backedUp: true, uvInitialized: true,
                    newSession: session, reauthenticatedSession: nil, event: StoreFixtures.event(.signin, for: user),
                    challenge: login.challenge, kind: .login, now: Self.now)
                counts[passkey.credentialID] = count + 1
                return session
            }
            let withFirst = try await signIn(first, birth: SessionBirth(kind: .passkey, credentialID: first.credentialID, userVerified: true, deviceBound: false))
            let withSecond = try await signIn(second, birth: SessionBirth(kind: .passkey, credentialID: second.credentialID, userVerified: true, deviceBound: false))
            let approved = try await signIn(second, birth: SessionBirth(kind: .deviceApproval, credentialID: first.credentialID, userVerified: false, deviceBound: false))

            // Refused deletions end nothing.
            await #expect(throws: StoreError.notFound) {
                try await store.deletePasskey(credentialID: first.credentialID, userID: other.id, event: StoreFixtures.event(.passkeyRemoved, for: other))
            }
            #expect(try await store.sessions(userID: user.id).count == 4)

            let ended = try await store.deletePasskey(credentialID: first.credentialID, userID: user.id, event: StoreFixtures.event(.passkeyRemoved, for: user))
            #expect(Set(ended) == [signUpSession.id, withFirst.id, approved.id])
            #expect(try await store.sessions(userID: user.id).map(\.id) == [withSecond.id])
            #expect(try await store.session(tokenHash: signUpSession.tokenHash) == nil)
            #expect(try await store.session(tokenHash: otherSession.tokenHash)?.id == otherSession.id)
            let event = try #require(try await store.events(userID: user.id, limit: 50).first { $0.kind == .passkeyRemoved })
            #expect(event.detail["sessions_ended"] == "3")
            #expect(event.detail["k"] == "v")
            // The last passkey stays, and so does its session.
            await #expect(throws: StoreError.lastPasskey) {
                try await store.deletePasskey(credentialID: second.credentialID, userID: user.id, event: StoreFixtures.event(.passkeyRemoved, for: user))
            }
            #expect(try await store.sessions(userID: user.id).map(\.id) == [withSecond.id])
        }
    }

    @Test(arguments: kinds)
    func sessionsAreFoundByTokenHashRevokedAndSwept(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, session) = try await Self.signUp(store)
            let (mallory, _, _) = try await Self.signUp(store)
            await #expect(throws: StoreError.notFound) { try await store.deleteSession(id: session.id, userID: mallory.id, event: nil) }
            try await store.touchSession(id: session.id, at: Self.now.addingTimeInterval(30))
            #expect(try await store.session(tokenHash: session.tokenHash)?.lastSeenAt == Self.now.addingTimeInterval(30))
            try await store.rotateSession(id: session.id, newTokenHash: Array("rotated".utf8))
            #expect(try await store.session(tokenHash: session.tokenHash) == nil)
            #expect(try await store.session(tokenHash: Array("rotated".utf8))?.id == session.id)

            let reauth = StoreFixtures.challenge(.reauth, user: user)
            try await store.saveChallenge(reauth)
            try await store.recordAssertion(
                credentialID: passkey.credentialID, expectedSignCount: 0, newSignCount: 3, backedUp: false, uvInitialized: true,
                newSession: nil, reauthenticatedSession: (session.id, Array("fresh".utf8)), event: StoreFixtures.event(.reauthenticated, for: user),
                challenge: reauth.challenge, kind: .reauth, now: Self.now.addingTimeInterval(60))
            let fresh = try #require(try await store.session(tokenHash: Array("fresh".utf8)))
            #expect(fresh.authenticatedAt == Self.now.addingTimeInterval(60))
            #expect(try await store.countSessions() >= 2)
            #expect(try await store.sweepExpiredSessions(now: Self.now.addingTimeInterval(7200), idleTimeout: 86400) >= 2)
            #expect(try await store.sessions(userID: user.id).isEmpty)
        }
    }

    @Test(arguments: kinds)
    func disablingEndsSessionsAndDeletingRemovesEverything(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            await #expect(throws: StoreError.notFound) {
                try await store.setDisabled(userID: UUID(), disabled: true, event: StoreFixtures.event(.userDisabled, for: user))
            }
            #expect(try await store.events(userID: user.id, limit: 10).map(\.kind) == [.signup])
            try await store.setDisabled(userID: user.id, disabled: true, event: StoreFixtures.event(.userDisabled, for: user))
            #expect(try await store.user(id: user.id)?.disabled == true)
            #expect(try await store.sessions(userID: user.id).isEmpty)
            #expect(try await store.events(userID: user.id, limit: 10).map(\.kind).contains(.userDisabled))
            try await store.setDisabled(userID: user.id, disabled: false, event: nil)
            try await store.deleteUser(id: user.id)
            #expect(try await store.user(id: user.id) == nil)
            #expect(try await store.passkey(credentialID: passkey.credentialID) == nil)
            #expect(try await store.events(userID: user.id, limit: 10).isEmpty)
            await #expect(throws: StoreError.notFound) { try await store.deleteUser(id: user.id) }
        }
    }

    /// Retention: events recorded before the cutoff go, oldest first and at most `limit` at a time,
    /// delivered or not; newer ones stay. (The dates lie far before any other test's events, which a
    /// PostgreSQL database shared between tests may hold.)
    @Test(arguments: kinds)
    func eventsBeforeTheCutoffAreDeletedOldestFirst(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, _, _) = try await Self.signUp(store)
            let day: TimeInterval = 86400
            let cutoff = Self.now.addingTimeInterval(-3000 * day)
            let oldest = StoreFixtures.event(.sessionRevoked, for: user, at: cutoff.addingTimeInterval(-2 * day))
            let older = StoreFixtures.event(.passkeyRenamed, for: user, at: cutoff.addingTimeInterval(-1))
            let kept = StoreFixtures.event(.passkeyRenamed, for: user, at: cutoff)
            for event in [kept, older, oldest] { try await store.appendEvent(event) }
            // One delivered, one still waiting in the outbox: both are past retention all the same.
            try await store.markEventDelivered(id: oldest.id, at: oldest.at)
            #expect(try await store.events(userID: user.id, limit: 10).count == 4, "the sign-up's event and these three")

            #expect(try await store.deleteEvents(before: cutoff, limit: 1) == 1)
            var left = Set(try await store.events(userID: user.id, limit: 10).map(\.id))
            #expect(!left.contains(oldest.id) && left.contains(older.id) && left.contains(kept.id))

            #expect(try await store.deleteEvents(before: cutoff, limit: 10) == 1)
            left = Set(try await store.events(userID: user.id, limit: 10).map(\.id))
            #expect(!left.contains(older.id) && left.contains(kept.id))
            #expect(left.count == 2, "the sign-up's event and the one at the cutoff stay")
            #expect(try await store.deleteEvents(before: cutoff, limit: 10) == 0)
        }
    }

    @Test(arguments: kinds)
    func invitesWorkOnceAndSecretsAreStable(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let tag = UUID().uuidString.prefix(6).lowercased()
            let hash = Array("invite-hash-\(tag)".utf8)
            try await store.createInvite(Invite(codeHash: hash, createdAt: Self.now, expiresAt: Self.now.addingTimeInterval(3600)))
            for (index, expected) in [nil, StoreError.inviteInvalid].enumerated() {
                let user = StoreFixtures.user("invited-\(index)-\(tag)")
                let passkey = StoreFixtures.passkey(for: user)
                let challenge = StoreFixtures.challenge(.signup, pending: user)
                try await store.saveChallenge(challenge)
                let attempt = {
                    try await store.createUser(user, passkey: passkey, session: StoreFixtures.session(for: user, passkey: passkey),
                                               event: StoreFixtures.event(.signup, for: user), inviteHash: hash, challenge: challenge.challenge, now: Self.now)
                }
                if let expected { await #expect(throws: expected) { try await attempt() } } else { try await attempt() }
            }
            let first = try await store.secret(named: "enumeration", candidate: [1, 2, 3])
            let second = try await store.secret(named: "enumeration", candidate: [4, 5, 6])
            #expect(first == second)
            try await store.ping()
            // By name: other suites share the PostgreSQL database, so a listing may not reach these users.
            #expect(try await store.user(username: "invited-0-\(tag)") != nil)
            #expect(try await store.user(username: "invited-1-\(tag)") == nil)
            #expect(try await store.listUsers(limit: 1).count == 1)
        }
    }
}

extension StoreConformanceTests {
    /// A device approved with a passkey that is removed before the device polls gets no session: the
    /// approval is withdrawn with the passkey. Approvals already taken up, and those of other passkeys,
    /// stay as they are.
    @Test(arguments: kinds)
    func removingAPasskeyWithdrawsTheApprovalsNoDeviceTookUpYet(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, first, _) = try await Self.signUp(store)
            let second = StoreFixtures.passkey(for: user)
            let add = StoreFixtures.challenge(.add, user: user)
            try await store.saveChallenge(add)
            try await store.addPasskey(second, event: StoreFixtures.event(.passkeyAdded, for: user), challenge: add.challenge, now: Self.now)
            func approved(by passkey: Passkey, takenUp: Bool = false) async throws -> [UInt8] {
                let hash = Array(UUID().uuidString.utf8)
                try await store.createDeviceRequest(DeviceRequest(
                    deviceCodeHash: hash, userCode: UserCode.generate(using: SystemRandomSource()), status: .pending, createdAt: Self.now,
                    expiresAt: Self.now.addingTimeInterval(600), interval: 5, ip: "10.0.0.1", userAgent: "TV"))
                try await store.transitionDeviceRequest(deviceCodeHash: hash, from: .pending, to: .approved, decidedBy: user.id,
                                                        approvingCredentialID: passkey.credentialID, session: nil, event: nil, now: Self.now)
                if takenUp {
                    try await store.transitionDeviceRequest(
                        deviceCodeHash: hash, from: .approved, to: .consumed, decidedBy: nil, approvingCredentialID: nil,
                        session: StoreFixtures.session(for: user, passkey: second), event: nil, now: Self.now)
                }
                return hash
            }
            let waiting = try await approved(by: first)
            let taken = try await approved(by: first, takenUp: true)
            let bySecond = try await approved(by: second)

            try await store.deletePasskey(credentialID: first.credentialID, userID: user.id, event: StoreFixtures.event(.passkeyRemoved, for: user))
            #expect(try await store.deviceRequest(deviceCodeHash: waiting)?.status == .denied)
            #expect(try await store.deviceRequest(deviceCodeHash: taken)?.status == .consumed)
            #expect(try await store.deviceRequest(deviceCodeHash: bySecond)?.status == .approved)
            // The device's poll can no longer take it up.
            await #expect(throws: StoreError.conflict) {
                try await store.transitionDeviceRequest(
                    deviceCodeHash: waiting, from: .approved, to: .consumed, decidedBy: nil, approvingCredentialID: nil,
                    session: StoreFixtures.session(for: user, passkey: first), event: nil, now: Self.now)
            }
        }
    }

    @Test(arguments: kinds)
    func deviceRequestsMoveOnlyForwardAndOnce(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            let hash = Array(UUID().uuidString.utf8)
            let code = UserCode.generate(using: SystemRandomSource())
            let request = DeviceRequest(deviceCodeHash: hash, userCode: code, status: .pending, createdAt: Self.now,
                                        expiresAt: Self.now.addingTimeInterval(600), interval: 5, ip: "10.0.0.1", userAgent: "TV")
            try await store.createDeviceRequest(request)
            var twin = request
            twin.deviceCodeHash = Array(UUID().uuidString.utf8)
            await #expect(throws: StoreError.conflict) { try await store.createDeviceRequest(twin) }
            #expect(try await store.deviceRequest(userCode: code) == request)
            try await store.touchDeviceRequest(deviceCodeHash: hash, polledAt: Self.now.addingTimeInterval(1))
            #expect(try await store.deviceRequest(deviceCodeHash: hash)?.lastPolledAt == Self.now.addingTimeInterval(1))

            try await store.transitionDeviceRequest(deviceCodeHash: hash, from: .pending, to: .approved, decidedBy: user.id,
                                                    approvingCredentialID: passkey.credentialID, session: nil, event: nil, now: Self.now)
            await #expect(throws: StoreError.conflict) {
                try await store.transitionDeviceRequest(deviceCodeHash: hash, from: .pending, to: .denied, decidedBy: user.id,
                                                        approvingCredentialID: nil, session: nil, event: nil, now: Self.now)
            }
            let approved = try #require(try await store.deviceRequest(deviceCodeHash: hash))
            #expect(approved.status == .approved)
            #expect(approved.decidedBy == user.id)
            #expect(approved.approvingCredentialID == passkey.credentialID)
            let session = StoreFixtures.session(for: user, passkey: passkey)
            try await store.transitionDeviceRequest(deviceCodeHash: hash, from: .approved, to: .consumed, decidedBy: nil, approvingCredentialID: nil,
                                                    session: session, event: StoreFixtures.event(.signinDeviceApproval, for: user), now: Self.now)
            #expect(try await store.session(tokenHash: session.tokenHash) != nil)
            #expect(try await store.deviceRequest(deviceCodeHash: hash)?.decidedBy == user.id)
            // Expired requests do not move.
            var late = request
            late.deviceCodeHash = Array(UUID().uuidString.utf8)
            late.userCode = UserCode.generate(using: SystemRandomSource())
            late.expiresAt = Self.now.addingTimeInterval(-1)
            try await store.createDeviceRequest(late)
            await #expect(throws: StoreError.conflict) {
                try await store.transitionDeviceRequest(deviceCodeHash: late.deviceCodeHash, from: .pending, to: .approved, decidedBy: user.id,
                                                        approvingCredentialID: nil, session: nil, event: nil, now: Self.now)
            }
        }
    }
}

extension StoreConformanceTests {
    @Test(arguments: kinds)
    func enrolmentsMoveForwardAndCompleteAtomically(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, passkey, _) = try await Self.signUp(store)
            var enrolment = Enrolment(id: UUID(), tokenHash: Array(UUID().uuidString.utf8), userID: user.id, status: .created,
                                      createdAt: Self.now, expiresAt: Self.now.addingTimeInterval(600))
            try await store.createEnrolment(enrolment, event: StoreFixtures.event(.enrolmentCreated, for: user))
            #expect(try await store.enrolment(tokenHash: enrolment.tokenHash) == enrolment)
            enrolment.status = .opened
            enrolment.confirmationCode = "123456"
            enrolment.browserSecretHash = [1, 2, 3]
            enrolment.openedIP = "10.0.0.2"
            enrolment.openedUserAgent = "Laptop"
            try await store.updateEnrolment(enrolment, from: .created, event: nil, now: Self.now)
            await #expect(throws: StoreError.conflict) { try await store.updateEnrolment(enrolment, from: .created, event: nil, now: Self.now) }
            #expect(try await store.enrolment(id: enrolment.id) == enrolment)

            let newKey = StoreFixtures.passkey(for: user)
            let session = StoreFixtures.session(for: user, passkey: newKey)
            let challenge = StoreFixtures.challenge(.enrol, user: user)
            try await store.saveChallenge(challenge)
            // Not confirmed yet: nothing happens, the challenge stays.
            await #expect(throws: StoreError.conflict) {
                try await store.completeEnrolment(id: enrolment.id, passkey: newKey, session: session, event: StoreFixtures.event(.passkeyAdded, for: user),
                                                  challenge: challenge.challenge, now: Self.now)
            }
            #expect(try await store.passkey(credentialID: newKey.credentialID) == nil)
            #expect(try await store.challenge(challenge.challenge) != nil)
            enrolment.status = .confirmed
            try await store.updateEnrolment(enrolment, from: .opened, event: nil, now: Self.now)
            // A credential that exists already: refused, nothing changes.
            let clash = StoreFixtures.passkey(for: user, id: passkey.credentialID)
            await #expect(throws: StoreError.credentialExists) {
                try await store.completeEnrolment(id: enrolment.id, passkey: clash, session: session, event: StoreFixtures.event(.passkeyAdded, for: user),
                                                  challenge: challenge.challenge, now: Self.now)
            }
            #expect(try await store.enrolment(id: enrolment.id)?.status == .confirmed)
            try await store.completeEnrolment(id: enrolment.id, passkey: newKey, session: session, event: StoreFixtures.event(.passkeyAdded, for: user),
                                              challenge: challenge.challenge, now: Self.now)
            #expect(try await store.enrolment(id: enrolment.id)?.status == .used)
            #expect(try await store.passkeys(userID: user.id).count == 2)
            #expect(try await store.session(tokenHash: session.tokenHash) != nil)
        }
    }
}

extension StoreConformanceTests {
    @Test(arguments: kinds)
    func theOutboxHandsEachEventToOneClaimantAtATime(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, _, _) = try await Self.signUp(store)
            try await store.appendEvent(StoreFixtures.event(.passkeyAdded, for: user, at: Self.now.addingTimeInterval(1)))
            let later = Self.now.addingTimeInterval(10)
            let first = try await store.claimUndeliveredEvents(now: later, lease: 60, limit: 100_000).filter { $0.event.userID == user.id }
            #expect(first.count == 2)
            #expect(first.allSatisfy { $0.attempts == 0 })
            // Leased: a second claimant gets nothing until the lease ends.
            #expect(try await store.claimUndeliveredEvents(now: later, lease: 60, limit: 100_000).filter { $0.event.userID == user.id }.isEmpty)
            let signup = try #require(first.first { $0.event.kind == .signup })
            try await store.markEventDelivered(id: signup.event.id, at: later)
            let added = try #require(first.first { $0.event.kind == .passkeyAdded })
            try await store.recordEventDeliveryFailure(id: added.event.id, attempts: 1, nextAttempt: later.addingTimeInterval(2))
            let retry = try await store.claimUndeliveredEvents(now: later.addingTimeInterval(3), lease: 60, limit: 100_000).filter { $0.event.userID == user.id }
            #expect(retry.map(\.event.kind) == [.passkeyAdded])
            #expect(retry.first?.attempts == 1)
            try await store.recordEventDeliveryFailure(id: added.event.id, attempts: 12, nextAttempt: nil)
            #expect(try await store.claimUndeliveredEvents(now: later.addingTimeInterval(7200), lease: 60, limit: 100_000).filter { $0.event.userID == user.id }.isEmpty)
        }
    }
}
