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

/// Embedded SQLite: one writing connection (SQLite serializes writers anyway) that callers take in
/// turn and whose transaction they share (group commit, see ``transaction(_:)``); reading connections
/// that WAL lets run beside it; a checkpoint thread; a busy timeout; foreign keys. Statements run on
/// the calling task's thread (``DirectSQLiteDatabase``): each is a few microseconds of indexed work.
public final class SQLiteBackend: SQLBackend {
    /// The database file.
    public let path: String
    let writer: DirectSQLiteConnection
    let readers: [DirectSQLiteConnection]
    let checkpointer: Checkpointer
    let nextReader = Atomic<Int>(0)
    let logger: Logger
    /// Who holds the writer, and who waits for it (a lock that suspends instead of blocking; taking a
    /// free writer costs no executor hop, unlike an actor).
    private let writerState = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public let binaryType = "BLOB"
    public let isPostgres = false

    /// Opens (creating if needed) the database file at `path`.
    public static func open(path: String, logger: Logger) async throws -> SQLiteBackend {
        let writer = try DirectSQLiteConnection(path: path, readOnly: false)
        var readers: [DirectSQLiteConnection] = []
        let checkpointer: Checkpointer
        do {
            for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
                           // After the WAL starts over, a file grown past 64 MiB is cut back to that.
                           "PRAGMA journal_size_limit = 67108864",
                           // Each group-commit member runs in a savepoint, whose undo pages go to a
                           // sub-journal: kept in memory instead of a temporary file created, written
                           // and truncated for every group.
                           "PRAGMA temp_store = MEMORY",
                           // sqlite-nio builds SQLite with SECURE_DELETE, which also rewrites freed
                           // pages; FAST still zeroes deleted content on every page a write touches
                           // anyway, without the extra writes.
                           "PRAGMA secure_delete = FAST"] {
                try writer.execute(pragma, []) { _ in }
            }
            for _ in 0..<4 {
                let reader = try DirectSQLiteConnection(path: path, readOnly: false)
                readers.append(reader)
                try reader.execute("PRAGMA query_only = ON", []) { _ in }
            }
            checkpointer = try Checkpointer(path: path)
        } catch {
            for reader in readers { reader.close() }
            writer.close()
            throw error
        }
        writer.checkpoint(with: checkpointer)
        return SQLiteBackend(path: path, writer: writer, readers: readers, checkpointer: checkpointer, logger: logger)
    }

    init(path: String, writer: DirectSQLiteConnection, readers: [DirectSQLiteConnection], checkpointer: Checkpointer, logger: Logger) {
        self.path = path
        self.writer = writer
        self.readers = readers
        self.checkpointer = checkpointer
        self.logger = logger
    }

    func database(_ connection: DirectSQLiteConnection) -> DirectSQLiteDatabase {
        DirectSQLiteDatabase(connection: connection, logger: logger, eventLoop: MultiThreadedEventLoopGroup.singleton.any())
    }

    private func acquire() async {
        let taken = writerState.withLock { state in
            if state.busy { return false }
            state.busy = true
            return true
        }
        if taken { return }
        await withCheckedContinuation { continuation in
            // Freed in between: take it now; otherwise wait for a release to hand it over.
            let handover = writerState.withLock { state -> Bool in
                if !state.busy {
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if handover { continuation.resume() }
        }
    }

    private func release() {
        let next = writerState.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()  // stays busy: handed over
        }
        next?.resume()
    }

    /// Callers whose work is done inside the open write transaction and who wait for its COMMIT.
    /// Touched only by the writer's holder.
    private final class OpenTransaction: @unchecked Sendable {
        var waiting: [CheckedContinuation<Void, any Error>] = []
        var members = 0
    }
    private let open = Mutex<OpenTransaction?>(nil)
    private let commits = Atomic<Int>(0)
    /// Most callers' work one COMMIT carries.
    static let largestGroup = 64

    /// COMMITs so far (for tests and diagnostics: fewer than transactions when commits were shared).
    public var commitCount: Int { commits.load(ordering: .relaxed) }

    /// Callers waiting for the writer now (for tests and diagnostics).
    public var waitingWriterCount: Int { writerState.withLock { $0.waiters.count } }

    /// Group commit. Each caller's work runs in a savepoint of one write transaction that the callers
    /// queued for the writer share: a caller that finds others waiting hands the writer on without
    /// committing and waits; the last in line (or the 64th) commits for all. Every caller still returns
    /// only after the COMMIT that made its work durable, and a caller whose work fails is rolled back
    /// to its savepoint alone. Under load this turns dozens of commits (each writing every page it
    /// touched to the WAL) into one. If the COMMIT fails, or SQLite abandons the transaction, every
    /// caller in it gets the error and nothing of theirs is kept.
    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await member(savepoint: true) { connection in try await body(database(connection)) }
    }

    /// A single statement joins the shared write transaction like any other, without a savepoint of
    /// its own: SQLite undoes a statement that fails (a constraint, for one) by itself and keeps the
    /// transaction, so the savepoint's two extra statements per write bought nothing. Should `body`
    /// throw anything but SQLite's own error, what it did is unknown, and the whole group is rolled back.
    public func write<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await member(savepoint: false) { connection in try await body(database(connection)) }
    }

    /// ``transaction(_:)`` with the writing connection itself, for statements run without sql-kit.
    func transactionDirect<R: Sendable>(_ body: @Sendable (DirectSQLiteConnection) async throws -> R) async throws -> R {
        try await member(savepoint: true, body)
    }

    /// ``write(_:)`` with the writing connection itself: `body` runs one statement.
    func writeDirect<R: Sendable>(_ body: @Sendable (DirectSQLiteConnection) throws -> R) async throws -> R {
        try await member(savepoint: false, body)
    }

    /// ``read(_:)`` with a reading connection itself.
    func readDirect<R>(_ body: (DirectSQLiteConnection) throws -> R) throws -> R {
        try body(readers[nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count])
    }

    /// Templated statements run on the writer's own thread, in the shared group-commit transaction.
    func runStatements<R: Sendable>(_ body: @Sendable (any TemplateRunner) async throws -> R) async throws -> R {
        try await transactionDirect { try await body($0) }
    }

    func runWrite(_ template: SQLTemplate, _ values: [SQLValue]) async throws -> Int {
        try await writeDirect { try $0.count(template, values) }
    }

    /// The assertion context on a reading connection, without sql-kit's row decoding.
    func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws -> AssertionContext {
        try readDirect { connection in
            var context: AssertionContext = (nil, nil)
            let values = SQLAccountStore.assertionContextValues(challenge: challenge, credentialID: credentialID, now: now)
            try connection.execute(SQLAccountStore.assertionContextSQL.sqliteText, values: values) {
                context = try SQLAccountStore.assertionContext($0)
            }
            return context
        }
    }

    private func member<R: Sendable>(savepoint: Bool, _ body: @Sendable (DirectSQLiteConnection) async throws -> R) async throws -> R {
        await acquire()
        let group: OpenTransaction
        if let current = open.withLock({ $0 }) {
            group = current
        } else {
            do {
                // IMMEDIATE takes the write lock at once, so a transaction never fails half-way on a busy database.
                try writer.execute("BEGIN IMMEDIATE", []) { _ in }
            } catch {
                release()
                throw error
            }
            group = OpenTransaction()
            open.withLock { $0 = group }
        }

        let outcome: Result<R, any Error>
        do {
            if savepoint { try writer.execute("SAVEPOINT member", []) { _ in } }
            do {
                let value = try await body(writer)
                if savepoint { try writer.execute("RELEASE member", []) { _ in } }
                outcome = .success(value)
            } catch {
                if savepoint {
                    try writer.execute("ROLLBACK TO member", []) { _ in }
                    try writer.execute("RELEASE member", []) { _ in }
                } else if !(error is SQLiteFailure) {
                    // Not a statement SQLite refused and undid: the statement may have run.
                    writer.rollbackIfOpen()
                }
                outcome = .failure(error)
            }
        } catch {
            // The savepoint itself failed: the transaction is in no known state.
            outcome = .failure(error)
            writer.rollbackIfOpen()
        }

        if !writer.inTransaction {
            // SQLite ended the transaction (or it was rolled back above): the others' work is gone too.
            var error: any Error = SQLiteFailure.sharedTransactionLost
            if case .failure(let own) = outcome { error = own }
            finish(group, error: error)
            throw error
        }
        group.members += 1
        let alone = writerState.withLock { $0.waiters.isEmpty }
        if alone || group.members >= Self.largestGroup {
            var failure: (any Error)?
            do {
                try writer.execute("COMMIT", []) { _ in }
                commits.add(1, ordering: .relaxed)
            } catch {
                failure = error
                writer.rollbackIfOpen()
            }
            finish(group, error: failure)
            if let failure, case .success = outcome { throw failure }
            return try outcome.get()
        }
        switch outcome {
        case .failure(let error):
            // Undone already; the others go on.
            release()
            throw error
        case .success(let value):
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                group.waiting.append(continuation)
                release()
            }
            return value
        }
    }

    /// Closes `group` (committed, or failed with `error`), frees the writer and wakes its waiters.
    private func finish(_ group: OpenTransaction, error: (any Error)?) {
        open.withLock { $0 = nil }
        let waiting = group.waiting
        group.waiting = []
        release()
        for continuation in waiting {
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }

    /// Reads go to a reading connection, outside the writer's queue: WAL shows them the last commit.
    public func read<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await body(database(readers[index % readers.count]))
    }

    /// How many times the background thread has checkpointed the WAL (for tests and diagnostics).
    public var checkpointsCompleted: Int { checkpointer.completed }

    /// Closes the connections.
    public func close() async throws {
        for reader in readers { reader.close() }
        writer.close()
        // Last: the last connection to close checkpoints the whole WAL and removes it.
        checkpointer.stop()
    }
}

