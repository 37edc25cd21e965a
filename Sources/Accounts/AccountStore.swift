import Foundation

/// Why a store refused a write. Nothing was changed when one of these is thrown.
///
/// A struct over an enum, like ``AccountsError/Code``: the domain maps each one exhaustively.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    package enum Base: String, CaseIterable, Sendable {
        case usernameTaken = "username_taken", credentialExists = "credential_exists", inviteInvalid = "invite_invalid"
        case notFound = "not_found", lastPasskey = "last_passkey", conflict, challengeGone = "challenge_gone"
    }
    /// The reason, for exhaustive switches inside this package.
    package let base: Base
    private init(_ base: Base) { self.base = base }

    /// The stable reason.
    public var code: String { base.rawValue }

    /// The username is taken.
    public static let usernameTaken = StoreError(.usernameTaken)
    /// The credential ID is already registered (to anyone).
    public static let credentialExists = StoreError(.credentialExists)
    /// The invite is unknown, used or expired.
    public static let inviteInvalid = StoreError(.inviteInvalid)
    /// The record does not exist (or is not the caller's).
    public static let notFound = StoreError(.notFound)
    /// Deleting it would leave the account with no passkey.
    public static let lastPasskey = StoreError(.lastPasskey)
    /// Another request changed the record first (a signature counter race).
    public static let conflict = StoreError(.conflict)
    /// The ceremony's challenge was already used, expired, or is of another kind.
    public static let challengeGone = StoreError(.challengeGone)

    public var description: String { "StoreError.\(code)" }
}

/// The store could not be reached (the database is down, restarting, or refusing connections):
/// nothing was read or changed, and the same request may succeed later. Clients are told the
/// service is unavailable; `underlying` is for the operator's log only.
public struct StoreUnavailable: Error, Sendable, CustomStringConvertible {
    public let underlying: String
    public init(underlying: String) { self.underlying = underlying }
    public var description: String { "the database is not reachable: \(underlying)" }
}

/// A passkey, its owner, and what a sign-in must show the owner.
public struct CredentialOwner: Sendable {
    /// The passkey as stored.
    public var passkey: Passkey
    /// Its owner.
    public var user: User
    /// Open, unexpired recovery cases on the account.
    public var openRecoveryCases: Int

    /// A passkey with its owner.
    public init(passkey: Passkey, user: User, openRecoveryCases: Int) {
        self.passkey = passkey
        self.user = user
        self.openRecoveryCases = openRecoveryCases
    }
}

/// How many open recovery cases of one account a store lists at most (``RecoveryStore/openRecoveryCases(userID:now:)``).
public let openRecoveryCasesShown = 50

/// Persistence for accounts: one protocol per aggregate, so that each domain service depends on the
/// stores it uses. Every method is one transaction: it changes everything it names or nothing.
/// Implementations: ``MemoryAccountStore`` (tests) and `SQLAccountStore` (SQLite, PostgreSQL) each
/// implement them all, so an action whose writes span aggregates is still one transaction.
public protocol AccountStore: ChallengeStore, UserStore, PasskeyStore, SessionStore, EventStore, OutboxStore,
    DeviceRequestStore, EnrolmentStore, RecoveryStore
{
    /// Whether the store answers (readiness).
    func ping() async throws

    /// The server secret named `name`: the stored one, or `candidate` stored now if there is none.
    /// Every node of a deployment gets the same secret this way.
    func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8]
}

/// Ceremony challenges: issued, read, and used up by the ceremony that completes them.
public protocol ChallengeStore: Sendable {
    /// Stores a new challenge.
    func saveChallenge(_ challenge: CeremonyChallenge) async throws
    /// Reads a challenge without using it up. Completing a ceremony uses it up, in the same
    /// transaction as the ceremony's writes: two concurrent completions, exactly one succeeds, and a
    /// refused completion leaves it in place.
    func challenge(_ challenge: String) async throws -> CeremonyChallenge?
    /// Deletes challenges that expired before `now`; returns how many.
    func sweepExpiredChallenges(now: Date) async throws -> Int
}

