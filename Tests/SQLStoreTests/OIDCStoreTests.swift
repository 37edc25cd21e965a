import Accounts
import Foundation
import OIDC
import PortcullisTesting
import SQLStore
import Testing

/// The provider's store on SQLite and PostgreSQL (and the memory store beside them): what the
/// provider's guarantees rest on.
@Suite(.serialized) struct OIDCStoreTests {
    static func withStore(_ kind: StoreConformanceTests.Kind, _ body: @escaping @Sendable (any AccountStore & OIDCStore) async throws -> Void) async throws {
        if kind == .memory {
            // The memory stores are two objects; the SQL store is one: test the provider's part alone.
            return
        }
        try await StoreConformanceTests.withStore(kind) { store in
            guard let both = store as? any AccountStore & OIDCStore else { Issue.record("the SQL store is the provider's store too"); return }
            try await body(both)
        }
    }

    static func artifact(_ kind: OIDCArtifact.Kind, client: String, user: UUID?, session: UUID? = nil, grant: UUID? = nil, expires: TimeInterval = 60)
        -> OIDCArtifact
    {
        OIDCArtifact(kind: kind, key: Array(UUID().uuidString.utf8), clientID: client, userID: user, sessionID: session, grantID: grant,
                     payload: Array("{}".utf8), createdAt: FixedClock.now, expiresAt: FixedClock.now.addingTimeInterval(expires))
    }

    /// A new person, signed up with a passkey: their account and the session the sign-up made.
    static func person(_ store: any AccountStore & OIDCStore) async throws -> (User, Session) {
        let (user, _, session) = try await StoreFixtures.signUp(store, "oidc-\(UUID().uuidString.prefix(6).lowercased())", now: FixedClock.now)
        return (user, session)
    }

    /// A public client named `name`, saved.
    static func savedClient(_ store: any AccountStore & OIDCStore, _ name: String) async throws -> OIDCClient {
        let client = OIDCClient(id: "c-\(UUID().uuidString.prefix(8))", name: name, secretHash: nil, redirectURIs: ["https://app.example/cb"],
                                createdAt: FixedClock.now)
        try await store.saveClient(client)
        return client
    }

    @Test(arguments: StoreConformanceTests.kinds)
    func anArtifactIsConsumedExactlyOnceAndGrantsRevokeTogether(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, _, session) = try await StoreFixtures.signUp(store, "oidc-\(UUID().uuidString.prefix(6).lowercased())", now: FixedClock.now)
            let client = OIDCClient(id: "c-\(UUID().uuidString.prefix(8))", name: "App", secretHash: [1, 2], redirectURIs: ["https://a/cb"], createdAt: FixedClock.now)
            try await store.saveClient(client)
            await #expect(throws: OIDCStoreError.conflict) { try await store.saveClient(client) }
            #expect(try await store.client(id: client.id) == client)
            let grant = UUID()
            let code = Self.artifact(.code, client: client.id, user: user.id, session: session.id, grant: grant)
            try await store.saveArtifacts([code])
            let token = Self.artifact(.refreshToken, client: client.id, user: user.id, session: session.id, grant: grant)
            // Eight concurrent consumptions: exactly one wins, and only it stores its replacement.
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 { group.addTask { try await store.consumeArtifact(kind: .code, key: code.key, now: FixedClock.now, replacements: [token]) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            #expect(try await store.artifact(kind: .code, key: code.key)?.consumedAt != nil)
            #expect(try await store.artifact(kind: .refreshToken, key: token.key)?.revoked == false)
            #expect(try await store.clientIDs(userID: user.id, sessionID: session.id) == [client.id])
            #expect(try await store.revokeGrant(grant) == 2)
            #expect(try await store.artifact(kind: .refreshToken, key: token.key)?.revoked == true)
            // Revoked or expired: not consumable.
            #expect(try await !store.consumeArtifact(kind: .refreshToken, key: token.key, now: FixedClock.now, replacements: []))
            let late = Self.artifact(.code, client: client.id, user: user.id, expires: -1)
            try await store.saveArtifacts([late])
            #expect(try await !store.consumeArtifact(kind: .code, key: late.key, now: FixedClock.now, replacements: []))
            // Sessions end their tokens; deleting the client deletes what it was issued.
            let other = Self.artifact(.accessToken, client: client.id, user: user.id, session: session.id, grant: UUID())
            try await store.saveArtifacts([other])
            #expect(try await store.revokeSessions([session.id]) == 1)
            #expect(try await store.sweepExpiredArtifacts(now: FixedClock.now) >= 1)
            #expect(try await store.artifact(kind: .code, key: late.key) == nil)
            try await store.deleteClient(id: client.id)
            #expect(try await store.artifact(kind: .accessToken, key: other.key) == nil)
            await #expect(throws: OIDCStoreError.notFound) { try await store.deleteClient(id: client.id) }
        }
    }

    /// A code's account is stored outside the index by account (migration 15); the code still reads
    /// with its account, and is still found through the account's sessions: listed, named to a
    /// back-channel logout, and revoked when the person disconnects the app. Another person's code
    /// and a code of an ended session are not.
    @Test(arguments: StoreConformanceTests.kinds)
    func codesAreFoundThroughTheirSessions(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, session) = try await Self.person(store)
            let (other, otherSession) = try await Self.person(store)
            let withTokens = try await Self.savedClient(store, "Tokens")
            let withCode = try await Self.savedClient(store, "Code")
            let refresh = Self.artifact(.refreshToken, client: withTokens.id, user: user.id, session: session.id, grant: UUID())
            let code = Self.artifact(.code, client: withCode.id, user: user.id, session: session.id, grant: UUID())
            let othersCode = Self.artifact(.code, client: withCode.id, user: other.id, session: otherSession.id, grant: UUID())
            try await store.saveArtifacts([refresh, code, othersCode])

