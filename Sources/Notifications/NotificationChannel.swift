import Accounts
import Foundation

/// One way of telling an owner about their account.
public protocol NotificationChannel: Sendable {
    /// A short name for logs and the ways-in report (`webhook`, `email`).
    var name: String { get }
    /// Delivers one event; returns whether it was delivered (a failed delivery is retried).
    func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool
}
