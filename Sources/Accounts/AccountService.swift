import Foundation
import WebAuthn

/// The signed-in user's own account: adding a passkey, re-authenticating, renaming and removing
/// passkeys, ending sessions, and reading passkeys, sessions and the security timeline. It depends on
/// ``SessionAuthority`` for freshness and rights and on the passkey ceremonies (``PasskeyService``)
/// to issue and verify the ceremonies it runs.
public struct AccountService: CeremonyBacked {
    let store: any ChallengeStore & PasskeyStore & SessionStore & EventStore
    let ceremonies: PasskeyService

    /// The account service over `store`, with `ceremonies`' policy, sessions, clock and random source.
    public init(store: any ChallengeStore & PasskeyStore & SessionStore & EventStore, ceremonies: PasskeyService) {
        self.store = store
        self.ceremonies = ceremonies
    }

    /// The signed-in user's passkeys, oldest first.
    public func passkeys(_ auth: Authenticated) async throws -> [Passkey] {
        try await store.passkeys(userID: auth.user.id)
    }

    /// The signed-in user's live sessions, oldest first.
    public func sessions(_ auth: Authenticated) async throws -> [Session] {
        try await store.sessions(userID: auth.user.id)
    }

    /// The signed-in user's security timeline, newest first, at most `limit` events.
    public func events(_ auth: Authenticated, limit: Int = 200) async throws -> [SecurityEvent] {
        try await store.events(userID: auth.user.id, limit: limit)
    }

    /// Options to add a passkey (needs a fresh assertion); excludeCredentials lists the user's passkeys.
    public func addOptions(_ auth: Authenticated) async throws -> JSONValue {
        try sessions.requireFresh(auth)
        return try await ceremonies.newPasskeyOptions(for: auth.user, kind: .add, boundTo: auth.session.id)
    }

    /// Verifies and stores an added passkey.
    public func addVerify(_ auth: Authenticated, credential: JSONValue, name: String?, info: RequestInfo) async throws -> Passkey {
        try sessions.requireFresh(auth)
        let now = clock()
        let (passkey, _, challenge) = try await ceremonies.verifyNewPasskey(
            for: auth.user, kind: .add, boundTo: auth.session.id, credential: credential, name: name, now: now)
        let event = SecurityEvent(id: newEventID(), userID: auth.user.id, kind: .passkeyAdded, at: now, ip: info.ip, userAgent: info.userAgent,
                                  detail: ["passkey": passkey.name])
        do { try await store.addPasskey(passkey, event: event, challenge: challenge, now: now) } catch let error as StoreError {
            throw ceremonies.map(error)
        }
        return passkey
    }

    /// Options to re-authenticate this session: only this user's passkeys.
    public func reauthOptions(_ auth: Authenticated) async throws -> JSONValue {
        let challenge = random.bytes(32)
        let passkeys = try await store.passkeys(userID: auth.user.id)
        try await store.saveChallenge(CeremonyChallenge(
            challenge: Base64URL.encode(challenge), kind: .reauth, userID: auth.user.id, sessionID: auth.session.id,
            expiresAt: clock().addingTimeInterval(ceremonies.policy.challengeLifetime)))
        return ceremonies.requestOptions(challenge: challenge, allow: passkeys.map { PublicKeyCredentialDescriptor(id: $0.credentialID, transports: $0.transports) })
    }

    /// Verifies a re-authentication; the session gets a new token (its rights just changed).
    public func reauthVerify(_ auth: Authenticated, credential: JSONValue, info: RequestInfo) async throws -> String {
        let response = try ceremonies.decodeAuthentication(credential)
        let (stored, found) = try await ceremonies.assertionContext(response, kind: .reauth)
        guard stored.userID == auth.user.id, stored.sessionID == auth.session.id else { throw AccountsError.challengeGone() }
        let (_, passkey, verified, _) = try ceremonies.verifyAssertion(response, stored: stored, found: found, requireUserHandle: false)
        let now = clock()
        let (token, tokenHash) = sessions.newToken(now: now)
        let event = SecurityEvent(id: newEventID(), userID: auth.user.id, kind: .reauthenticated, at: now, ip: info.ip, userAgent: info.userAgent,
                                  detail: ["passkey": passkey.name])
        try await ceremonies.record(verified, passkey: passkey, newSession: nil, reauth: (auth.session.id, tokenHash), event: event, challenge: stored, now: now)
        return token
    }

    /// Renames one of the user's passkeys.
    public func renamePasskey(_ auth: Authenticated, credentialID: [UInt8], name: String, info: RequestInfo) async throws {
        try sessions.requireFullRights(auth)
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...64).contains(trimmed.count) else { throw AccountsError.invalid("A passkey name is 1 to 64 characters.") }
        try PlainText.check(trimmed, "A passkey name")
        let event = SecurityEvent(id: newEventID(), userID: auth.user.id, kind: .passkeyRenamed, at: clock(), ip: info.ip, userAgent: info.userAgent,
                                  detail: ["passkey": trimmed])
        do { try await store.renamePasskey(credentialID: credentialID, userID: auth.user.id, name: trimmed, event: event) } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    /// Deletes one of the user's passkeys (fresh assertion needed; never the last one) and, in the same
    /// transaction, ends every session born from it: a passkey is removed because it was lost or
    /// stolen, and what it signed in must not outlive it. Returns the IDs of the ended sessions (this
    /// session among them when this passkey made it).
    @discardableResult
    public func deletePasskey(_ auth: Authenticated, credentialID: [UInt8], info: RequestInfo) async throws -> [UUID] {
        try sessions.requireFresh(auth)
        let name = try await store.passkey(credentialID: credentialID).flatMap { $0.userID == auth.user.id ? $0.name : nil }
        guard let name else { throw AccountsError.notFound() }
        let event = SecurityEvent(id: newEventID(), userID: auth.user.id, kind: .passkeyRemoved, at: clock(), ip: info.ip, userAgent: info.userAgent,
                                  detail: ["passkey": name])
        do { return try await store.deletePasskey(credentialID: credentialID, userID: auth.user.id, event: event) } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    /// Revokes one of the user's sessions (fresh assertion needed, unless it is the current one).
    public func revokeSession(_ auth: Authenticated, sessionID: UUID, info: RequestInfo) async throws {
        if sessionID != auth.session.id { try sessions.requireFresh(auth) }
        let event = SecurityEvent(id: newEventID(), userID: auth.user.id, kind: sessionID == auth.session.id ? .logout : .sessionRevoked,
                                  at: clock(), ip: info.ip, userAgent: info.userAgent, detail: ["session": sessionID.uuidString])
        do { try await store.deleteSession(id: sessionID, userID: auth.user.id, event: event) } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }
}

extension PasskeyService {
    /// The signed-in user's own account.
    public var account: AccountService { AccountService(store: store, ceremonies: self) }
}
