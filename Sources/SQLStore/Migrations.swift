import SQLKit

/// Versioned schema migrations. Each version runs once, in its own transaction, recorded in
/// `schema_migrations`. Never edit a released migration: add the next version.
enum Migrations {
    static func all(binary: String, sqlite: Bool) -> [(version: Int64, statements: [String])] {
        [
            (1, [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
                    handle \(binary) NOT NULL UNIQUE, created_at BIGINT NOT NULL, disabled BIGINT NOT NULL DEFAULT 0)
                """,
                """
                CREATE TABLE passkeys (
                    credential_id \(binary) PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    public_key \(binary) NOT NULL, algorithm BIGINT NOT NULL, sign_count BIGINT NOT NULL, aaguid TEXT NOT NULL,
                    name TEXT NOT NULL, transports TEXT NOT NULL, backup_eligible BIGINT NOT NULL, backed_up BIGINT NOT NULL,
                    uv_initialized BIGINT NOT NULL, attestation_format TEXT NOT NULL, attestation_trusted BIGINT NOT NULL,
                    created_at BIGINT NOT NULL, last_used_at BIGINT)
                """,
                "CREATE INDEX passkeys_user ON passkeys (user_id)",
                """
                CREATE TABLE challenges (
                    challenge TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT, session_id TEXT,
                    pending_username TEXT, pending_display_name TEXT, pending_handle \(binary), pending_invite_hash \(binary),
                    expires_at BIGINT NOT NULL)
                """,
                "CREATE INDEX challenges_expiry ON challenges (expires_at)",
                """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY, token_hash \(binary) NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    birth_kind TEXT NOT NULL, birth_credential_id \(binary) NOT NULL, birth_user_verified BIGINT NOT NULL,
                    birth_device_bound BIGINT NOT NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL, authenticated_at BIGINT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL)
                """,
                "CREATE INDEX sessions_user ON sessions (user_id)",
                """
                CREATE TABLE events (
                    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, kind TEXT NOT NULL,
                    at BIGINT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL, detail TEXT NOT NULL)
                """,
                "CREATE INDEX events_user_time ON events (user_id, at)",
                "CREATE TABLE settings (name TEXT PRIMARY KEY, value \(binary) NOT NULL)",
                """
                CREATE TABLE invites (
                    code_hash \(binary) PRIMARY KEY, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT)
                """,
            ]),
            (2, [
                """
                CREATE TABLE device_requests (
                    device_code_hash \(binary) PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, interval_seconds BIGINT NOT NULL, last_polled_at BIGINT,
                    ip TEXT NOT NULL, user_agent TEXT NOT NULL, decided_by TEXT, approving_credential_id \(binary))
                """,
                "CREATE INDEX device_requests_expiry ON device_requests (expires_at)",
            ]),
            (3, [
                """
                CREATE TABLE enrolments (
                    id TEXT PRIMARY KEY, token_hash \(binary) NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    status TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, confirmation_code TEXT,
                    browser_secret_hash \(binary), opened_ip TEXT, opened_user_agent TEXT)
                """,
            ]),
            (4, [
                // Events are the notification outbox: written in the action's own transaction.
                "ALTER TABLE events ADD COLUMN delivery_attempts BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE events ADD COLUMN next_delivery_at BIGINT",
                "ALTER TABLE events ADD COLUMN delivered_at BIGINT",
                "CREATE INDEX events_delivery ON events (next_delivery_at)",
            ]),
            (5, [
                // Recovery, admins, and the cooling period of recovered passkeys and their sessions.
                "ALTER TABLE users ADD COLUMN is_admin BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE passkeys ADD COLUMN recovered_at BIGINT",
                "ALTER TABLE sessions ADD COLUMN birth_cooling_until BIGINT",
                """
                CREATE TABLE recovery_settings (
                    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE, threshold BIGINT NOT NULL, code_hash \(binary),
                    code_created_at BIGINT, addresses TEXT NOT NULL, blocked_until BIGINT)
                """,
                """
                CREATE TABLE recovery_contacts (
                    id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    contact_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, accepted BIGINT NOT NULL, created_at BIGINT NOT NULL,
                    UNIQUE (owner_id, contact_id))
                """,
                "CREATE INDEX recovery_contacts_contact ON recovery_contacts (contact_id)",
                """
                CREATE TABLE recovery_cases (
                    id TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id) ON DELETE CASCADE, secret_hash \(binary) NOT NULL,
                    comparison_code TEXT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                    ip TEXT NOT NULL, user_agent TEXT NOT NULL, code_attempts BIGINT NOT NULL DEFAULT 0)
                """,
                "CREATE INDEX recovery_cases_user ON recovery_cases (user_id, created_at)",
                // One proof per (case, kind, actor): a replayed approval is refused by the key itself.
                """
                CREATE TABLE recovery_proofs (
                    case_id TEXT NOT NULL REFERENCES recovery_cases(id) ON DELETE CASCADE, kind TEXT NOT NULL, actor_id TEXT NOT NULL,
                    via TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (case_id, kind, actor_id))
                """,
            ]),
            // SQLite only: the tables every sign-in writes become clustered on their key (WITHOUT
            // ROWID), so a row is one b-tree entry instead of a rowid row plus a key index. A sign-in
            // then changes four fewer pages. PostgreSQL tables are heaps with indexes either way.
            (6, sqlite ? Self.clusteredTables : []),
            // PostgreSQL only: what a one-statement write calls to refuse itself whole (see
            // RecordSignInStatement): an error with its own SQLSTATE rolls the statement back.
            (7, sqlite ? [] : [
                """
                CREATE OR REPLACE FUNCTION portcullis_refuse(reason TEXT) RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
                BEGIN
                  RAISE EXCEPTION USING ERRCODE = 'PC409', MESSAGE = reason;
                END
                $$
                """,
            ]),
            // The OpenID Connect provider: clients, signing keys, and what it issues (codes, tokens,
            // consents, waiting and pushed requests), stored by the SHA-256 of their handles.
            (8, [
                """
                CREATE TABLE oidc_clients (
                    id TEXT PRIMARY KEY, secret_hash \(binary), settings TEXT NOT NULL, created_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE oidc_keys (
                    kid TEXT PRIMARY KEY, algorithm TEXT NOT NULL, private_key \(binary) NOT NULL, encrypted BIGINT NOT NULL,
                    created_at BIGINT NOT NULL, retired_at BIGINT)
                """,
                """
                CREATE TABLE oidc_artifacts (
                    kind TEXT NOT NULL, handle_hash \(binary) NOT NULL, client_id TEXT NOT NULL,
                    user_id TEXT REFERENCES users(id) ON DELETE CASCADE, session_id TEXT, grant_id TEXT, payload \(binary) NOT NULL,
                    created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, consumed_at BIGINT, revoked BIGINT NOT NULL DEFAULT 0,
                    PRIMARY KEY (kind, handle_hash))
                """,
                "CREATE INDEX oidc_artifacts_grant ON oidc_artifacts (grant_id)",
                "CREATE INDEX oidc_artifacts_session ON oidc_artifacts (session_id)",
                "CREATE INDEX oidc_artifacts_user ON oidc_artifacts (user_id, kind)",
                "CREATE INDEX oidc_artifacts_client ON oidc_artifacts (client_id)",
                "CREATE INDEX oidc_artifacts_expiry ON oidc_artifacts (expires_at)",
            ]),
            // A dispatcher whose channels take some kinds only (back-channel logout alone) claims them
            // through this index instead of scanning every undelivered sign-in event.
            (9, ["CREATE INDEX events_kind_delivery ON events (kind, next_delivery_at)"]),
            // Waiting and pushed requests have no user, session or grant: partial indexes leave them
            // out, so storing one writes three index pages fewer. (A lookup `col = value` implies
            // `col IS NOT NULL`, so both databases still use these indexes.)
            (10, [
                "DROP INDEX oidc_artifacts_grant", "DROP INDEX oidc_artifacts_session", "DROP INDEX oidc_artifacts_user",
                "CREATE INDEX oidc_artifacts_grant ON oidc_artifacts (grant_id) WHERE grant_id IS NOT NULL",
                "CREATE INDEX oidc_artifacts_session ON oidc_artifacts (session_id) WHERE session_id IS NOT NULL",
                "CREATE INDEX oidc_artifacts_user ON oidc_artifacts (user_id, kind) WHERE user_id IS NOT NULL",
            ]),
            (11, [
                // A device request may name its account (pushed to its sessions, number matching).
                "ALTER TABLE device_requests ADD COLUMN target_user_id TEXT REFERENCES users(id) ON DELETE CASCADE",
                "ALTER TABLE device_requests ADD COLUMN match_number BIGINT NOT NULL DEFAULT 0",
                "CREATE INDEX device_requests_target ON device_requests (target_user_id, created_at) WHERE target_user_id IS NOT NULL",
            ]),
            (12, [
                // Notification addresses are verified by a link sent to them; those set before
                // verification existed were accepted by their owner then and stay verified.
                "ALTER TABLE recovery_settings ADD COLUMN verified_addresses TEXT NOT NULL DEFAULT '[]'",
                "UPDATE recovery_settings SET verified_addresses = addresses",
            ]),
            // Rate-limit counts that every node of a PostgreSQL deployment shares (one server on
            // SQLite counts in memory). The key is a hash of the limiter's name and its key (an
            // address, an account), never the key itself. UNLOGGED: counts are not worth a WAL record
            // and a flush per request (a commit that wrote no WAL does not wait for one); after a
            // crash they start at zero.
            (13, sqlite ? [] : [
                "CREATE UNLOGGED TABLE rate_counts (key_hash \(binary) PRIMARY KEY, window_start BIGINT NOT NULL, window_end BIGINT NOT NULL, hits BIGINT NOT NULL)",
                "CREATE INDEX rate_counts_end ON rate_counts (window_end)",
            ]),
            // Events older than the retention period are deleted, oldest first (`events.retention`).
            (14, ["CREATE INDEX events_time ON events (at)"]),
            // A code's account is kept in `owner_id`, which no index holds, and its `user_id` is NULL,
            // so that the partial index on (user_id, kind) leaves codes out. An entry there lands on a
            // page of its own account's, a different page for nearly every sign-in; in a sign-in's
            // writes such pages were over half of what the write-ahead log takes. A code lives a minute
            // and belongs to a session: it is found by its session, not by its account.
            (15, ["ALTER TABLE oidc_artifacts ADD COLUMN owner_id TEXT"]),
        ]
    }

    /// Rebuilds `challenges`, `passkeys`, `sessions` and `events` as WITHOUT ROWID tables with the same
    /// columns, constraints and indexes, keeping every row.
    static var clusteredTables: [String] {
        let tables: [(name: String, columns: String, definition: String, indexes: [String])] = [
            ("challenges",
             "challenge, kind, user_id, session_id, pending_username, pending_display_name, pending_handle, pending_invite_hash, expires_at",
             """
             challenge TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT, session_id TEXT,
             pending_username TEXT, pending_display_name TEXT, pending_handle BLOB, pending_invite_hash BLOB,
             expires_at BIGINT NOT NULL
             """,
             ["CREATE INDEX challenges_expiry ON challenges (expires_at)"]),
            ("passkeys",
             """
             credential_id, user_id, public_key, algorithm, sign_count, aaguid, name, transports, backup_eligible, backed_up,
             uv_initialized, attestation_format, attestation_trusted, created_at, last_used_at, recovered_at
             """,
             """
             credential_id BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
             public_key BLOB NOT NULL, algorithm BIGINT NOT NULL, sign_count BIGINT NOT NULL, aaguid TEXT NOT NULL,
             name TEXT NOT NULL, transports TEXT NOT NULL, backup_eligible BIGINT NOT NULL, backed_up BIGINT NOT NULL,
             uv_initialized BIGINT NOT NULL, attestation_format TEXT NOT NULL, attestation_trusted BIGINT NOT NULL,
             created_at BIGINT NOT NULL, last_used_at BIGINT, recovered_at BIGINT
             """,
             ["CREATE INDEX passkeys_user ON passkeys (user_id)"]),
            ("sessions",
             """
             id, token_hash, user_id, birth_kind, birth_credential_id, birth_user_verified, birth_device_bound, created_at,
             last_seen_at, expires_at, authenticated_at, ip, user_agent, birth_cooling_until
             """,
             """
             id TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
             birth_kind TEXT NOT NULL, birth_credential_id BLOB NOT NULL, birth_user_verified BIGINT NOT NULL,
             birth_device_bound BIGINT NOT NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL,
             expires_at BIGINT NOT NULL, authenticated_at BIGINT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL,
             birth_cooling_until BIGINT
             """,
             ["CREATE INDEX sessions_user ON sessions (user_id)"]),
            ("events",
             "id, user_id, kind, at, ip, user_agent, detail, delivery_attempts, next_delivery_at, delivered_at",
             """
             id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, kind TEXT NOT NULL,
             at BIGINT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL, detail TEXT NOT NULL,
             delivery_attempts BIGINT NOT NULL DEFAULT 0, next_delivery_at BIGINT, delivered_at BIGINT
             """,
             ["CREATE INDEX events_user_time ON events (user_id, at)", "CREATE INDEX events_delivery ON events (next_delivery_at)"]),
        ]
        return tables.flatMap { table in
            [
                "CREATE TABLE \(table.name)_clustered (\(table.definition)) WITHOUT ROWID",
                "INSERT INTO \(table.name)_clustered (\(table.columns)) SELECT \(table.columns) FROM \(table.name)",
                "DROP TABLE \(table.name)",
                "ALTER TABLE \(table.name)_clustered RENAME TO \(table.name)",
            ] + table.indexes
        }
    }
}
