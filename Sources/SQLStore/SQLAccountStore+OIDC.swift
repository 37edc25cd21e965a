import Accounts
import Foundation
import OIDC
import SQLKit
import Synchronization
import WebAuthn

/// The OpenID Connect provider's store: clients, signing keys and artifacts.
extension SQLAccountStore: OIDCStore {
    /// A client's registration, stored as one JSON document beside its ID and secret hash.
    struct ClientSettings: Codable {
        var name: String
        var redirectURIs: [String]
        var postLogoutRedirectURIs: [String]
        var backchannelLogoutURI: String?
        var thirdParty: Bool
        var deviceGrant: Bool
        var requirePAR: Bool
        var requireDPoP: Bool
        var requireDeviceBound: Bool
        var maxAuthAge: Int?
        var idTokenAlgorithm: String
        var pairwise: Bool
        var scopes: [String]
    }

    static func client(_ row: any SQLRow) throws -> OIDCClient { try client(SQLKitColumns.of(row)) }

    static func client(_ row: some ColumnReader) throws -> OIDCClient {
        let (settings, algorithm) = try clientSettings(row.text("settings"))
        return OIDCClient(
            id: try row.text("id"), name: settings.name, secretHash: try row.optionalBytes("secret_hash"), redirectURIs: settings.redirectURIs,
            postLogoutRedirectURIs: settings.postLogoutRedirectURIs, backchannelLogoutURI: settings.backchannelLogoutURI,
            thirdParty: settings.thirdParty, deviceGrant: settings.deviceGrant, requirePAR: settings.requirePAR, requireDPoP: settings.requireDPoP,
            requireDeviceBound: settings.requireDeviceBound, maxAuthAge: settings.maxAuthAge, idTokenAlgorithm: algorithm,
            pairwise: settings.pairwise, scopes: settings.scopes, createdAt: try row.date("created_at"))
    }

    /// Settings already decoded, by their stored text. A client is read on every authorization request
    /// and token exchange, and decoding its JSON cost more than reading its row; the row is still read
    /// each time, so a changed or deleted client is seen at once. Emptied when it passes 64 entries.
    private static let decodedSettings = Mutex<[String: (ClientSettings, SigningAlgorithm)]>([:])

    /// The settings stored as `text`, strictly parsed; a corrupt row is refused.
    static func clientSettings(_ text: String) throws -> (ClientSettings, SigningAlgorithm) {
        if let known = decodedSettings.withLock({ $0[text] }) { return known }
        guard let json = try? StrictJSON.parse(Array(text.utf8)), let settings = try? JSONValueDecoder().decode(ClientSettings.self, from: json),
              let algorithm = SigningAlgorithm(rawValue: settings.idTokenAlgorithm)
        else { throw corrupt("oidc_clients.settings") }
        decodedSettings.withLock { cache in
            if cache.count >= 64 { cache.removeAll() }
            cache[text] = (settings, algorithm)
        }
        return (settings, algorithm)
    }

    public func saveClient(_ client: OIDCClient) async throws {
        let settings = ClientSettings(
            name: client.name, redirectURIs: client.redirectURIs, postLogoutRedirectURIs: client.postLogoutRedirectURIs,
            backchannelLogoutURI: client.backchannelLogoutURI, thirdParty: client.thirdParty, deviceGrant: client.deviceGrant,
            requirePAR: client.requirePAR, requireDPoP: client.requireDPoP, requireDeviceBound: client.requireDeviceBound,
            maxAuthAge: client.maxAuthAge, idTokenAlgorithm: client.idTokenAlgorithm.rawValue, pairwise: client.pairwise, scopes: client.scopes)
        let text = StrictJSON.serialize(try JSONValueEncoder().encode(settings))
        do {
            try await backend.transaction { db in
                try await db.raw("""
                    INSERT INTO oidc_clients (id, secret_hash, settings, created_at) VALUES
                    (\(bind: client.id), \(bind: client.secretHash.map(Self.data)), \(bind: text), \(bind: Self.ms(client.createdAt)))
                    """).run()
            }
        } catch let error where Self.isUniqueViolation(error) {
            throw OIDCStoreError.conflict
        }
    }

