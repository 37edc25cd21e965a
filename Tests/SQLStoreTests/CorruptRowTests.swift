import Accounts
import Foundation
import Logging
import PortcullisTesting
import SQLKit
import SQLStore
import Testing

/// A row the store did not write (an ID that is no UUID, detail that is no JSON object of strings)
/// is refused when read, never replaced by a made-up value: a challenge bound to a user must not
/// come back bound to nobody.
@Suite struct CorruptRowTests {
    enum Damage: String, CaseIterable, Sendable {
        case challengeUser, challengeKind, challengeUserInSignInRead, sessionUser, sessionBirth, passkeyKey, passkeyAAGUID, eventDetail, eventDetailNotStrings, eventKind, recoveryAddresses
    }

    @Test(arguments: Damage.allCases)
    func aDamagedRowIsRefused(damage: Damage) async throws {
        let path = NSTemporaryDirectory() + "portcullis-corrupt-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let store = SQLAccountStore(backend: backend)
        do {
            try await store.migrate()
            let (ada, key, session) = try await StoreFixtures.signUp(store, "ada-corrupt")
            let login = StoreFixtures.challenge(.login, user: ada)
            try await store.saveChallenge(login)
            try await store.saveRecoverySettings(RecoverySettings(userID: ada.id, threshold: 1, addresses: ["a@example.com", "b@example.com"]),
                                                event: StoreFixtures.event(.recoverySettingsChanged, for: ada))

            let damaging: String = switch damage {
            case .challengeUser, .challengeUserInSignInRead: "UPDATE challenges SET user_id = 'not-a-uuid'"
            // A kind the store never writes is not read as a sign-in challenge.
            case .challengeKind: "UPDATE challenges SET kind = 'sudo'"
            case .sessionUser: "UPDATE sessions SET user_id = 'not-a-uuid'"
            // An unknown birth must not come back as a full-rights passkey session.
            case .sessionBirth: "UPDATE sessions SET birth_kind = 'root'"
            case .passkeyKey: "UPDATE passkeys SET public_key = 'text, not bytes'"
            // An AAGUID that is not 8-4-4-4-12 is not read as some other authenticator model.
            case .passkeyAAGUID: "UPDATE passkeys SET aaguid = 'yubikey'"
            case .eventDetail: "UPDATE events SET detail = '[1'"
            case .eventDetailNotStrings: "UPDATE events SET detail = '{\"k\":1}'"
            // A kind outside the closed list is not read as some other event.
            case .eventKind: "UPDATE events SET kind = 'signin_everywhere'"
            case .recoveryAddresses: "UPDATE recovery_settings SET addresses = '{}'"
            }
            try await backend.write { db in
                // A user row under that ID, so the damaged reference still satisfies the foreign key.
                try await db.raw("INSERT INTO users (id, username, display_name, handle, created_at) VALUES ('not-a-uuid', 'ghost', 'Ghost', X'00', 0)").run()
                try await db.raw(SQLQueryString(damaging)).run()
            }
            await #expect(throws: DecodingError.self) {
                switch damage {
                case .challengeUser, .challengeKind: _ = try await store.challenge(login.challenge)
                case .challengeUserInSignInRead:
                    _ = try await store.assertionContext(challenge: login.challenge, credentialID: key.credentialID, now: FixedClock.now)
                case .sessionUser, .sessionBirth: _ = try await store.session(tokenHash: session.tokenHash)
                case .passkeyKey, .passkeyAAGUID: _ = try await store.credential(id: key.credentialID, now: FixedClock.now)
                case .eventDetail, .eventDetailNotStrings, .eventKind: _ = try await store.events(userID: ada.id, limit: 10)
                case .recoveryAddresses: _ = try await store.recoverySettings(userID: ada.id)
                }
            }
        } catch {
            try await backend.close()
            throw error
        }
        try await backend.close()
    }
}
