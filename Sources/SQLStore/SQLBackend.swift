import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import PostgresNIO
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// Where the SQL store runs its statements: one connection per transaction.
protocol SQLBackend: Sendable {
    /// The SQL dialect's name for binary columns.
    var binaryType: String { get }
    /// Whether this is PostgreSQL (advisory locks, `BEGIN` semantics).
    var isPostgres: Bool { get }
    /// Runs `body` inside one transaction on one connection: committed if it returns, rolled back if it throws.
    func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs reads in `body`, without a transaction.
    func read<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs one writing statement in `body`, without BEGIN/COMMIT (one statement is atomic by itself):
    /// fewer round trips than ``transaction(_:)``.
    func write<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R

    // What differs between the backends on the sign-in path is declared here, in the way sql-kit's
    // SQLDialect declares capabilities: each operation has a generic default over sql-kit (the
    // extension below), and a backend with a faster way implements it.

    /// Runs templated statements in one transaction. Default: ``transaction(_:)`` through sql-kit.
    func runStatements<R: Sendable>(_ body: @Sendable (any TemplateRunner) async throws -> R) async throws -> R
    /// Runs one templated reading statement and maps each row it answers. Default: ``read(_:)`` through sql-kit.
    func readRows<R: Sendable>(_ template: SQLTemplate, _ values: [SQLValue], _ map: @escaping @Sendable (any ColumnReader) throws -> R) async throws -> [R]
    /// Runs one templated writing statement; answers the rows it returned. Default: ``write(_:)`` through sql-kit.
    func runWrite(_ template: SQLTemplate, _ values: [SQLValue]) async throws -> Int
    /// Stores a new ceremony challenge. Default: one insert through ``runWrite(_:_:)``.
    func saveChallenge(_ challenge: CeremonyChallenge) async throws
    /// Reads a challenge, a passkey and its owner in one statement (no default: each backend has its fastest way).
    func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws -> AssertionContext
    /// Records a sign-in whole: the challenge used up, the counter moved by compare-and-set, the
    /// session and the event added. Default: those statements in ``runStatements(_:)``.
    func recordSignIn(_ statement: RecordSignInStatement) async throws
}

extension SQLBackend {
    func runStatements<R: Sendable>(_ body: @Sendable (any TemplateRunner) async throws -> R) async throws -> R {
        try await transaction { db in try await body(SQLKitRunner(db)) }
    }

    func readRows<R: Sendable>(_ template: SQLTemplate, _ values: [SQLValue], _ map: @escaping @Sendable (any ColumnReader) throws -> R) async throws -> [R] {
        try await read { db in try await db.raw("\(template.query(values))").all().map { try map(SQLKitColumns.of($0)) } }
    }

    func runWrite(_ template: SQLTemplate, _ values: [SQLValue]) async throws -> Int {
        try await write { db in try await SQLKitRunner(db).count(template, values) }
    }

    func saveChallenge(_ challenge: CeremonyChallenge) async throws {
        _ = try await runWrite(SQLAccountStore.insertChallengeSQL, SQLAccountStore.challengeValues(challenge))
    }

    func recordSignIn(_ s: RecordSignInStatement) async throws {
        try await runStatements { runner in
            try await SQLAccountStore.recordAssertion(
                on: runner, credentialID: s.credentialID, expectedSignCount: s.expectedSignCount, newSignCount: s.newSignCount,
                backedUp: s.backedUp, uvInitialized: s.uvInitialized, newSession: s.session, reauthenticatedSession: nil,
                event: s.event, challenge: s.challenge, kind: s.kind, now: s.now)
        }
    }
}

/// Runs `body` between `begin` and COMMIT on one connection; rolls back and rethrows if it throws.
func runTransaction<R: Sendable>(on db: some SQLDatabase, begin: StaticString, _ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
    try await db.raw(SQLQueryString(String(describing: begin))).run()
    do {
        let result = try await body(db)
        try await db.raw("COMMIT").run()
        return result
    } catch {
        try? await db.raw("ROLLBACK").run()
        throw error
    }
}

/// Errors of the SQL store's set-up.
public enum SQLStoreError: Error, CustomStringConvertible, Equatable {
    /// The database URL is neither `sqlite:PATH` nor `postgres://...`.
    case invalidURL
    /// The URL's TLS settings (`sslmode`, `sslrootcert`) cannot be used; says why.
    case invalidTLS(String)
    public var description: String {
        switch self {
        case .invalidURL: "the database must be sqlite:PATH or postgres://user:password@host:port/database"
        case .invalidTLS(let why): "the database URL's TLS settings: \(why)"
        }
    }
}
