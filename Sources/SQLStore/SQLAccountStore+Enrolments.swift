import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Enrolments of a new device's own passkey.
extension SQLAccountStore {
    // MARK: Enrolment

    static func enrolment(_ row: any SQLRow) throws -> Enrolment {
        Enrolment(
            id: try Self.uuid(row, "id"),
            tokenHash: Array(try row.decode(column: "token_hash", as: Data.self)),
            userID: try Self.uuid(row, "user_id"),
            status: Enrolment.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .cancelled,
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: date(try row.decode(column: "expires_at", as: Int64.self)),
            confirmationCode: try row.decode(column: "confirmation_code", as: String?.self),
            browserSecretHash: try row.decode(column: "browser_secret_hash", as: Data?.self).map(Array.init),
            openedIP: try row.decode(column: "opened_ip", as: String?.self),
            openedUserAgent: try row.decode(column: "opened_user_agent", as: String?.self))
    }

    public func createEnrolment(_ e: Enrolment, event: SecurityEvent) async throws {
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO enrolments (id, token_hash, user_id, status, created_at, expires_at, confirmation_code, browser_secret_hash,
                  opened_ip, opened_user_agent) VALUES
                (\(bind: Self.id(e.id)), \(bind: Self.data(e.tokenHash)), \(bind: Self.id(e.userID)), \(bind: e.status.rawValue),
                 \(bind: Self.ms(e.createdAt)), \(bind: Self.ms(e.expiresAt)), \(bind: e.confirmationCode), \(bind: e.browserSecretHash.map(Self.data)),
                 \(bind: e.openedIP), \(bind: e.openedUserAgent))
                """).run()
            try await Self.insert(event, db)
        }
    }

    public func enrolment(id: UUID) async throws -> Enrolment? {
        try await backend.read { db in try await db.raw("SELECT * FROM enrolments WHERE id = \(bind: Self.id(id))").first().map(Self.enrolment) }
    }

    public func enrolment(tokenHash: [UInt8]) async throws -> Enrolment? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM enrolments WHERE token_hash = \(bind: Self.data(tokenHash))").first().map(Self.enrolment)
        }
    }

    public func updateEnrolment(_ e: Enrolment, from: Enrolment.Status, event: SecurityEvent?, now: Date) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                UPDATE enrolments SET status = \(bind: e.status.rawValue), confirmation_code = \(bind: e.confirmationCode),
                  browser_secret_hash = \(bind: e.browserSecretHash.map(Self.data)), opened_ip = \(bind: e.openedIP),
                  opened_user_agent = \(bind: e.openedUserAgent)
                WHERE id = \(bind: Self.id(e.id)) AND status = \(bind: from.rawValue) AND expires_at > \(bind: Self.ms(now))
                RETURNING id
                """).all()
            guard rows.count == 1 else { throw StoreError.conflict }
            if let event { try await Self.insert(event, db) }
        }
    }

    public func completeEnrolment(id: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date) async throws {
        try await registerCompleting(challenge: challenge, kind: .enrol, passkey: passkey, session: session, event: event, now: now) { db in
            try await db.raw("""
                UPDATE enrolments SET status = 'used'
                WHERE id = \(bind: Self.id(id)) AND status = 'confirmed' AND expires_at > \(bind: Self.ms(now)) RETURNING id
                """).all()
        }
    }

    /// One transaction that uses up the `kind` challenge, moves the record `claim` updates (it must
    /// return exactly one row, else ``StoreError/conflict``), and adds the new passkey, its session and
    /// the event. A credential ID in use is ``StoreError/credentialExists`` (also when a concurrent
    /// registration wins the race).
    func registerCompleting(challenge: String, kind: CeremonyKind, passkey: Passkey, session: Session, event: SecurityEvent, now: Date,
                            claim: @escaping @Sendable (any SQLDatabase) async throws -> [any SQLRow]) async throws {
        do {
            try await backend.transaction { db in
                try await Self.useUp(challenge, kind: kind, now: now, db)
                guard try await claim(db).count == 1 else { throw StoreError.conflict }
                if try await db.raw("SELECT user_id FROM passkeys WHERE credential_id = \(bind: Self.data(passkey.credentialID))").first() != nil {
                    throw StoreError.credentialExists
                }
                try await Self.insert(passkey, db)
                try await Self.insert(session, db)
                try await Self.insert(event, db)
            }
        } catch let error where Self.isUniqueViolation(error) {
            throw StoreError.credentialExists
        }
    }
}
