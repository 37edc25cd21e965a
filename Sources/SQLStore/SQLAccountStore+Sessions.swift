import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Sessions: looked up by token hash, touched, rotated, revoked and swept.
extension SQLAccountStore {
    public func session(tokenHash: [UInt8]) async throws -> Session? {
        try await backend.readRows(Self.sessionByTokenSQL, [.blob(tokenHash)]) { try Self.session($0) }.first
    }

    public func session(id: UUID) async throws -> Session? {
        try await backend.readRows(Self.sessionByIDSQL, [.text(Self.id(id))]) { try Self.session($0) }.first
    }

    // Read on every signed-in request and every token exchange: templates, which SQLite runs without sql-kit.
    static let sessionByTokenSQL = SQLTemplate("SELECT * FROM sessions WHERE token_hash = $1")
    static let sessionByIDSQL = SQLTemplate("SELECT * FROM sessions WHERE id = $1")

    public func sessions(userID: UUID) async throws -> [Session] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM sessions WHERE user_id = \(bind: Self.id(userID)) ORDER BY created_at").all().map(Self.session)
        }
    }

    public func touchSession(id: UUID, at: Date) async throws {
        try await backend.write { db in
            try await db.raw("UPDATE sessions SET last_seen_at = \(bind: Self.ms(at)) WHERE id = \(bind: Self.id(id))").run()
        }
    }

    public func rotateSession(id: UUID, newTokenHash: [UInt8]) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("UPDATE sessions SET token_hash = \(bind: Self.data(newTokenHash)) WHERE id = \(bind: Self.id(id)) RETURNING id").all()
            guard rows.count == 1 else { throw StoreError.notFound }
        }
    }

    public func deleteSession(id: UUID, userID: UUID, event: SecurityEvent?) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("DELETE FROM sessions WHERE id = \(bind: Self.id(id)) AND user_id = \(bind: Self.id(userID)) RETURNING id").all()
            guard rows.count == 1 else { throw StoreError.notFound }
            if let event { try await Self.insert(event, db) }
        }
    }

    public func sweepExpiredSessions(now: Date, idleTimeout: TimeInterval) async throws -> Int {
        try await backend.transaction { db in
            try await db.raw("""
                DELETE FROM sessions WHERE expires_at <= \(bind: Self.ms(now)) OR last_seen_at <= \(bind: Self.ms(now.addingTimeInterval(-idleTimeout)))
                RETURNING id
                """).all().count
        }
    }

    public func countSessions() async throws -> Int {
        try await backend.read { db in
            Int(try await db.raw("SELECT COUNT(*) AS n FROM sessions").first()?.decode(column: "n", as: Int64.self) ?? 0)
        }
    }
}
