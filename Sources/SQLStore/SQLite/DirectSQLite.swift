import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import Synchronization
// The SQLite that sqlite-nio vendors (and builds with its own options), called directly: a statement
// runs to completion on the calling thread instead of hopping to a thread pool and back, which
// measured about twice as fast for Portcullis's short indexed statements (see BENCHMARKS.md).
import VaporCSQLite

/// Why SQLite refused a statement. The text is SQLite's own message (for logs; never sent to clients).
public struct SQLiteFailure: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }

    /// A UNIQUE or PRIMARY KEY constraint refused a duplicate (connections report extended result codes).
    public var isUniqueViolation: Bool { code == Self.constraintUnique || code == Self.constraintPrimaryKey }

    /// The disk is full: SQLITE_FULL, which SQLite's Unix file layer reports for a write that found
    /// no space (ENOSPC).
    public var isDiskFull: Bool { code & 0xFF == SQLITE_FULL }

    /// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY, which C defines as macros Swift cannot import.
    static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)
    static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)

    /// The shared write transaction ended under a caller (another caller's failure rolled it back).
    static let sharedTransactionLost = SQLiteFailure(code: SQLITE_ABORT, message: "the shared transaction was rolled back")
}

/// One SQLite connection, used synchronously, one statement at a time (a lock), with its prepared
/// statements kept for reuse (parsing SQL was about a third of the time spent in SQLite). Portcullis
/// also gives the writing connection to one transaction at a time.
final class DirectSQLiteConnection: @unchecked Sendable {
    // The handle is set once; the lock guards every use of it and of the statement cache.
    private let handle: OpaquePointer
    private let lock = NSLock()
    private var statements: [String: Prepared] = [:]

    /// A prepared statement and the names of its result columns, read from SQLite once instead of for
    /// every execution (a String and a dictionary entry per column of every row set).
    private final class Prepared {
        let statement: OpaquePointer
        var columns: [String: Int]?
        /// SQLite's count of this statement's re-preparations (after a schema change, `SELECT *` may
        /// name other columns) when `columns` was read.
        var columnsPreparation: Int32 = 0
        init(_ statement: OpaquePointer) { self.statement = statement }
    }

