import Accounts
import Foundation
import Logging
import ServiceLifecycle

/// Deletes expired challenges and sessions every minute, until graceful shutdown.
struct SweepService: Service {
    let store: any AccountStore
    let idleTimeout: TimeInterval
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
                if challenges + sessions + artifacts > 0 {
                    logger.debug("swept \(challenges) challenges, \(sessions) sessions, and \(artifacts) OpenID Connect artifacts and rate counts")
                }
            } catch {
                logger.warning("sweep failed: \(String(reflecting: error))")
            }
        }
    }
}

