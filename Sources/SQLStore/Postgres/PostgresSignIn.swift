import Accounts
import Foundation
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit

// The sign-in path on PostgreSQL as named prepared statements: parsed and planned once per pooled
// connection, then only bound and executed. A complete sign-in is three statements (store the
// challenge; read challenge, passkey and owner; record the assertion), where the general path
// through sql-kit took ten, each parsed and planned again by the server (see BENCHMARKS.md).
// Concurrent sign-ins share them: each kind runs one batch at a time (``Batcher``), its values bound
// as arrays that the statement unnests, so under load one round trip, plan start and commit serve
// several sign-ins.

/// Stores new ceremony challenges, one per element of its column arrays (a batch from
/// ``PostgresBackend/saveChallenge(_:)``).
struct InsertChallengesStatement: PostgresPreparedStatement {
    static let name = "portcullis_insert_challenges_v1"
    static let elementTypes = SQLAccountStore.challengeTable.types.map(PostgresArrayElement.init)
    static let sql = """
        INSERT INTO challenges (\(SQLAccountStore.challengeColumns.joined(separator: ", ")))
        SELECT * FROM unnest(\(arrayParameters(elementTypes)))
        """
    static let bindingDataTypes = arrayTypes(elementTypes)
    typealias Row = ()

    let challenges: [CeremonyChallenge]

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(rows: challenges.map(SQLAccountStore.challengeValues), elementTypes: Self.elementTypes)
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// For each (challenge, credential ID, time) of its column arrays, the challenge an assertion answers
/// and the passkey it names with its owner: one row each, numbered from 1 in `batch_index`, with
/// NULLs for what is not stored (the general path's query, once per element).
struct AssertionContextsStatement: PostgresPreparedStatement {
    static let name = "portcullis_assertion_contexts_v1"
    static let elementTypes: [PostgresArrayElement] = [.text, .bytea, .int8]
    static let sql = SQLAccountStore.assertionContextQuery(
        leading: "k.batch_index, ",
        from: "unnest(\(arrayParameters(elementTypes))) WITH ORDINALITY AS k(challenge, credential_id, now_ms, batch_index)",
        challenge: "k.challenge", credentialID: "k.credential_id", now: "k.now_ms")
    static let bindingDataTypes = arrayTypes(elementTypes)
    typealias Row = (index: Int64, answer: AssertionContext)

    let requests: [AssertionContextRequest]

    func makeBindings() throws -> PostgresBindings {
        let rows = requests.map { SQLAccountStore.assertionContextValues(challenge: $0.challenge, credentialID: $0.credentialID, now: $0.now) }
        return PostgresBindings(rows: rows, elementTypes: Self.elementTypes)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let columns = row.makeRandomAccess()
        return (try columns["batch_index"].decode(Int64.self), try SQLAccountStore.assertionContext(columns))
    }
}

/// What became of one sign-in in a batch.
enum SignInOutcome: Sendable {
    case recorded
    /// Not recorded: the challenge was used up, expired or never stored.
    case challengeGone
    /// Not recorded: the passkey's counter moved since the assertion was checked.
    case counterMoved
    /// Not recorded: the database failed this sign-in alone.
    case failed(any Error)
}

/// One sign-in's question to ``AssertionContextsStatement``.
struct AssertionContextRequest: Sendable {
    let challenge: String
    let credentialID: [UInt8]
    let now: Date
}

/// `$1::text[], $2::bytea[], ...` for parameters holding arrays of `elements`.
private func arrayParameters(_ elements: [PostgresArrayElement]) -> String {
    elements.enumerated().map { index, element in "$\(index + 1)::\(element.sqlName)[]" }.joined(separator: ", ")
}

/// The array type of each element type.
private func arrayTypes(_ elements: [PostgresArrayElement]) -> [PostgresDataType] {
    elements.map(\.arrayType)
}

/// The element types of batched parameters, one per ``SQLValue`` case.
enum PostgresArrayElement: Sendable {
    case text, bytea, int8

    init(_ type: SQLColumnType) {
        switch type {
        case .text: self = .text
        case .blob: self = .bytea
        case .integer: self = .int8
        }
    }

    var type: PostgresDataType {
        switch self {
        case .text: .text
        case .bytea: .bytea
        case .int8: .int8
        }
    }

    var arrayType: PostgresDataType {
        switch self {
        case .text: .textArray
        case .bytea: .byteaArray
        case .int8: .int8Array
        }
    }

