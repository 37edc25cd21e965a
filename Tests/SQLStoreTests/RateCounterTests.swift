import Accounts
import Foundation
import Logging
import PortcullisTesting
import SQLStore
import Testing

/// Rate counts in memory (one server on SQLite) and in PostgreSQL (shared by every node): the same
/// windows and the same answers, so a limit means the same whichever counter the server uses.
@Suite(.serialized) struct RateCounterTests {
    /// The counters: in memory, and PostgreSQL when `PORTCULLIS_TEST_POSTGRES_URL` names a database.
    static var kinds: [StoreConformanceTests.Kind] { StoreConformanceTests.kinds.filter { $0 != .sqlite } }

    /// The counter of `kind`, on a migrated database for PostgreSQL.
    static func withCounter(_ kind: StoreConformanceTests.Kind, _ body: @escaping @Sendable (any RateCounter) async throws -> Void) async throws {
        switch kind {
        case .memory, .sqlite:
            try await body(MemoryRateCounter())
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"] else { return }
            let backend = try PostgresBackend(url: url, logger: Logger(label: "test"))
            try await backend.withRunningClient {
                try await SQLAccountStore(backend: backend).migrate()
                try await body(backend)
            }
        }
    }

    /// A moment `offset` seconds into a minute-aligned window.
    static func at(_ offset: Double, minute: Double = 29_000_000) -> Date { Date(timeIntervalSince1970: minute * 60 + offset) }

    @Test(arguments: [
        // (window length, moment, start, end, seconds left)
        (60, 1_740_000_030.0, Int64(1_740_000_000), Int64(1_740_000_060), 30),
        (60, 1_740_000_059.2, Int64(1_740_000_000), Int64(1_740_000_060), 1),
        (60, 1_740_000_000.0, Int64(1_740_000_000), Int64(1_740_000_060), 60),
        (3600, 1_740_000_030.0, Int64(1_739_998_800), Int64(1_740_002_400), 2370),
        (600, 1_740_000_030.5, Int64(1_740_000_000), Int64(1_740_000_600), 570),
    ])
    func windowsAreAlignedSoEveryNodeAgrees(seconds: Int, moment: Double, start: Int64, end: Int64, left: Int) {
        let now = Date(timeIntervalSince1970: moment)
        let window = RateWindow(seconds: seconds, holding: now)
        #expect(window.start == start && window.end == end)
        #expect(window.secondsLeft(after: now) == left)
    }

    @Test(arguments: Self.kinds)
    func countsPerKeyWithinAWindowAndStartAgainInTheNext(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withCounter(kind) { counter in
            let key = "ip:192.0.2.\(Int.random(in: 1...250)) \(UUID())"
            var counts: [Int] = []
            for second in [0.0, 10, 59.9] { counts.append(try await counter.count(key, window: 60, now: Self.at(second))) }
            #expect(counts == [1, 2, 3])
            // Another key, and the same key under another window length, count on their own.
            #expect(try await counter.count(key + "x", window: 60, now: Self.at(1)) == 1)
            // The next window starts from one.
            #expect(try await counter.count(key, window: 60, now: Self.at(60)) == 1)
            #expect(try await counter.count(key, window: 60, now: Self.at(61)) == 2)
        }
    }

    @Test(arguments: Self.kinds)
    func aNodeWhoseClockLagsAddsToTheNewerWindowAndNeverResetsIt(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withCounter(kind) { counter in
            let key = "account:\(UUID())"
            var counts: [Int] = []
            // The third request comes from a node two seconds behind, still in the older window.
            for second in [61.0, 62, 59, 63] { counts.append(try await counter.count(key, window: 60, now: Self.at(second))) }
            #expect(counts == [1, 2, 3, 4])
        }
    }

    @Test(arguments: Self.kinds)
    func theSweepForgetsOnlyWindowsThatEnded(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withCounter(kind) { counter in
            let ended = "ip:\(UUID())", running = "ip:\(UUID())"
            _ = try await counter.count(ended, window: 60, now: Self.at(5))
            _ = try await counter.count(running, window: 3600, now: Self.at(5))
            _ = try await counter.count(running, window: 3600, now: Self.at(6))
            // On a shared database other tests' counts may be swept too: at least the one that ended.
            #expect(try await counter.sweepRateCounts(now: Self.at(60)) >= 1)
            #expect(try await counter.count(ended, window: 60, now: Self.at(5)) == 1)
            #expect(try await counter.count(running, window: 3600, now: Self.at(7)) == 3)
        }
    }

    @Test(arguments: Self.kinds)
    func severalKeysCountAtOnceEachInItsOwnWindow(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withCounter(kind) { counter in
            let ip = "ip:\(UUID())", account = "account:\(UUID())"
            var answers: [[Int]] = []
            answers.append(try await counter.count([RateKey(ip, window: 60), RateKey(account, window: 3600)], now: Self.at(1)))
            answers.append(try await counter.count([RateKey(account, window: 3600), RateKey(ip, window: 60)], now: Self.at(2)))
            // The next minute: the address starts again, the hour goes on.
            answers.append(try await counter.count([RateKey(ip, window: 60), RateKey(account, window: 3600)], now: Self.at(61)))
            // The same key under another window length is another count; the same key twice counts twice.
            answers.append(try await counter.count([RateKey(ip, window: 600), RateKey(ip, window: 600)], now: Self.at(62)))
            #expect(answers == [[1, 1], [2, 2], [1, 3], [1, 2]])
            #expect(try await counter.count([], now: Self.at(63)).isEmpty)
        }
    }

    @Test(arguments: Self.kinds)
    func concurrentRequestsSharingKeysInEitherOrderAllFinish(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withCounter(kind) { counter in
            let a = RateKey("ip:\(UUID())", window: 60), b = RateKey("account:\(UUID())", window: 60)
            let answers = try await withThrowingTaskGroup(of: [Int].self) { group in
                for n in 0..<40 { group.addTask { try await counter.count(n % 2 == 0 ? [a, b] : [b, a], now: Self.at(30)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.map { $0[0] }.sorted() == Array(1...40))
            #expect(answers.map { $0[1] }.sorted() == Array(1...40))
        }
    }

    @Test(arguments: Self.kinds)
    func concurrentRequestsAreEachCountedOnce(kind: StoreConformanceTests.Kind) async throws {
        try await Self.withCounter(kind) { counter in
            let key = "ip:\(UUID())"
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 { group.addTask { try await counter.count(key, window: 60, now: Self.at(30)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(counts.sorted() == Array(1...40))
        }
    }
}
