import Accounts
import Foundation
import Logging
import ServiceLifecycle

/// Deletes expired challenges and sessions, and events past their retention, every minute, until
/// graceful shutdown.
struct SweepService: Service {
    let store: any AccountStore
    let idleTimeout: TimeInterval
    /// How long events are kept (`events.retention`); nil keeps them for ever.
    var eventRetention: TimeInterval?
    let clock: @Sendable () -> Date
    let logger: Logger
    /// What else expires: the OpenID Connect provider's codes, tokens and requests, and rate counts.
    let also: @Sendable () async throws -> Int

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Sleep first: migrations run as the server starts.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            do {
                let now = clock()
                let challenges = try await store.sweepExpiredChallenges(now: now)
                let sessions = try await store.sweepExpiredSessions(now: now, idleTimeout: idleTimeout)
                let artifacts = try await also()
                let events = try await sweepEvents(now: now)
                if challenges + sessions + artifacts + events > 0 {
                    logger.debug("swept", metadata: [
                        "challenges": "\(challenges)", "sessions": "\(sessions)", "events_past_retention": "\(events)",
                        "oidc_artifacts_and_rate_counts": "\(artifacts)",
                    ])
                }
            } catch {
                logger.warning("sweep failed: \(String(reflecting: error))")
            }
        }
    }

    /// Events in one delete: a short turn of the writer, so sign-ins wait little behind it.
    static let eventBatch = 1000
    /// Batches in one sweep: far more than a minute of events at any sign-in rate, so the sweep keeps
    /// up, while a first sweep over years of events is spread over several minutes.
    static let eventBatchesPerSweep = 100

    /// Deletes the events recorded before the retention period, oldest first, in batches; answers how many.
    func sweepEvents(now: Date) async throws -> Int {
        guard let eventRetention else { return 0 }
        let cutoff = now.addingTimeInterval(-eventRetention)
        var deleted = 0
        for _ in 0..<Self.eventBatchesPerSweep {
            let batch = try await store.deleteEvents(before: cutoff, limit: Self.eventBatch)
            deleted += batch
            if batch < Self.eventBatch || Task.isCancelled { break }
        }
        return deleted
    }
}