    public func updateClientSecret(id: String, secretHash: [UInt8]) async throws {
        try await backend.transaction { db in
            let rows = try await db.raw("UPDATE oidc_clients SET secret_hash = \(bind: Self.data(secretHash)) WHERE id = \(bind: id) RETURNING id").all()
            guard rows.count == 1 else { throw OIDCStoreError.notFound }
        }
    }

    public func client(id: String) async throws -> OIDCClient? {
        try await backend.readRows(Self.clientByIDSQL, [.text(id)]) { try Self.client($0) }.first
    }

    static let clientByIDSQL = SQLTemplate("SELECT * FROM oidc_clients WHERE id = $1")

    public func clients() async throws -> [OIDCClient] {
        try await backend.read { db in try await db.raw("SELECT * FROM oidc_clients ORDER BY created_at, id").all().map(Self.client) }
    }

    public func deleteClient(id: String) async throws {
        try await backend.transaction { db in
            try await db.raw("DELETE FROM oidc_artifacts WHERE client_id = \(bind: id)").run()
            let rows = try await db.raw("DELETE FROM oidc_clients WHERE id = \(bind: id) RETURNING id").all()
            guard rows.count == 1 else { throw OIDCStoreError.notFound }
        }
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM oidc_keys ORDER BY created_at, kid").all().map { row in
                guard let algorithm = SigningAlgorithm(rawValue: try row.decode(column: "algorithm", as: String.self)) else {
                    throw Self.corrupt("oidc_keys.algorithm")
                }
                return StoredSigningKey(
                    kid: try row.decode(column: "kid", as: String.self), algorithm: algorithm,
                    privateKey: Array(try row.decode(column: "private_key", as: Data.self)),
                    encrypted: try row.decode(column: "encrypted", as: Int64.self) != 0,
                    createdAt: Self.date(try row.decode(column: "created_at", as: Int64.self)),
                    retiredAt: try row.decode(column: "retired_at", as: Int64?.self).map(Self.date))
            }
        }
    }

    public func addSigningKeys(_ keys: [StoredSigningKey], now: Date) async throws {
        try await backend.transaction { db in
            for algorithm in Set(keys.map(\.algorithm.rawValue)) {
                try await db.raw("UPDATE oidc_keys SET retired_at = \(bind: Self.ms(now)) WHERE algorithm = \(bind: algorithm) AND retired_at IS NULL").run()
            }
            for key in keys {
                try await db.raw("""
                    INSERT INTO oidc_keys (kid, algorithm, private_key, encrypted, created_at, retired_at) VALUES
                    (\(bind: key.kid), \(bind: key.algorithm.rawValue), \(bind: Self.data(key.privateKey)), \(bind: Self.flag(key.encrypted)),
                     \(bind: Self.ms(key.createdAt)), \(bind: key.retiredAt.map(Self.ms)))
                    """).run()
            }
        }
    }

    public func sealSigningKey(kid: String, sealed: [UInt8]) async throws {
        try await backend.transaction { db in
            try await db.raw("""
                UPDATE oidc_keys SET private_key = \(bind: Self.data(sealed)), encrypted = 1 WHERE kid = \(bind: kid) AND encrypted = 0
                """).run()
        }
    }

    // MARK: Artifacts

    static func artifact(_ row: any SQLRow) throws -> OIDCArtifact { try artifact(SQLKitColumns.of(row)) }

    static func artifact(_ row: some ColumnReader) throws -> OIDCArtifact {
        guard let kind = OIDCArtifact.Kind(rawValue: try row.text("kind")) else { throw corrupt("oidc_artifacts.kind") }
        return OIDCArtifact(
            kind: kind, key: try row.bytes("handle_hash"), clientID: try row.text("client_id"),
            userID: try row.optionalUUID("user_id") ?? row.optionalUUID("owner_id"),
            sessionID: try row.optionalUUID("session_id"), grantID: try row.optionalUUID("grant_id"), payload: try row.bytes("payload"),
            createdAt: try row.date("created_at"), expiresAt: try row.date("expires_at"), consumedAt: try row.optionalDate("consumed_at"),
            revoked: try row.flag("revoked"))
    }

    /// The columns of `oidc_artifacts` and their values. A code's account goes to `owner_id`, outside
    /// the index by account (migration 15): codes are found through their session.
    static let artifactTable = ColumnTable<OIDCArtifact>("oidc_artifacts", [
        .text("kind") { $0.kind.rawValue },
        .blob("handle_hash") { $0.key },
        .text("client_id") { $0.clientID },
        .text("user_id") { $0.kind == .code ? nil : $0.userID.map(SQLAccountStore.id) },
        .text("owner_id") { $0.kind == .code ? $0.userID.map(SQLAccountStore.id) : nil },
        .text("session_id") { $0.sessionID.map(SQLAccountStore.id) },
        .text("grant_id") { $0.grantID.map(SQLAccountStore.id) },
        .blob("payload") { $0.payload },
        .integer("created_at") { SQLAccountStore.ms($0.createdAt) },
        .integer("expires_at") { SQLAccountStore.ms($0.expiresAt) },
        .integer("consumed_at") { $0.consumedAt.map(SQLAccountStore.ms) },
        .integer("revoked") { SQLAccountStore.flag($0.revoked) },
    ])

    // An exchange reads a code, uses it up and stores a refresh token; a sign-in through the provider
    // writes three artifacts.
    // These run as templates, which SQLite runs without sql-kit.

    /// Stores an artifact, or replaces the one with its kind and key (a consent given again).
    static let saveArtifactSQL = SQLTemplate(artifactTable.insert + """
         ON CONFLICT (kind, handle_hash) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at,
          created_at = excluded.created_at, consumed_at = excluded.consumed_at, revoked = excluded.revoked, grant_id = excluded.grant_id
        """)
    static let artifactSQL = SQLTemplate("SELECT * FROM oidc_artifacts WHERE kind = $1 AND handle_hash = $2")
    /// Uses up an artifact that is unused, unrevoked and unexpired at `$1`.
    static let consumeArtifactSQL = SQLTemplate("""
        UPDATE oidc_artifacts SET consumed_at = $1
        WHERE kind = $2 AND handle_hash = $3 AND consumed_at IS NULL AND revoked = 0 AND expires_at > $1
        RETURNING kind
        """)
    static let updateArtifactSQL = SQLTemplate("""
        UPDATE oidc_artifacts SET payload = $1, expires_at = $2
        WHERE kind = $3 AND handle_hash = $4 AND consumed_at IS NULL AND revoked = 0
        RETURNING kind
        """)

    static func save(_ artifacts: [OIDCArtifact], on runner: any TemplateRunner) async throws {
        for artifact in artifacts { try await runner.count(saveArtifactSQL, artifactTable.values(artifact)) }
    }

    public func saveArtifacts(_ artifacts: [OIDCArtifact]) async throws {
        if artifacts.count == 1 {
            _ = try await backend.runWrite(Self.saveArtifactSQL, Self.artifactTable.values(artifacts[0]))
        } else {
            try await backend.runStatements { runner in try await Self.save(artifacts, on: runner) }
        }
    }

    public func artifact(kind: OIDCArtifact.Kind, key: [UInt8]) async throws -> OIDCArtifact? {
        try await backend.readRows(Self.artifactSQL, [.text(kind.rawValue), .blob(key)]) { try Self.artifact($0) }.first
    }

    public func consumeArtifact(kind: OIDCArtifact.Kind, key: [UInt8], now: Date, replacements: [OIDCArtifact]) async throws -> Bool {
        try await backend.runStatements { runner in
            guard try await runner.count(Self.consumeArtifactSQL, [.integer(Self.ms(now)), .text(kind.rawValue), .blob(key)]) == 1 else { return false }
            try await Self.save(replacements, on: runner)
            return true
        }
    }

    public func updateArtifact(kind: OIDCArtifact.Kind, key: [UInt8], payload: [UInt8], expiresAt: Date) async throws -> Bool {
        try await backend.runWrite(Self.updateArtifactSQL, [.blob(payload), .integer(Self.ms(expiresAt)), .text(kind.rawValue), .blob(key)]) == 1
    }

    public func deleteArtifact(kind: OIDCArtifact.Kind, key: [UInt8]) async throws {
        try await backend.transaction { db in
            try await db.raw("DELETE FROM oidc_artifacts WHERE kind = \(bind: kind.rawValue) AND handle_hash = \(bind: Self.data(key))").run()
        }
    }

    public func revokeGrant(_ grantID: UUID) async throws -> Int {
        try await backend.transaction { db in
            try await db.raw("UPDATE oidc_artifacts SET revoked = 1 WHERE grant_id = \(bind: Self.id(grantID)) AND revoked = 0 RETURNING kind").all().count
        }
    }

    public func revokeSessions(_ sessionIDs: [UUID]) async throws -> Int {
        try await backend.transaction { db in
            var count = 0
            for id in sessionIDs {
                count += try await db.raw("UPDATE oidc_artifacts SET revoked = 1 WHERE session_id = \(bind: Self.id(id)) AND revoked = 0 RETURNING kind")
                    .all().count
            }
            return count
        }
    }

    /// Runs `statement` once for each of the user's sessions, given the SQL condition that an artifact
    /// is one of the user's codes from that session, and returns the rows of all the runs. A code's
    /// account is outside the index by account (migration 15): codes are found through their session,
    /// by an equality that both databases read through the session's index. A code whose session has
    /// ended is no longer found, and no longer matters: its exchange reads the session and gets nothing.
    static func codeRows(of userID: UUID, _ db: any SQLDatabase, _ statement: (SQLQueryString) -> SQLQueryString) async throws -> [any SQLRow] {
        var rows: [any SQLRow] = []
        for session in try await db.raw("SELECT id FROM sessions WHERE user_id = \(bind: id(userID))").all() {
            let ofSession = try session.decode(column: "id", as: String.self)
            rows += try await db.raw(statement("session_id = \(bind: ofSession) AND kind = 'code' AND owner_id = \(bind: id(userID))")).all()
        }
        return rows
    }

    public func revokeClientAccess(userID: UUID, clientID: String) async throws -> Int {
        try await backend.transaction { db in
            try await db.raw("""
                DELETE FROM oidc_artifacts WHERE kind = 'consent' AND user_id = \(bind: Self.id(userID)) AND client_id = \(bind: clientID)
                """).run()
            let tokens = try await db.raw("""
                UPDATE oidc_artifacts SET revoked = 1 WHERE user_id = \(bind: Self.id(userID)) AND client_id = \(bind: clientID) AND revoked = 0
                RETURNING kind
                """).all().count
            let codes = try await Self.codeRows(of: userID, db) {
                "UPDATE oidc_artifacts SET revoked = 1 WHERE \($0) AND client_id = \(bind: clientID) AND revoked = 0 RETURNING kind"
            }
            return tokens + codes.count
        }
    }

    public func artifacts(kind: OIDCArtifact.Kind, userID: UUID) async throws -> [OIDCArtifact] {
        try await backend.read { db in
            guard kind == .code else {
                return try await db.raw("""
                    SELECT * FROM oidc_artifacts WHERE user_id = \(bind: Self.id(userID)) AND kind = \(bind: kind.rawValue) AND revoked = 0
                    ORDER BY created_at
                    """).all().map(Self.artifact)
            }
            return try await Self.codeRows(of: userID, db) { "SELECT * FROM oidc_artifacts WHERE \($0) AND revoked = 0" }
                .map(Self.artifact).sorted { $0.createdAt < $1.createdAt }
        }
    }

    public func clientIDs(userID: UUID, sessionID: UUID?) async throws -> [String] {
        try await backend.read { db in
            let rows: [any SQLRow]
            if let sessionID {
                rows = try await db.raw("""
                    SELECT DISTINCT client_id FROM oidc_artifacts WHERE session_id = \(bind: Self.id(sessionID))
                      AND (user_id = \(bind: Self.id(userID)) OR owner_id = \(bind: Self.id(userID))) AND kind IN ('code', 'access', 'refresh')
                    """).all()
            } else {
                rows = try await db.raw("""
                    SELECT DISTINCT client_id FROM oidc_artifacts WHERE user_id = \(bind: Self.id(userID)) AND kind IN ('access', 'refresh')
                    """).all() + Self.codeRows(of: userID, db) { "SELECT DISTINCT client_id FROM oidc_artifacts WHERE \($0)" }
            }
            return Set(try rows.map { try $0.decode(column: "client_id", as: String.self) }).sorted()
        }
    }

    public func sweepExpiredArtifacts(now: Date) async throws -> Int {
        try await backend.transaction { db in
            try await db.raw("DELETE FROM oidc_artifacts WHERE expires_at <= \(bind: Self.ms(now)) RETURNING kind").all().count
        }
    }
}
