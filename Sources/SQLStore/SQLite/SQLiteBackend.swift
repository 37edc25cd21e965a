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

/// Embedded SQLite: one writing connection (SQLite serializes writers anyway) whose transaction
/// callers share (group commit, see ``transaction(_:)``); reading connections that WAL lets run
/// beside it; a checkpoint thread; a busy timeout; foreign keys. Statements run on a task's own thread
/// (``DirectSQLiteDatabase``): a read on the caller's, a write on the thread of the caller holding the
/// writer. Each is a few microseconds of indexed work.
public final class SQLiteBackend: SQLBackend {
    /// The database file.
    public let path: String
    let writer: DirectSQLiteConnection
    let readers: [DirectSQLiteConnection]
    let checkpointer: Checkpointer
    let nextReaderIndex = Atomic<Int>(0)
    let logger: Logger
    /// Whether a caller is combining (holds the writer), and the work queued for it (see
    /// ``transaction(_:)``). Taking a free writer costs no executor hop, unlike an actor.
    private let writerState = Mutex<(busy: Bool, queue: [WriteJob])>((false, []))

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

    /// One caller's work for the shared write transaction, run by whichever caller is combining.
    private final class WriteJob: @unchecked Sendable {
        // Handed between tasks through `writerState`'s lock and continuation resumes, one owner at a time.
        let savepoint: Bool
        /// The caller's body, with its value kept by the caller; set to nil once run, so that nothing
        /// refers to the caller's (non-escaping) body when the caller resumes.
        var work: (@Sendable (DirectSQLiteConnection) async throws -> Void)?
        /// What the caller throws: its own error, or the group's.
        var failure: (any Error)?
        /// Whether the job has run and its group has ended; false when the caller is woken to combine.
        var finished = false
        var waiter: Waiter?

        init(savepoint: Bool, work: @escaping @Sendable (DirectSQLiteConnection) async throws -> Void) {
            self.savepoint = savepoint
            self.work = work
        }
    }

    /// A caller's value, written by the combiner that ran its body.
    private final class ValueBox<R>: @unchecked Sendable {
        var value: R?
    }

    private let commits = Atomic<Int>(0)
    /// Most callers' work one COMMIT carries: a bound on how long the first caller of a group waits
    /// and on how much one transaction holds, while under load the group still takes every write
    /// waiting. With 128 or 256 sign-ins in flight about that many writes wait at once; a bound of 64
    /// split them into several commits, each writing the same hot index pages to the WAL again
    /// (BENCHMARKS.md has the runs).
    static let largestGroup = 256

    /// COMMITs so far (for tests and diagnostics: fewer than transactions when commits were shared).
    public var commitCount: Int { commits.load(ordering: .relaxed) }

    /// Callers whose work is queued for the writer now (for tests and diagnostics).
    public var waitingWriterCount: Int { writerState.withLock { $0.queue.count } }

    /// Group commit. Each caller's work runs in a savepoint of one write transaction that the callers
    /// queued for the writer share: a caller that finds the writer busy queues its work and waits; the
    /// caller holding the writer runs the queued work itself (up to ``largestGroup`` callers) and
    /// commits for all. Every caller still returns only after the COMMIT that made its work durable,
    /// and a caller whose work fails is rolled back to its savepoint alone. Under load this turns
    /// dozens of commits (each writing every page it touched to the WAL) into one. If the COMMIT fails,
    /// or SQLite abandons the transaction, every caller in it gets the error and nothing of theirs is
    /// kept.
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