    init(path: String, readOnly: Bool) throws {
        var db: OpaquePointer?
        // NOMUTEX: this object's lock already serializes every use of the connection, so SQLite's own
        // per-connection mutex (taken on every API call) would only be taken uncontended again.
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        let status = sqlite_nio_sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite_nio_sqlite3_close_v2(db) }
            throw SQLiteFailure(code: status, message: message)
        }
        handle = db
        sqlite_nio_sqlite3_extended_result_codes(db, 1)
        // Every connection waits up to 5 s for a lock another connection or process holds.
        sqlite_nio_sqlite3_busy_timeout(db, 5000)
    }

    /// How long a statement waits for a lock another connection holds (0: it fails at once).
    func busyTimeout(milliseconds: Int32) {
        lock.withLock { _ = sqlite_nio_sqlite3_busy_timeout(handle, milliseconds) }
    }

    /// Asks `checkpointer` for a checkpoint whenever a commit leaves the WAL at
    /// ``Checkpointer/threshold`` frames or more. This replaces SQLite's automatic checkpoint, which
    /// runs inside the commit that crosses the threshold, and so inside the writer's turn.
    ///
    /// A checkpoint that runs beside a writer that never pauses may never copy the last frames, and
    /// the WAL only starts over after a complete one: under a steady stream of commits it would grow
    /// without end (it reached 11 GB while a million accounts were loaded). So a commit that leaves
    /// ``Checkpointer/limit`` frames or more marks a restart due (``Checkpointer/takeRestartDue()``):
    /// the caller holding the writer then has the checkpoint thread checkpoint in RESTART mode before
    /// any further write begins (``Checkpointer/restart()``), so that the log really starts over.
    func checkpoint(with checkpointer: Checkpointer) {
        lock.withLock {
            _ = sqlite_nio_sqlite3_wal_hook(handle, { context, _, _, frames in
                guard frames >= Checkpointer.threshold, let context else { return SQLITE_OK }
                let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
                if frames >= Checkpointer.limit {
                    checkpointer.markRestartDue()
                } else {
                    checkpointer.request(frames: frames)
                }
                return SQLITE_OK
            }, Unmanaged.passUnretained(checkpointer).toOpaque())
        }
    }

    /// Whether a transaction is open on this connection (SQLite is not in autocommit mode).
    var inTransaction: Bool {
        lock.withLock { sqlite_nio_sqlite3_get_autocommit(handle) == 0 }
    }

    /// Rolls back the open transaction, if there is one.
    func rollbackIfOpen() {
        if inTransaction { try? execute("ROLLBACK", []) { _ in } }
    }

    func close() {
        lock.withLock {
            for prepared in statements.values { sqlite_nio_sqlite3_finalize(prepared.statement) }
            statements = [:]
            sqlite_nio_sqlite3_close_v2(handle)
        }
    }

    private func failure(_ code: Int32) -> SQLiteFailure {
        SQLiteFailure(code: code, message: String(cString: sqlite_nio_sqlite3_errmsg(handle)))
    }

    /// Prepares (or reuses), binds and steps one statement to its end, handing each row to `onRow`.
    func execute(_ sql: String, _ binds: [any Encodable & Sendable], _ onRow: (DirectSQLiteRow) -> Void) throws {
        try run(sql, parameters: binds.count, bind: { try bind(binds[Int($1) - 1], at: $1, in: $0) }, onRow)
    }

    /// Runs `sql` with typed `values` for its parameters `?1`, `?2`, ... (no casts), handing each row
    /// to `onRow`.
    /// With `readOnly`, a statement that would write is refused before it runs (SQLITE_READONLY):
    /// reads may run on the writing connection, which has no `query_only` guard of its own.
    func execute(_ sql: String, values: [SQLValue], readOnly: Bool = false, _ onRow: (DirectSQLiteRow) throws -> Void) throws {
        try run(sql, parameters: values.count, readOnly: readOnly, bind: { statement, index in
            switch values[Int(index) - 1] {
            case .integer(let value?): sqlite_nio_sqlite3_bind_int64(statement, index, value)
            case .text(let value?): sqlite_nio_sqlite3_bind_text(statement, index, value, -1, Self.transient)
            case .blob(let value?):
                value.withUnsafeBytes { sqlite_nio_sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), Self.transient) }
            case .integer(nil), .text(nil), .blob(nil): sqlite_nio_sqlite3_bind_null(statement, index)
            }
        }, onRow)
    }

    private func run(_ sql: String, parameters: Int, readOnly: Bool = false, bind: (OpaquePointer, Int32) throws -> Int32,
                     _ onRow: (DirectSQLiteRow) throws -> Void) throws {
        try lock.withLock {
            let prepared = try prepared(sql)
            let statement = prepared.statement
            if readOnly, sqlite_nio_sqlite3_stmt_readonly(statement) == 0 {
                throw SQLiteFailure(code: SQLITE_READONLY, message: "a statement that writes was run as a read")
            }
            // Every parameter is bound anew on each run (`run` checks the count), so the bindings are
            // not cleared: sqlite3_clear_bindings marks a statement whose plan looked at a bound value
            // as expired, and SQLite then re-parses it on the next step (a measurable share of the
            // server's time; the commit that stopped clearing them has the profile).
            defer { sqlite_nio_sqlite3_reset(statement) }
            guard Int(sqlite_nio_sqlite3_bind_parameter_count(statement)) == parameters else {
                throw SQLiteFailure(code: SQLITE_RANGE, message: "\(parameters) values for \(sqlite_nio_sqlite3_bind_parameter_count(statement)) parameters")
            }
            for index in 0..<Int32(parameters) {
                let status = try bind(statement, index + 1)
                guard status == SQLITE_OK else { throw failure(status) }
            }
            try step(prepared, onRow)
        }
    }

    /// A cached statement for `sql`, prepared on first use. The cache is emptied when it passes 128.
    private func prepared(_ sql: String) throws -> Prepared {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let status = sqlite_nio_sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status) }
        if statements.count >= 128 {
            for old in statements.values { sqlite_nio_sqlite3_finalize(old.statement) }
            statements = [:]
        }
        let prepared = Prepared(statement)
        statements[sql] = prepared
        return prepared
    }

    private func step(_ prepared: Prepared, _ onRow: (DirectSQLiteRow) throws -> Void) throws {
        let statement = prepared.statement
        var columns: [String: Int]?
        var count: Int32 = 0
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw failure(status) }
            if columns == nil {
                // After the first step: a statement SQLite re-prepared (the schema changed) may have
                // other columns now, and its count of re-preparations says so.
                count = sqlite_nio_sqlite3_column_count(statement)
                let preparation = sqlite_nio_sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_REPREPARE, 0)
                if let known = prepared.columns, prepared.columnsPreparation == preparation {
                    columns = known
                } else {
                    var names: [String: Int] = [:]
                    for index in 0..<count {
                        if let name = sqlite_nio_sqlite3_column_name(statement, index) { names[String(cString: name)] = Int(index) }
                    }
                    prepared.columns = names
                    prepared.columnsPreparation = preparation
                    columns = names
                }
            }
            var values: [DirectSQLiteRow.Value] = []
            values.reserveCapacity(Int(count))
            for index in 0..<count { values.append(column(index, of: statement)) }
            try onRow(DirectSQLiteRow(columns: columns ?? [:], values: values))
        }
    }

    private func column(_ index: Int32, of statement: OpaquePointer) -> DirectSQLiteRow.Value {
        switch sqlite_nio_sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite_nio_sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite_nio_sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            guard let text = sqlite_nio_sqlite3_column_text(statement, index) else { return .text("") }
            let length = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
        case SQLITE_BLOB:
            let length = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
            guard length > 0, let bytes = sqlite_nio_sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: length)))
        default: return .null
        }
    }

    /// The destructor value that tells SQLite to copy bound text and blobs.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    private func bind(_ value: Any, at index: Int32, in statement: OpaquePointer) throws -> Int32 {
        switch value {
        case let optional as any OptionalBind:
            guard let wrapped = optional.wrappedBind else { return sqlite_nio_sqlite3_bind_null(statement, index) }
            return try bind(wrapped, at: index, in: statement)
        case let text as String: return sqlite_nio_sqlite3_bind_text(statement, index, text, -1, Self.transient)
        case let number as Int64: return sqlite_nio_sqlite3_bind_int64(statement, index, number)
        case let number as Int: return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(number))
        case let number as Int32: return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(number))
        case let number as Double: return sqlite_nio_sqlite3_bind_double(statement, index, number)
        case let flag as Bool: return sqlite_nio_sqlite3_bind_int64(statement, index, flag ? 1 : 0)
        case let data as Data:
            return data.withUnsafeBytes { sqlite_nio_sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), Self.transient) }
        case let bytes as [UInt8]:
            return bytes.withUnsafeBytes { sqlite_nio_sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), Self.transient) }
        default:
            throw SQLiteFailure(code: SQLITE_MISMATCH, message: "cannot bind a value of type \(type(of: value))")
        }
    }
}

/// Copies the WAL back into the database file on a thread and connection of its own (SQLite's
/// PASSIVE checkpoint, which never blocks the writer or readers), when the writer's commits ask for it.
/// The writer's transactions then no longer pay for the copy and its file syncs. It also runs the
/// RESTART checkpoints that keep the WAL bounded (``restart()``); one thread running every
/// checkpoint means no two of Portcullis's ever contend.
final class Checkpointer: @unchecked Sendable {
    /// Frames in the WAL that start a background checkpoint (about 16 MiB; SQLite's default is 1,000).
    /// A page that many commits change (an index's hot leaf) is copied back once per checkpoint, so
    /// fewer, larger checkpoints copy and sync less for the same writes.
    static let threshold: Int32 = 4000
    /// Frames in the WAL at which the committing writer checkpoints itself (about 48 MiB, under the
    /// 64 MiB `journal_size_limit`).
    static let limit: Int32 = 12000

    private let connection: DirectSQLiteConnection
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var requested = false
    private var stopped = false
    private var done = 0
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        connection = try DirectSQLiteConnection(path: path, readOnly: false)
        let thread = Thread { [self] in run() }
        thread.name = "sqlite-checkpoint"
        thread.start()
    }

    /// Checkpoints run so far.
    var completed: Int {
        condition.lock()
        defer { condition.unlock() }
        return done
    }

    /// Whether a commit has left ``limit`` frames or more in the WAL since the last restart.
    private let restartDue = Atomic<Bool>(false)
    /// Callers waiting for a RESTART checkpoint (guarded by `condition`).
    private var restartWaiters: [CheckedContinuation<Void, Never>] = []
    /// RESTART checkpoints run so far (guarded by `condition`).
    private var restarts = 0

    /// Called by the writer's commit (inside SQLite's WAL hook): the WAL has reached ``limit``.
    func markRestartDue() { restartDue.store(true, ordering: .relaxed) }

    /// Whether a restart is due, clearing the mark: the caller that sees true calls ``restart()``.
    func takeRestartDue() -> Bool { restartDue.exchange(false, ordering: .relaxed) }

    /// RESTART checkpoints run so far (for tests and diagnostics).
    var restartsCompleted: Int {
        condition.lock()
        defer { condition.unlock() }
        return restarts
    }

    /// Checkpoints the whole WAL in RESTART mode on this thread and returns when that is done, so that
    /// the next write transaction starts the log over. Call it while holding the writer, between
    /// transactions: SQLite's RESTART waits (within the busy timeout) for readers still on old frames,
    /// and for a writer, which then never comes. The caller's thread stays free meanwhile (it was an
    /// event loop's, blocked 9 to 20 ms per restart when the commit checkpointed inline).
    func restart() async {
        await withCheckedContinuation { continuation in
            condition.lock()
            // Stopped: the last connection to close checkpoints the whole WAL anyway.
            guard !stopped else {
                condition.unlock()
                return continuation.resume()
            }
            restartWaiters.append(continuation)
            condition.signal()
            condition.unlock()
        }
    }

    /// Frames the WAL held at the last request.
    private let lastRequest = Atomic<Int32>(0)
    /// New frames that make a further checkpoint worth its copy and its file sync while the WAL has
    /// not started over (about 4 MiB). Under a steady stream of commits a PASSIVE checkpoint rarely
    /// copies the last frames, so the WAL stays past ``threshold``; asking on every commit then ran
    /// checkpoints back to back, each copying the few pages changed since the one before and syncing
    /// the database file.
    static let step: Int32 = 1000

    /// Asks for a checkpoint of a WAL of `frames` frames: the first past ``threshold``, then one per
    /// ``step`` more frames, and again once the WAL has started over.
    func request(frames: Int32) {
        guard Self.asks(frames: frames, lastRequest: lastRequest.load(ordering: .relaxed)) else { return }
        lastRequest.store(frames, ordering: .relaxed)
        request()
    }

    /// Whether a commit that left `frames` frames in the WAL asks for a checkpoint, when the last
    /// request was made at `lastRequest` frames (0 before any).
    static func asks(frames: Int32, lastRequest: Int32) -> Bool {
        guard frames >= threshold else { return false }
        // Fewer frames than at the last request: the WAL started over since.
        return frames < lastRequest || frames >= lastRequest + step
    }

    /// Asks for a checkpoint; requests made while one runs are folded into the next.
    func request() {
        condition.lock()
        requested = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while !requested && restartWaiters.isEmpty && !stopped { condition.wait() }
            let stop = stopped
            let waiters = restartWaiters
            restartWaiters = []
            let passive = requested && waiters.isEmpty
            requested = false
            condition.unlock()
            if !waiters.isEmpty {
                // A failed restart (busy past the timeout, I/O) leaves the WAL longer; the next commit
                // marks another. The log is bounded either way by the writer's pauses for these.
                let passed = (try? connection.execute("PRAGMA wal_checkpoint(RESTART)", []) { _ in }) != nil
                condition.lock()
                if passed { restarts += 1 }
                condition.unlock()
                for waiter in waiters { waiter.resume() }
            }
            if stop { break }
            if passive {
                // A failed checkpoint (busy, I/O) leaves the WAL longer; the next commit asks again.
                let passed = (try? connection.execute("PRAGMA wal_checkpoint(PASSIVE)", []) { _ in }) != nil
                if passed {
                    condition.lock()
                    done += 1
                    condition.unlock()
                }
            }
        }
        connection.close()
        finished.signal()
    }

    /// Stops the thread and closes its connection; returns when both are done.
    func stop() {
        condition.lock()
        let already = stopped
        stopped = true
        condition.signal()
        condition.unlock()
        if !already { finished.wait() }
    }
}

/// Lets ``DirectSQLiteConnection`` see through optionals among bound values.
protocol OptionalBind {
    var wrappedBind: Any? { get }
}

extension Optional: OptionalBind {
    var wrappedBind: Any? { self.map { $0 as Any } }
}

/// A row read in full.
struct DirectSQLiteRow: SQLRow {
    enum Value: Sendable {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
        case blob([UInt8])
    }

    let columns: [String: Int]
    let values: [Value]

    var allColumns: [String] { columns.sorted { $0.value < $1.value }.map(\.key) }
    func contains(column: String) -> Bool { columns[column] != nil }

    func value(_ column: String) throws -> Value {
        guard let index = columns[column], index < values.count else {
            throw DecodingError.keyNotFound(SQLColumnKey(column), .init(codingPath: [], debugDescription: "no column \(column)"))
        }
        return values[index]
    }

    func decodeNil(column: String) throws -> Bool {
        if case .null = try value(column) { return true }
        return false
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        let value = try value(column)
        func mismatch() -> DecodingError {
            .typeMismatch(D.self, .init(codingPath: [SQLColumnKey(column)], debugDescription: "column \(column) holds \(value)"))
        }
        if let optional = D.self as? any OptionalDecode.Type {
            if case .null = value {
                guard let none = optional.none() as? D else { throw mismatch() }
                return none
            }
            guard let inner = try Self.decode(value, as: optional.wrappedType), let some = optional.some(inner) as? D else { throw mismatch() }
            return some
        }
        guard let decoded = try Self.decode(value, as: D.self) as? D else { throw mismatch() }
        return decoded
    }

