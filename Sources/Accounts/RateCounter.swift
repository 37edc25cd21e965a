import Foundation
import Synchronization

/// Where the request counts behind rate limits live: in this process (``MemoryRateCounter``), or in
/// the database that every node shares, so that N nodes behind a load balancer allow the configured
/// rate for a key, not N times it.
///
/// Counts are kept in fixed windows aligned to whole multiples of the window's length since
/// 1970-01-01 (``RateWindow``): every node agrees where a window starts without talking to the others.
public protocol RateCounter: Sendable {
    /// Counts one request under each key in its window that holds `now`, all at once (one round trip
    /// to a database); answers, in order, how many requests each key's window holds, this one included.
    func count(_ keys: [RateKey], now: Date) async throws -> [Int]
    /// Forgets the counts of windows that ended at or before `now`; answers how many were forgotten.
    func sweepRateCounts(now: Date) async throws -> Int
}

extension RateCounter {
    /// Counts one request under `key` in the window of `seconds` that holds `now`; answers how many
    /// requests that window holds for `key`, this one included.
    public func count(_ key: String, window seconds: Int, now: Date) async throws -> Int {
        try await count([RateKey(key, window: seconds)], now: now).first ?? 0
    }
}

/// What one rate limit counts under: a key (an address, an account, prefixed with the limit's name)
/// and the length of its windows in seconds.
public struct RateKey: Sendable, Hashable {
    public let key: String
    public let window: Int
    public init(_ key: String, window: Int) {
        self.key = key
        self.window = window
    }
}

/// The fixed window of `seconds` that holds a moment.
public struct RateWindow: Sendable, Equatable {
    /// Whole seconds since 1970 at which the window starts and ends.
    public let start: Int64, end: Int64

    public init(seconds: Int, holding now: Date) {
        let length = Int64(max(1, seconds))
        let moment = Int64(now.timeIntervalSince1970.rounded(.down))
        start = moment - ((moment % length) + length) % length
        end = start + length
    }

    /// Whole seconds from `now` until the window ends, at least 1: a `Retry-After` value.
    public func secondsLeft(after now: Date) -> Int {
        max(1, Int((Double(end) - now.timeIntervalSince1970).rounded(.up)))
    }
}

/// Rate counts in this process: right for one server on an embedded SQLite file, and for tests.
/// Keys are forgotten when their window passes.
public final class MemoryRateCounter: RateCounter {
    private struct Count { var window: RateWindow; var hits: Int }
    private let counts = Mutex<[String: Count]>([:])

    public init() {}

    public func count(_ keys: [RateKey], now: Date) -> [Int] {
        counts.withLock { counts in
            // A flood of distinct keys (addresses) cannot grow the table without bound.
            if counts.count > 100_000 {
                let moment = Int64(now.timeIntervalSince1970.rounded(.down))
                counts = counts.filter { $0.value.window.end > moment }
            }
            return keys.map { key in
                let window = RateWindow(seconds: key.window, holding: now)
                let name = String(key.window) + " " + key.key
                var entry = counts[name] ?? Count(window: window, hits: 0)
                if entry.window.start < window.start { entry = Count(window: window, hits: 0) }
                entry.hits += 1
                counts[name] = entry
                return entry.hits
            }
        }
    }

    public func sweepRateCounts(now: Date) -> Int {
        let moment = Int64(now.timeIntervalSince1970.rounded(.down))
        return counts.withLock { counts in
            let before = counts.count
            counts = counts.filter { $0.value.window.end > moment }
            return before - counts.count
        }
    }
}
