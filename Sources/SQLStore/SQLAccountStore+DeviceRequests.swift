import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Device approval requests (RFC 8628 style).
extension SQLAccountStore {
    // MARK: Device approval

    static func deviceRequest(_ row: any SQLRow) throws -> DeviceRequest {
        DeviceRequest(
            deviceCodeHash: Array(try row.decode(column: "device_code_hash", as: Data.self)),
            userCode: try row.decode(column: "user_code", as: String.self),
            status: DeviceRequest.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .denied,
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: date(try row.decode(column: "expires_at", as: Int64.self)),
            interval: Int(try row.decode(column: "interval_seconds", as: Int64.self)),
            lastPolledAt: try row.decode(column: "last_polled_at", as: Int64?.self).map(date),
            ip: try row.decode(column: "ip", as: String.self),
            userAgent: try row.decode(column: "user_agent", as: String.self),
            decidedBy: try Self.optionalUUID(row, "decided_by"),
            approvingCredentialID: try row.decode(column: "approving_credential_id", as: Data?.self).map(Array.init),
            targetUserID: try Self.optionalUUID(row, "target_user_id"),
            matchNumber: Int(try row.decode(column: "match_number", as: Int64.self)))
    }

    public func createDeviceRequest(_ r: DeviceRequest) async throws {
        do {
            try await backend.write { db in
                try await db.raw("""
                    INSERT INTO device_requests (device_code_hash, user_code, status, created_at, expires_at, interval_seconds, last_polled_at,
                      ip, user_agent, decided_by, approving_credential_id, target_user_id, match_number) VALUES
                    (\(bind: Self.data(r.deviceCodeHash)), \(bind: r.userCode), \(bind: r.status.rawValue), \(bind: Self.ms(r.createdAt)),
                     \(bind: Self.ms(r.expiresAt)), \(bind: Int64(r.interval)), \(bind: r.lastPolledAt.map(Self.ms)), \(bind: r.ip),
                     \(bind: r.userAgent), \(bind: r.decidedBy.map(Self.id)), \(bind: r.approvingCredentialID.map(Self.data)),
                     \(bind: r.targetUserID.map(Self.id)), \(bind: Int64(r.matchNumber)))
                    """).run()
            }
        } catch let error where Self.isUniqueViolation(error) {
            throw StoreError.conflict
        }
    }

    public func deviceRequest(userCode: String) async throws -> DeviceRequest? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM device_requests WHERE user_code = \(bind: userCode)").first().map(Self.deviceRequest)
        }
    }

    public func deviceRequest(deviceCodeHash: [UInt8]) async throws -> DeviceRequest? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM device_requests WHERE device_code_hash = \(bind: Self.data(deviceCodeHash))").first().map(Self.deviceRequest)
        }
    }

    public func pendingDeviceRequests(targetUserID: UUID, now: Date) async throws -> [DeviceRequest] {
        try await backend.read { db in
            try await db.raw("""
                SELECT * FROM device_requests WHERE target_user_id = \(bind: Self.id(targetUserID)) AND status = 'pending'
                  AND expires_at > \(bind: Self.ms(now)) ORDER BY created_at DESC, user_code DESC LIMIT 20
                """).all().map(Self.deviceRequest)
        }
    }

    public func transitionDeviceRequest(deviceCodeHash: [UInt8], from: DeviceRequest.Status, to: DeviceRequest.Status, decidedBy: UUID?,
                                        approvingCredentialID: [UInt8]?, session: Session?, event: SecurityEvent?, now: Date) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                UPDATE device_requests SET status = \(bind: to.rawValue),
                  decided_by = COALESCE(\(bind: decidedBy.map(Self.id)), decided_by),
                  approving_credential_id = COALESCE(\(bind: approvingCredentialID.map(Self.data)), approving_credential_id)
                WHERE device_code_hash = \(bind: Self.data(deviceCodeHash)) AND status = \(bind: from.rawValue) AND expires_at > \(bind: Self.ms(now))
                RETURNING user_code
                """).all()
            guard rows.count == 1 else { throw StoreError.conflict }
            if let session { try await Self.insert(session, db) }
            if let event { try await Self.insert(event, db) }
        }
    }

    public func touchDeviceRequest(deviceCodeHash: [UInt8], polledAt: Date) async throws {
        try await backend.write { db in
            try await db.raw("UPDATE device_requests SET last_polled_at = \(bind: Self.ms(polledAt)) WHERE device_code_hash = \(bind: Self.data(deviceCodeHash))").run()
        }
    }
}
