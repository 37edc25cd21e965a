import Accounts
import Foundation
import PortcullisTesting
import Testing

/// Recovery records on every store (memory, SQLite, PostgreSQL when configured).
@Suite(.serialized) struct RecoveryStoreTests {
    typealias S = StoreConformanceTests
    static let now = FixedClock.now

    static func openCase(_ store: any AccountStore, for user: User?, at: Date = FixedClock.now) async throws -> RecoveryCase {
        let c = RecoveryCase(id: UUID(), userID: user?.id, secretHash: Array(repeating: 9, count: 32), comparisonCode: "123456", status: .open,
                             createdAt: at, expiresAt: at.addingTimeInterval(7 * 86400), ip: "192.0.2.1", userAgent: "phone")
        try await store.createRecoveryCase(c, event: user.map { StoreFixtures.event(.recoveryStarted, for: $0) })
        return c
    }

    @Test(arguments: S.kinds)
    func settingsAndContactsRoundTrip(kind: S.Kind) async throws {
        try await S.withStore(kind) { store in
            let (alice, _, _) = try await S.signUp(store)
            let (bob, _, _) = try await S.signUp(store)
            #expect(try await store.recoverySettings(userID: alice.id) == nil)
            let settings = RecoverySettings(userID: alice.id, threshold: 1, codeHash: Array(repeating: 1, count: 32), codeCreatedAt: Self.now,
                                            addresses: ["a@example.com", "b@example.org"])
            try await store.saveRecoverySettings(settings, event: StoreFixtures.event(.recoverySettingsChanged, for: alice))
            #expect(try await store.recoverySettings(userID: alice.id) == settings)
            var replaced = settings
            replaced.codeHash = nil
            replaced.threshold = 3
            try await store.saveRecoverySettings(replaced, event: StoreFixtures.event(.recoverySettingsChanged, for: alice))
            #expect(try await store.recoverySettings(userID: alice.id) == replaced)

            let contact = RecoveryContact(id: UUID(), ownerID: alice.id, contactID: bob.id, accepted: false, createdAt: Self.now)
            try await store.addRecoveryContact(contact, event: StoreFixtures.event(.recoveryContactInvited, for: alice))
            // The same contact twice: refused, and nothing added.
            await #expect(throws: StoreError.conflict) {
                try await store.addRecoveryContact(RecoveryContact(id: UUID(), ownerID: alice.id, contactID: bob.id, accepted: false, createdAt: Self.now),
                                                   event: StoreFixtures.event(.recoveryContactInvited, for: alice))
            }
            #expect(try await store.recoveryContacts(ownerID: alice.id) == [contact])
            // Only the invited user accepts, once.
            await #expect(throws: StoreError.notFound) {
                try await store.acceptRecoveryContact(id: contact.id, contactID: alice.id, event: StoreFixtures.event(.deviceDenied, for: alice))
            }
            try await store.acceptRecoveryContact(id: contact.id, contactID: bob.id, event: StoreFixtures.event(.recoveryContactAccepted, for: alice))
            await #expect(throws: StoreError.notFound) {
                try await store.acceptRecoveryContact(id: contact.id, contactID: bob.id, event: StoreFixtures.event(.deviceDenied, for: alice))
            }
            #expect(try await store.recoveryContacts(contactID: bob.id).map(\.accepted) == [true])
            await #expect(throws: StoreError.notFound) {
                try await store.deleteRecoveryContact(id: contact.id, ownerID: bob.id, event: StoreFixtures.event(.deviceDenied, for: bob))
            }
            try await store.deleteRecoveryContact(id: contact.id, ownerID: alice.id, event: StoreFixtures.event(.recoveryContactRemoved, for: alice))
            #expect(try await store.recoveryContacts(ownerID: alice.id).isEmpty)
            #expect(!(try await store.events(userID: alice.id, limit: 50).map(\.kind).contains(.deviceDenied)))
        }
    }

    @Test(arguments: S.kinds)
    func openCasesListThoseHoldingProofsFirstAndFindAnyByCode(kind: S.Kind) async throws {
        try await S.withStore(kind) { store in
            let (alice, _, _) = try await S.signUp(store)
            let (bob, _, _) = try await S.signUp(store)
            func start(_ at: Date, code: String = "123456") async throws -> RecoveryCase {
                let c = RecoveryCase(id: UUID(), userID: alice.id, secretHash: Array(repeating: 9, count: 32), comparisonCode: code, status: .open,
                                     createdAt: at, expiresAt: at.addingTimeInterval(7 * 86400), ip: "192.0.2.1", userAgent: "phone")
                try await store.createRecoveryCase(c, event: nil)
                return c
            }
            // The oldest case holds a proof; more than a screenful of empty cases come after it.
            let genuine = try await start(Self.now, code: "654321")
            let proven = try await start(Self.now.addingTimeInterval(1))
            try await store.addRecoveryProof(caseID: proven.id, proof: RecoveryProof(kind: .contact, actorID: bob.id, at: Self.now.addingTimeInterval(2)),
                                             event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            var flood: [RecoveryCase] = []
            for i in 0..<(openRecoveryCasesShown + 5) { flood.append(try await start(Self.now.addingTimeInterval(Double(10 + i)))) }
            let cancelled = try await start(Self.now.addingTimeInterval(1000))
            try await store.cancelRecoveryCase(id: cancelled.id, blockUntil: nil, event: nil, now: Self.now)
            let later = Self.now.addingTimeInterval(2000)

            let open = try await store.openRecoveryCases(userID: alice.id, now: later)
            #expect(open.count == openRecoveryCasesShown)
            #expect(open.first?.id == proven.id)
            #expect(open.first?.proofs.count == 1)
            #expect(Array(open.dropFirst().map(\.id)) == Array(flood.reversed().prefix(openRecoveryCasesShown - 1).map(\.id)))
            #expect(!open.contains { $0.id == cancelled.id || $0.id == genuine.id })
            // By code, every open case is reachable.
            #expect(try await store.openRecoveryCases(userID: alice.id, comparisonCode: "654321", now: later).map(\.id) == [genuine.id])
            #expect(try await store.openRecoveryCases(userID: alice.id, comparisonCode: "000000", now: later).isEmpty)
            #expect(try await store.openRecoveryCases(userID: bob.id, comparisonCode: "654321", now: later).isEmpty)
            // Expired cases are not open.
            #expect(try await store.openRecoveryCases(userID: alice.id, now: Self.now.addingTimeInterval(8 * 86400)).isEmpty)
            #expect(try await store.openRecoveryCases(userID: alice.id, comparisonCode: "654321", now: Self.now.addingTimeInterval(8 * 86400)).isEmpty)
        }
    }

    @Test(arguments: S.kinds)
    func proofsAreOncePerActorAndOnlyOnOpenCases(kind: S.Kind) async throws {
        try await S.withStore(kind) { store in
            let (alice, _, _) = try await S.signUp(store)
            let (bob, _, _) = try await S.signUp(store)
            let c = try await Self.openCase(store, for: alice)
            let proof = RecoveryProof(kind: .contact, actorID: bob.id, at: Self.now.addingTimeInterval(10))
            try await store.addRecoveryProof(caseID: c.id, proof: proof, event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            // A replayed approval: refused, and nothing recorded.
            let events = try await store.events(userID: alice.id, limit: 50).count
            await #expect(throws: StoreError.conflict) {
                try await store.addRecoveryProof(caseID: c.id, proof: proof, event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            }
            #expect(try await store.events(userID: alice.id, limit: 50).count == events)
            try await store.addRecoveryProof(caseID: c.id, proof: RecoveryProof(kind: .code, actorID: nil, at: Self.now.addingTimeInterval(20)),
                                             event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            await #expect(throws: StoreError.conflict) {
                try await store.addRecoveryProof(caseID: c.id, proof: RecoveryProof(kind: .code, actorID: nil, at: Self.now),
                                                 event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            }
            let stored = try #require(try await store.recoveryCase(id: c.id))
            #expect(stored.proofs == [proof, RecoveryProof(kind: .code, actorID: nil, at: Self.now.addingTimeInterval(20))])
            #expect(try await store.recoveryCases(userID: alice.id).map(\.id) == [c.id])

            // Wrong codes are counted; an expired case takes no proof.
            #expect(try await store.recordRecoveryCodeFailure(caseID: c.id, event: nil) == 1)
            #expect(try await store.recordRecoveryCodeFailure(caseID: c.id, event: nil) == 2)
            await #expect(throws: StoreError.conflict) {
                try await store.addRecoveryProof(caseID: c.id, proof: RecoveryProof(kind: .admin, actorID: bob.id, at: Self.now),
                                                 event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now.addingTimeInterval(8 * 86400))
            }

            // Cancelled: blocks the account when asked, and takes no more proofs or cancels.
            let until = Self.now.addingTimeInterval(86400)
            try await store.cancelRecoveryCase(id: c.id, blockUntil: until, event: StoreFixtures.event(.recoveryCancelled, for: alice), now: Self.now)
            #expect(try await store.recoveryCase(id: c.id)?.status == .cancelled)
            #expect(try await store.recoverySettings(userID: alice.id)?.blockedUntil == until)
            await #expect(throws: StoreError.conflict) {
                try await store.cancelRecoveryCase(id: c.id, blockUntil: nil, event: nil, now: Self.now)
            }
            await #expect(throws: StoreError.conflict) {
                try await store.addRecoveryProof(caseID: c.id, proof: RecoveryProof(kind: .admin, actorID: bob.id, at: Self.now),
                                                 event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            }
            await #expect(throws: StoreError.conflict) { _ = try await store.recordRecoveryCodeFailure(caseID: c.id, event: nil) }

            // A decoy case belongs to no one and can be stored and read.
            let decoy = try await Self.openCase(store, for: nil)
            #expect(try await store.recoveryCase(id: decoy.id)?.userID == nil)
        }
    }

    @Test(arguments: S.kinds)
    func aCredentialIsReadWithItsOwnerAndOpenCases(kind: S.Kind) async throws {
        try await S.withStore(kind) { store in
            let (alice, key, _) = try await S.signUp(store)
            let before = try #require(try await store.credential(id: key.credentialID, now: Self.now))
            #expect(before.passkey == key && before.user == alice && before.openRecoveryCases == 0)
            let c = try await Self.openCase(store, for: alice)
            _ = try await Self.openCase(store, for: nil)
            #expect(try await store.credential(id: key.credentialID, now: Self.now)?.openRecoveryCases == 1)
            #expect(try await store.credential(id: key.credentialID, now: Self.now.addingTimeInterval(8 * 86400))?.openRecoveryCases == 0)
            try await store.cancelRecoveryCase(id: c.id, blockUntil: nil, event: nil, now: Self.now)
            #expect(try await store.credential(id: key.credentialID, now: Self.now)?.openRecoveryCases == 0)
            #expect(try await store.credential(id: Array("nobody".utf8), now: Self.now) == nil)
        }
    }

    @Test(arguments: S.kinds)
    func completionIsAtomic(kind: S.Kind) async throws {
        try await S.withStore(kind) { store in
            let (alice, oldKey, _) = try await S.signUp(store)
            let c = try await Self.openCase(store, for: alice)
            var newKey = StoreFixtures.passkey(for: alice)
            newKey.recoveredAt = Self.now
            var session = StoreFixtures.session(for: alice, passkey: newKey)
            session.birth = SessionBirth(kind: .recovered, credentialID: newKey.credentialID, userVerified: true, deviceBound: false,
                                         coolingUntil: Self.now.addingTimeInterval(86400))
            let challenge = StoreFixtures.challenge(.recover, user: alice)
            try await store.saveChallenge(challenge)

            // A new passkey that collides with an existing credential: nothing happens, the challenge stays.
            var colliding = newKey
            colliding.credentialID = oldKey.credentialID
            await #expect(throws: StoreError.credentialExists) {
                try await store.completeRecovery(caseID: c.id, passkey: colliding, session: session, event: StoreFixtures.event(.recoveryCompleted, for: alice),
                                                 challenge: challenge.challenge, now: Self.now)
            }
            #expect(try await store.recoveryCase(id: c.id)?.status == .open)
            #expect(try await store.session(tokenHash: session.tokenHash) == nil)
            #expect(try await store.challenge(challenge.challenge) != nil)

            try await store.completeRecovery(caseID: c.id, passkey: newKey, session: session, event: StoreFixtures.event(.recoveryCompleted, for: alice),
                                             challenge: challenge.challenge, now: Self.now)
            #expect(try await store.recoveryCase(id: c.id)?.status == .completed)
            #expect(try await store.passkey(credentialID: newKey.credentialID)?.recoveredAt == Self.now)
            #expect(try await store.session(tokenHash: session.tokenHash)?.birth == session.birth)

            // Once only: another challenge cannot complete the same case.
            let again = StoreFixtures.challenge(.recover, user: alice)
            try await store.saveChallenge(again)
            await #expect(throws: StoreError.conflict) {
                try await store.completeRecovery(caseID: c.id, passkey: StoreFixtures.passkey(for: alice), session: StoreFixtures.session(for: alice, passkey: newKey),
                                                 event: StoreFixtures.event(.recoveryCompleted, for: alice), challenge: again.challenge, now: Self.now)
            }
        }
    }

    @Test(arguments: S.kinds)
    func adminRoleAndDeletionTakeRecoveryWithThem(kind: S.Kind) async throws {
        try await S.withStore(kind) { store in
            let (alice, _, _) = try await S.signUp(store)
            let (bob, _, _) = try await S.signUp(store)
            #expect(!(try await store.admins().map(\.id).contains(bob.id)))
            try await store.setAdmin(userID: bob.id, admin: true, event: StoreFixtures.event(.adminGranted, for: bob))
            #expect(try await store.admins().map(\.id).contains(bob.id))
            #expect(!(try await store.admins().map(\.id).contains(alice.id)))
            #expect(try await store.user(id: bob.id)?.isAdmin == true)
            await #expect(throws: StoreError.notFound) {
                try await store.setAdmin(userID: UUID(), admin: true, event: StoreFixtures.event(.adminGranted, for: bob))
            }

            try await store.addRecoveryContact(RecoveryContact(id: UUID(), ownerID: alice.id, contactID: bob.id, accepted: true, createdAt: Self.now),
                                               event: StoreFixtures.event(.recoveryContactInvited, for: alice))
            try await store.saveRecoverySettings(RecoverySettings(userID: alice.id), event: StoreFixtures.event(.recoverySettingsChanged, for: alice))
            let c = try await Self.openCase(store, for: alice)
            try await store.addRecoveryProof(caseID: c.id, proof: RecoveryProof(kind: .contact, actorID: bob.id, at: Self.now),
                                             event: StoreFixtures.event(.recoveryApproved, for: alice), now: Self.now)
            try await store.deleteUser(id: alice.id)
            #expect(try await store.recoveryCase(id: c.id) == nil)
            #expect(try await store.recoverySettings(userID: alice.id) == nil)
            #expect(try await store.recoveryContacts(contactID: bob.id).isEmpty)
        }
    }
}
