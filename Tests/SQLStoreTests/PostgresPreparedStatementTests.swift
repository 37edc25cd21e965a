import Accounts
import Foundation
import Logging
import PortcullisTesting
import SQLKit
import SQLStore
import Testing

/// The sign-in's prepared statements on PostgreSQL recover from a failed preparation: postgres-nio
/// remembers such a failure on its connection, so the store closes that connection and the next
/// sign-in prepares again on a new one. Runs in a database of its own (it drops a function).
@Suite struct PostgresPreparedStatementTests {
    @Test func aFailedPreparationDoesNotStickToItsConnection() async throws {
        guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"],
              let slash = url.lastIndex(of: "/")
        else { return }
        let name = "portcullis_prepare_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try PostgresBackend(url: url, logger: Logger(label: "test"))
        try await admin.withRunningClient { try await admin.read { db in try await db.raw("CREATE DATABASE \(ident: name)").run() } }
        let backend = try PostgresBackend(url: String(url[..<slash]) + "/" + name, logger: Logger(label: "test"))
        let outcome: Result<Void, any Error>
        do {
            try await backend.withRunningClient {
                let store = SQLAccountStore(backend: backend)
                try await store.migrate()
                let (user, passkey, _) = try await StoreFixtures.signUp(store)
                /// Records a sign-in answering `login` (saved first), moving the counter from `expected` to `new`.
                func signIn(_ login: CeremonyChallenge = StoreFixtures.challenge(.login, user: user), expected: UInt32, new: UInt32) async throws {
                    try await store.saveChallenge(login)
                    try await store.recordAssertion(
                        credentialID: passkey.credentialID, expectedSignCount: expected, newSignCount: new, backedUp: true, uvInitialized: true,
                        newSession: StoreFixtures.session(for: user, passkey: passkey), reauthenticatedSession: nil,
                        event: StoreFixtures.event(.signin, for: user), challenge: login.challenge, kind: .login, now: FixedClock.now)
                }

                // Without the function the sign-in statement cannot be prepared: refused, nothing used up.
                try await backend.write { db in try await db.raw("DROP FUNCTION portcullis_refuse(TEXT)").run() }
                let login = StoreFixtures.challenge(.login, user: user)
                await #expect(throws: (any Error).self) { try await signIn(login, expected: 0, new: 1) }
                #expect(try await store.challenge(login.challenge) != nil)
                #expect(try await store.passkey(credentialID: passkey.credentialID)?.signCount == 0)

                // Put back by migration 7 itself (forgotten, then applied again): sign-ins work again,
                // on whichever connection.
                try await backend.write { db in try await db.raw("DELETE FROM schema_migrations WHERE version = 7").run() }
                try await store.migrate()
                for count in UInt32(1)...5 { try await signIn(expected: count - 1, new: count) }
                #expect(try await store.passkey(credentialID: passkey.credentialID)?.signCount == 5)
                // And a moved counter is still refused whole.
                await #expect(throws: StoreError.conflict) { try await signIn(expected: 2, new: 9) }
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        // A pool runs once: a new one to drop the database.
        let cleanup = try PostgresBackend(url: url, logger: Logger(label: "test"))
        try await cleanup.withRunningClient { try await cleanup.read { db in try await db.raw("DROP DATABASE \(ident: name) WITH (FORCE)").run() } }
        try outcome.get()
    }
}