    /// ``read(_:)`` without sql-kit, for `body`'s statements run with `readOnly`: on the writing
    /// connection when no caller holds it, otherwise on a reading connection.
    ///
    /// In WAL mode a connection keeps its page cache only while no other connection has committed since
    /// its last read; the writer's own commits leave its cache valid, but every reader drops its cache
    /// when it next reads after one, and reads each page again from the file. Taken while free, the
    /// writer is between transactions (a caller marks it busy before BEGIN and frees it after COMMIT),
    /// so the read sees exactly the last commit, as a reader would; writers that come meanwhile queue
    /// and are handed the writer when the read ends, as after a commit.
    func readDirect<R>(_ body: (DirectSQLiteConnection) throws -> R) throws -> R {
        guard takeWriterIfFree() else { return try body(nextReader()) }
        defer { releaseWriter() }
        // Never inside a transaction, whose uncommitted work a read there would see.
        return try body(writer.inTransaction ? nextReader() : writer)
    }

    /// The reading connections in turn.
    private func nextReader() -> DirectSQLiteConnection {
        readers[nextReaderIndex.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count]
    }

    /// Marks the writer busy for this caller when no one holds it.
    private func takeWriterIfFree() -> Bool {
        writerState.withLock { state in
            if state.busy { return false }
            state.busy = true
            return true
        }
    }

    /// Frees the writer, or hands it to the first caller queued for it (which then combines).
    private func releaseWriter() {
        let heir = writerState.withLock { state -> WriteJob? in
            if state.queue.isEmpty {
                state.busy = false
                return nil
            }
            return state.queue.removeFirst()  // the writer stays busy: handed over
        }
        heir?.waiter?.resume()
    }

    /// Templated statements run on the writer's own thread, in the shared group-commit transaction.
    func runStatements<R: Sendable>(_ body: @Sendable (any TemplateRunner) async throws -> R) async throws -> R {
        try await transactionDirect { try await body($0) }
    }