/// PostgreSQL through a postgres-nio connection pool. The client is a `Service`: run it in the
/// application's service group (or ``withRunningClient(_:)``).
public struct PostgresBackend: SQLBackend {
    /// The pool; it must be running for queries to proceed.
    public let client: PostgresClient
    /// The sign-in's challenge inserts and assertion reads, batched across callers.
    let challengeInserts: Batcher<CeremonyChallenge, Void>
    let assertionContexts: Batcher<AssertionContextRequest, AssertionContext>
    let signIns: Batcher<RecordSignInStatement, SignInOutcome>
    public let binaryType = "BYTEA"
    public let isPostgres = true

    /// Pooled connections a node keeps at most, unless configured: on the 2-core benchmark machine
    /// 4 and 8 connections signed in alike, and many more signed in fewer with a higher p99 (each
    /// connection is a PostgreSQL process competing for the same cores; the commit that chose 8 has
    /// the figures).
    public static let defaultMaximumConnections = 8

    /// A backend for a `postgres://user:password@host:port/database` URL, with at most
    /// `maximumConnections` pooled connections.
    /// The URL may set `sslmode` and `sslrootcert` (see ``PostgresConnectionSettings``).
    public init(url: String, maximumConnections: Int = PostgresBackend.defaultMaximumConnections, logger: Logger) throws {
        let settings = try PostgresConnectionSettings(url: url)
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password, database: settings.database, tls: try settings.clientTLS())
        configuration.options.maximumConnections = max(1, maximumConnections)
        // The pool starts an idle timer and a keep-alive timer each time a connection falls idle, and
        // cancels them when it is leased again. On Linux a cancelled sleep keeps its task and dispatch
        // timer until the original deadline, so under load the server held memory for every idle
        // spell of the last 60 s (its RSS grew steadily for the first minute of a benchmark).
        // A short idle timeout bounds that: connections idle for 10 s close. No keep-alive: a connection
        // never idles long enough to need one, and a ping that fires as its connection's idle timeout
        // closes it can leave the pool's shutdown waiting for good (seen with batching, which leaves
        // connections idle under load: SIGTERM then hung in PostgresClient.run).
        configuration.options.connectionIdleTimeout = .seconds(10)
        configuration.options.keepAliveBehavior = nil
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        challengeInserts = Self.challengeBatcher(client)
        assertionContexts = Self.assertionContextBatcher(client)
        signIns = Self.signInBatcher(client)
    }

    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            try await runTransaction(on: connection.sql(queryLogLevel: .trace), begin: "BEGIN", body)
        }
    }

    public func read<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in try await body(connection.sql(queryLogLevel: .trace)) }
    }

    public func write<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await read(body)
    }

    /// Runs the pool until cancelled (as a service).
    public func runClient() async { await client.run() }

    /// Runs `body` while the pool runs, for commands that have no service group (migrate, admin).
    public func withRunningClient<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            group.addTask { try await body() }
            var result: R?
            while let next = try await group.next() {
                if let next {
                    result = next
                    group.cancelAll()
                }
            }
            guard let result else { throw SQLStoreError.invalidURL }
            return result
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
