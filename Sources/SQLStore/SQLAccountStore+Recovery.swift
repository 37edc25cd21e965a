import Accounts
import Foundation
import SQLKit
import WebAuthn

/// Recovery settings, contacts, cases and proofs.
extension SQLAccountStore {
    // MARK: Recovery

    static func recoverySettings(_ row: any SQLRow) throws -> RecoverySettings {
        let addresses = try row.decode(column: "addresses", as: String.self)
        return RecoverySettings(
            userID: try Self.uuid(row, "user_id"),
            threshold: Int(try row.decode(column: "threshold", as: Int64.self)),
            codeHash: try row.decode(column: "code_hash", as: Data?.self).map(Array.init),
            codeCreatedAt: try row.decode(column: "code_created_at", as: Int64?.self).map(date),
            addresses: try Self.stringList(addresses, column: "addresses"),
            verifiedAddresses: try Self.stringList(try row.decode(column: "verified_addresses", as: String.self), column: "verified_addresses"),
            blockedUntil: try row.decode(column: "blocked_until", as: Int64?.self).map(date))
    }

    static func contact(_ row: any SQLRow) throws -> RecoveryContact {
        RecoveryContact(
            id: try Self.uuid(row, "id"),
            ownerID: try Self.uuid(row, "owner_id"),
            contactID: try Self.uuid(row, "contact_id"),
            accepted: try row.decode(column: "accepted", as: Int64.self) != 0,
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)))
    }

    static func recoveryCase(_ row: any SQLRow, proofs: [RecoveryProof]) throws -> RecoveryCase {
        RecoveryCase(
            id: try Self.uuid(row, "id"),
            userID: try Self.optionalUUID(row, "user_id"),
            secretHash: Array(try row.decode(column: "secret_hash", as: Data.self)),
            comparisonCode: try row.decode(column: "comparison_code", as: String.self),
            status: RecoveryCase.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .cancelled,
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: date(try row.decode(column: "expires_at", as: Int64.self)),
            ip: try row.decode(column: "ip", as: String.self),
            userAgent: try row.decode(column: "user_agent", as: String.self),
            proofs: proofs,
            codeAttempts: Int(try row.decode(column: "code_attempts", as: Int64.self)))
    }

    static func proofs(caseID: String, _ db: any SQLDatabase) async throws -> [RecoveryProof] {
        try await db.raw("SELECT * FROM recovery_proofs WHERE case_id = \(bind: caseID) ORDER BY at").all().map { row in
            let actor = try row.decode(column: "actor_id", as: String.self)
            return RecoveryProof(
                kind: RecoveryProof.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .code,
                actorID: actor.isEmpty ? nil : UUID(text: actor),
                via: try row.decode(column: "via", as: String.self),
                at: date(try row.decode(column: "at", as: Int64.self)))
        }
    }

    public func recoverySettings(userID: UUID) async throws -> RecoverySettings? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM recovery_settings WHERE user_id = \(bind: Self.id(userID))").first().map(Self.recoverySettings)
        }
    }

    public func saveRecoverySettings(_ settings: RecoverySettings, event: SecurityEvent) async throws {
        let addresses = StrictJSON.serialize(.array(settings.addresses.map(JSONValue.string)))
        let verified = StrictJSON.serialize(.array(settings.verifiedAddresses.map(JSONValue.string)))
        try await backend.transaction { db in
            guard try await db.raw("SELECT id FROM users WHERE id = \(bind: Self.id(settings.userID))").first() != nil else { throw StoreError.notFound }
            try await db.raw("""
                INSERT INTO recovery_settings (user_id, threshold, code_hash, code_created_at, addresses, verified_addresses, blocked_until) VALUES
                (\(bind: Self.id(settings.userID)), \(bind: Int64(settings.threshold)), \(bind: settings.codeHash.map(Self.data)),
                 \(bind: settings.codeCreatedAt.map(Self.ms)), \(bind: addresses), \(bind: verified), \(bind: settings.blockedUntil.map(Self.ms)))
                ON CONFLICT (user_id) DO UPDATE SET threshold = excluded.threshold, code_hash = excluded.code_hash,
                  code_created_at = excluded.code_created_at, addresses = excluded.addresses, verified_addresses = excluded.verified_addresses,
                  blocked_until = excluded.blocked_until
                """).run()
            try await Self.insert(event, db)
        }
    }

    public func recoveryContacts(ownerID: UUID) async throws -> [RecoveryContact] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM recovery_contacts WHERE owner_id = \(bind: Self.id(ownerID)) ORDER BY created_at, id").all().map(Self.contact)
        }
    }

    public func recoveryContacts(contactID: UUID) async throws -> [RecoveryContact] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM recovery_contacts WHERE contact_id = \(bind: Self.id(contactID)) ORDER BY created_at, id").all().map(Self.contact)
        }
    }

    public func addRecoveryContact(_ contact: RecoveryContact, event: SecurityEvent) async throws {
        do {
            try await backend.transaction { db in
                try await db.raw("""
                    INSERT INTO recovery_contacts (id, owner_id, contact_id, accepted, created_at) VALUES
                    (\(bind: Self.id(contact.id)), \(bind: Self.id(contact.ownerID)), \(bind: Self.id(contact.contactID)),
                     \(bind: Self.flag(contact.accepted)), \(bind: Self.ms(contact.createdAt)))
                    """).run()
                try await Self.insert(event, db)
            }
        } catch let error where Self.isUniqueViolation(error) {
            throw StoreError.conflict
        }
    }

    public func acceptRecoveryContact(id: UUID, contactID: UUID, event: SecurityEvent) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                UPDATE recovery_contacts SET accepted = 1
                WHERE id = \(bind: Self.id(id)) AND contact_id = \(bind: Self.id(contactID)) AND accepted = 0 RETURNING id
                """).all()
            guard rows.count == 1 else { throw StoreError.notFound }
            try await Self.insert(event, db)
        }
    }

    public func deleteRecoveryContact(id: UUID, ownerID: UUID, event: SecurityEvent) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                DELETE FROM recovery_contacts WHERE id = \(bind: Self.id(id)) AND owner_id = \(bind: Self.id(ownerID)) RETURNING id
                """).all()
            guard rows.count == 1 else { throw StoreError.notFound }
            try await Self.insert(event, db)
        }
    }

    public func createRecoveryCase(_ c: RecoveryCase, event: SecurityEvent?) async throws {
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO recovery_cases (id, user_id, secret_hash, comparison_code, status, created_at, expires_at, ip, user_agent, code_attempts) VALUES
                (\(bind: Self.id(c.id)), \(bind: c.userID.map(Self.id)), \(bind: Self.data(c.secretHash)), \(bind: c.comparisonCode),
                 \(bind: c.status.rawValue), \(bind: Self.ms(c.createdAt)), \(bind: Self.ms(c.expiresAt)), \(bind: c.ip), \(bind: c.userAgent),
                 \(bind: Int64(c.codeAttempts)))
                """).run()
            if let event { try await Self.insert(event, db) }
        }
    }

    public func recoveryCase(id: UUID) async throws -> RecoveryCase? {
        try await backend.read { db in
            guard let row = try await db.raw("SELECT * FROM recovery_cases WHERE id = \(bind: Self.id(id))").first() else { return nil }
            return try Self.recoveryCase(row, proofs: try await Self.proofs(caseID: Self.id(id), db))
        }
    }

    public func recoveryCases(userID: UUID) async throws -> [RecoveryCase] {
        try await backend.read { db in
            try await Self.recoveryCases(db, """
                SELECT * FROM recovery_cases WHERE user_id = \(bind: Self.id(userID)) ORDER BY created_at DESC LIMIT 50
                """)
        }
    }

    public func openRecoveryCases(userID: UUID, now: Date) async throws -> [RecoveryCase] {
        try await backend.read { db in
            try await Self.recoveryCases(db, """
                SELECT * FROM recovery_cases
                WHERE user_id = \(bind: Self.id(userID)) AND status = \(bind: RecoveryCase.Status.open.rawValue) AND expires_at > \(bind: Self.ms(now))
                ORDER BY EXISTS (SELECT 1 FROM recovery_proofs WHERE recovery_proofs.case_id = recovery_cases.id) DESC, created_at DESC
                LIMIT \(unsafeRaw: String(openRecoveryCasesShown))
                """)
        }
    }

    public func openRecoveryCases(userID: UUID, comparisonCode: String, now: Date) async throws -> [RecoveryCase] {
        try await backend.read { db in
            try await Self.recoveryCases(db, """
                SELECT * FROM recovery_cases
                WHERE user_id = \(bind: Self.id(userID)) AND status = \(bind: RecoveryCase.Status.open.rawValue) AND expires_at > \(bind: Self.ms(now))
                AND comparison_code = \(bind: comparisonCode)
                """)
        }
    }

    /// The cases `query` selects, each with its proofs.
    static func recoveryCases(_ db: any SQLDatabase, _ query: SQLQueryString) async throws -> [RecoveryCase] {
        var cases: [RecoveryCase] = []
        for row in try await db.raw(query).all() {
            let caseID = try row.decode(column: "id", as: String.self)
            cases.append(try Self.recoveryCase(row, proofs: try await Self.proofs(caseID: caseID, db)))
        }
        return cases
    }

    public func addRecoveryProof(caseID: UUID, proof: RecoveryProof, event: SecurityEvent, now: Date) async throws {
        do {
            try await backend.transaction { db in
                // Lock the case row (PostgreSQL) and check it is open and live in the same statement.
                let open = try await db.raw("""
                    UPDATE recovery_cases SET status = status
                    WHERE id = \(bind: Self.id(caseID)) AND status = 'open' AND expires_at > \(bind: Self.ms(now)) RETURNING id
                    """).all()
                guard open.count == 1 else { throw StoreError.conflict }
                try await db.raw("""
                    INSERT INTO recovery_proofs (case_id, kind, actor_id, via, at) VALUES
                    (\(bind: Self.id(caseID)), \(bind: proof.kind.rawValue), \(bind: proof.actorID.map(Self.id) ?? ""), \(bind: proof.via),
                     \(bind: Self.ms(proof.at)))
                    """).run()
                try await Self.insert(event, db)
            }
        } catch let error where Self.isUniqueViolation(error) {
            throw StoreError.conflict
        }
    }

    public func recordRecoveryCodeFailure(caseID: UUID, event: SecurityEvent?) async throws -> Int {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                UPDATE recovery_cases SET code_attempts = code_attempts + 1
                WHERE id = \(bind: Self.id(caseID)) AND status = 'open' RETURNING code_attempts
                """).all()
            guard let row = rows.first else { throw StoreError.conflict }
            if let event { try await Self.insert(event, db) }
            return Int(try row.decode(column: "code_attempts", as: Int64.self))
        }
    }

    public func cancelRecoveryCase(id: UUID, blockUntil: Date?, event: SecurityEvent?, now: Date) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("""
                UPDATE recovery_cases SET status = 'cancelled' WHERE id = \(bind: Self.id(id)) AND status = 'open' RETURNING user_id
                """).all()
            guard let row = rows.first else { throw StoreError.conflict }
            if let blockUntil, let userID = try row.decode(column: "user_id", as: String?.self) {
                try await db.raw("""
                    INSERT INTO recovery_settings (user_id, threshold, addresses, blocked_until) VALUES
                    (\(bind: userID), \(bind: Int64(RecoverySettings.defaultThreshold)), '[]', \(bind: Self.ms(blockUntil)))
                    ON CONFLICT (user_id) DO UPDATE SET blocked_until = excluded.blocked_until
                    """).run()
            }
            if let event { try await Self.insert(event, db) }
        }
    }

    public func completeRecovery(caseID: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date) async throws {
        try await registerCompleting(challenge: challenge, kind: .recover, passkey: passkey, session: session, event: event, now: now) { db in
            let claimed = try await db.raw("""
                UPDATE recovery_cases SET status = 'completed'
                WHERE id = \(bind: Self.id(caseID)) AND user_id = \(bind: Self.id(passkey.userID)) AND status = 'open'
                  AND expires_at > \(bind: Self.ms(now)) RETURNING id
                """).all()
            // A recovery code is used up by the recovery it proved: whoever saw it typed cannot use it again.
            if !claimed.isEmpty {
                try await db.raw("""
                    UPDATE recovery_settings SET code_hash = NULL, code_created_at = NULL
                    WHERE user_id = \(bind: Self.id(passkey.userID))
                      AND EXISTS (SELECT 1 FROM recovery_proofs WHERE case_id = \(bind: Self.id(caseID)) AND kind = 'code')
                    """).run()
            }
            return claimed
        }
    }
}