    var sqlName: String {
        switch self {
        case .text: "text"
        case .bytea: "bytea"
        case .int8: "int8"
        }
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
    /// `$1`...`$8` are the challenge and the counter (named in the statement); the session's values
    /// follow, then the event's, each numbered from its column table.
    static let sessionFirst = 9
    static let eventFirst = sessionFirst + SQLAccountStore.sessionTable.columns.count
    static let sql = """
        WITH used AS (
          DELETE FROM challenges WHERE challenge = $1 AND kind = $2 AND expires_at > $3 RETURNING 1 AS one
        ), counted AS (
          UPDATE passkeys SET sign_count = $6, backed_up = $7, uv_initialized = CASE WHEN uv_initialized = 1 THEN 1 ELSE $8 END,
            last_used_at = $3
          WHERE credential_id = $4 AND sign_count = $5 AND EXISTS (SELECT 1 FROM used) RETURNING 1 AS one
        ), new_session AS (
          INSERT INTO sessions (\(SQLAccountStore.sessionColumns.joined(separator: ", ")))
          SELECT \(SQLAccountStore.sessionTable.parameters(from: sessionFirst)) FROM counted RETURNING 1 AS one
        ), new_event AS (
          INSERT INTO events (\(SQLAccountStore.eventColumns.joined(separator: ", ")), next_delivery_at)
          SELECT \(SQLAccountStore.eventTable.parameters(from: eventFirst)), \(SQLAccountStore.eventTable.parameter("at", from: eventFirst))
          FROM counted RETURNING 1 AS one
        )
        SELECT CASE
          WHEN NOT EXISTS (SELECT 1 FROM used) THEN CAST(0 AS BIGINT)
          WHEN EXISTS (SELECT 1 FROM counted) THEN CAST(1 AS BIGINT)
          ELSE portcullis_refuse('the signature counter moved') END AS outcome
        """
    /// The parameters' types: the challenge and the counter (`$1`...`$8`, as ``values`` gives them),
    /// then the session's and the event's, from their column tables.
    static let elementTypes: [PostgresArrayElement] = [.text, .text, .int8, .bytea, .int8, .int8, .int8, .int8]
        + (SQLAccountStore.sessionTable.types + SQLAccountStore.eventTable.types).map(PostgresArrayElement.init)
    static let bindingDataTypes = elementTypes.map(\.type)
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

    /// The values of every parameter: the head (`$1`...`$8`), the session's, the event's.
    var values: [SQLValue] {
        typealias S = SQLAccountStore
        let head: [SQLValue] = [
            .text(challenge), .text(kind.rawValue), .integer(S.ms(now)), .blob(credentialID), .integer(Int64(expectedSignCount)),
            .integer(Int64(newSignCount)), .integer(S.flag(backedUp)), .integer(S.flag(uvInitialized)),
        ]
        return head + S.sessionValues(session) + S.eventValues(event)
    }

    func makeBindings() throws -> PostgresBindings { PostgresBindings(values) }

    func decodeRow(_ row: PostgresRow) throws -> Int64 {
        try row.decode(Int64.self)
    }
}

/// Verified sign-ins recorded together, one per element of the column arrays (each element holds one
/// ``RecordSignInStatement``'s values): for each, the same steps on the same conditions, answering
/// its `batch_index` (from 1) and 0 (challenge not there, nothing of it written) or 1 (all written).
///
/// Whatever would make the single statement refuse makes the whole batch refuse and roll back: a
/// counter that moved, and also two sign-ins with one passkey (the passkey's row is updated once, so
/// the second finds its challenge used but no counter moved). The caller then records each sign-in
/// alone, and only the refused ones are refused (``PostgresBackend/recordSignIns(_:on:)``). Two completions of one challenge in a batch delete
/// it once: one of them is recorded, the other answers 0.
struct RecordSignInsStatement: PostgresPreparedStatement {
    static let name = "portcullis_record_sign_ins_v1"
    static let sql = """
        WITH k AS (
          SELECT * FROM unnest(\(arrayParameters(RecordSignInStatement.elementTypes))) WITH ORDINALITY AS k(
            challenge, kind, now_ms, credential_id, expected_count, new_count, backed_up, uv_initialized,
            \(SQLAccountStore.sessionColumns.map { "s_\($0)" }.joined(separator: ", ")),
            \(SQLAccountStore.eventColumns.map { "e_\($0)" }.joined(separator: ", ")), batch_index)
        ), used AS (
          DELETE FROM challenges ch USING k WHERE ch.challenge = k.challenge AND ch.kind = k.kind AND ch.expires_at > k.now_ms
          RETURNING k.batch_index
        ), counted AS (
          UPDATE passkeys p SET sign_count = k.new_count, backed_up = k.backed_up,
            uv_initialized = CASE WHEN p.uv_initialized = 1 THEN 1 ELSE k.uv_initialized END, last_used_at = k.now_ms
          FROM k JOIN used ON used.batch_index = k.batch_index
          WHERE p.credential_id = k.credential_id AND p.sign_count = k.expected_count
          RETURNING k.batch_index
        ), new_sessions AS (
          INSERT INTO sessions (\(SQLAccountStore.sessionColumns.joined(separator: ", ")))
          SELECT \(SQLAccountStore.sessionColumns.map { "k.s_\($0)" }.joined(separator: ", "))
          FROM k JOIN counted ON counted.batch_index = k.batch_index RETURNING 1 AS one
        ), new_events AS (
          INSERT INTO events (\(SQLAccountStore.eventColumns.joined(separator: ", ")), next_delivery_at)
          SELECT \(SQLAccountStore.eventColumns.map { "k.e_\($0)" }.joined(separator: ", ")), k.e_at
          FROM k JOIN counted ON counted.batch_index = k.batch_index RETURNING 1 AS one
        )
        SELECT k.batch_index, CASE
          WHEN used.batch_index IS NULL THEN CAST(0 AS BIGINT)
          WHEN counted.batch_index IS NOT NULL THEN CAST(1 AS BIGINT)
          ELSE portcullis_refuse('the signature counter moved') END AS outcome
        FROM k LEFT JOIN used ON used.batch_index = k.batch_index LEFT JOIN counted ON counted.batch_index = k.batch_index
        """
    static let bindingDataTypes = arrayTypes(RecordSignInStatement.elementTypes)
    typealias Row = (index: Int64, outcome: Int64)

