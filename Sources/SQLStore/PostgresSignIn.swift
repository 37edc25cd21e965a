import Accounts
import Foundation
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit

// The sign-in path on PostgreSQL as named prepared statements: parsed and planned once per pooled
// connection, then only bound and executed. A complete sign-in is three round trips (store the
// challenge; read challenge, passkey and owner; record the assertion), where the general path
// through sql-kit took ten, each parsed and planned again by the server (see BENCHMARKS.md).

/// Stores a new ceremony challenge.
struct InsertChallengeStatement: PostgresPreparedStatement {
    static let name = "portcullis_insert_challenge_v1"
    static let sql = SQLAccountStore.insertChallengeSQL.text
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .text, .bytea, .bytea, .int8]
    typealias Row = ()

    let challenge: CeremonyChallenge

    func makeBindings() throws -> PostgresBindings { PostgresBindings(SQLAccountStore.challengeValues(challenge)) }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// The challenge an assertion answers and the passkey it names with its owner: always one row, with
/// NULLs for what is not stored (the same query as the general path's).
struct AssertionContextStatement: PostgresPreparedStatement {
    static let name = "portcullis_assertion_context_v1"
    static let sql = SQLAccountStore.assertionContextSQL.text
    static let bindingDataTypes: [PostgresDataType] = [.text, .bytea, .int8]
    typealias Row = (challenge: CeremonyChallenge?, credential: CredentialOwner?)

    let challenge: String
    let credentialID: [UInt8]
    let now: Date

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(SQLAccountStore.assertionContextValues(challenge: challenge, credentialID: credentialID, now: now))
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try SQLAccountStore.assertionContext(row.makeRandomAccess())
    }
}

/// A verified sign-in in one statement: uses up the challenge, moves the counter by compare-and-set,
/// and adds the session and the event, each step only if the one before it changed a row. The answer
/// is 0 when the challenge was not there to use up (nothing changed) and 1 when all is written. A
/// counter that moved meanwhile makes `portcullis_refuse` raise, so the statement, and with it the
/// use of the challenge, is rolled back whole: a refused completion leaves the challenge in place.
///
/// Concurrent completions of one challenge queue on its row; the first deletes it, and the others
/// find nothing to delete, so nothing of theirs is written.
struct RecordSignInStatement: PostgresPreparedStatement {
    static let name = "portcullis_record_sign_in_v1"
    static let sql = """
        WITH used AS (
          DELETE FROM challenges WHERE challenge = $1 AND kind = $2 AND expires_at > $3 RETURNING 1 AS one
        ), counted AS (
          UPDATE passkeys SET sign_count = $6, backed_up = $7, uv_initialized = CASE WHEN uv_initialized = 1 THEN 1 ELSE $8 END,
            last_used_at = $3
          WHERE credential_id = $4 AND sign_count = $5 AND EXISTS (SELECT 1 FROM used) RETURNING 1 AS one
        ), new_session AS (
          INSERT INTO sessions (id, token_hash, user_id, birth_kind, birth_credential_id, birth_user_verified, birth_device_bound,
            created_at, last_seen_at, expires_at, authenticated_at, ip, user_agent, birth_cooling_until)
          SELECT $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22 FROM counted RETURNING 1 AS one
        ), new_event AS (
          INSERT INTO events (id, user_id, kind, at, ip, user_agent, detail, next_delivery_at)
          SELECT $23, $24, $25, $26, $27, $28, $29, $26 FROM counted RETURNING 1 AS one
        )
        SELECT CASE
          WHEN NOT EXISTS (SELECT 1 FROM used) THEN CAST(0 AS BIGINT)
          WHEN EXISTS (SELECT 1 FROM counted) THEN CAST(1 AS BIGINT)
          ELSE portcullis_refuse('the signature counter moved') END AS outcome
        """
    static let bindingDataTypes: [PostgresDataType] = [
        .text, .text, .int8, .bytea, .int8, .int8, .int8, .int8,
        .text, .bytea, .text, .text, .bytea, .int8, .int8, .int8, .int8, .int8, .int8, .text, .text, .int8,
        .text, .text, .text, .int8, .text, .text, .text,
    ]
    typealias Row = Int64

    let challenge: String
    let kind: CeremonyKind
    let now: Date
    let credentialID: [UInt8]
    let expectedSignCount: UInt32
    let newSignCount: UInt32
    let backedUp: Bool
    let uvInitialized: Bool
    let session: Session
    let event: SecurityEvent

    /// `$1`...`$8` for the challenge and the counter, then the session's values (`$9`...`$22`) and the
    /// event's (`$23`...`$29`) in the order of the general path's inserts.
    func makeBindings() throws -> PostgresBindings {
        typealias S = SQLAccountStore
        let head: [SQLValue] = [
            .text(challenge), .text(kind.rawValue), .integer(S.ms(now)), .blob(credentialID), .integer(Int64(expectedSignCount)),
            .integer(Int64(newSignCount)), .integer(S.flag(backedUp)), .integer(S.flag(uvInitialized)),
        ]
        return PostgresBindings(head + S.sessionValues(session) + S.eventValues(event))
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 {
        try row.decode(Int64.self)
    }
}

extension PostgresBindings {
    /// Typed values in order, each NULL with its type.
    init(_ values: [SQLValue]) {
        self.init(capacity: values.count)
        for value in values {
            switch value {
            case .integer(let value): append(value)
            case .text(let value): append(value)
            case .blob(let value): append(value.map { ByteBuffer(bytes: $0) })
            }
        }
    }
}

extension PostgresBackend {
    /// Runs `statement` on a pooled connection and returns its rows.
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row] where Statement.Row: Sendable {
        try await client.withConnection { connection in
            do {
                var rows: [Statement.Row] = []
                for try await row in try await connection.execute(statement, logger: connection.logger) { rows.append(row) }
                return rows
            } catch let error as PSQLError where error.serverInfo?[.sqlState] != Self.refusalState {
                // postgres-nio keeps a failed preparation on its connection for good: every later use
                // of the statement there would fail the same way. The pool replaces a closed connection.
                try? await connection.close()
                throw error
            }
        }
    }

    func saveChallenge(_ challenge: CeremonyChallenge) async throws {
        _ = try await rows(InsertChallengeStatement(challenge: challenge))
    }

    func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws
        -> (challenge: CeremonyChallenge?, credential: CredentialOwner?)
    {
        guard let row = try await rows(AssertionContextStatement(challenge: challenge, credentialID: credentialID, now: now)).first else {
            return (nil, nil)
        }
        return row
    }

    /// Records a sign-in (``RecordSignInStatement``). Throws ``StoreError/challengeGone`` or ``StoreError/conflict``.
    func recordSignIn(_ statement: RecordSignInStatement) async throws {
        let outcome: [Int64]
        do {
            outcome = try await rows(statement)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == Self.refusalState {
            throw StoreError.conflict
        }
        guard outcome == [1] else { throw StoreError.challengeGone }
    }

    /// The SQLSTATE `portcullis_refuse` raises.
    static let refusalState = "PC409"
}
