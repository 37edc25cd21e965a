import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Passkeys, the assertion context, and what an assertion records.
extension SQLAccountStore {
    public func passkeys(userID: UUID) async throws -> [Passkey] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM passkeys WHERE user_id = \(bind: Self.id(userID)) ORDER BY created_at").all().map(Self.passkey)
        }
    }

    public func passkey(credentialID: [UInt8]) async throws -> Passkey? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM passkeys WHERE credential_id = \(bind: Self.data(credentialID))").first().map(Self.passkey)
        }
    }

    public func credential(id: [UInt8], now: Date) async throws -> CredentialOwner? {
        try await backend.read { db in
            // One statement: the passkey, its owner (user columns prefixed), and the owner's open cases.
            let row = try await db.raw("""
                SELECT p.*, \(unsafeRaw: Self.ownerColumns),
                  (SELECT COUNT(*) FROM recovery_cases c WHERE c.user_id = u.id AND c.status = 'open' AND c.expires_at > \(bind: Self.ms(now))) AS open_cases
                FROM passkeys p JOIN users u ON u.id = p.user_id WHERE p.credential_id = \(bind: Self.data(id))
                """).first()
            return try row.map { try Self.credentialOwner(SQLKitColumns.of($0)) }
        }
    }

    /// The owner's columns, prefixed `u_`, for a query that joins `passkeys p` to `users u`.
    static let ownerColumns = """
        u.id AS u_id, u.username AS u_username, u.display_name AS u_display_name, u.handle AS u_handle,
        u.created_at AS u_created_at, u.disabled AS u_disabled, u.is_admin AS u_is_admin
        """

    /// A passkey row joined to its owner's columns (``ownerColumns``) and `open_cases`.
    static func credentialOwner(_ row: some ColumnReader) throws -> CredentialOwner {
        CredentialOwner(passkey: try passkey(row), user: try user(row, prefix: "u_"), openRecoveryCases: Int(try row.integer("open_cases")))
    }

    public func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws
        -> (challenge: CeremonyChallenge?, credential: CredentialOwner?)
    {
        try await backend.assertionContext(challenge: challenge, credentialID: credentialID, now: now)
    }

    /// Reads a challenge (`$1`) and a passkey (`$2`) with its owner and the owner's cases open at `$3`:
    /// always one row, the challenge's columns prefixed `ch_`, and NULLs for what is not stored.
    static let assertionContextSQL = SQLTemplate(
        assertionContextQuery(from: "(SELECT 1 AS one) AS anchor", challenge: "$1", credentialID: "$2", now: "$3"))

    /// The assertion context's select for each row of `source`, which names the challenge, the
    /// credential ID and the time (`now`, in milliseconds) as SQL expressions; `leading` columns first.
    static func assertionContextQuery(leading: String = "", from source: String, challenge: String, credentialID: String, now: String) -> String {
        """
        SELECT \(leading)\(prefixedChallengeColumns), p.*, \(ownerColumns),
          (SELECT COUNT(*) FROM recovery_cases c WHERE c.user_id = u.id AND c.status = 'open' AND c.expires_at > \(now)) AS open_cases
        FROM \(source)
        LEFT JOIN challenges ch ON ch.challenge = \(challenge)
        LEFT JOIN passkeys p ON p.credential_id = \(credentialID)
        LEFT JOIN users u ON u.id = p.user_id
        """
    }

    static func assertionContextValues(challenge: String, credentialID: [UInt8], now: Date) -> [SQLValue] {
        [.text(challenge), .blob(credentialID), .integer(ms(now))]
    }

    /// The challenge and the credential of an ``assertionContextSQL`` row.
    static func assertionContext(_ row: some ColumnReader) throws -> AssertionContext {
        let stored = try row.optionalText("ch_challenge") == nil ? nil : challenge(row, prefix: "ch_")
        let owner = try row.optionalText("u_id") == nil ? nil : credentialOwner(row)
        return (stored, owner)
    }

    /// The challenge columns of `challenges ch`, prefixed `ch_`.
    static let prefixedChallengeColumns = challengeColumns.map { "ch.\($0) AS ch_\($0)" }.joined(separator: ", ")

    public func addPasskey(_ passkey: Passkey, event: SecurityEvent, challenge: String, now: Date) async throws {
        do {
            try await backend.transaction { db in
                try await Self.useUp(challenge, kind: .add, now: now, db)
                if try await db.raw("SELECT user_id FROM passkeys WHERE credential_id = \(bind: Self.data(passkey.credentialID))").first() != nil {
                    throw StoreError.credentialExists
                }
                try await Self.insert(passkey, db)
                try await Self.insert(event, db)
            }
        } catch let error where Self.isUniqueViolation(error) {
            throw StoreError.credentialExists
        }
    }

    public func renamePasskey(credentialID: [UInt8], userID: UUID, name: String, event: SecurityEvent) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                UPDATE passkeys SET name = \(bind: name)
                WHERE credential_id = \(bind: Self.data(credentialID)) AND user_id = \(bind: Self.id(userID)) RETURNING user_id
                """).all()
            guard rows.count == 1 else { throw StoreError.notFound }
            try await Self.insert(event, db)
        }
    }

    @discardableResult
    public func deletePasskey(credentialID: [UInt8], userID: UUID, event: SecurityEvent) async throws -> [UUID] {
        try await backend.transaction { db in
            let owned = try await db.raw("SELECT credential_id FROM passkeys WHERE user_id = \(bind: Self.id(userID))").all()
                .map { Array(try $0.decode(column: "credential_id", as: Data.self)) }
            guard owned.contains(credentialID) else { throw StoreError.notFound }
            guard owned.count > 1 else { throw StoreError.lastPasskey }
            try await db.raw("DELETE FROM passkeys WHERE credential_id = \(bind: Self.data(credentialID)) AND user_id = \(bind: Self.id(userID))").run()
            // Every session born from it: its sign-ins and the device approvals it made.
            let born = "FROM sessions WHERE user_id = \(bind: Self.id(userID)) AND birth_credential_id = \(bind: Self.data(credentialID))" as SQLQueryString
            let ended = try await db.raw("SELECT id " + born + " ORDER BY id").all().map { row in
                guard let id = UUID(text: try row.decode(column: "id", as: String.self)) else { throw Self.corrupt("sessions.id") }
                return id
            }
            try await db.raw("DELETE " + born).run()
            // And the approvals it gave that no device has taken up yet: the device's next poll would
            // otherwise make a session born from a passkey that is gone.
            try await db.raw("""
                UPDATE device_requests SET status = 'denied' WHERE approving_credential_id = \(bind: Self.data(credentialID)) AND status = 'approved'
                """).run()
            var recorded = event
            recorded.detail[SecurityEvent.sessionsEndedDetail] = String(ended.count)
            try await Self.insert(recorded, db)
            return ended
        }
    }

    public func recordAssertion(
        credentialID: [UInt8], expectedSignCount: UInt32, newSignCount: UInt32, backedUp: Bool, uvInitialized: Bool,
        newSession: Session?, reauthenticatedSession: (id: UUID, newTokenHash: [UInt8])?, event: SecurityEvent,
        challenge: String, kind: CeremonyKind, now: Date
    ) async throws {
        if let newSession, reauthenticatedSession == nil {
            return try await backend.recordSignIn(RecordSignInStatement(
                challenge: challenge, kind: kind, now: now, credentialID: credentialID, expectedSignCount: expectedSignCount,
                newSignCount: newSignCount, backedUp: backedUp, uvInitialized: uvInitialized, session: newSession, event: event))
        }
        try await backend.runStatements { runner in
            try await Self.recordAssertion(
                on: runner, credentialID: credentialID, expectedSignCount: expectedSignCount, newSignCount: newSignCount, backedUp: backedUp,
                uvInitialized: uvInitialized, newSession: newSession, reauthenticatedSession: reauthenticatedSession, event: event,
                challenge: challenge, kind: kind, now: now)
        }
    }

    /// The statements of an assertion, on one transaction's runner: the challenge used up, the
    /// counter moved by compare-and-set, the new session or the re-authenticated one, the event.
    static func recordAssertion(
        on runner: any TemplateRunner, credentialID: [UInt8], expectedSignCount: UInt32, newSignCount: UInt32, backedUp: Bool,
        uvInitialized: Bool, newSession: Session?, reauthenticatedSession: (id: UUID, newTokenHash: [UInt8])?, event: SecurityEvent,
        challenge: String, kind: CeremonyKind, now: Date
    ) async throws {
        try await useUp(challenge, kind: kind, now: now, on: runner)
        let counted = try await runner.count(countAssertionSQL, [
            .integer(Int64(newSignCount)), .integer(flag(backedUp)), .integer(flag(uvInitialized)), .integer(ms(now)),
            .blob(credentialID), .integer(Int64(expectedSignCount)),
        ])
        guard counted == 1 else { throw StoreError.conflict }
        if let newSession { try await runner.count(insertSessionSQL, sessionValues(newSession)) }
        if let reauth = reauthenticatedSession {
            let rows = try await runner.count(reauthenticateSessionSQL, [.integer(ms(now)), .blob(reauth.newTokenHash), .text(id(reauth.id))])
            guard rows == 1 else { throw StoreError.notFound }
        }
        try await runner.count(insertEventSQL, eventValues(event))
    }

    /// Moves a passkey's counter by compare-and-set (`$6` is the count the assertion was checked
    /// against) and records what the assertion said; answers the owner when it did.
    static let countAssertionSQL = SQLTemplate("""
        UPDATE passkeys SET sign_count = $1, backed_up = $2, uv_initialized = CASE WHEN uv_initialized = 1 THEN 1 ELSE $3 END,
          last_used_at = $4
        WHERE credential_id = $5 AND sign_count = $6
        RETURNING user_id
        """)

    /// A re-authenticated session: the time of the assertion and a new token.
    static let reauthenticateSessionSQL = SQLTemplate("UPDATE sessions SET authenticated_at = $1, token_hash = $2 WHERE id = $3 RETURNING id")
}
