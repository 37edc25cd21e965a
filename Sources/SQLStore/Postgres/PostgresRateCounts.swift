import Accounts
import Foundation
import PostgresNIO
import SQLKit

/// Adds hits to rate counts, one row per distinct key (sorted by key, so that concurrent batches,
/// on this node or another, take row locks in one order), and answers each key's new total: a batch
/// of requests from ``PostgresBackend/countRateHits(_:)``, where one address may appear many times.
/// Its table is UNLOGGED, so the commit waits for no WAL flush.
struct CountRateHitsStatement: PostgresPreparedStatement {
    static let name = "portcullis_count_rate_hits_v1"
    static let elementTypes: [PostgresArrayElement] = [.bytea, .int8, .int8, .int8]
    static let sql = """
        INSERT INTO rate_counts (key_hash, window_start, window_end, hits)
        SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[])
        ON CONFLICT (key_hash) DO UPDATE SET
          hits = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.hits ELSE rate_counts.hits + excluded.hits END,
          window_end = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.window_end ELSE rate_counts.window_end END,
          window_start = CASE WHEN excluded.window_start > rate_counts.window_start THEN excluded.window_start ELSE rate_counts.window_start END
        RETURNING key_hash, hits
        """
    static let bindingDataTypes: [PostgresDataType] = elementTypes.map(\.arrayType)
    typealias Row = (hash: [UInt8], hits: Int64)

    /// One row per distinct key: its hash, its window, and how many hits to add.
    let rows: [(hash: [UInt8], window: RateWindow, hits: Int)]

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(rows: rows.map { [.blob($0.hash), .integer($0.window.start), .integer($0.window.end), .integer(Int64($0.hits))] },
                         elementTypes: Self.elementTypes)
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let columns = row.makeRandomAccess()
        return (Array(try columns["key_hash"].decode(ByteBuffer.self).readableBytesView), try columns["hits"].decode(Int64.self))
    }
}

/// One request's rate-limit keys, hashed, each with its window.
typealias RateHits = [(hash: [UInt8], window: RateWindow)]

/// Rate-limit counts in the database every node shares (``RateCounter``), for deployments on
/// PostgreSQL. One server on an SQLite file counts in memory (``MemoryRateCounter``).
extension PostgresBackend: RateCounter {
    public func count(_ keys: [RateKey], now: Date) async throws -> [Int] {
        guard !keys.isEmpty else { return [] }
        // The key is stored as a hash of the window's length, the limiter's name and its key.
        return try await rateCounts.submit(keys.map { (sha256(String($0.window) + " " + $0.key), RateWindow(seconds: $0.window, holding: now)) })
    }

    public func sweepRateCounts(now: Date) async throws -> Int {
        let moment = Int64(now.timeIntervalSince1970.rounded(.down))
        return try await write { db in
            try await db.raw("DELETE FROM rate_counts WHERE window_end <= \(bind: moment) RETURNING window_end").all().count
        }
    }

    static func rateBatcher(_ client: PostgresClient) -> Batcher<RateHits, [Int]> {
        Batcher(lanes: batchLanes, largest: largestBatch) { requests in try await countRateHits(requests, on: client) }
    }

    /// Counts every request's hits in one statement and answers each request as if the requests had
    /// run one after another in batch order: when one key holds n of the batch's hits and its new
    /// total is T, they are the hits T-n+1 ... T, in order.
    static func countRateHits(_ requests: [RateHits], on client: PostgresClient) async throws -> [[Int]] {
        var batch: [[UInt8]: (window: RateWindow, hits: Int)] = [:]
        for request in requests {
            for key in request {
                var entry = batch[key.hash] ?? (key.window, 0)
                // Hits of one key straddling a window's end all count in the newer window.
                if key.window.start > entry.window.start { entry.window = key.window }
                entry.hits += 1
                batch[key.hash] = entry
            }
        }
        let rows = batch.map { (hash: $0.key, window: $0.value.window, hits: $0.value.hits) }.sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
        var totals: [[UInt8]: Int] = [:]
        for row in try await self.rows(CountRateHitsStatement(rows: rows), on: client) { totals[row.hash] = Int(row.hits) }
        var next: [[UInt8]: Int] = [:]
        return try requests.map { request in
            try request.map { key in
                guard let total = totals[key.hash], let hits = batch[key.hash]?.hits else { throw BatchError.strayRow }
                let position = next[key.hash, default: 0] + 1
                next[key.hash] = position
                return total - hits + position
            }
        }
    }
}
