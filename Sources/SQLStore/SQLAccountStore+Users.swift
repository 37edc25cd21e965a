import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Users, invites and admins.
extension SQLAccountStore {
    public func user(id: UUID) async throws -> User? {
        try await backend.readRows(Self.userByIDSQL, [.text(Self.id(id))]) { try Self.user($0, prefix: "") }.first
    }

    /// Read on every token exchange and UserInfo request: a template, which SQLite runs without sql-kit.
    static let userByIDSQL = SQLTemplate("SELECT * FROM users WHERE id = $1")

    public func user(username: String) async throws -> User? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM users WHERE username = \(bind: username.lowercased())").first().map(Self.user)
        }
    }

    public func user(handle: [UInt8]) async throws -> User? {
        try await backend.read { db in try await db.raw("SELECT * FROM users WHERE handle = \(bind: Self.data(handle))").first().map(Self.user) }
    }

    public func listUsers(limit: Int) async throws -> [User] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM users ORDER BY created_at, id LIMIT \(bind: Int64(limit))").all().map(Self.user)
        }
    }

    public func users(usernamePrefix prefix: String, limit: Int) async throws -> [User] {
        // LIKE with the prefix's own %, _ and \ escaped: a search for "a_b" finds only "a_b...".
        var pattern = ""
        for character in prefix {
            if character == "%" || character == "_" || character == "\\" { pattern.append("\\") }
            pattern.append(character)
        }
        let like = pattern + "%"
        return try await backend.read { db in
            try await db.raw("""
                SELECT * FROM users WHERE username LIKE \(bind: like) ESCAPE '\\' ORDER BY username LIMIT \(bind: Int64(limit))
                """).all().map(Self.user)
        }
    }

    public func createUser(_ user: User, passkey: Passkey, session: Session, event: SecurityEvent, inviteHash: [UInt8]?, challenge: String, now: Date) async throws {
        do {
            try await backend.transaction { db in
                try await Self.useUp(challenge, kind: .signup, now: now, db)
                if try await db.raw("SELECT id FROM users WHERE username = \(bind: user.username)").first() != nil { throw StoreError.usernameTaken }
                if try await db.raw("SELECT user_id FROM passkeys WHERE credential_id = \(bind: Self.data(passkey.credentialID))").first() != nil {
                    throw StoreError.credentialExists
                }
                if let inviteHash {
                    let used = try await db.raw("""
                        UPDATE invites SET used_at = \(bind: Self.ms(now))
                        WHERE code_hash = \(bind: Self.data(inviteHash)) AND used_at IS NULL AND expires_at > \(bind: Self.ms(now))
                        RETURNING code_hash
                        """).all()
                    guard used.count == 1 else { throw StoreError.inviteInvalid }
                }
                try await db.raw("""
                    INSERT INTO users (id, username, display_name, handle, created_at, disabled, is_admin) VALUES
                    (\(bind: Self.id(user.id)), \(bind: user.username), \(bind: user.displayName), \(bind: Self.data(user.handle)),
                     \(bind: Self.ms(user.createdAt)), \(bind: Self.flag(user.disabled)), \(bind: Self.flag(user.isAdmin)))
                    """).run()
                try await Self.insert(passkey, db)
                try await Self.insert(session, db)
                try await Self.insert(event, db)
            }
        } catch let error where Self.isUniqueViolation(error) {
            // A concurrent sign-up won the race; say which constraint it was.
            if try await self.user(username: user.username) != nil { throw StoreError.usernameTaken }
            throw StoreError.credentialExists
        }
    }

    public func setDisabled(userID: UUID, disabled: Bool, event: SecurityEvent?) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("UPDATE users SET disabled = \(bind: Self.flag(disabled)) WHERE id = \(bind: Self.id(userID)) RETURNING id").all()
            guard rows.count == 1 else { throw StoreError.notFound }
            if disabled {
                try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: Self.id(userID))").run()
                // Every app's grant ends too, offline ones included, so that enabling the account
                // later does not hand them back. (Refresh tokens keep their account in `user_id`;
                // codes, which do not, end with the sessions just deleted.)
                try await db.raw("""
                    UPDATE oidc_artifacts SET revoked = 1 WHERE user_id = \(bind: Self.id(userID)) AND kind IN ('refresh', 'access') AND revoked = 0
                    """).run()
            }
            if let event { try await Self.insert(event, db) }
        }
    }

    public func deleteUser(id: UUID) async throws {
        try await backend.transaction { db in
            let key = Self.id(id)
            try await db.raw("DELETE FROM enrolments WHERE user_id = \(bind: key)").run()
            try await db.raw("DELETE FROM recovery_proofs WHERE case_id IN (SELECT id FROM recovery_cases WHERE user_id = \(bind: key))").run()
            try await db.raw("DELETE FROM recovery_cases WHERE user_id = \(bind: key)").run()
            try await db.raw("DELETE FROM recovery_contacts WHERE owner_id = \(bind: key) OR contact_id = \(bind: key)").run()
            try await db.raw("DELETE FROM recovery_settings WHERE user_id = \(bind: key)").run()
            try await db.raw("DELETE FROM challenges WHERE user_id = \(bind: key)").run()
            try await db.raw("DELETE FROM events WHERE user_id = \(bind: key)").run()
            // The account's codes keep it outside the column the cascade follows (migration 15).
            _ = try await Self.codeRows(of: id, db) { "DELETE FROM oidc_artifacts WHERE \($0)" }
            try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: key)").run()
            try await db.raw("DELETE FROM passkeys WHERE user_id = \(bind: key)").run()
            let rows = try await db.raw("DELETE FROM users WHERE id = \(bind: key) RETURNING id").all()
            guard rows.count == 1 else { throw StoreError.notFound }
        }
    }

    public func createInvite(_ invite: Invite) async throws {
        try await backend.write { db in
            try await db.raw("""
                INSERT INTO invites (code_hash, created_at, expires_at, used_at) VALUES
                (\(bind: Self.data(invite.codeHash)), \(bind: Self.ms(invite.createdAt)), \(bind: Self.ms(invite.expiresAt)), \(bind: invite.usedAt.map(Self.ms)))
                """).run()
        }
    }

    // MARK: Admins

    public func setAdmin(userID: UUID, admin: Bool, event: SecurityEvent) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("UPDATE users SET is_admin = \(bind: Self.flag(admin)) WHERE id = \(bind: Self.id(userID)) RETURNING id").all()
            guard rows.count == 1 else { throw StoreError.notFound }
            try await Self.insert(event, db)
        }
    }

    public func admins() async throws -> [User] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM users WHERE is_admin = 1 ORDER BY username").all().map(Self.user)
        }
    }
}
