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
                func signIn(expected: UInt32, new: UInt32) async throws -> CeremonyChallenge {
                    let login = StoreFixtures.challenge(.login, user: user)
                    try await store.saveChallenge(login)
                    try await store.recordAssertion(
                        credentialID: passkey.credentialID, expectedSignCount: expected, newSignCount: new, backedUp: true, uvInitialized: true,
                        newSession: StoreFixtures.session(for: user, passkey: passkey), reauthenticatedSession: nil,
                        event: StoreFixtures.event("signin", for: user), challenge: login.challenge, kind: .login, now: FixedClock.now)
                    return login
                }

                // Without the function the sign-in statement cannot be prepared: refused, nothing used up.
                try await backend.write { db in try await db.raw("DROP FUNCTION portcullis_refuse(TEXT)").run() }
                let login = StoreFixtures.challenge(.login, user: user)
                try await store.saveChallenge(login)
                await #expect(throws: (any Error).self) {
                    try await store.recordAssertion(
                        credentialID: passkey.credentialID, expectedSignCount: 0, newSignCount: 1, backedUp: true, uvInitialized: true,
                        newSession: StoreFixtures.session(for: user, passkey: passkey), reauthenticatedSession: nil,
                        event: StoreFixtures.event("signin", for: user), challenge: login.challenge, kind: .login, now: FixedClock.now)
                }
                #expect(try await store.challenge(login.challenge) != nil)
                #expect(try await store.passkey(credentialID: passkey.credentialID)?.signCount == 0)

                // Put back as migration 7 made it: sign-ins work again, on whichever connection.
                try await backend.write { db in
                    try await db.raw("""
                        CREATE FUNCTION portcullis_refuse(reason TEXT) RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
                        BEGIN
                          RAISE EXCEPTION USING ERRCODE = 'PC409', MESSAGE = reason;
                        END
                        $$
                        """).run()
                }
                for count in UInt32(1)...5 { _ = try await signIn(expected: count - 1, new: count) }
                #expect(try await store.passkey(credentialID: passkey.credentialID)?.signCount == 5)
                // And a moved counter is still refused whole.
                await #expect(throws: StoreError.conflict) { _ = try await signIn(expected: 2, new: 9) }
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
