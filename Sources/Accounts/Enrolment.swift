import Foundation

/// Enrolling a new device's own passkey from a signed-in device, so that a new laptop means a new
/// passkey, not a recovery.
///
/// created (a link, at most 10 minutes, single-use) -> opened (the new device shows a confirmation
/// code and holds a browser secret) -> confirmed (the signed-in device typed that code) -> used (the
/// new device registered its passkey). A wrong confirmation code cancels the enrolment.
public struct Enrolment: Sendable, Hashable {
    public struct Status: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public init?(rawValue: String) {
            guard ["created", "opened", "confirmed", "used", "cancelled"].contains(rawValue) else { return nil }
            self.rawValue = rawValue
        }
        public static let created = Status("created")
        public static let opened = Status("opened")
        public static let confirmed = Status("confirmed")
        public static let used = Status("used")
        public static let cancelled = Status("cancelled")
        public var description: String { rawValue }
    }

    public var id: UUID
    /// SHA-256 of the link's token.
    public var tokenHash: [UInt8]
    public var userID: UUID
    public var status: Status
    public var createdAt: Date
    public var expiresAt: Date
    /// Shown by the new device, typed on the signed-in one.
    public var confirmationCode: String?
    /// SHA-256 of the secret the new device's browser holds (a cookie).
    public var browserSecretHash: [UInt8]?
    /// The new device, as seen when it opened the link.
    public var openedIP: String?
    public var openedUserAgent: String?

    public init(id: UUID, tokenHash: [UInt8], userID: UUID, status: Status, createdAt: Date, expiresAt: Date, confirmationCode: String? = nil,
                browserSecretHash: [UInt8]? = nil, openedIP: String? = nil, openedUserAgent: String? = nil) {
        self.id = id
        self.tokenHash = tokenHash
        self.userID = userID
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.confirmationCode = confirmationCode
        self.browserSecretHash = browserSecretHash
        self.openedIP = openedIP
        self.openedUserAgent = openedUserAgent
    }
}