    let signIns: [RecordSignInStatement]

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(rows: signIns.map(\.values), elementTypes: RecordSignInStatement.elementTypes)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode((Int64, Int64).self)
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

    /// Rows of typed values bound column by column: the Nth parameter is an array of every row's
    /// Nth value, of `elementTypes[N-1]`.
    init(rows: [[SQLValue]], elementTypes: [PostgresArrayElement]) {
        self.init(capacity: elementTypes.count)
        for (column, elementType) in elementTypes.enumerated() {
            append(PostgresValueArray(elementType: elementType, values: rows.map { $0[column] }))
        }
    }
}

/// A one-dimensional PostgreSQL array of typed values, NULLs included, in the binary format
/// (`array_recv`: dimensions, NULL flag, element type, then length and lower bound of the dimension,
/// then each element as a length, -1 for NULL, and its bytes).
struct PostgresValueArray: PostgresDynamicTypeEncodable {
    let elementType: PostgresArrayElement
    let values: [SQLValue]

    var psqlType: PostgresDataType { elementType.arrayType }
    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        let hasNull = values.contains { $0.isNull }
        buffer.writeInteger(values.isEmpty ? 0 : 1, as: Int32.self)
        buffer.writeInteger(hasNull ? 1 : 0, as: Int32.self)
        buffer.writeInteger(elementType.type.rawValue)
        guard !values.isEmpty else { return }
        buffer.writeInteger(Int32(values.count))
        buffer.writeInteger(1, as: Int32.self)
        for value in values {
            switch value {
            case .integer(let value?):
                buffer.writeInteger(8, as: Int32.self)
                buffer.writeInteger(value)
            case .text(let value?):
                let lengthIndex = buffer.writerIndex
                buffer.writeInteger(0, as: Int32.self)
                let written = buffer.writeString(value)
                buffer.setInteger(Int32(written), at: lengthIndex)
            case .blob(let value?):
                buffer.writeInteger(Int32(value.count))
                buffer.writeBytes(value)
            case .integer(nil), .text(nil), .blob(nil):
                buffer.writeInteger(-1, as: Int32.self)
            }
        }
    }
}

extension PostgresBackend {
    /// Runs `statement` on a pooled connection of `client` and returns its rows.
    static func rows<Statement: PostgresPreparedStatement>(_ statement: Statement, on client: PostgresClient) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await connected(client) { connection in
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

    /// One batch at a time per kind: its callers queue behind it and go together in the next. Under
    /// the benchmark's load (BENCHMARKS.md) a batch carries several requests; two lanes made batches
    /// smaller and sign-ins fewer (the commit that chose one lane has the figures).
    static let batchLanes = 1
    static let largestBatch = 64

    static func challengeBatcher(_ client: PostgresClient) -> Batcher<CeremonyChallenge, Void> {
        Batcher(lanes: batchLanes, largest: largestBatch) { challenges in
            try await insertChallenges(challenges, on: client)
            return Array(repeating: (), count: challenges.count)
        }
    }

    static func assertionContextBatcher(_ client: PostgresClient) -> Batcher<AssertionContextRequest, AssertionContext> {
        Batcher(lanes: batchLanes, largest: largestBatch) { requests in try await assertionContexts(requests, on: client) }
    }

    static func signInBatcher(_ client: PostgresClient) -> Batcher<RecordSignInStatement, SignInOutcome> {
        Batcher(lanes: batchLanes, largest: largestBatch) { signIns in try await recordSignIns(signIns, on: client) }
    }

    /// Stores `challenges` in one INSERT.
    static func insertChallenges(_ challenges: [CeremonyChallenge], on client: PostgresClient) async throws {
        _ = try await rows(InsertChallengesStatement(challenges: challenges), on: client)
    }

    /// Reads the assertion context of each request in one SELECT, in the requests' order.
    static func assertionContexts(_ requests: [AssertionContextRequest], on client: PostgresClient) async throws -> [AssertionContext] {
        try inBatchOrder(try await rows(AssertionContextsStatement(requests: requests), on: client), count: requests.count)
    }

    /// Records `signIns`, each answering as it would alone: in one statement when the database takes
    /// it, and otherwise one statement each. Any error the server raises for the batch (a refusal, a
    /// constraint, a deadlock with another node's batch) rolls it back whole, so each sign-in can then
    /// be tried alone and only the failing ones fail.
    static func recordSignIns(_ signIns: [RecordSignInStatement], on client: PostgresClient) async throws -> [SignInOutcome] {
        if signIns.count > 1 {
            do {
                let rows = try await rows(RecordSignInsStatement(signIns: signIns), on: client)
                return try inBatchOrder(rows.map { ($0.index, $0.outcome == 1 ? SignInOutcome.recorded : .challengeGone) }, count: signIns.count)
            } catch let error as PSQLError where error.serverInfo != nil {
                // Raised by the server: rolled back whole. Below, each alone.
            }
        }
        var outcomes: [SignInOutcome] = []
        for signIn in signIns {
            do {
                outcomes.append(try await rows(signIn, on: client) == [1] ? .recorded : .challengeGone)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == Self.refusalState {
                outcomes.append(.counterMoved)
            } catch {
                // This one alone failed; the others' outcomes stand.
                outcomes.append(.failed(error))
            }
        }
        return outcomes
    }

    /// Answers placed by their `batch_index` (from 1): each of `count` requests answered exactly once,
    /// or the rows are not an answer to this batch.
    static func inBatchOrder<Answer>(_ rows: [(index: Int64, answer: Answer)], count: Int) throws -> [Answer] {
        var answers = [Answer?](repeating: nil, count: count)
        for row in rows {
            let index = Int(row.index) - 1
            guard answers.indices.contains(index), answers[index] == nil else { throw BatchError.strayRow }
            answers[index] = row.answer
        }
        return try answers.map { answer in
            guard let answer else { throw BatchError.strayRow }
            return answer
        }
    }

    func saveChallenge(_ challenge: CeremonyChallenge) async throws {
        try await challengeInserts.submit(challenge)
    }

    func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws -> AssertionContext {
        try await assertionContexts.submit(AssertionContextRequest(challenge: challenge, credentialID: credentialID, now: now))
    }

    /// Records a sign-in (``RecordSignInStatement``), with others in flight at the same time. Throws
    /// ``StoreError/challengeGone`` or ``StoreError/conflict``.
    func recordSignIn(_ statement: RecordSignInStatement) async throws {
        switch try await signIns.submit(statement) {
        case .recorded: return
        case .challengeGone: throw StoreError.challengeGone
        case .counterMoved: throw StoreError.conflict
        case .failed(let error): throw error
        }
    }

    /// The SQLSTATE `portcullis_refuse` raises.
    static let refusalState = "PC409"
}
