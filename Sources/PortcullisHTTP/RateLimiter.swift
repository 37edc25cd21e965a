import Accounts
import Foundation

/// A fixed-window limit on requests per key (an address, an account) under one name, counted by a
/// ``RateCounter``: in this process on SQLite, in the shared database on PostgreSQL, so that N nodes
/// allow the configured rate and not N times it.
struct RateLimiter: Sendable {
    /// Keeps this limiter's keys apart from the other limiters' in the counter.
    let name: String
    let limit: Int
    /// The window's length in seconds.
    let window: Int
    let counter: any RateCounter

    init(_ name: String, limit: Int, window: Int = 60, counter: any RateCounter) {
        self.name = name
        self.limit = limit
        self.window = window
        self.counter = counter
    }

    /// Counts one request for `key`; returns the seconds to wait when it is over the limit. Throws
    /// what the counter throws (``StoreUnavailable`` when the database is away): a limit that cannot
    /// be counted refuses the request.
    func hit(_ key: String, now: Date = Date()) async throws -> Int? {
        try await Self.hit([(self, key)], now: now)
    }

    /// Counts one request against each limit at once (one round trip to a shared counter), all of
    /// which use the same counter; returns the longest wait among the limits it is over.
    static func hit(_ limits: [(limiter: RateLimiter, key: String)], now: Date = Date()) async throws -> Int? {
        guard let counter = limits.first?.limiter.counter else { return nil }
        let counts = try await counter.count(limits.map { RateKey($0.limiter.name + ":" + $0.key, window: $0.limiter.window) }, now: now)
        return zip(limits, counts).compactMap { limit, count in
            count > limit.limiter.limit ? RateWindow(seconds: limit.limiter.window, holding: now).secondsLeft(after: now) : nil
        }.max()
    }
}