/// Accounts: users, sign-up (with its invite), operators' changes and the admin role.
public protocol UserStore: Sendable {
    func user(id: UUID) async throws -> User?
    func user(username: String) async throws -> User?
    func user(handle: [UInt8]) async throws -> User?
    func listUsers(limit: Int) async throws -> [User]
    /// Users whose username starts with `prefix`, in username order (at most `limit`).
    func users(usernamePrefix prefix: String, limit: Int) async throws -> [User]
    /// Uses up the sign-up `challenge`, creates a user with their first passkey and first session,
    /// records the event and consumes the invite when given. Throws ``StoreError/challengeGone``,
    /// ``StoreError/usernameTaken``, ``StoreError/credentialExists`` or ``StoreError/inviteInvalid``.
    func createUser(_ user: User, passkey: Passkey, session: Session, event: SecurityEvent, inviteHash: [UInt8]?, challenge: String, now: Date) async throws
    /// Sets a user's disabled flag and records `event`, in one transaction; disabling also deletes
    /// their sessions and, in a store that holds the OpenID Connect provider's grants too, revokes the
    /// user's refresh tokens (offline ones have no session to end with): enabling the account again
    /// brings neither back. Throws ``StoreError/notFound``.
    func setDisabled(userID: UUID, disabled: Bool, event: SecurityEvent?) async throws
    /// Deletes a user and everything of theirs.
    func deleteUser(id: UUID) async throws

    func createInvite(_ invite: Invite) async throws


    /// Grants or revokes the admin role, recording `event` (which notifies the user). Throws ``StoreError/notFound``.
    func setAdmin(userID: UUID, admin: Bool, event: SecurityEvent) async throws
    /// The users who hold the admin role.
    func admins() async throws -> [User]
}

/// Passkeys, and the sign-in's reads and writes of them.
public protocol PasskeyStore: Sendable {
    func passkeys(userID: UUID) async throws -> [Passkey]
    func passkey(credentialID: [UInt8]) async throws -> Passkey?
    /// A passkey with its owner and how many of the owner's recovery cases are open at `now`, read at
    /// once (the sign-in path).
    func credential(id: [UInt8], now: Date) async throws -> CredentialOwner?
    /// The challenge an assertion answers and the passkey it names (with its owner), read together:
    /// one statement, one round trip to a networked database. Either is nil when not stored.
    func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws
        -> (challenge: CeremonyChallenge?, credential: CredentialOwner?)
    /// Uses up the `add` challenge and adds a passkey. Throws ``StoreError/challengeGone`` or
    /// ``StoreError/credentialExists``.
    func addPasskey(_ passkey: Passkey, event: SecurityEvent, challenge: String, now: Date) async throws
    /// Renames one of the user's passkeys. Throws ``StoreError/notFound``.
    func renamePasskey(credentialID: [UInt8], userID: UUID, name: String, event: SecurityEvent) async throws
    /// Deletes one of the user's passkeys, unless it is the last, and in the same transaction every
    /// session born from it (its sign-ins, and the device-approval sessions it approved); a device
    /// request it approved that no device has taken up yet is denied, so that no session is born from
    /// it afterwards. Records `event`
    /// with `sessions_ended` set to how many ended. Returns the IDs of the ended sessions. Throws
    /// ``StoreError/notFound`` or ``StoreError/lastPasskey``, and then changes nothing.
    @discardableResult
    func deletePasskey(credentialID: [UInt8], userID: UUID, event: SecurityEvent) async throws -> [UUID]
    /// Records a verified assertion: uses up the challenge (of `kind`), stores the asserted counter and
    /// flags only if the stored counter is still `expectedSignCount` (else ``StoreError/conflict``), and
    /// creates `newSession`, or marks `reauthenticatedSession` as freshly authenticated under a new token.
    func recordAssertion(
        credentialID: [UInt8], expectedSignCount: UInt32, newSignCount: UInt32, backedUp: Bool, uvInitialized: Bool,
        newSession: Session?, reauthenticatedSession: (id: UUID, newTokenHash: [UInt8])?, event: SecurityEvent,
        challenge: String, kind: CeremonyKind, now: Date
    ) async throws
}

