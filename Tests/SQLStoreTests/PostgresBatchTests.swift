import Accounts
import Foundation
import Logging
import PortcullisTesting
import SQLKit
import Testing
@testable import SQLStore

/// The batched sign-in statements on PostgreSQL, given whole batches: each request is answered as
/// the single statement would answer it alone. Skipped without `PORTCULLIS_TEST_POSTGRES_URL`.
@Suite struct PostgresBatchTests {
    static func withStore(_ body: @escaping @Sendable (PostgresBackend, SQLAccountStore) async throws -> Void) async throws {
        guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"] else { return }
        let backend = try PostgresBackend(url: url, logger: Logger(label: "test"))
        try await backend.withRunningClient {
            let store = SQLAccountStore(backend: backend)
            try await store.migrate()
            try await body(backend, store)
        }
    }

    /// Removes challenges a test left, so that suites sharing the database (the conformance suite
    /// counts what it sweeps) never see them.
    static func forget(_ challenges: [CeremonyChallenge], _ backend: PostgresBackend) async throws {
        for challenge in challenges {
            try await backend.write { db in try await db.raw("DELETE FROM challenges WHERE challenge = \(bind: challenge.challenge)").run() }
        }
    }

    @Test func challengesAreStoredTogetherWithTheirNulls() async throws {
        try await Self.withStore { backend, store in
            let someone = StoreFixtures.user("batch-\(UUID().uuidString.prefix(8).lowercased())")
            var invited = StoreFixtures.challenge(.signup, pending: someone)
            invited.pendingUser?.inviteHash = [1, 2, 3]
            let challenges = [
                StoreFixtures.challenge(.login),
                StoreFixtures.challenge(.signup, pending: someone),
                invited,
                StoreFixtures.challenge(.reauth, user: someone),
            ]
            try await PostgresBackend.insertChallenges(challenges, on: backend.client)
            for challenge in challenges { #expect(try await store.challenge(challenge.challenge) == challenge) }
            try await Self.forget(challenges, backend)
        }
    }

    @Test func assertionContextsAnswerEachRequestInOrder() async throws {
        try await Self.withStore { backend, store in
            let (alice, alicesKey, _) = try await StoreFixtures.signUp(store)
            let (bob, bobsKey, _) = try await StoreFixtures.signUp(store)
            let login = StoreFixtures.challenge(.login)
            try await store.saveChallenge(login)
            let now = FixedClock.now
            let requests = [
                AssertionContextRequest(challenge: login.challenge, credentialID: alicesKey.credentialID, now: now),
                AssertionContextRequest(challenge: "never stored", credentialID: bobsKey.credentialID, now: now),
                AssertionContextRequest(challenge: login.challenge, credentialID: Array("unknown".utf8), now: now),
                AssertionContextRequest(challenge: login.challenge, credentialID: alicesKey.credentialID, now: now),
            ]
            let contexts = try await PostgresBackend.assertionContexts(requests, on: backend.client)
            #expect(contexts.map { $0.challenge } == [login, nil, login, login])
            #expect(contexts.map { $0.credential?.user.id } == [alice.id, bob.id, nil, alice.id])
            #expect(contexts.map { $0.credential?.passkey.credentialID } == [alicesKey.credentialID, bobsKey.credentialID, nil, alicesKey.credentialID])
            try await Self.forget([login], backend)
        }
    }

    /// A sign-in of `passkey`'s owner answering `challenge`, moving the counter from `expected` to `new`.
    static func signIn(_ user: User, _ passkey: Passkey, challenge: String, expected: UInt32, new: UInt32, now: Date = FixedClock.now,
                       session: Session? = nil) -> RecordSignInStatement {
        RecordSignInStatement(
            challenge: challenge, kind: .login, now: now, credentialID: passkey.credentialID, expectedSignCount: expected,
            newSignCount: new, backedUp: true, uvInitialized: true, session: session ?? StoreFixtures.session(for: user, passkey: passkey),
            event: StoreFixtures.event(.signin, for: user))
    }

    /// Two signed-up people and `count` stored login challenges.
    static func twoPeople(_ store: SQLAccountStore, challenges count: Int) async throws
        -> (alice: (User, Passkey, Session), bob: (User, Passkey, Session), challenges: [CeremonyChallenge])
    {
        let alice = try await StoreFixtures.signUp(store)
        let bob = try await StoreFixtures.signUp(store)
        let challenges = (0..<count).map { _ in StoreFixtures.challenge(.login) }
        for challenge in challenges { try await store.saveChallenge(challenge) }
        return (alice, bob, challenges)
    }

    static func describe(_ outcomes: [SignInOutcome]) -> [String] {
        outcomes.map { outcome in
            switch outcome {
            case .recorded: "recorded"
            case .challengeGone: "challengeGone"
            case .counterMoved: "counterMoved"
            case .failed(let error): "failed: \(error)"
            }
        }
    }

    @Test func aBatchWithoutRefusalsIsRecordedInOneStatement() async throws {
        try await Self.withStore { backend, store in
            let (alice, alicesKey, _) = try await StoreFixtures.signUp(store)
            let (bob, bobsKey, _) = try await StoreFixtures.signUp(store)
            let (carol, carolsKey, _) = try await StoreFixtures.signUp(store)
            // These sign-ins happen a day after FixedClock.now, so the expired challenge is expired for
            // them but not for other suites sweeping at FixedClock.now in the same database.
            let now = FixedClock.now.addingTimeInterval(86400)
            let forAlice = StoreFixtures.challenge(.login, expiresAt: now.addingTimeInterval(300))
            let forBob = StoreFixtures.challenge(.login, expiresAt: now.addingTimeInterval(300))
            let expired = StoreFixtures.challenge(.login, expiresAt: now.addingTimeInterval(-1))
            for challenge in [forAlice, forBob, expired] { try await store.saveChallenge(challenge) }
            let bobTwice = [
                Self.signIn(bob, bobsKey, challenge: forBob.challenge, expected: 0, new: 1, now: now),
                Self.signIn(bob, bobsKey, challenge: forBob.challenge, expected: 0, new: 1, now: now),
            ]
            let batch = [
                Self.signIn(alice, alicesKey, challenge: forAlice.challenge, expected: 0, new: 7, now: now),
                bobTwice[0],
                bobTwice[1],
                Self.signIn(carol, carolsKey, challenge: expired.challenge, expected: 0, new: 1, now: now),
            ]
            let outcomes = Self.describe(try await PostgresBackend.recordSignIns(batch, on: backend.client))
            #expect(outcomes[0] == "recorded")
            // One challenge answered twice in a batch: exactly one of the two is recorded.
            #expect(outcomes[1...2].sorted() == ["challengeGone", "recorded"])
            #expect(outcomes[3] == "challengeGone")

            #expect(try await store.passkey(credentialID: alicesKey.credentialID)?.signCount == 7)
            #expect(try await store.passkey(credentialID: bobsKey.credentialID)?.signCount == 1)
            #expect(try await store.passkey(credentialID: carolsKey.credentialID)?.signCount == 0)
            #expect(try await store.session(tokenHash: batch[0].session.tokenHash) != nil)
            let bobsSessions = [try await store.session(tokenHash: bobTwice[0].session.tokenHash), try await store.session(tokenHash: bobTwice[1].session.tokenHash)]
            #expect(bobsSessions.compactMap { $0 }.count == 1)
            #expect(try await store.session(tokenHash: batch[3].session.tokenHash) == nil)
            #expect(try await store.events(userID: carol.id, limit: 10).map(\.kind) == [.signup])
            #expect(try await store.events(userID: bob.id, limit: 10).filter { $0.kind == .signin }.count == 1)
            for challenge in [forAlice, forBob] { #expect(try await store.challenge(challenge.challenge) == nil) }
            #expect(try await store.challenge(expired.challenge) != nil)
            try await Self.forget([expired], backend)
        }
    }

    @Test func aRefusalInABatchRefusesOnlyItsOwnSignIn() async throws {
        try await Self.withStore { backend, store in
            let ((alice, alicesKey, _), (bob, bobsKey, _), challenges) = try await Self.twoPeople(store, challenges: 4)
            let batch = [
                // Alice's counter is 0, not 5: refused, and her challenge stays.
                Self.signIn(alice, alicesKey, challenge: challenges[0].challenge, expected: 5, new: 6),
                Self.signIn(bob, bobsKey, challenge: challenges[1].challenge, expected: 0, new: 1),
                // Two sign-ins with one passkey: the second was checked against a counter the first moves.
                Self.signIn(bob, bobsKey, challenge: challenges[2].challenge, expected: 0, new: 1),
                Self.signIn(alice, alicesKey, challenge: "never stored", expected: 0, new: 1),
            ]
            let outcomes = Self.describe(try await PostgresBackend.recordSignIns(batch, on: backend.client))
            #expect(outcomes == ["counterMoved", "recorded", "counterMoved", "challengeGone"])
            #expect(try await store.passkey(credentialID: alicesKey.credentialID)?.signCount == 0)
            #expect(try await store.passkey(credentialID: bobsKey.credentialID)?.signCount == 1)
            #expect(try await store.challenge(challenges[0].challenge) != nil)
            #expect(try await store.challenge(challenges[1].challenge) == nil)
            #expect(try await store.challenge(challenges[2].challenge) != nil)
            #expect(try await store.sessions(userID: alice.id).count == 1)  // the sign-up's
            #expect(try await store.sessions(userID: bob.id).count == 2)
            try await Self.forget(challenges, backend)
        }
    }

    @Test func aSignInTheDatabaseRejectsFailsAloneInItsBatch() async throws {
        try await Self.withStore { backend, store in
            let ((alice, alicesKey, alicesSession), (bob, bobsKey, _), challenges) = try await Self.twoPeople(store, challenges: 2)
            // Alice's new session reuses her sign-up session's token hash, which must be unique.
            let clashing = Self.signIn(
                alice, alicesKey, challenge: challenges[0].challenge, expected: 0, new: 1,
                session: StoreFixtures.session(for: alice, passkey: alicesKey, token: String(decoding: alicesSession.tokenHash, as: UTF8.self)))
            let batch = [clashing, Self.signIn(bob, bobsKey, challenge: challenges[1].challenge, expected: 0, new: 1)]
            let outcomes = Self.describe(try await PostgresBackend.recordSignIns(batch, on: backend.client))
            #expect(outcomes[0].hasPrefix("failed"))
            #expect(outcomes[1] == "recorded")
            #expect(try await store.passkey(credentialID: alicesKey.credentialID)?.signCount == 0)
            #expect(try await store.challenge(challenges[0].challenge) != nil)
            #expect(try await store.passkey(credentialID: bobsKey.credentialID)?.signCount == 1)
            try await Self.forget(challenges, backend)
        }
    }

    @Test func concurrentSignInsThroughTheStoreAreEachRecorded() async throws {
        try await Self.withStore { _, store in
            var people: [(User, Passkey)] = []
            for _ in 0..<24 {
                let (user, passkey, _) = try await StoreFixtures.signUp(store)
                people.append((user, passkey))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (user, passkey) in people {
                    group.addTask {
                        let login = StoreFixtures.challenge(.login)
                        try await store.saveChallenge(login)
                        let context = try await store.assertionContext(challenge: login.challenge, credentialID: passkey.credentialID, now: FixedClock.now)
                        #expect(context.challenge == login)
                        #expect(context.credential?.user.id == user.id)
                        try await store.recordAssertion(
                            credentialID: passkey.credentialID, expectedSignCount: 0, newSignCount: 3, backedUp: true, uvInitialized: true,
                            newSession: StoreFixtures.session(for: user, passkey: passkey), reauthenticatedSession: nil,
                            event: StoreFixtures.event(.signin, for: user), challenge: login.challenge, kind: .login, now: FixedClock.now)
                    }
                }
                try await group.waitForAll()
            }
            for (_, passkey) in people { #expect(try await store.passkey(credentialID: passkey.credentialID)?.signCount == 3) }
        }
    }
}
