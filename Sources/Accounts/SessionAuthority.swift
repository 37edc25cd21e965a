import Crypto
import Foundation
import WebAuthn

/// The one place a session is made (``issue(userID:birth:lifetime:info:now:)``), and the checks every
/// signed-in action goes through: ``authenticate(token:)``, ``requireFullRights(_:)`` and
/// ``requireFresh(_:within:)``.
///
/// Its callers hold a passkey ceremony they have just verified: a registration or assertion of the
/// user's own passkey, or (for `device-approval`) the approver's fresh assertion. Nothing else in
/// Portcullis creates a `Session`: the services of the domain, and the OpenID Connect provider to come,
/// depend on this type for sessions and never write one themselves.
public struct SessionAuthority: Sendable {
    let store: any SessionStore & UserStore
    let random: any RandomSource
    let clock: @Sendable () -> Date
    /// The policy's numbers it needs, kept as plain values: this sits on the sign-in path, and
    /// holding the whole policy made every copy retain and release all of it again.
    let idleTimeout: TimeInterval
    let absoluteLifetime: TimeInterval
    let reauthenticationWindow: TimeInterval
    let coolingPeriod: TimeInterval

    /// Sessions in `store` under `policy`'s lifetimes, windows and cooling period.
    public init(store: any SessionStore & UserStore, policy: AccountsPolicy, random: any RandomSource = SystemRandomSource(),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.random = random
        self.clock = clock
        idleTimeout = policy.sessionIdleTimeout
        absoluteLifetime = policy.sessionAbsoluteLifetime
        reauthenticationWindow = policy.reauthenticationWindow
        coolingPeriod = policy.recovery.coolingPeriod
    }

    /// Resolves a session token: the session must exist, be within its idle and absolute lifetimes, and
    /// belong to an enabled user. Moves the idle clock forward.
    public func authenticate(token: String) async throws -> Authenticated? {
        guard TimeOrderedHandle.hasLength(token, randomCount: Self.tokenRandomBytes) else { return nil }
        let now = clock()
        guard let session = try await store.session(tokenHash: TimeOrderedHandle.key(token, randomCount: Self.tokenRandomBytes)),
              session.isLive(at: now, idleTimeout: idleTimeout),
              let user = try await store.user(id: session.userID), !user.disabled
        else { return nil }
        if now.timeIntervalSince(session.lastSeenAt) > 60 { try await store.touchSession(id: session.id, at: now) }
        return Authenticated(user: user, session: session)
    }

    /// Refuses sensitive actions to sessions without full rights (``requireFullRights(_:)``), and to
    /// sessions whose last passkey assertion is older than `window` (the policy's re-authentication
    /// window unless given).
    public func requireFresh(_ auth: Authenticated, within window: TimeInterval? = nil) throws {
        try requireFullRights(auth)
        guard clock().timeIntervalSince(auth.session.authenticatedAt) <= window ?? reauthenticationWindow else {
            throw AccountsError.reauthenticationRequired()
        }
    }

    /// Refuses account changes to `device-approval` sessions and to `recovered` sessions in their
    /// cooling period. The single check every account-changing action goes through.
    public func requireFullRights(_ auth: Authenticated) throws {
        guard auth.session.birth.hasFullRights(at: clock()) else { throw AccountsError.sessionNotAllowed(auth.session.birth) }
    }

    /// A session born from `passkey`. A passkey registered by a recovery gives `recovered` sessions
    /// until its cooling period ends, however the session is started (so signing in again with it does
    /// not shed the restriction).
    func issue(userID: UUID, passkey: Passkey, userVerified: Bool, info: RequestInfo, now: Date) -> IssuedSession {
        let coolingUntil = passkey.recoveredAt.map { $0.addingTimeInterval(coolingPeriod) }
        let cooling = coolingUntil.map { $0 > now } ?? false
        return issue(
            userID: userID,
            birth: SessionBirth(kind: cooling ? .recovered : .passkey, credentialID: passkey.credentialID, userVerified: userVerified,
                                deviceBound: passkey.isDeviceBound, coolingUntil: cooling ? coolingUntil : nil),
            lifetime: absoluteLifetime, info: info, now: now)
    }

    /// The one place a session is made: a new token (only its hash is kept), its birth, and a lifetime
    /// no longer than the policy's absolute lifetime.
    func issue(userID: UUID, birth: SessionBirth, lifetime: TimeInterval, info: RequestInfo, now: Date) -> IssuedSession {
        let (token, tokenHash) = newToken(now: now)
        let session = Session(
            id: random.timeOrderedUUID(at: now), tokenHash: tokenHash, userID: userID, birth: birth, createdAt: now, lastSeenAt: now,
            expiresAt: now.addingTimeInterval(min(lifetime, absoluteLifetime)), authenticatedAt: now, ip: info.ip, userAgent: info.userAgent)
        return IssuedSession(token: token, session: session)
    }

    /// Random bytes in a session token (after its time, ``TimeOrderedHandle``).
    static let tokenRandomBytes = 32

    /// A new session token, for a new session or one whose rights just changed (a re-authentication),
    /// and the key to store it under (``TimeOrderedHandle``: the sessions' token index grows at its end).
    func newToken(now: Date) -> (token: String, hash: [UInt8]) {
        let made = TimeOrderedHandle.make(randomCount: Self.tokenRandomBytes, now: now, random: random)
        return (made.handle, made.key)
    }

}

/// The SHA-256 of `text`'s UTF-8: how tokens and codes are stored (only their hashes are), here and
/// in the OpenID Connect provider.
package func sha256(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }
