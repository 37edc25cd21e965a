import Accounts
import Foundation
import Logging
import PortcullisTesting
import SQLKit
@testable import SQLStore
import Testing

/// The SQLite path that runs statements on the calling thread: concurrency, the statement cache, binds.
@Suite struct DirectSQLiteTests {
    static func withBackend(_ body: (SQLiteBackend) async throws -> Void) async throws {
        let path = NSTemporaryDirectory() + "portcullis-direct-\(UUID().uuidString).sqlite"
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        do { try await body(backend) } catch {
            try await backend.close()
            throw error
        }
        try await backend.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// A new database, and the write-ahead log SQLite makes beside it, are readable by their owner only.
    @Test func aNewDatabaseIsTheOwnersOnly() async throws {
        let path = NSTemporaryDirectory() + "portcullis-mode-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let store = SQLAccountStore(backend: backend)
        try await store.migrate()
        for suffix in ["", "-wal"] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path + suffix)[.posixPermissions] as? Int)
            #expect(mode & 0o777 == 0o600, "\(suffix): \(String(mode, radix: 8))")
        }
        try await backend.close()
    }

    @Test func concurrentWritersAndReadersSeeWholeTransactions() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE pairs (n BIGINT PRIMARY KEY, twice BIGINT NOT NULL)").run() }
            // 200 transactions that each write two rows, while readers check that every n has its twin.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<200 {
                    group.addTask {
                        try await backend.transaction { db in
                            try await db.raw("INSERT INTO pairs (n, twice) VALUES (\(bind: Int64(n)), \(bind: Int64(2 * n)))").run()
                            try await db.raw("INSERT INTO pairs (n, twice) VALUES (\(bind: Int64(1000 + n)), \(bind: Int64(2 * n)))").run()
                        }
                    }
                    group.addTask {
                        let count = try await backend.read { db in
                            try await db.raw("SELECT COUNT(*) AS c FROM pairs").first().map { try $0.decode(column: "c", as: Int64.self) } ?? -1
                        }
                        #expect(count % 2 == 0, "a reader saw half a transaction")
                    }
                }
                try await group.waitForAll()
            }
            let total = try await backend.read { db in try await db.raw("SELECT COUNT(*) AS c FROM pairs").first()?.decode(column: "c", as: Int64.self) }
            #expect(total == 400)
        }
    }

    @Test func aFailedTransactionLeavesNothingAndTheWriterIsFreedAfterward() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY)").run() }
            await #expect(throws: (any Error).self) {
                try await backend.transaction { db in
                    try await db.raw("INSERT INTO t (k) VALUES (\(bind: "a"))").run()
                    try await db.raw("INSERT INTO t (k) VALUES (\(bind: "a"))").run()  // unique violation
                }
            }
            #expect(try await backend.read { db in try await db.raw("SELECT k FROM t").all().count } == 0)
            try await backend.write { db in try await db.raw("INSERT INTO t (k) VALUES (\(bind: "b"))").run() }
            #expect(try await backend.read { db in try await db.raw("SELECT k FROM t").all().count } == 1)
        }
    }

    @Test func moreDistinctStatementsThanTheCacheHoldsStillRun() async throws {
        try await Self.withBackend { backend in
            for n in 0..<300 {
                let value = try await backend.read { db in
                    try await db.raw("SELECT \(unsafeRaw: String(n)) AS v, \(bind: Int64(n)) AS w").first()?.decode(column: "w", as: Int64.self)
                }
                #expect(value == Int64(n))
            }
        }
    }

    @Test func valuesRoundTripAndUnknownBindTypesAreRefused() async throws {
        try await Self.withBackend { backend in
            let row = try await backend.read { db in
                try await db.raw("""
                    SELECT \(bind: "text é") AS s, \(bind: Int64.max) AS i, \(bind: Data([0, 1, 255])) AS b, \(bind: Optional<String>.none) AS n,
                      \(bind: 2.5) AS d, \(bind: true) AS t
                    """).first()
            }
            let found = try #require(row)
            #expect(try found.decode(column: "s", as: String.self) == "text é")
            #expect(try found.decode(column: "i", as: Int64.self) == Int64.max)
            #expect(try found.decode(column: "b", as: Data.self) == Data([0, 1, 255]))
            #expect(try found.decode(column: "n", as: String?.self) == nil)
            #expect(try found.decode(column: "s", as: String?.self) == "text é")
            #expect(try found.decode(column: "d", as: Double.self) == 2.5)
            #expect(try found.decode(column: "t", as: Int64.self) == 1)
            #expect(throws: (any Error).self) { try found.decode(column: "s", as: Int64.self) }
            #expect(throws: (any Error).self) { try found.decode(column: "missing", as: String.self) }
            await #expect(throws: (any Error).self) {
                try await backend.read { db in try await db.raw("SELECT \(bind: UUID()) AS u").run() }
            }
        }
    }

    /// Past the threshold, a commit asks for a background checkpoint only once the WAL has grown by a
    /// step since the last request, or has started over: a WAL that a steady writer keeps long does
    /// not get a checkpoint (and a sync of the database file) per commit.
    @Test(arguments: [
        (Checkpointer.threshold - 1, 0, false),                                        // below the threshold
        (Checkpointer.threshold, 0, true),                                             // the first past it
        (Checkpointer.threshold + 1, Checkpointer.threshold, false),                   // the next commit
        (Checkpointer.threshold + Checkpointer.step - 1, Checkpointer.threshold, false),
        (Checkpointer.threshold + Checkpointer.step, Checkpointer.threshold, true),    // a step later
        (Checkpointer.threshold + 10, Checkpointer.threshold + 500, true),             // started over and long again
    ] as [(Int32, Int32, Bool)])
    func aLongWALAsksForACheckpointOncePerStep(frames: Int32, lastRequest: Int32, asks: Bool) {
        #expect(Checkpointer.asks(frames: frames, lastRequest: lastRequest) == asks)
    }

    /// Commits never checkpoint inline: once the WAL passes the threshold, the background thread
    /// copies it back, and everything written is there after closing and reopening.
    @Test func theWALIsCheckpointedInTheBackground() async throws {
        let path = NSTemporaryDirectory() + "portcullis-checkpoint-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        do {
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (n BIGINT PRIMARY KEY, pad BLOB NOT NULL)").run() }
            #expect(backend.checkpointsCompleted == 0)
            // Each commit writes at least one 4 KiB page: 200 commits more than the threshold pass it.
            let commits = Int(Checkpointer.threshold) + 200
            for n in 0..<commits {
                try await backend.write { db in
                    try await db.raw("INSERT INTO t (n, pad) VALUES (\(bind: Int64(n)), \(bind: [UInt8](repeating: 7, count: 3000)))").run()
                }
            }
            var waited = 0
            while backend.checkpointsCompleted == 0 && waited < 100 {
                try await Task.sleep(for: .milliseconds(50))
                waited += 1
            }
            #expect(backend.checkpointsCompleted >= 1)
        } catch {
            try await backend.close()
            throw error
        }
        try await backend.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "closing the last connection checkpoints and removes the WAL")
        let reopened = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let count = try await reopened.read { db in try await db.raw("SELECT COUNT(*) AS c FROM t").first()?.decode(column: "c", as: Int64.self) }
        try await reopened.close()
        #expect(count == Int64(Checkpointer.threshold) + 200)
    }

    /// Runs `first` while it holds the writer, with `others` queued behind it (each started once the
    /// first is inside its transaction), and returns every outcome: the queued ones share the first's
    /// transaction and its COMMIT.
    static func queuedBehindOne(
        _ backend: SQLiteBackend, first: @escaping @Sendable (any SQLDatabase) async throws -> Void,
        others: [@Sendable (any SQLDatabase) async throws -> Void], othersAsSingleWrites: Bool = false
    ) async -> (first: Bool, others: [Bool]) {
        let inside = AsyncStream<Void>.makeStream()
        return await withTaskGroup(of: (Int, Bool).self) { group in
            group.addTask {
                do {
                    try await backend.transaction { db in
                        inside.continuation.yield()
                        // Hold the writer until the others are queued for it (however slow the machine).
                        while backend.waitingWriterCount < others.count { try await Task.sleep(for: .milliseconds(1)) }
                        try await first(db)
                    }
                    return (-1, true)
                } catch { return (-1, false) }
            }
            var iterator = inside.stream.makeAsyncIterator()
            _ = await iterator.next()
            for (index, work) in others.enumerated() {
                group.addTask {
                    do {
                        if othersAsSingleWrites {
                            try await backend.write { db in try await work(db) }
                        } else {
                            try await backend.transaction { db in try await work(db) }
                        }
                        return (index, true)
                    } catch { return (index, false) }
                }
            }
            var firstOK = false
            var results = [Bool](repeating: false, count: others.count)
            for await (index, ok) in group {
                if index < 0 { firstOK = ok } else { results[index] = ok }
            }
            return (firstOK, results)
        }
    }

    static func insert(_ key: String) -> @Sendable (any SQLDatabase) async throws -> Void {
        { db in try await db.raw("INSERT INTO t (k) VALUES (\(bind: key))").run() }
    }

    static func keys(_ backend: SQLiteBackend) async throws -> Set<String> {
        try await backend.read { db in Set(try await db.raw("SELECT k FROM t").all().map { try $0.decode(column: "k", as: String.self) }) }
    }

    /// Group commit: transactions queued for the writer share one COMMIT, each returns only once its
    /// work is committed (a reader sees it), and one that fails is rolled back alone.
    @Test func queuedTransactionsShareACommitAndFailAlone() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY)").run() }
            let before = backend.commitCount
            var others = (0..<20).map { Self.insert("k\($0)") }
            // The eleventh writes a row, then one whose key the first took: a unique violation, its
            // own failure only, and its first row goes with it.
            others[10] = { db in
                try await db.raw("INSERT INTO t (k) VALUES ('dup')").run()
                try await db.raw("INSERT INTO t (k) VALUES ('first')").run()
            }
            let outcome = await Self.queuedBehindOne(backend, first: Self.insert("first"), others: others)
            #expect(outcome.first)
            #expect(outcome.others.enumerated().allSatisfy { $0.offset == 10 ? !$0.element : $0.element })
            let keys = try await Self.keys(backend)
            #expect(keys == Set(["first"] + (0..<20).filter { $0 != 10 }.map { "k\($0)" }))
            // 21 transactions; all but the stragglers shared one COMMIT.
            #expect(backend.commitCount - before <= 3)
        }
    }

    /// Single-statement writes join the group without a savepoint: one refused by a constraint fails
    /// alone (SQLite undoes the statement and keeps the transaction) and the others are committed.
    @Test func queuedSingleWritesShareACommitAndFailAlone() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY)").run() }
            let before = backend.commitCount
            var others = (0..<20).map { Self.insert("k\($0)") }
            others[7] = Self.insert("first")  // the key the first took
            let outcome = await Self.queuedBehindOne(backend, first: Self.insert("first"), others: others, othersAsSingleWrites: true)
            #expect(outcome.first)
            #expect(outcome.others.enumerated().allSatisfy { $0.offset == 7 ? !$0.element : $0.element })
            #expect(try await Self.keys(backend) == Set(["first"] + (0..<20).filter { $0 != 7 }.map { "k\($0)" }))
            #expect(backend.commitCount - before <= 3)
        }
    }

    /// More callers queued than one group carries: the one that commits hands the writer to the next
    /// in line, which runs the rest in a group of its own, and every caller's work is committed once.
    @Test func callersBeyondOneGroupAreHandedTheWriterInTurn() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY)").run() }
            let before = backend.commitCount
            let count = 3 * SQLiteBackend.largestGroup + 5
            let outcome = await Self.queuedBehindOne(backend, first: Self.insert("first"), others: (0..<count).map { Self.insert("k\($0)") },
                                                     othersAsSingleWrites: true)
            #expect(outcome.first)
            #expect(outcome.others.allSatisfy { $0 })
            #expect(try await Self.keys(backend) == Set(["first"] + (0..<count).map { "k\($0)" }))
            // largestGroup callers a group at most: at least four COMMITs, and far fewer than one per caller.
            let commits = backend.commitCount - before
            #expect(commits >= 4 && commits < count / 4)
        }
    }

    struct AfterTheStatement: Error {}

    /// A single write whose body throws something other than SQLite's refusal may have changed the
    /// database, and it has no savepoint to go back to: the whole group is rolled back and everyone in
    /// it fails, rather than its half-done work being committed with the others.
    @Test func aSingleWriteThatThrowsAfterItsStatementRollsBackTheGroup() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY)").run() }
            let outcome = await Self.queuedBehindOne(backend, first: Self.insert("first"), others: [
                Self.insert("k0"),
                { db in
                    try await db.raw("INSERT INTO t (k) VALUES ('half')").run()
                    throw AfterTheStatement()
                },
            ], othersAsSingleWrites: true)
            #expect(!outcome.first)
            #expect(outcome.others == [false, false])
            #expect(try await Self.keys(backend).isEmpty)
            try await backend.write { db in try await Self.insert("after")(db) }
            #expect(try await Self.keys(backend) == ["after"])
        }
    }

    /// When the shared transaction is lost (here a body ends it itself, as SQLite does after some
    /// errors), everyone in it fails and nothing of theirs is kept; later transactions go on.
    @Test func aLostSharedTransactionFailsEveryoneInIt() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY)").run() }
            let outcome = await Self.queuedBehindOne(backend, first: Self.insert("first"), others: [
                { db in try await db.raw("ROLLBACK").run() },
            ])
            #expect(!outcome.first)
            #expect(outcome.others == [false])
            #expect(try await Self.keys(backend).isEmpty)
            try await backend.transaction { db in try await Self.insert("after")(db) }
            #expect(try await Self.keys(backend) == ["after"])
        }
    }

    /// A writer that never pauses still keeps the WAL bounded: at ``Checkpointer/limit`` frames the
    /// caller holding the writer has the checkpoint thread restart the log before the next write, so
    /// the log starts over instead of growing with every commit.
    @Test func aSteadyWriterKeepsTheWALBounded() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE w (n BIGINT PRIMARY KEY, pad BLOB NOT NULL)").run() }
            // Each commit writes at least one 4 KiB page (a frame of 4,120 bytes with its header).
            let commits = 2 * Int(Checkpointer.limit)
            for n in 0..<commits {
                try await backend.write { db in
                    try await db.raw("INSERT INTO w (n, pad) VALUES (\(bind: Int64(n)), \(bind: [UInt8](repeating: 1, count: 3000)))").run()
                }
            }
            let path = backend.path
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int)
            // Unbounded, the WAL holds a frame per commit (twice the limit). Bounded, it stays near the
            // limit plus what is written while a restart waits (a CI run once saw 1.5 times the limit
            // while the restart was refused because the background checkpoint was running).
            let limitBytes = Int(Checkpointer.limit) * 4120
            #expect(size < limitBytes * 3 / 2, "the WAL grew to \(size) bytes")
            #expect(backend.walRestartsCompleted >= 1)
        }
    }
}
