import Foundation
import WebAuthn

/// A person's account. Usernames are unique (compared lower-cased); the user handle is the
/// WebAuthn `user.id`: 32 random bytes that say nothing about the person.
public struct User: Sendable, Hashable {
    /// Stable identifier.
    public var id: UUID
    /// The normalized (lower-case) username.
    public var username: String
    /// The name shown to people.
    public var displayName: String
    /// The WebAuthn user handle.
    public var handle: [UInt8]
    /// When the account was made.
    public var createdAt: Date
    /// A disabled user cannot sign in, and their sessions end.
    public var disabled: Bool
    /// Admins may add an admin proof to other users' recovery cases. No admin action signs in as anyone.
    public var isAdmin: Bool

    public init(id: UUID, username: String, displayName: String, handle: [UInt8], createdAt: Date, disabled: Bool = false, isAdmin: Bool = false) {
        self.id = id
        self.username = username
        self.displayName = displayName
        self.handle = handle
        self.createdAt = createdAt
        self.disabled = disabled
        self.isAdmin = isAdmin
    }
}

/// A registered passkey: the WebAuthn credential record (§4) plus what people see.
public struct Passkey: Sendable, Hashable {
    /// The credential ID, unique across all users.
    public var credentialID: [UInt8]
    /// The owner.
    public var userID: UUID
    /// The COSE_Key bytes exactly as registered.
    public var publicKey: [UInt8]
    /// The key's COSE algorithm.
    public var algorithm: COSEAlgorithm
    /// The last asserted signature counter.
    public var signCount: UInt32
    /// The authenticator model.
    public var aaguid: AAGUID
    /// A name the owner chose, or a default from the provider.
    public var name: String
    /// Transports the client reported.
    public var transports: [AuthenticatorTransport]
    /// BE: may be synced. Fixed at registration.
    public var backupEligible: Bool
    /// BS as last seen.
    public var backedUp: Bool
    /// The credential has been used with user verification.
    public var uvInitialized: Bool
    /// The attestation statement format.
    public var attestationFormat: String
    /// Whether the attestation chained to a trust anchor.
    public var attestationTrusted: Bool
    /// When it was registered.
    public var createdAt: Date
    /// When it last signed in.
    public var lastUsedAt: Date?
    /// Set when it was registered to complete an account recovery: its sessions have fewer rights
    /// until the cooling period after this time has passed.
    public var recoveredAt: Date?

    public init(
        credentialID: [UInt8], userID: UUID, publicKey: [UInt8], algorithm: COSEAlgorithm, signCount: UInt32, aaguid: AAGUID, name: String,
        transports: [AuthenticatorTransport], backupEligible: Bool, backedUp: Bool, uvInitialized: Bool, attestationFormat: String,
        attestationTrusted: Bool, createdAt: Date, lastUsedAt: Date? = nil, recoveredAt: Date? = nil
    ) {
        self.credentialID = credentialID
        self.userID = userID
        self.publicKey = publicKey
        self.algorithm = algorithm
        self.signCount = signCount
        self.aaguid = aaguid
        self.name = name
        self.transports = transports
        self.backupEligible = backupEligible
        self.backedUp = backedUp
        self.uvInitialized = uvInitialized
        self.attestationFormat = attestationFormat
        self.attestationTrusted = attestationTrusted
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.recoveredAt = recoveredAt
    }

    /// A passkey that cannot be synced lives on one device.
    public var isDeviceBound: Bool { !backupEligible }
}

/// What a ceremony challenge is for. A challenge of one kind never completes another.
public struct CeremonyKind: Hashable, Sendable, CustomStringConvertible {
    package enum Base: String, CaseIterable, Sendable { case signup, login, add, reauth, enrol, recover }
    /// The kind, for exhaustive switches inside this package.
    package let base: Base
    package init(_ base: Base) { self.base = base }
    /// Parses the stored spelling; nil for anything else.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }

    /// Creating an account.
    public static let signup = CeremonyKind(.signup)
    /// Signing in.
    public static let login = CeremonyKind(.login)
    /// Adding a passkey to a signed-in account.
    public static let add = CeremonyKind(.add)
    /// Re-authenticating a signed-in session for a sensitive action.
    public static let reauth = CeremonyKind(.reauth)
    /// Registering a new device's own passkey through an enrolment link.
    public static let enrol = CeremonyKind(.enrol)
    /// Registering the new passkey that completes a recovery case.
    public static let recover = CeremonyKind(.recover)

    /// The stored spelling.
    public var rawValue: String { base.rawValue }
    public var description: String { base.rawValue }
    /// Every kind.
    public static var allCases: [CeremonyKind] { Base.allCases.map(CeremonyKind.init) }
}

/// A challenge the server issued and has not yet seen answered.
///
/// Stored server-side (any node can finish what another began), single-use, bound to its kind and,
/// where known, to the user, and expiring.
public struct CeremonyChallenge: Sendable, Hashable {
    /// The challenge bytes, base64url: the key it is found by.
    public var challenge: String
    /// What the challenge is for.
    public var kind: CeremonyKind
    /// The user it is bound to (add, reauth; login with a username).
    public var userID: UUID?
    /// For sign-up: the account to create when the ceremony completes.
    public var pendingUser: PendingUser?
    /// For add and reauth: the session that asked; for enrol: the enrolment; for recover: the case.
    public var sessionID: UUID?
    /// When it stops being accepted.
    public var expiresAt: Date

