import Accounts
import Crypto
import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// The operator's commands go through the domain: each change with its event, in one transaction,
/// at the clock's time.
@Suite struct OperatorActionsTests {
    /// Bytes that count up, so IDs and codes are known in advance.
    final class CountingRandom: RandomSource, @unchecked Sendable {
        private var next: UInt8 = 0
        func bytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                next &+= 1
                return next
            }
        }
    }

    static let now = FixedClock.now

    @Test func disablingEndsSessionsAndSaysSoOnTheTimelineEnablingToo() async throws {
        let store = MemoryAccountStore()
        let (ada, _, session) = try await StoreFixtures.signUp(store, "ada")
        let actions = OperatorActions(store: store, clock: { Self.now.addingTimeInterval(60) }, random: CountingRandom())
        try await actions.setDisabled(true, username: "ADA")
        #expect(try await store.user(id: ada.id)?.disabled == true)
        #expect(try await store.session(tokenHash: session.tokenHash) == nil)
        let disabled = try #require(try await store.events(userID: ada.id, limit: 10).first { $0.kind == .userDisabled })
        #expect(disabled.at == Self.now.addingTimeInterval(60) && disabled.ip == "command line")
        try await actions.setDisabled(false, username: "ada")
        #expect(try await store.user(id: ada.id)?.disabled == false)
        #expect(try await store.events(userID: ada.id, limit: 10).contains { $0.kind == .userEnabled })
    }

    @Test func anUnknownUsernameChangesNothing() async throws {
        let store = MemoryAccountStore()
        let (ada, _, _) = try await StoreFixtures.signUp(store, "ada")
        let actions = OperatorActions(store: store, clock: { Self.now })
        for action in [{ try await actions.setDisabled(true, username: "nobody") }, { _ = try await actions.delete(username: "nobody") }] as [@Sendable () async throws -> Void] {
            let error = await #expect(throws: AccountsError.self) { try await action() }
            #expect(error?.code.rawValue == "not_found")
        }
        await #expect(throws: AccountsError.self) { try await actions.setDisabled(true, username: "not a username!") }
        #expect(try await store.events(userID: ada.id, limit: 10).map(\.kind) == [.signup])
        #expect(try await store.user(id: ada.id)?.disabled == false)
    }

    @Test func deletingRemovesTheAccount() async throws {
        let store = MemoryAccountStore()
        let (ada, _, _) = try await StoreFixtures.signUp(store, "ada")
        try await OperatorActions(store: store).delete(username: "ada")
        #expect(try await store.user(id: ada.id) == nil)
    }

    @Test func anInviteIsDrawnFromTheRandomSourceAndTimedByTheClock() async throws {
        let store = MemoryAccountStore()
        let code = try await OperatorActions(store: store, clock: { Self.now }, random: CountingRandom()).createInvite(lifetime: 3600)
        #expect(code == Base64URL.encode(Array(1...18)))
        // Only its hash is stored: a sign-up names it by hash, once, before it expires.
        func signUp(_ name: String, at: Date) async throws {
            let user = StoreFixtures.user(name)
            let challenge = StoreFixtures.challenge(.signup, pending: user, expiresAt: at.addingTimeInterval(300))
            try await store.saveChallenge(challenge)
            let passkey = StoreFixtures.passkey(for: user)
            try await store.createUser(user, passkey: passkey, session: StoreFixtures.session(for: user, passkey: passkey),
                                       event: StoreFixtures.event(.signup, for: user), inviteHash: Array(SHA256.hash(data: Array(code.utf8))),
                                       challenge: challenge.challenge, now: at)
        }
        await #expect(throws: StoreError.inviteInvalid) { try await signUp("late", at: Self.now.addingTimeInterval(3601)) }
        try await signUp("bea", at: Self.now.addingTimeInterval(3599))
        await #expect(throws: StoreError.inviteInvalid) { try await signUp("cy", at: Self.now.addingTimeInterval(3599)) }
    }
}