/// Sessions (made only by ``SessionAuthority``).
public protocol SessionStore: Sendable {
    func session(tokenHash: [UInt8]) async throws -> Session?
    /// One session by its ID (a lookup that does not grow with the user's other sessions).
    func session(id: UUID) async throws -> Session?
    func sessions(userID: UUID) async throws -> [Session]
    /// Moves the idle clock of a session forward.
    func touchSession(id: UUID, at: Date) async throws
    /// Replaces a session's token (on a privilege change).
    func rotateSession(id: UUID, newTokenHash: [UInt8]) async throws
    /// Deletes one of a user's sessions. Throws ``StoreError/notFound``.
    func deleteSession(id: UUID, userID: UUID, event: SecurityEvent?) async throws
    /// Deletes sessions whose absolute or idle expiry passed.
    func sweepExpiredSessions(now: Date, idleTimeout: TimeInterval) async throws -> Int
    /// How many sessions are live.
    func countSessions() async throws -> Int
}

/// The security timeline.
public protocol EventStore: Sendable {
    func appendEvent(_ event: SecurityEvent) async throws
    func events(userID: UUID, limit: Int) async throws -> [SecurityEvent]
    /// The newest events of the admin-action kinds (``SecurityEvent/Kind/adminActions``), across all
    /// users: the audit log.
    func adminEvents(limit: Int) async throws -> [SecurityEvent]
    /// Deletes up to `limit` of the oldest events recorded before `cutoff` (the start of the retention
    /// period), whatever their delivery state: an entry that old is far past its last delivery
    /// attempt, or of a kind no channel takes. Answers how many it deleted.
    func deleteEvents(before cutoff: Date, limit: Int) async throws -> Int
}

/// The notification outbox: the events table, claimed and delivered at least once.
public protocol OutboxStore: Sendable {
    /// Every security event is also an outbox entry, written in the same transaction as the action it
    /// records. This claims up to `limit` entries that are due at `now`, hiding them from other claims for
    /// `lease` seconds (so several nodes do not send the same entry at once); delivery is at-least-once.
    /// With `kinds`, only entries of those kinds are claimed (the others wait for a dispatcher that
    /// delivers them, as when no channel takes them).
    func claimUndeliveredEvents(now: Date, lease: TimeInterval, limit: Int, kinds: Set<SecurityEvent.Kind>?) async throws
        -> [(event: SecurityEvent, attempts: Int)]
    /// Records a delivered entry.
    func markEventDelivered(id: UUID, at: Date) async throws
    /// Records a failed attempt: retried at `nextAttempt`, or given up when it is `nil`.
    func recordEventDeliveryFailure(id: UUID, attempts: Int, nextAttempt: Date?) async throws
}

/// Sign-in requests of devices without passkeys.
public protocol DeviceRequestStore: Sendable {
    /// Stores a new device request. Throws ``StoreError/conflict`` when its user code is in use.
    func createDeviceRequest(_ request: DeviceRequest) async throws
    func deviceRequest(userCode: String) async throws -> DeviceRequest?
    func deviceRequest(deviceCodeHash: [UInt8]) async throws -> DeviceRequest?
    /// The pending, unexpired requests that name `targetUserID`, newest first (at most 20).
    func pendingDeviceRequests(targetUserID: UUID, now: Date) async throws -> [DeviceRequest]
    /// Moves a request from `from` to `to` (compare-and-set: ``StoreError/conflict`` when it is not in
    /// `from` or has expired at `now`), recording the decision, and creating `session` and `event` when given.
    func transitionDeviceRequest(deviceCodeHash: [UInt8], from: DeviceRequest.Status, to: DeviceRequest.Status, decidedBy: UUID?,
                                 approvingCredentialID: [UInt8]?, session: Session?, event: SecurityEvent?, now: Date) async throws
    /// Records a poll.
    func touchDeviceRequest(deviceCodeHash: [UInt8], polledAt: Date) async throws
}

/// Enrolment of a new device's own passkey.
public protocol EnrolmentStore: Sendable {
    func createEnrolment(_ enrolment: Enrolment, event: SecurityEvent) async throws
    func enrolment(id: UUID) async throws -> Enrolment?
    func enrolment(tokenHash: [UInt8]) async throws -> Enrolment?
    /// Replaces an enrolment whose stored status is `from` and that has not expired at `now`
    /// (else ``StoreError/conflict``), recording `event`.
    func updateEnrolment(_ enrolment: Enrolment, from: Enrolment.Status, event: SecurityEvent?, now: Date) async throws
    /// Uses up the `enrol` challenge, moves the enrolment from confirmed to used, adds the passkey and
    /// creates the session, all at once. Throws ``StoreError/challengeGone``, ``StoreError/conflict`` or
    /// ``StoreError/credentialExists``.
    func completeEnrolment(id: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date) async throws
}

