import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Ceremony challenges: stored server-side, single use, bound to their kind.
extension SQLAccountStore {
    public func saveChallenge(_ c: CeremonyChallenge) async throws {
        try await backend.saveChallenge(c)
    }

    /// The columns of `challenges` and their values.
    static let challengeTable = ColumnTable<CeremonyChallenge>("challenges", [
        .text("challenge") { $0.challenge },
        .text("kind") { $0.kind.rawValue },
        .text("user_id") { $0.userID.map(SQLAccountStore.id) },
        .text("session_id") { $0.sessionID.map(SQLAccountStore.id) },
        .text("pending_username") { $0.pendingUser?.username },
        .text("pending_display_name") { $0.pendingUser?.displayName },
        .blob("pending_handle") { $0.pendingUser?.handle },
        .blob("pending_invite_hash") { $0.pendingUser?.inviteHash },
        .integer("expires_at") { SQLAccountStore.ms($0.expiresAt) },
    ])
    static var challengeColumns: [String] { challengeTable.names }
    static func challengeValues(_ c: CeremonyChallenge) -> [SQLValue] { challengeTable.values(c) }

    /// Adds a challenge.
    static let insertChallengeSQL = SQLTemplate(challengeTable.insert)

    public func challenge(_ challenge: String) async throws -> CeremonyChallenge? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM challenges WHERE challenge = \(bind: challenge)").first().map(Self.challenge)
        }
    }

    public func sweepExpiredChallenges(now: Date) async throws -> Int {
        try await backend.transaction { db in
            // Device requests are kept a day past expiry, so a late poll still hears expired_token.
            try await db.raw("DELETE FROM device_requests WHERE expires_at <= \(bind: Self.ms(now.addingTimeInterval(-86400)))").run()
            return try await db.raw("DELETE FROM challenges WHERE expires_at <= \(bind: Self.ms(now)) RETURNING challenge").all().count
        }
    }
}