    public init(challenge: String, kind: CeremonyKind, userID: UUID? = nil, pendingUser: PendingUser? = nil, sessionID: UUID? = nil, expiresAt: Date) {
        self.challenge = challenge
        self.kind = kind
        self.userID = userID
        self.pendingUser = pendingUser
        self.sessionID = sessionID
        self.expiresAt = expiresAt
    }
}

/// The account a sign-up ceremony will create.
public struct PendingUser: Sendable, Hashable, Codable {
    public var username: String
    public var displayName: String
    public var handle: [UInt8]
    /// The hash of the invite that allowed it, in invite-only mode.
    public var inviteHash: [UInt8]?

    public init(username: String, displayName: String, handle: [UInt8], inviteHash: [UInt8]?) {
        self.username = username
        self.displayName = displayName
        self.handle = handle
        self.inviteHash = inviteHash
    }
}

/// How a session came to be. Every authorization check reads it.
public struct SessionBirth: Sendable, Hashable {
    /// How a session was born: a struct over an enum, as ``SecurityEvent/Kind`` is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        package enum Base: String, CaseIterable, Sendable {
            case passkey, deviceApproval = "device-approval", recovered
        }
        /// The kind, for exhaustive switches inside this package.
        package let base: Base
        package init(_ base: Base) { self.base = base }
        /// Parses the stored spelling; nil for anything else.
        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }
        /// A passkey assertion (or registration) this server verified.
        public static let passkey = Kind(.passkey)
        /// Approved from another device that signed in with a passkey (fewer rights).
        public static let deviceApproval = Kind(.deviceApproval)
        /// The first session after an account recovery (fewer rights during a cooling period).
        public static let recovered = Kind(.recovered)
        /// The stored spelling.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every kind.
        public static var allCases: [Kind] { Base.allCases.map(Kind.init) }
    }

    /// How.
    public var kind: Kind
    /// The passkey whose ceremony created it.
    public var credentialID: [UInt8]
    /// Whether user verification was done.
    public var userVerified: Bool
    /// Whether that passkey is device-bound.
    public var deviceBound: Bool
    /// For `recovered` sessions: until when the session has fewer rights.
    public var coolingUntil: Date?

    public init(kind: Kind, credentialID: [UInt8], userVerified: Bool, deviceBound: Bool, coolingUntil: Date? = nil) {
        self.kind = kind
        self.credentialID = credentialID
        self.userVerified = userVerified
        self.deviceBound = deviceBound
        self.coolingUntil = coolingUntil
    }

    /// Whether the session may change the account (passkeys, recovery settings, approvals) at `now`:
    /// born from a passkey, or recovered and past its cooling period. Device-approval sessions never may.
    public func hasFullRights(at now: Date) -> Bool {
        switch kind {
        case .passkey: true
        case .recovered: coolingUntil.map { now >= $0 } ?? false
        default: false
        }
    }
}

/// A signed-in session. The token itself is never stored, only its SHA-256.
public struct Session: Sendable, Hashable {
    public var id: UUID
    public var tokenHash: [UInt8]
    public var userID: UUID
    public var birth: SessionBirth
    public var createdAt: Date
    public var lastSeenAt: Date
    /// The absolute end, whatever the activity.
    public var expiresAt: Date
    /// The last passkey assertion on this session (sign-in or reauth).
    public var authenticatedAt: Date
    public var ip: String
    public var userAgent: String

    public init(
        id: UUID, tokenHash: [UInt8], userID: UUID, birth: SessionBirth, createdAt: Date, lastSeenAt: Date, expiresAt: Date,
        authenticatedAt: Date, ip: String, userAgent: String
    ) {
        self.id = id
        self.tokenHash = tokenHash
        self.userID = userID
        self.birth = birth
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.authenticatedAt = authenticatedAt
        self.ip = ip
        self.userAgent = userAgent
    }

    /// Whether the session is still in force at `now`: before its absolute end, and used within
    /// `idleTimeout`. The one rule every use of a session applies, whether it arrives as a cookie or
    /// stands behind an app's code or token; the sweep deletes the sessions it no longer holds for.
    public func isLive(at now: Date, idleTimeout: TimeInterval) -> Bool {
        expiresAt > now && lastSeenAt.addingTimeInterval(idleTimeout) > now
    }
}

/// One entry of an account's security timeline.
public struct SecurityEvent: Sendable, Hashable {
    public var id: UUID
    public var userID: UUID
    /// What happened.
    public var kind: Kind
    public var at: Date
    public var ip: String
    public var userAgent: String
    /// Small, non-secret details (for example the passkey's provider name).
    public var detail: [String: String]

    /// The detail of a `passkey_removed` event that says how many sessions born from the passkey ended.
    public static let sessionsEndedDetail = "sessions_ended"

    public init(id: UUID, userID: UUID, kind: Kind, at: Date, ip: String, userAgent: String, detail: [String: String] = [:]) {
        self.id = id
        self.userID = userID
        self.kind = kind
        self.at = at
        self.ip = ip
        self.userAgent = userAgent
        self.detail = detail
    }
}

/// An invitation to sign up in invite-only mode. Only its hash is stored.
public struct Invite: Sendable, Hashable {
    public var codeHash: [UInt8]
    public var createdAt: Date
    public var expiresAt: Date
    public var usedAt: Date?

    public init(codeHash: [UInt8], createdAt: Date, expiresAt: Date, usedAt: Date? = nil) {
        self.codeHash = codeHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}