/// Recovery: settings, contacts, cases and their proofs.
public protocol RecoveryStore: Sendable {
    func recoverySettings(userID: UUID) async throws -> RecoverySettings?
    /// Creates or replaces a user's recovery settings, recording `event`.
    func saveRecoverySettings(_ settings: RecoverySettings, event: SecurityEvent) async throws
    /// The contacts a user chose (invited and accepted).
    func recoveryContacts(ownerID: UUID) async throws -> [RecoveryContact]
    /// The users who chose `contactID` as a contact (invitations and accepted ones).
    func recoveryContacts(contactID: UUID) async throws -> [RecoveryContact]
    /// Invites a contact. Throws ``StoreError/conflict`` when that user is already one.
    func addRecoveryContact(_ contact: RecoveryContact, event: SecurityEvent) async throws
    /// The invited user accepts. Throws ``StoreError/notFound`` unless the invitation is theirs and not yet accepted.
    func acceptRecoveryContact(id: UUID, contactID: UUID, event: SecurityEvent) async throws
    /// Removes one of the owner's contacts. Throws ``StoreError/notFound``.
    func deleteRecoveryContact(id: UUID, ownerID: UUID, event: SecurityEvent) async throws
    /// Stores a new case (a decoy case has no user and no event).
    func createRecoveryCase(_ recoveryCase: RecoveryCase, event: SecurityEvent?) async throws
    func recoveryCase(id: UUID) async throws -> RecoveryCase?
    /// A user's cases, newest first (at most 50).
    func recoveryCases(userID: UUID) async throws -> [RecoveryCase]
    /// A user's open cases that have not expired at `now`: those holding proofs first, then the
    /// newest, at most ``openRecoveryCasesShown``. A flood of empty cases (which can never release)
    /// cannot push a case that is gathering proofs out of the owner's view.
    func openRecoveryCases(userID: UUID, now: Date) async throws -> [RecoveryCase]
    /// Every open, unexpired case of a user whose comparison code is `comparisonCode`, however many
    /// other cases are open: how a contact's or admin's approval finds the requester's case.
    func openRecoveryCases(userID: UUID, comparisonCode: String, now: Date) async throws -> [RecoveryCase]
    /// Adds a proof to an open case that has not expired at `now`. Throws ``StoreError/conflict`` when
    /// the case is not open or has expired, or already holds a proof of that kind from that actor (a replay).
    func addRecoveryProof(caseID: UUID, proof: RecoveryProof, event: SecurityEvent, now: Date) async throws
    /// Counts a wrong recovery code on an open case; returns the new count. Throws ``StoreError/conflict``
    /// when the case is not open.
    func recordRecoveryCodeFailure(caseID: UUID, event: SecurityEvent?) async throws -> Int
    /// Moves an open case to cancelled and, with `blockUntil`, blocks new cases on its account until
    /// then. Throws ``StoreError/conflict`` when the case is not open.
    func cancelRecoveryCase(id: UUID, blockUntil: Date?, event: SecurityEvent?, now: Date) async throws
    /// Uses up the `recover` challenge, moves the case from open (and unexpired) to completed, adds the
    /// new passkey and creates the recovered session, all at once. Throws ``StoreError/challengeGone``,
    /// ``StoreError/conflict`` or ``StoreError/credentialExists``.
    func completeRecovery(caseID: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date) async throws
}

extension OutboxStore {
    /// Claims entries of every kind.
    public func claimUndeliveredEvents(now: Date, lease: TimeInterval, limit: Int) async throws -> [(event: SecurityEvent, attempts: Int)] {
        try await claimUndeliveredEvents(now: now, lease: lease, limit: limit, kinds: nil)
    }
}

extension AccountStore {
    /// The two reads one after the other, for stores where a read costs no round trip.
    public func assertionContext(challenge: String, credentialID: [UInt8], now: Date) async throws
        -> (challenge: CeremonyChallenge?, credential: CredentialOwner?)
    {
        (try await self.challenge(challenge), try await credential(id: credentialID, now: now))
    }
}
