import Accounts
import Foundation
import SQLKit
import WebAuthn

/// The security timeline, and its outbox of notifications.
extension SQLAccountStore {
    public func appendEvent(_ event: SecurityEvent) async throws {
        try await backend.write { db in try await Self.insert(event, db) }
    }

    public func events(userID: UUID, limit: Int) async throws -> [SecurityEvent] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM events WHERE user_id = \(bind: Self.id(userID)) ORDER BY at DESC, id LIMIT \(bind: Int64(limit))")
                .all().map(Self.event)
        }
    }

    public func adminEvents(limit: Int) async throws -> [SecurityEvent] {
        let kinds = SecurityEvent.Kind.adminActions.map(\.rawValue)
        return try await backend.read { db in
            try await db.raw("""
                SELECT * FROM events WHERE kind IN (\(binds: kinds))
                ORDER BY at DESC, id DESC LIMIT \(bind: Int64(limit))
                """).all().map(Self.event)
        }
    }

    public func deleteEvents(before cutoff: Date, limit: Int) async throws -> Int {
        // Oldest first, through the time index (migration 14), a bounded batch per write transaction.
        try await backend.write { db in
            try await db.raw("""
                DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < \(bind: Self.ms(cutoff)) ORDER BY at LIMIT \(bind: Int64(limit)))
                RETURNING id
                """).all().count
        }
    }

    // MARK: Notification outbox

    public func claimUndeliveredEvents(now: Date, lease: TimeInterval, limit: Int, kinds: Set<SecurityEvent.Kind>?) async throws
        -> [(event: SecurityEvent, attempts: Int)]
    {
        // Only some kinds: a bound list, read through the (kind, next_delivery_at) index (migration 9).
        var kindFilter = SQLQueryString("")
        if let kinds {
            kindFilter.appendLiteral(" AND kind IN (")
            for (index, kind) in kinds.map(\.rawValue).sorted().enumerated() {
                if index > 0 { kindFilter.appendLiteral(", ") }
                kindFilter.appendInterpolation(bind: kind)
            }
            if kinds.isEmpty { kindFilter.appendLiteral("NULL") }
            kindFilter.appendLiteral(")")
        }
        let filter = kindFilter
        return try await backend.transaction { db in
            let due = Self.ms(now)
            // The outer conditions are checked again on each row as it is updated, so two nodes never
            // both claim one entry inside a lease.
            return try await db.raw("""
                UPDATE events SET next_delivery_at = \(bind: Self.ms(now.addingTimeInterval(lease)))
                WHERE id IN (SELECT id FROM events WHERE delivered_at IS NULL AND next_delivery_at IS NOT NULL AND next_delivery_at <= \(bind: due)\(filter)
                             ORDER BY next_delivery_at LIMIT \(bind: Int64(limit)))
                  AND delivered_at IS NULL AND next_delivery_at <= \(bind: due)
                RETURNING *
                """).all().map { (try Self.event($0), Int(try $0.decode(column: "delivery_attempts", as: Int64.self))) }
        }
    }

    public func markEventDelivered(id: UUID, at: Date) async throws {
        try await backend.write { db in
            try await db.raw("UPDATE events SET delivered_at = \(bind: Self.ms(at)), next_delivery_at = NULL WHERE id = \(bind: Self.id(id))").run()
        }
    }

    public func recordEventDeliveryFailure(id: UUID, attempts: Int, nextAttempt: Date?) async throws {
        try await backend.write { db in
            try await db.raw("""
                UPDATE events SET delivery_attempts = \(bind: Int64(attempts)), next_delivery_at = \(bind: nextAttempt.map(Self.ms))
                WHERE id = \(bind: Self.id(id))
                """).run()
        }
    }
}
