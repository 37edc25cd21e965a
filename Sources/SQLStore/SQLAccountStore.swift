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
    package static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    /// A stored value the store cannot read back: refused rather than replaced by a guess.
    static func corrupt(_ column: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [SQLColumnKey(column)], debugDescription: "column \(column) holds a value the store did not write"))
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
            algorithm: Int(try row.integer("algorithm")),
            signCount: UInt32(clamping: try row.integer("sign_count")),
            aaguid: try row.text("aaguid"),
            name: try row.text("name"),
            transports: transports.isEmpty ? [] : transports.split(separator: ",").map(String.init),
            backupEligible: try row.flag("backup_eligible"),
            backedUp: try row.flag("backed_up"),
            uvInitialized: try row.flag("uv_initialized"),
            attestationFormat: try row.text("attestation_format"),
            attestationTrusted: try row.flag("attestation_trusted"),
            createdAt: try row.date("created_at"),
            lastUsedAt: try row.optionalDate("last_used_at"),
            recoveredAt: try row.optionalDate("recovered_at"))
    }

    static func session(_ row: any SQLRow) throws -> Session {
        let row = SQLKitColumns.of(row)
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

    static let eventColumns = ["id", "user_id", "kind", "at", "ip", "user_agent", "detail"]

    /// Adds an event (`$1`...`$7`), due for delivery at once (`next_delivery_at` is its time, `$4`).
    static let insertEventSQL = SQLTemplate(
        "INSERT INTO events (\(eventColumns.joined(separator: ", ")), next_delivery_at) VALUES (\(parameters(eventColumns.count)), $4)")

    /// `count` numbered parameters from `$first`: `$1, $2, ..., $count` by default.
    static func parameters(_ count: Int, from first: Int = 1) -> String {
        (first..<(first + count)).map { "$\($0)" }.joined(separator: ", ")
    }

    static func eventValues(_ event: SecurityEvent) -> [SQLValue] {
        [.text(id(event.id)), .text(id(event.userID)), .text(event.kind.rawValue), .integer(ms(event.at)), .text(event.ip), .text(event.userAgent),
         .text(detailJSON(event))]
    }

    static func insert(_ passkey: Passkey, _ db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO passkeys (credential_id, user_id, public_key, algorithm, sign_count, aaguid, name, transports, backup_eligible,
              backed_up, uv_initialized, attestation_format, attestation_trusted, created_at, last_used_at, recovered_at) VALUES
            (\(bind: data(passkey.credentialID)), \(bind: id(passkey.userID)), \(bind: data(passkey.publicKey)), \(bind: Int64(passkey.algorithm)),
             \(bind: Int64(passkey.signCount)), \(bind: passkey.aaguid), \(bind: passkey.name), \(bind: passkey.transports.joined(separator: ",")),
             \(bind: flag(passkey.backupEligible)), \(bind: flag(passkey.backedUp)), \(bind: flag(passkey.uvInitialized)),
             \(bind: passkey.attestationFormat), \(bind: flag(passkey.attestationTrusted)), \(bind: ms(passkey.createdAt)),
             \(bind: passkey.lastUsedAt.map(ms)), \(bind: passkey.recoveredAt.map(ms)))
            """).run()
    }

    static func insert(_ session: Session, _ db: any SQLDatabase) async throws {
        try await SQLKitRunner(db).count(insertSessionSQL, sessionValues(session))
    }

    /// The columns of `sessions`, in the order of ``sessionValues(_:)``.
    static let sessionColumns = [
        "id", "token_hash", "user_id", "birth_kind", "birth_credential_id", "birth_user_verified", "birth_device_bound",
        "created_at", "last_seen_at", "expires_at", "authenticated_at", "ip", "user_agent", "birth_cooling_until",
    ]

    /// Adds a session (`$1`...`$14`).
    static let insertSessionSQL = SQLTemplate(
        "INSERT INTO sessions (\(sessionColumns.joined(separator: ", "))) VALUES (\(parameters(sessionColumns.count)))")

    static func sessionValues(_ session: Session) -> [SQLValue] {
        [.text(id(session.id)), .blob(session.tokenHash), .text(id(session.userID)), .text(session.birth.kind.rawValue),
         .blob(session.birth.credentialID), .integer(flag(session.birth.userVerified)), .integer(flag(session.birth.deviceBound)),
         .integer(ms(session.createdAt)), .integer(ms(session.lastSeenAt)), .integer(ms(session.expiresAt)), .integer(ms(session.authenticatedAt)),
         .text(session.ip), .text(session.userAgent), .integer(session.birth.coolingUntil.map(ms))]
    }

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

    public func saveChallenge(_ c: CeremonyChallenge) async throws {
        try await backend.saveChallenge(c)
    }

    static func challengeValues(_ c: CeremonyChallenge) -> [SQLValue] {
        [.text(c.challenge), .text(c.kind.rawValue), .text(c.userID.map(id)), .text(c.sessionID.map(id)), .text(c.pendingUser?.username),
         .text(c.pendingUser?.displayName), .blob(c.pendingUser?.handle), .blob(c.pendingUser?.inviteHash), .integer(ms(c.expiresAt))]
    }

    /// The columns of `challenges`, in the order of ``challengeValues(_:)``.
    static let challengeColumns = [
        "challenge", "kind", "user_id", "session_id", "pending_username", "pending_display_name", "pending_handle", "pending_invite_hash", "expires_at",
    ]

    /// Adds a challenge (`$1`...`$9`).
    static let insertChallengeSQL = SQLTemplate(
        "INSERT INTO challenges (\(challengeColumns.joined(separator: ", "))) VALUES (\(parameters(challengeColumns.count)))")

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

    public func user(id: UUID) async throws -> User? {
        try await backend.read { db in try await db.raw("SELECT * FROM users WHERE id = \(bind: Self.id(id))").first().map(Self.user) }
    }

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
            if disabled { try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: Self.id(userID))").run() }
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
            try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: key)").run()
            try await db.raw("DELETE FROM passkeys WHERE user_id = \(bind: key)").run()
            let rows = try await db.raw("DELETE FROM users WHERE id = \(bind: key) RETURNING id").all()
            guard rows.count == 1 else { throw StoreError.notFound }
        }
    }

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
                guard let id = UUID(uuidString: try row.decode(column: "id", as: String.self)) else { throw Self.corrupt("sessions.id") }
                return id
            }
            try await db.raw("DELETE " + born).run()
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

    public func session(tokenHash: [UInt8]) async throws -> Session? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM sessions WHERE token_hash = \(bind: Self.data(tokenHash))").first().map(Self.session)
        }
    }

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

    public func appendEvent(_ event: SecurityEvent) async throws {
        try await backend.write { db in try await Self.insert(event, db) }
    }

    public func events(userID: UUID, limit: Int) async throws -> [SecurityEvent] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM events WHERE user_id = \(bind: Self.id(userID)) ORDER BY at DESC, id LIMIT \(bind: Int64(limit))")
                .all().map(Self.event)
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

    public func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] {
        try await backend.transaction { db in
            try await db.raw("INSERT INTO settings (name, value) VALUES (\(bind: name), \(bind: Self.data(candidate))) ON CONFLICT (name) DO NOTHING").run()
            guard let row = try await db.raw("SELECT value FROM settings WHERE name = \(bind: name)").first() else { throw StoreError.notFound }
            return Array(try row.decode(column: "value", as: Data.self))
        }
    }

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
            approvingCredentialID: try row.decode(column: "approving_credential_id", as: Data?.self).map(Array.init))
    }

    public func createDeviceRequest(_ r: DeviceRequest) async throws {
        do {
            try await backend.write { db in
                try await db.raw("""
                    INSERT INTO device_requests (device_code_hash, user_code, status, created_at, expires_at, interval_seconds, last_polled_at,
                      ip, user_agent, decided_by, approving_credential_id) VALUES
                    (\(bind: Self.data(r.deviceCodeHash)), \(bind: r.userCode), \(bind: r.status.rawValue), \(bind: Self.ms(r.createdAt)),
                     \(bind: Self.ms(r.expiresAt)), \(bind: Int64(r.interval)), \(bind: r.lastPolledAt.map(Self.ms)), \(bind: r.ip),
                     \(bind: r.userAgent), \(bind: r.decidedBy.map(Self.id)), \(bind: r.approvingCredentialID.map(Self.data)))
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

    // MARK: Notification outbox

    public func claimUndeliveredEvents(now: Date, lease: TimeInterval, limit: Int) async throws -> [(event: SecurityEvent, attempts: Int)] {
        try await backend.transaction { db in
            let due = Self.ms(now)
            // The outer conditions are checked again on each row as it is updated, so two nodes never
            // both claim one entry inside a lease.
            return try await db.raw("""
                UPDATE events SET next_delivery_at = \(bind: Self.ms(now.addingTimeInterval(lease)))
                WHERE id IN (SELECT id FROM events WHERE delivered_at IS NULL AND next_delivery_at IS NOT NULL AND next_delivery_at <= \(bind: due)
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

    // MARK: Recovery

    static func recoverySettings(_ row: any SQLRow) throws -> RecoverySettings {
        let addresses = try row.decode(column: "addresses", as: String.self)
        return RecoverySettings(
            userID: try Self.uuid(row, "user_id"),
            threshold: Int(try row.decode(column: "threshold", as: Int64.self)),
            codeHash: try row.decode(column: "code_hash", as: Data?.self).map(Array.init),
            codeCreatedAt: try row.decode(column: "code_created_at", as: Int64?.self).map(date),
            addresses: try Self.stringList(addresses, column: "addresses"),
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
                actorID: actor.isEmpty ? nil : UUID(uuidString: actor),
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
        try await backend.transaction { db in
            guard try await db.raw("SELECT id FROM users WHERE id = \(bind: Self.id(settings.userID))").first() != nil else { throw StoreError.notFound }
            try await db.raw("""
                INSERT INTO recovery_settings (user_id, threshold, code_hash, code_created_at, addresses, blocked_until) VALUES
                (\(bind: Self.id(settings.userID)), \(bind: Int64(settings.threshold)), \(bind: settings.codeHash.map(Self.data)),
                 \(bind: settings.codeCreatedAt.map(Self.ms)), \(bind: addresses), \(bind: settings.blockedUntil.map(Self.ms)))
                ON CONFLICT (user_id) DO UPDATE SET threshold = excluded.threshold, code_hash = excluded.code_hash,
                  code_created_at = excluded.code_created_at, addresses = excluded.addresses, blocked_until = excluded.blocked_until
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
            try await db.raw("""
                UPDATE recovery_cases SET status = 'completed'
                WHERE id = \(bind: Self.id(caseID)) AND user_id = \(bind: Self.id(passkey.userID)) AND status = 'open'
                  AND expires_at > \(bind: Self.ms(now)) RETURNING id
                """).all()
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

/// What an assertion's verification reads: the stored challenge and the credential's passkey and owner.
typealias AssertionContext = (challenge: CeremonyChallenge?, credential: CredentialOwner?)