            #expect(try await store.artifact(kind: .code, key: code.key) == code)
            #expect(try await store.artifacts(kind: .code, userID: user.id) == [code])
            #expect(try await store.clientIDs(userID: user.id, sessionID: session.id) == [withCode.id, withTokens.id].sorted())
            #expect(try await store.clientIDs(userID: user.id, sessionID: nil) == [withCode.id, withTokens.id].sorted())
            #expect(try await store.clientIDs(userID: other.id, sessionID: nil) == [withCode.id])

            #expect(try await store.revokeClientAccess(userID: user.id, clientID: withCode.id) == 1)
            #expect(try await store.artifact(kind: .code, key: code.key)?.revoked == true)
            #expect(try await store.artifact(kind: .code, key: othersCode.key)?.revoked == false)
            #expect(try await store.artifact(kind: .refreshToken, key: refresh.key)?.revoked == false)
            #expect(try await store.artifacts(kind: .code, userID: user.id).isEmpty)

            // The other person's session ends: their code is no longer theirs to list (no exchange
            // honours it either: the exchange reads the session).
            try await store.deleteSession(id: otherSession.id, userID: other.id, event: nil)
            #expect(try await store.artifacts(kind: .code, userID: other.id).isEmpty)
            #expect(try await store.clientIDs(userID: other.id, sessionID: nil).isEmpty)

            // Deleting an account deletes its codes, as the cascade does its other artifacts.
            let pending = Self.artifact(.code, client: withCode.id, user: user.id, session: session.id, grant: UUID())
            try await store.saveArtifacts([pending])
            try await store.deleteUser(id: user.id)
            #expect(try await store.artifact(kind: .code, key: pending.key) == nil)
            #expect(try await store.artifact(kind: .refreshToken, key: refresh.key) == nil)
        }
    }

    /// Disabling an account revokes its grants with its sessions, offline ones included, so that
    /// enabling it again gives no app its old tokens back. Consents stay, and nobody else's grant changes.
    @Test(arguments: StoreConformanceTests.kinds)
    func disablingAnAccountRevokesItsGrants(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withStore(kind) { store in
            let (user, session) = try await Self.person(store)
            let (other, otherSession) = try await Self.person(store)
            let client = try await Self.savedClient(store, "App")
            let offline = Self.artifact(.refreshToken, client: client.id, user: user.id, grant: UUID(), expires: 86400)
            let online = Self.artifact(.refreshToken, client: client.id, user: user.id, session: session.id, grant: UUID())
            let consent = Self.artifact(.consent, client: client.id, user: user.id, expires: 86400)
            let othersOffline = Self.artifact(.refreshToken, client: client.id, user: other.id, grant: UUID(), expires: 86400)
            let othersOnline = Self.artifact(.refreshToken, client: client.id, user: other.id, session: otherSession.id, grant: UUID())
            try await store.saveArtifacts([offline, online, consent, othersOffline, othersOnline])

            try await store.setDisabled(userID: user.id, disabled: true, event: nil)
            try await store.setDisabled(userID: user.id, disabled: false, event: nil)
            #expect(try await store.artifact(kind: .refreshToken, key: offline.key)?.revoked == true)
            #expect(try await store.artifact(kind: .refreshToken, key: online.key)?.revoked == true)
            #expect(try await store.artifact(kind: .consent, key: consent.key)?.revoked == false)
            #expect(try await store.artifact(kind: .refreshToken, key: othersOffline.key)?.revoked == false)
            #expect(try await store.artifact(kind: .refreshToken, key: othersOnline.key)?.revoked == false)
            // The back-channel logout that follows still finds the app.
            #expect(try await store.clientIDs(userID: user.id, sessionID: nil) == [client.id])
        }
    }

    @Test(arguments: StoreConformanceTests.kinds)
    func addingKeysRetiresThePreviousOnesOfTheirAlgorithm(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withStore(kind) { store in
            let before = try await store.signingKeys().count
            let first = try SigningKeys.generate(.es256, encryption: nil, now: FixedClock.now)
            try await store.addSigningKeys([first], now: FixedClock.now)
            // Sealed on SQLite only: the PostgreSQL database is shared with the server tests running
            // beside this one, whose nodes have no secret and refuse to start on a key they cannot open.
            let sealing = kind == .sqlite ? KeyEncryption(secret: "s") : nil
            let second = try SigningKeys.generate(.es256, encryption: sealing, now: FixedClock.now.addingTimeInterval(1))
            try await store.addSigningKeys([second], now: FixedClock.now.addingTimeInterval(1))
            let keys = try await store.signingKeys()
            #expect(keys.count == before + 2)
            #expect(keys.first { $0.kid == first.kid }?.retiredAt != nil)
            #expect(keys.first { $0.kid == second.kid }?.retiredAt == nil && keys.first { $0.kid == second.kid }?.encrypted == (kind == .sqlite))
            if kind == .sqlite {
                // Sealing replaces an unsealed key's private half once; a second node's try changes nothing.
                try await store.sealSigningKey(kid: first.kid, sealed: [1, 2, 3])
                try await store.sealSigningKey(kid: first.kid, sealed: [4, 5, 6])
                let sealedFirst = try await store.signingKeys().first { $0.kid == first.kid }
                #expect(sealedFirst?.encrypted == true && sealedFirst?.privateKey == [1, 2, 3])
            }
            // Leave the test's keys retired long ago (the test clock is in the past) behind a new active one.
            let third = try SigningKeys.generate(.es256, encryption: nil, now: FixedClock.now.addingTimeInterval(2))
            try await store.addSigningKeys([third], now: FixedClock.now.addingTimeInterval(2))
        }
    }
}
