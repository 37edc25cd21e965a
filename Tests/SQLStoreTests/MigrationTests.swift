import Accounts
import Foundation
import Logging
import OIDC
import PortcullisTesting
import SQLKit
import SQLStore
import Testing

/// Migrations that rebuild tables keep every row and every constraint.
@Suite struct MigrationTests {
    /// Version 6 (SQLite) rebuilds challenges, passkeys, sessions and events WITHOUT ROWID: a database
    /// filled at version 5 reads the same afterwards, and keys, uniqueness and cascades still hold.
    @Test func clusteringTheSignInTablesKeepsRowsAndConstraints() async throws {
        let path = NSTemporaryDirectory() + "portcullis-migrate-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let store = SQLAccountStore(backend: backend)
        do {
            try await store.migrate(upTo: 5)
            #expect(try await store.appliedMigrations() == [1, 2, 3, 4, 5])
            let (ada, key, session) = try await StoreFixtures.signUp(store, "ada-migrate")
            let pendingLogin = StoreFixtures.challenge(.login, user: ada)
            try await store.saveChallenge(pendingLogin)

            try await store.migrate()
            #expect(try await store.appliedMigrations() == Array(1...15))
            // Version 10: the artifact indexes leave out rows without a user, session or grant.
            let partial = try await backend.read { db in
                try await db.raw("SELECT sql FROM sqlite_master WHERE type = 'index' AND name IN ('oidc_artifacts_grant', 'oidc_artifacts_session', 'oidc_artifacts_user')")
                    .all().map { try $0.decode(column: "sql", as: String.self) }
            }
            #expect(partial.count == 3 && partial.allSatisfy { $0.contains("IS NOT NULL") })
            let schema = try await backend.read { db in
                try await db.raw("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('challenges', 'passkeys', 'sessions', 'events')")
                    .all().map { (try $0.decode(column: "name", as: String.self), try $0.decode(column: "sql", as: String.self)) }
            }
            #expect(schema.count == 4)
            for (name, sql) in schema { #expect(sql.hasSuffix("WITHOUT ROWID"), "\(name) is not clustered") }

            // Version 15: a code keeps its account in `owner_id`, outside the index by account; other
            // artifacts keep theirs in `user_id`.
            let code = OIDCArtifact(kind: .code, key: [1], clientID: "c", userID: ada.id, sessionID: session.id, grantID: nil, payload: [],
                                    createdAt: FixedClock.now, expiresAt: FixedClock.now.addingTimeInterval(60))
            let consent = OIDCArtifact(kind: .consent, key: [2], clientID: "c", userID: ada.id, sessionID: nil, grantID: nil, payload: [],
                                       createdAt: FixedClock.now, expiresAt: FixedClock.now.addingTimeInterval(60))
            try await store.saveArtifacts([code, consent])
            let columns = try await backend.read { db in
                try await db.raw("SELECT kind, user_id, owner_id FROM oidc_artifacts ORDER BY kind").all().map {
                    [try $0.decode(column: "kind", as: String.self), try $0.decode(column: "user_id", as: String?.self),
                     try $0.decode(column: "owner_id", as: String?.self)]
                }
            }
            let ada36 = ada.id.uuidString.lowercased()
            #expect(columns == [["code", nil, ada36], ["consent", ada36, nil]])
            #expect(try await store.artifact(kind: .code, key: [1])?.userID == ada.id)
            try await store.deleteArtifact(kind: .code, key: [1])
            try await store.deleteArtifact(kind: .consent, key: [2])

            // The rows are all there.
            #expect(try await store.user(id: ada.id) == ada)
            #expect(try await store.passkey(credentialID: key.credentialID) == key)
            #expect(try await store.session(tokenHash: session.tokenHash) == session)
            #expect(try await store.events(userID: ada.id, limit: 10).map(\.kind) == [.signup])
            #expect(try await store.challenge(pendingLogin.challenge) == pendingLogin)

            // Keys and uniqueness hold: the same credential ID or session token cannot be stored twice.
            let bob = StoreFixtures.user("bob-migrate")
            let bobSignup = StoreFixtures.challenge(.signup, pending: bob)
            try await store.saveChallenge(bobSignup)
            await #expect(throws: StoreError.self) {
                try await store.createUser(bob, passkey: StoreFixtures.passkey(for: bob, id: key.credentialID),
                                           session: StoreFixtures.session(for: bob, passkey: key, token: "bob-token"),
                                           event: StoreFixtures.event(.signup, for: bob), inviteHash: nil, challenge: bobSignup.challenge, now: FixedClock.now)
            }
            #expect(try await store.user(id: bob.id) == nil)

            // Cascades hold: deleting the user removes their passkeys, sessions and events.
            try await store.deleteUser(id: ada.id)
            #expect(try await store.passkey(credentialID: key.credentialID) == nil)
            #expect(try await store.session(tokenHash: session.tokenHash) == nil)
            #expect(try await store.events(userID: ada.id, limit: 10).isEmpty)
        } catch {
            try await backend.close()
            throw error
        }
        try await backend.close()
    }
}