    static func decode(_ value: Value, as type: Any.Type) throws -> Any? {
        switch (value, type) {
        case (.integer(let n), is Int64.Type): return n
        case (.integer(let n), is Int.Type): return Int(n)
        case (.integer(let n), is Bool.Type): return n != 0
        case (.integer(let n), is Double.Type): return Double(n)
        case (.real(let d), is Double.Type): return d
        case (.text(let s), is String.Type): return s
        case (.blob(let b), is Data.Type): return Data(b)
        case (.blob(let b), is [UInt8].Type): return b
        case (.text(let s), is Data.Type): return Data(s.utf8)
        default: return nil
        }
    }
}

/// Lets ``DirectSQLiteRow`` decode optionals of the column types it knows.
protocol OptionalDecode {
    static var wrappedType: Any.Type { get }
    static func none() -> Any
    static func some(_ value: Any?) -> Any?
}

extension Optional: OptionalDecode {
    static var wrappedType: Any.Type { Wrapped.self }
    static func none() -> Any { Optional<Wrapped>.none as Any }
    static func some(_ value: Any?) -> Any? { (value as? Wrapped).map { Optional($0) as Any } }
}

/// A column name as a coding key, for decoding errors.
struct SQLColumnKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// sql-kit's view of a ``DirectSQLiteConnection``: statements run on the calling thread.
struct DirectSQLiteDatabase: SQLDatabase {
    let connection: DirectSQLiteConnection
    let logger: Logger
    let eventLoop: any EventLoop
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        do {
            try run(query, onRow)
            return eventLoop.makeSucceededVoidFuture()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        try run(query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }

    private func run(_ query: any SQLExpression, _ onRow: (any SQLRow) -> ()) throws {
        let (sql, binds) = serialize(query)
        try connection.execute(sql, binds) { onRow($0) }
    }
}
