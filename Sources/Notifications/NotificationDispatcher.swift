import Accounts
import Foundation
import Logging
import ServiceLifecycle

/// Sends the security timeline from the outbox to every channel: at-least-once, retried with
/// exponential backoff, surviving restarts (the outbox is the events table). The payload names what
/// happened to whom, never anything that could sign anyone in.
public struct NotificationDispatcher: Service {
    let store: any AccountStore
    let channels: [any NotificationChannel]
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Extra members for an event's payload (the "this wasn't me" link of a recovery case).
    let links: @Sendable (SecurityEvent) -> [String: String]
    /// Give up after this many failed attempts.
    public static let maximumAttempts = 12

    /// A dispatcher for `channels` (none is allowed: entries are then marked delivered).
    public init(store: any AccountStore, channels: [any NotificationChannel], logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
                links: @escaping @Sendable (SecurityEvent) -> [String: String] = { _ in [:] }) {
        self.store = store
        self.channels = channels
        self.logger = logger
        self.clock = clock
        self.links = links
    }

    /// Webhooks only.
    public init(store: any AccountStore, urls: [String], signer: WebhookSigner, transport: any WebhookTransport = HTTPWebhookTransport(),
                logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
                links: @escaping @Sendable (SecurityEvent) -> [String: String] = { _ in [:] }) {
        self.init(store: store, channels: [WebhookChannel(urls: urls, signer: signer, transport: transport)], logger: logger, clock: clock, links: links)
    }

    /// Delivers until the service group shuts down, idling a second when nothing is due.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let sent = (try? await deliverDue()) ?? 0
            if sent == 0 { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } }
        }
    }

    /// Delivers the entries due now; returns how many were claimed. An entry is delivered when every
    /// channel took it; otherwise every channel gets it again later (receivers drop duplicates by id).
    @discardableResult
    public func deliverDue() async throws -> Int {
        let now = clock()
        // When every channel takes some kinds only, the rest stay in the outbox untouched: a sign-in's
        // event then costs no claim and no delivery write.
        let kinds: Set<SecurityEvent.Kind>? = channels.contains { $0.kinds == nil } ? nil : channels.reduce(into: Set()) { $0.formUnion($1.kinds ?? []) }
        let claimed = try await store.claimUndeliveredEvents(now: now, lease: 60, limit: 50, kinds: kinds)
        for (event, attempts) in claimed {
            let user = try? await store.user(id: event.userID)
            let id = "evt_" + event.id.lowercaseText
            var ok = true
            for channel in channels {
                if !(await channel.deliver(event, user: user, links: links(event), attemptID: id, now: now)) { ok = false }
            }
            if ok {
                try await store.markEventDelivered(id: event.id, at: now)
            } else {
                let failures = attempts + 1
                let next: Date? = failures >= Self.maximumAttempts ? nil : now.addingTimeInterval(min(3600, pow(2, Double(failures))))
                if let next {
                    logger.warning("delivery failed", metadata: [
                        "event": .string(id), "kind": .string(event.kind.rawValue), "attempt": .stringConvertible(failures),
                        "next_attempt": .string(next.ISO8601Format())])
                } else {
                    logger.warning("giving up delivering event \(id) after \(failures) attempts")
                }
                try await store.recordEventDeliveryFailure(id: event.id, attempts: failures, nextAttempt: next)
            }
        }
        return claimed.count
    }
}
