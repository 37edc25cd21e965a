import Accounts
import Foundation
import PostgresNIO
import SQLKit
import SQLiteNIO
import WebAuthn

/// The ``AccountStore`` on SQL: SQLite (the embedded default) and PostgreSQL, through one
/// implementation. Every statement binds its values; no value is ever spliced into SQL text.
public struct SQLAccountStore: AccountStore {
    let backend: any SQLBackend

    init(backend: any SQLBackend) { self.backend = backend }
    /// The store on embedded SQLite.
    public init(backend: SQLiteBackend) { self.backend = backend }
    /// The store on PostgreSQL.
    public init(backend: PostgresBackend) { self.backend = backend }

    /// Runs `body` in one transaction on one connection, outside the store's own operations: for
    /// tools that write in bulk (the benchmark's filler accounts).
    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await backend.transaction(body)
    }

    // MARK: Migrations

    /// Applies the migrations not yet applied, up to `version` when given (tests of a migration stop
    /// before it). Safe to run from several nodes at once.
    public func migrate(upTo version: Int64? = nil) async throws {
        let binary = backend.binaryType
        let postgres = backend.isPostgres
        try await backend.transaction { db in
            if postgres { try await db.raw("SELECT pg_advisory_xact_lock(7041970)").run() }
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").run()
        }
        for migration in Migrations.all(binary: binary, sqlite: !postgres) where migration.version <= version ?? .max {
            try await backend.transaction { db in
                if postgres { try await db.raw("SELECT pg_advisory_xact_lock(7041970)").run() }
                let applied = try await db.raw("SELECT version FROM schema_migrations WHERE version = \(bind: migration.version)").all()
                guard applied.isEmpty else { return }
                for statement in migration.statements { try await db.raw(SQLQueryString(statement)).run() }
                try await db.raw("INSERT INTO schema_migrations (version, applied_at) VALUES (\(bind: migration.version), \(bind: Self.ms(Date())))").run()
            }
        }
    }

    /// The applied migration versions.
    public func appliedMigrations() async throws -> [Int64] {
        try await backend.read { db in
            try await db.raw("SELECT version FROM schema_migrations ORDER BY version").all().map { try $0.decode(column: "version", as: Int64.self) }
        }
    }

    // MARK: Encoding helpers

    package static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(ms) / 1000) }
    package static func data(_ bytes: [UInt8]) -> Data { Data(bytes) }
    static func flag(_ value: Bool) -> Int64 { value ? 1 : 0 }
    package static func id(_ uuid: UUID) -> String { uuid.lowercaseText }

    /// A stored value the store cannot read back: refused rather than replaced by a guess.
    static func corrupt(_ column: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [SQLColumnKey(column)], debugDescription: "column \(column) holds a value the store did not write"))
    }

    /// A stored AAGUID (8-4-4-4-12 text); anything else is a corrupt row.
    static func aaguid(_ text: String) throws -> AAGUID {
        guard let aaguid = AAGUID(string: text) else { throw corrupt("passkeys.aaguid") }
        return aaguid
    }

    /// The UUID in `column`.
    static func uuid(_ row: any SQLRow, _ column: String) throws -> UUID { try SQLKitColumns.of(row).uuid(column) }

    /// The UUID in `column`, or nil when it is NULL.
    static func optionalUUID(_ row: any SQLRow, _ column: String) throws -> UUID? { try SQLKitColumns.of(row).optionalUUID(column) }

    /// A JSON object of strings stored as text.
    static func stringMap(_ text: String, column: String) throws -> [String: String] {
        guard let object = (try? StrictJSON.parse(Array(text.utf8)))?.object else { throw corrupt(column) }
        var map: [String: String] = [:]
        for member in object.members {
            guard case .string(let value) = member.value else { throw corrupt(column) }
            map[member.key] = value
        }
        return map
    }

    /// A JSON array of strings stored as text.
    static func stringList(_ text: String, column: String) throws -> [String] {
        guard case .array(let items)? = try? StrictJSON.parse(Array(text.utf8)) else { throw corrupt(column) }
        return try items.map { item in
            guard case .string(let value) = item else { throw corrupt(column) }
            return value
        }
    }

    /// A user from `row`.
    static func user(_ row: any SQLRow) throws -> User { try user(SQLKitColumns.of(row), prefix: "") }

    /// A user from `row`, whose user columns carry `prefix`.
    static func user(_ row: some ColumnReader, prefix: String) throws -> User {
        User(
            id: try row.uuid(prefix + "id"),
            username: try row.text(prefix + "username"),
            displayName: try row.text(prefix + "display_name"),
            handle: try row.bytes(prefix + "handle"),
            createdAt: try row.date(prefix + "created_at"),
            disabled: try row.flag(prefix + "disabled"),
            isAdmin: try row.flag(prefix + "is_admin"))
    }

    static func passkey(_ row: any SQLRow) throws -> Passkey { try passkey(SQLKitColumns.of(row)) }

    static func passkey(_ row: some ColumnReader) throws -> Passkey {
        let transports = try row.text("transports")
        return Passkey(
            credentialID: try row.bytes("credential_id"),
            userID: try row.uuid("user_id"),
            publicKey: try row.bytes("public_key"),
            algorithm: COSEAlgorithm(rawValue: Int(try row.integer("algorithm"))),
            signCount: UInt32(clamping: try row.integer("sign_count")),
            aaguid: try aaguid(row.text("aaguid")),
            name: try row.text("name"),
            transports: transports.split(separator: ",").compactMap { AuthenticatorTransport(rawValue: String($0)) },
            backupEligible: try row.flag("backup_eligible"),
            backedUp: try row.flag("backed_up"),
            uvInitialized: try row.flag("uv_initialized"),
            attestationFormat: try row.text("attestation_format"),
            attestationTrusted: try row.flag("attestation_trusted"),
            createdAt: try row.date("created_at"),
            lastUsedAt: try row.optionalDate("last_used_at"),
            recoveredAt: try row.optionalDate("recovered_at"))
    }

    static func session(_ row: any SQLRow) throws -> Session { try session(SQLKitColumns.of(row)) }

    static func session(_ row: some ColumnReader) throws -> Session {
        // A birth the store never writes is refused: it must not be read as a full-rights session.
        guard let kind = SessionBirth.Kind(rawValue: try row.text("birth_kind")) else { throw corrupt("birth_kind") }
        return Session(
            id: try row.uuid("id"),
            tokenHash: try row.bytes("token_hash"),
            userID: try row.uuid("user_id"),
            birth: SessionBirth(
                kind: kind,
                credentialID: try row.bytes("birth_credential_id"),
                userVerified: try row.flag("birth_user_verified"),
                deviceBound: try row.flag("birth_device_bound"),
                coolingUntil: try row.optionalDate("birth_cooling_until")),
            createdAt: try row.date("created_at"),
            lastSeenAt: try row.date("last_seen_at"),
            expiresAt: try row.date("expires_at"),
            authenticatedAt: try row.date("authenticated_at"),
            ip: try row.text("ip"),
            userAgent: try row.text("user_agent"))
    }

    /// A challenge from `row`.
    static func challenge(_ row: any SQLRow) throws -> CeremonyChallenge { try challenge(SQLKitColumns.of(row), prefix: "") }

    /// A challenge from `row`, whose challenge columns carry `prefix`.
    static func challenge(_ row: some ColumnReader, prefix: String) throws -> CeremonyChallenge {
        var pending: PendingUser?
        if let username = try row.optionalText(prefix + "pending_username") {
            pending = PendingUser(
                username: username,
                displayName: try row.optionalText(prefix + "pending_display_name") ?? username,
                handle: try row.optionalBytes(prefix + "pending_handle") ?? [],
                inviteHash: try row.optionalBytes(prefix + "pending_invite_hash"))
        }
        guard let kind = CeremonyKind(rawValue: try row.text(prefix + "kind")) else { throw corrupt(prefix + "kind") }
        return CeremonyChallenge(
            challenge: try row.text(prefix + "challenge"),
            kind: kind,
            userID: try row.optionalUUID(prefix + "user_id"),
            pendingUser: pending,
            sessionID: try row.optionalUUID(prefix + "session_id"),
            expiresAt: try row.date(prefix + "expires_at"))
    }

    static func event(_ row: any SQLRow) throws -> SecurityEvent {
        let detailText = try row.decode(column: "detail", as: String.self)
        let detail = try Self.stringMap(detailText, column: "detail")
        return SecurityEvent(
            id: try Self.uuid(row, "id"),
            userID: try Self.uuid(row, "user_id"),
            kind: try Self.eventKind(row.decode(column: "kind", as: String.self)),
            at: date(try row.decode(column: "at", as: Int64.self)),
            ip: try row.decode(column: "ip", as: String.self),
            userAgent: try row.decode(column: "user_agent", as: String.self),
            detail: detail)
    }

    /// An event's detail as stored: a JSON object of strings, keys in order.
    static func detailJSON(_ event: SecurityEvent) -> String {
        var object: JSONObject = [:]
        for (key, value) in event.detail.sorted(by: { $0.key < $1.key }) { object[key] = .string(value) }
        return StrictJSON.serialize(.object(object))
    }

    static func insert(_ event: SecurityEvent, _ db: any SQLDatabase) async throws {
        try await SQLKitRunner(db).count(insertEventSQL, eventValues(event))
    }

    /// The columns of `events` that ``eventValues(_:)`` fills, in its order.
    /// A stored event kind; one that is not in the list is a corrupt row, refused rather than guessed.
    static func eventKind(_ text: String) throws -> SecurityEvent.Kind {
        guard let kind = SecurityEvent.Kind(rawValue: text) else { throw corrupt("events.kind") }
        return kind
    }

    /// The columns of `events` and their values.
    static let eventTable = ColumnTable<SecurityEvent>("events", [
        .text("id") { SQLAccountStore.id($0.id) },
        .text("user_id") { SQLAccountStore.id($0.userID) },
        .text("kind") { $0.kind.rawValue },
        .integer("at") { SQLAccountStore.ms($0.at) },
        .text("ip") { $0.ip },
        .text("user_agent") { $0.userAgent },
        .text("detail") { SQLAccountStore.detailJSON($0) },
    ])
    static var eventColumns: [String] { eventTable.names }

    /// Adds an event, due for delivery at once (`next_delivery_at` is its time).
    static let insertEventSQL = SQLTemplate(
        "INSERT INTO events (\(eventColumns.joined(separator: ", ")), next_delivery_at) VALUES (\(eventTable.parameters()), \(eventTable.parameter("at")))")


    static func eventValues(_ event: SecurityEvent) -> [SQLValue] { eventTable.values(event) }

    static func insert(_ passkey: Passkey, _ db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO passkeys (credential_id, user_id, public_key, algorithm, sign_count, aaguid, name, transports, backup_eligible,
              backed_up, uv_initialized, attestation_format, attestation_trusted, created_at, last_used_at, recovered_at) VALUES
            (\(bind: data(passkey.credentialID)), \(bind: id(passkey.userID)), \(bind: data(passkey.publicKey)), \(bind: Int64(passkey.algorithm.rawValue)),
             \(bind: Int64(passkey.signCount)), \(bind: passkey.aaguid.description), \(bind: passkey.name), \(bind: passkey.transports.map(\.rawValue).joined(separator: ",")),
             \(bind: flag(passkey.backupEligible)), \(bind: flag(passkey.backedUp)), \(bind: flag(passkey.uvInitialized)),
             \(bind: passkey.attestationFormat), \(bind: flag(passkey.attestationTrusted)), \(bind: ms(passkey.createdAt)),
             \(bind: passkey.lastUsedAt.map(ms)), \(bind: passkey.recoveredAt.map(ms)))
            """).run()
    }

    static func insert(_ session: Session, _ db: any SQLDatabase) async throws {
        try await SQLKitRunner(db).count(insertSessionSQL, sessionValues(session))
    }

    /// The columns of `sessions` and their values.
    static let sessionTable = ColumnTable<Session>("sessions", [
        .text("id") { SQLAccountStore.id($0.id) },
        .blob("token_hash") { $0.tokenHash },
        .text("user_id") { SQLAccountStore.id($0.userID) },
        .text("birth_kind") { $0.birth.kind.rawValue },
        .blob("birth_credential_id") { $0.birth.credentialID },
        .integer("birth_user_verified") { SQLAccountStore.flag($0.birth.userVerified) },
        .integer("birth_device_bound") { SQLAccountStore.flag($0.birth.deviceBound) },
        .integer("created_at") { SQLAccountStore.ms($0.createdAt) },
        .integer("last_seen_at") { SQLAccountStore.ms($0.lastSeenAt) },
        .integer("expires_at") { SQLAccountStore.ms($0.expiresAt) },
        .integer("authenticated_at") { SQLAccountStore.ms($0.authenticatedAt) },
        .text("ip") { $0.ip },
        .text("user_agent") { $0.userAgent },
        .integer("birth_cooling_until") { $0.birth.coolingUntil.map(SQLAccountStore.ms) },
    ])
    static var sessionColumns: [String] { sessionTable.names }

    /// Adds a session.
    static let insertSessionSQL = SQLTemplate(sessionTable.insert)

    static func sessionValues(_ session: Session) -> [SQLValue] { sessionTable.values(session) }

    /// Deletes a challenge of `kind` that has not expired; throws ``StoreError/challengeGone`` when none was deleted.
    static func useUp(_ challenge: String, kind: CeremonyKind, now: Date, _ db: any SQLDatabase) async throws {
        try await useUp(challenge, kind: kind, now: now, on: SQLKitRunner(db))
    }

    static func useUp(_ challenge: String, kind: CeremonyKind, now: Date, on runner: some TemplateRunner) async throws {
        guard try await runner.count(useUpSQL, [.text(challenge), .text(kind.rawValue), .integer(ms(now))]) == 1 else {
            throw StoreError.challengeGone
        }
    }

    static let useUpSQL = SQLTemplate("DELETE FROM challenges WHERE challenge = $1 AND kind = $2 AND expires_at > $3 RETURNING challenge")

    /// Whether `error` is the database refusing a duplicate of a unique key: PostgreSQL's SQLSTATE
    /// 23505 (unique_violation), or SQLite's extended result codes for a UNIQUE or PRIMARY KEY
    /// constraint. Read from the error's codes, never from its text. The caller then maps it to a store
    /// error by looking again at what exists.
    static func isUniqueViolation(_ error: any Error) -> Bool {
        switch error {
        case let failure as SQLiteFailure: failure.isUniqueViolation
        case let psql as PSQLError: psql.serverInfo?[.sqlState] == PostgresError.Code.uniqueViolation.raw
        case let sqlite as SQLiteError: sqlite.reason == .constraintUniqueFailed || sqlite.reason == .constraintPrimaryKeyFailed
        default: false
        }
    }

    // MARK: AccountStore

    public func ping() async throws {
        _ = try await backend.read { db in try await db.raw("SELECT 1 AS one").all().count }
    }

    public func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] {
        try await backend.transaction { db in
            try await db.raw("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: Self.data(candidate))) ON CONFLICT (name) DO NOTHING").run()
            guard let row = try await db.raw("SELECT value FROM settings WHERE name = \(bind: name)").first() else { throw StoreError.notFound }
            return Array(try row.decode(column: "value", as: Data.self))
        }
    }

}

/// What an assertion's verification reads: the stored challenge and the credential's passkey and owner.
typealias AssertionContext = (challenge: CeremonyChallenge?, credential: CredentialOwner?)
