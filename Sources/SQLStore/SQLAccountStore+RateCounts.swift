import Accounts
import Foundation
import SQLKit

/// Rate-limit counts in the database, shared by every node that uses it (``RateCounter``). The
/// composition root uses this on PostgreSQL; one server on an SQLite file counts in memory.
extension SQLAccountStore: RateCounter {
    /// One statement per request: the count is created, moved on to a newer window, or incremented.
    /// A node whose clock lags cannot move a key back to an older window, only add to the newer one.
    static let countHitSQL = SQLTemplate("""
        INSERT INTO rate_counts (key_hash, window_start, window_end, hits) VALUES ($1, $2, $3, 1)
        ON CONFLICT (key_hash) DO UPDATE SET
          hits = CASE WHEN excluded.window_start > rate_counts.window_start THEN 1 ELSE rate_counts.hits + 1 END,
          window_end = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.window_end ELSE rate_counts.window_end END,
          window_start = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.window_start ELSE rate_counts.window_start END
        RETURNING hits
        """)

    public func count(_ key: String, window seconds: Int, now: Date) async throws -> Int {
        let window = RateWindow(seconds: seconds, holding: now)
        let values: [SQLValue] = [.blob(sha256(key)), .integer(window.start), .integer(window.end)]
        let hits = try await backend.write { db in
            try await db.raw("\(Self.countHitSQL.query(values))").first().map { try SQLKitColumns.of($0).integer("hits") }
        }
        guard let hits else { throw SQLAccountStore.corrupt("hits") }
        return Int(hits)
    }

    public func sweepRateCounts(now: Date) async throws -> Int {
        let moment = Int64(now.timeIntervalSince1970.rounded(.down))
        return try await backend.write { db in
            try await db.raw("DELETE FROM rate_counts WHERE window_end <= \(bind: moment) RETURNING window_end").all().count
        }
    }
}
