import Foundation
import Synchronization

/// A fixed-window request counter per key (an IP address, an account), in this process.
///
/// Each node limits on its own: N nodes behind a load balancer allow up to N times the configured
/// rate for one key. Keys are forgotten when their window passes.
final class RateLimiter: Sendable {
    struct Window { var start: Date; var count: Int }
    private let state = Mutex<[String: Window]>([:])
    let limit: Int
    let window: TimeInterval

    init(limit: Int, window: TimeInterval = 60) {
        self.limit = limit
        self.window = window
    }

    /// Counts one request for `key`; returns the seconds to wait when it is over the limit.
    func hit(_ key: String, now: Date = Date()) -> Int? {
        state.withLock { windows in
            if windows.count > 100_000 { windows = windows.filter { now.timeIntervalSince($0.value.start) < window } }
            var entry = windows[key] ?? Window(start: now, count: 0)
            if now.timeIntervalSince(entry.start) >= window { entry = Window(start: now, count: 0) }
            entry.count += 1
            windows[key] = entry
            guard entry.count > limit else { return nil }
            return max(1, Int((window - now.timeIntervalSince(entry.start)).rounded(.up)))
        }
    }
}
