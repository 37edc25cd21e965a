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
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates an empty file at `path` that only its owner may read or write (mode 0600), unless one exists.
private func createOwnerOnlyFile(_ path: String) {
    let descriptor = open(path, O_CREAT | O_EXCL | O_RDWR, 0o600)
    if descriptor >= 0 { close(descriptor) }
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
        // A new database file is made readable by its owner only: it holds passkeys, sessions and the
        // OpenID Connect signing keys. SQLite gives its -wal and -shm files the same mode.
        if path != ":memory:", !FileManager.default.fileExists(atPath: path) { createOwnerOnlyFile(path) }
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

    /// Templated reads run on a reading connection, without sql-kit.
    func readRows<R: Sendable>(_ template: SQLTemplate, _ values: [SQLValue], _ map: @escaping @Sendable (any ColumnReader) throws -> R) async throws -> [R] {
        try readDirect { connection in
            var rows: [R] = []
            try connection.execute(template.sqliteText, values: values) { rows.append(try map($0)) }
            return rows
        }
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

    /// ``joinGroup(savepoint:_:)``, with a full disk reported as ``StoreUnavailable``: nothing of the
    /// write was kept (SQLite rolls the statement or the transaction back), the request may succeed
    /// once there is space again, and the client is told the service is unavailable, not that it
    /// asked for something wrong.
    private func member<R: Sendable>(savepoint: Bool, _ body: @Sendable (DirectSQLiteConnection) async throws -> R) async throws -> R {
        do {
            return try await joinGroup(savepoint: savepoint, body)
        } catch let failure as SQLiteFailure where failure.isDiskFull {
            throw StoreUnavailable(underlying: "the disk holding the database is full (\(failure))")
        }
    }

    private func joinGroup<R: Sendable>(savepoint: Bool, _ body: @Sendable (DirectSQLiteConnection) async throws -> R) async throws -> R {
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
