import Foundation
import WebAuthn

// What clients are shown of the domain's records: one Encodable view per record, shared by the API,
// the pages and the notifications, so a record is shown the same way wherever it appears. Encoded
// with JSONValueEncoder, a view keeps its members' order and shows an absent value as null.

/// A user as anyone allowed to see them is shown: never the handle, the admin flag or the state.
public struct UserView: Encodable, Sendable, Equatable {
    public let id: UUID
    public let username: String
    public let displayName: String

    public init(_ user: User) {
        id = user.id
        username = user.username
        displayName = user.displayName
    }
}

/// A passkey as its owner is shown: what it is, where it lives, when it was used.
public struct PasskeyView: Encodable, Sendable, Equatable {
    /// The credential ID, base64url.
    public let id: String
    public let name: String
    /// The provider's name from the AAGUID (the metadata or the built-in list), when known.
    public let provider: String?
    public let aaguid: String
    public let createdAt: Date
    public let lastUsedAt: Date?
    public let backedUp: Bool
    public let backupEligible: Bool
    /// Whether the passkey lives on one device only (not backup eligible).
    public let deviceBound: Bool
    public let transports: [String]

    public init(_ passkey: Passkey, provider: String?) {
        id = Base64URL.encode(passkey.credentialID)
        name = passkey.name
        self.provider = provider
        aaguid = passkey.aaguid.description
        createdAt = passkey.createdAt
        lastUsedAt = passkey.lastUsedAt
        backedUp = passkey.backedUp
        backupEligible = passkey.backupEligible
        deviceBound = passkey.isDeviceBound
        transports = passkey.transports.map { $0.rawValue }
    }
}

/// A session as its owner is shown: where and when, and how it was born.
public struct SessionView: Encodable, Sendable, Equatable {
    /// How the session was born.
    public struct Birth: Encodable, Sendable, Equatable {
        /// `passkey`, `device-approval` or `recovered`.
        public let kind: String
        /// The passkey whose ceremony made the session, base64url.
        public let credentialId: String
        public let userVerified: Bool
        public let deviceBound: Bool
        /// Until when a recovered session has fewer rights.
        public let coolingUntil: Date?
    }

    public let id: UUID
    /// Whether this is the session asking.
    public let current: Bool
    public let createdAt: Date
    public let lastSeenAt: Date
    public let authenticatedAt: Date
    public let expiresAt: Date
    public let ip: String
    /// Where the IP address is, in words, when the operator's IP-range file says.
    public let place: String?
    public let userAgent: String
    public let birth: Birth

    public init(_ session: Session, current: UUID, place: String? = nil) {
        id = session.id
        self.current = session.id == current
        createdAt = session.createdAt
        lastSeenAt = session.lastSeenAt
        authenticatedAt = session.authenticatedAt
        expiresAt = session.expiresAt
        ip = session.ip
        self.place = place
        userAgent = session.userAgent
        birth = Birth(
            kind: session.birth.kind.rawValue, credentialId: Base64URL.encode(session.birth.credentialID),
            userVerified: session.birth.userVerified, deviceBound: session.birth.deviceBound, coolingUntil: session.birth.coolingUntil)
    }
}
