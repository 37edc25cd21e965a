import Accounts
import Foundation
import SQLKit

/// Rate-limit counts in the database, shared by every node that uses it (``RateCounter``). The
/// composition root uses this on PostgreSQL; one server on an SQLite file counts in memory.
extension SQLAccountStore: RateCounter {
    public func count(_ keys: [RateKey], now: Date) async throws -> [Int] {
        guard !keys.isEmpty else { return [] }
        // The key is stored as a hash of the window's length, the limiter's name and its key.
        return try await backend.countRateHits(keys.map { (sha256(String($0.window) + " " + $0.key), RateWindow(seconds: $0.window, holding: now)) })
    }

    public func sweepRateCounts(now: Date) async throws -> Int {
        let moment = Int64(now.timeIntervalSince1970.rounded(.down))
        return try await backend.write { db in
            try await db.raw("DELETE FROM rate_counts WHERE window_end <= \(bind: moment) RETURNING window_end").all().count
        }
    }

    /// One statement per request, whatever the number of keys: each count is created, moved on to a
    /// newer window, or incremented. A node whose clock lags cannot move a key back to an older
    /// window, only add to the newer one. Rows come back in no promised order, so each names its key.
    static func countHitsSQL(keys: Int) -> SQLTemplate {
        let rows = (0..<keys).map { "($\(3 * $0 + 1), $\(3 * $0 + 2), $\(3 * $0 + 3), 1)" }.joined(separator: ", ")
        return SQLTemplate("""
            INSERT INTO rate_counts (key_hash, window_start, window_end, hits) VALUES \(rows)
            ON CONFLICT (key_hash) DO UPDATE SET
              hits = CASE WHEN excluded.window_start > rate_counts.window_start THEN 1 ELSE rate_counts.hits + 1 END,
              window_end = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.window_end ELSE rate_counts.window_end END,
              window_start = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.window_start ELSE rate_counts.window_start END
            RETURNING key_hash, hits
            """)
    }
    static let countOneSQL = countHitsSQL(keys: 1), countTwoSQL = countHitsSQL(keys: 2)
}

/// One request's rate-limit keys, hashed, each with its window.
typealias RateHits = [(hash: [UInt8], window: RateWindow)]

extension SQLBackend {
    func countRateHits(_ hits: RateHits) async throws -> [Int] {
        guard Set(hits.map(\.hash)).count == hits.count else {
            // One upsert cannot touch a row twice: the same key twice is counted twice, in turn.
            var counts: [Int] = []
            for hit in hits { counts += try await countRateHits([hit]) }
            return counts
        }
        // Rows are written in one order (by hash) whoever writes them, so two requests that share
        // keys never wait on each other's locks in opposite orders.
        let values: [SQLValue] = hits.sorted { $0.hash.lexicographicallyPrecedes($1.hash) }.flatMap { hit -> [SQLValue] in
            [.blob(hit.hash), .integer(hit.window.start), .integer(hit.window.end)]
        }
        let template = hits.count == 1 ? SQLAccountStore.countOneSQL : hits.count == 2 ? SQLAccountStore.countTwoSQL : SQLAccountStore.countHitsSQL(keys: hits.count)
        let counted = try await write { db in
            try await db.raw("\(template.query(values))").all().map { row in
                let columns = SQLKitColumns.of(row)
                return (try columns.bytes("key_hash"), Int(try columns.integer("hits")))
            }
        }
        let byHash = Dictionary(counted, uniquingKeysWith: { first, _ in first })
        return try hits.map { hit in
            guard let count = byHash[hit.hash] else { throw SQLAccountStore.corrupt("rate_counts.hits") }
            return count
        }
    }
}