    /// Templated reads run on a reading connection, without sql-kit.
    func readRows<R: Sendable>(_ template: SQLTemplate, _ values: [SQLValue], _ map: @escaping @Sendable (any ColumnReader) throws -> R) async throws -> [R] {
        try readDirect { connection in
            var rows: [R] = []
            try connection.execute(template.sqliteText, values: values, readOnly: true) { rows.append(try map($0)) }
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
            try connection.execute(SQLAccountStore.assertionContextSQL.sqliteText, values: values, readOnly: true) {
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
        try await withoutActuallyEscaping(body) { body in
            let box = ValueBox<R>()
            let job = WriteJob(savepoint: savepoint) { connection in box.value = try await body(connection) }
            if !takeWriterIfFree() {
                await withCheckedContinuation { continuation in
                    // Freed in between: combine now; otherwise wait to be run, or to be handed the writer.
                    let free = writerState.withLock { state -> Bool in
                        if !state.busy {
                            state.busy = true
                            return true
                        }
                        job.waiter = Waiter(continuation)
                        state.queue.append(job)
                        return false
                    }
                    if free { continuation.resume() }
                }
            }
            if !job.finished { await combine(first: job) }
            if let failure = job.failure { throw failure }
            guard let value = box.value else { throw SQLiteFailure.sharedTransactionLost }
            return value
        }
    }

    /// Runs `first`, then the work queued meanwhile (up to ``largestGroup`` callers), each in the one
    /// write transaction, commits it, wakes the callers whose work it carried, and hands the writer to
    /// the next caller in the queue (or frees it). The callers queued while one combines are served by
    /// its task: the writer never waits for a woken task to be scheduled before the next caller's
    /// statements run.
    private func combine(first: WriteJob) async {
        var members: [WriteJob] = []
        do {
            // IMMEDIATE takes the write lock at once, so a transaction never fails half-way on a busy database.
            try writer.execute("BEGIN IMMEDIATE", []) { _ in }
            var next: WriteJob? = first
            while let job = next {
                members.append(job)
                await run(job)
                guard writer.inTransaction else {
                    // SQLite ended the transaction (or it was rolled back): everyone's work in it is gone.
                    for member in members where member.failure == nil { member.failure = SQLiteFailure.sharedTransactionLost }
                    break
                }
                next = members.count < Self.largestGroup ? writerState.withLock { $0.queue.isEmpty ? nil : $0.queue.removeFirst() } : nil
            }
            if writer.inTransaction {
                do {
                    try writer.execute("COMMIT", []) { _ in }
                    commits.add(1, ordering: .relaxed)
                } catch {
                    writer.rollbackIfOpen()
                    // A caller whose own work failed keeps its own error.
                    for member in members where member.failure == nil { member.failure = error }
                }
            }
        } catch {
            // BEGIN failed: only `first` was taken.
            first.work = nil
            first.failure = error
            members = [first]
        }
        for member in members { member.finished = true }
        // `first` is this task's own: it returns from here instead of being woken.
        Waiter.resume(members.dropFirst().compactMap(\.waiter))
        // The WAL reached its limit: the log starts over before the next write, while this task still
        // holds the writer (the callers whose work is committed, woken above, need not wait for that).
        if checkpointer.takeRestartDue() { await checkpointer.restart() }
        releaseWriter()
    }

    /// Runs one caller's work in the open transaction: in a savepoint of its own when it asked for
    /// one, so that its failure undoes its work alone.
    private func run(_ job: WriteJob) async {
        guard let work = job.work else { return }
        job.work = nil
        do {
            if job.savepoint { try writer.execute("SAVEPOINT member", []) { _ in } }
            do {
                try await work(writer)
                if job.savepoint { try writer.execute("RELEASE member", []) { _ in } }
            } catch {
                if job.savepoint {
                    try writer.execute("ROLLBACK TO member", []) { _ in }
                    try writer.execute("RELEASE member", []) { _ in }
                } else if !(error is SQLiteFailure) {
                    // Not a statement SQLite refused and undid: the statement may have run.
                    writer.rollbackIfOpen()
                }
                job.failure = error
            }
        } catch {
            // The savepoint itself failed: the transaction is in no known state.
            if job.failure == nil { job.failure = error }
            writer.rollbackIfOpen()
        }
    }

    /// Reads go to a reading connection, outside the writer's queue: WAL shows them the last commit.
    public func read<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await body(database(nextReader()))
    }

    /// How many times the background thread has checkpointed the WAL (for tests and diagnostics).
    public var checkpointsCompleted: Int { checkpointer.completed }

    /// How many times the WAL was made to start over at its limit (for tests and diagnostics).
    public var walRestartsCompleted: Int { checkpointer.restartsCompleted }

    /// Closes the connections.
    public func close() async throws {
        for reader in readers { reader.close() }
        writer.close()
        // Last: the last connection to close checkpoints the whole WAL and removes it.
        checkpointer.stop()
    }
}

/// A task suspended until its work is committed or the writer is handed to it, with the event loop
/// it ran on. The process runs Swift's jobs on NIO's event loops, and a resumed task is queued on the
/// loop of the thread that resumes it: resumed by the committer, every caller of a group would pile
/// onto the committer's loop while the other loop had nothing to do. Resumed on its own loop, a task
/// stays beside its connection, and both loops keep working.
struct Waiter: Sendable {
    let continuation: CheckedContinuation<Void, Never>
    let home: (any EventLoop)?

    /// Call from inside the continuation's closure, which runs on the suspending task's thread.
    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = continuation
        self.home = MultiThreadedEventLoopGroup.currentEventLoop
    }

    func resume() { Self.resume([self]) }

    /// Resumes `waiters`, each on its own loop, with one hop per loop.
    static func resume(_ waiters: [Waiter]) {
        var byLoop: [ObjectIdentifier?: ((any EventLoop)?, [CheckedContinuation<Void, Never>])] = [:]
        for waiter in waiters {
            byLoop[waiter.home.map { ObjectIdentifier($0) }, default: (waiter.home, [])].1.append(waiter.continuation)
        }
        for (home, continuations) in byLoop.values {
            if let home, !home.inEventLoop {
                home.execute { for continuation in continuations { continuation.resume() } }
            } else {
                for continuation in continuations { continuation.resume() }
            }
        }
    }
}
