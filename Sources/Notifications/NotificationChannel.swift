import Accounts
import Foundation

/// One way of telling an owner about their account.
public protocol NotificationChannel: Sendable {
    /// A short name for logs and the ways-in report (`webhook`, `email`).
    var name: String { get }
    /// Delivers one event; returns whether it was delivered (a failed delivery is retried).
    func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool
    /// The kinds of event the channel delivers; nil for every kind.
    var kinds: Set<SecurityEvent.Kind>? { get }
}

extension NotificationChannel {
    /// Every kind.
    public var kinds: Set<SecurityEvent.Kind>? { nil }
}
