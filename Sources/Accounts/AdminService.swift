import Foundation
import WebAuthn

/// What an admin does to other accounts from the admin pages: find users, look at one, disable,
/// enable or delete them, and read the audit log. Every call needs a full-rights session of a user
/// with the admin role; every change also needs a passkey assertion at most a minute old, names the
/// admin in its event, and never applies to the admin's own account (an admin cannot lock themself
/// out by a slip, nor act unseen as someone else). No admin action signs anyone in.
public struct AdminService: Sendable {
    let store: any AccountStore
    let sessions: SessionAuthority
    let random: any RandomSource
    let clock: @Sendable () -> Date

    /// How recent the admin's passkey assertion must be for a change.
    public static let actionWindow: TimeInterval = 60

    /// One account as an admin sees it.
    public struct Account: Sendable {
        public let user: User
        public let passkeys: [Passkey]
        public let events: [SecurityEvent]
    }

    func requireAdmin(_ auth: Authenticated, fresh: Bool) throws {
        try sessions.requireFullRights(auth)
        guard auth.user.isAdmin else { throw AccountsError.adminRequired() }
        if fresh { try sessions.requireFresh(auth, within: Self.actionWindow) }
    }

    /// Users whose username starts with `query` (all users, in username order, for an empty one).
    public func users(_ auth: Authenticated, matching query: String, limit: Int = 50) async throws -> [User] {
        try requireAdmin(auth, fresh: false)
        let prefix = query.trimmingCharacters(in: .whitespaces).lowercased()
        guard prefix.count <= 64 else { throw AccountsError.invalid("A search is at most 64 characters.") }
        return try await store.users(usernamePrefix: prefix, limit: max(1, min(limit, 200)))
    }

    /// One account: its passkeys and its latest events.
    public func account(_ auth: Authenticated, id: UUID) async throws -> Account {
        try requireAdmin(auth, fresh: false)
        guard let user = try await store.user(id: id) else { throw AccountsError.notFound() }
        return Account(user: user, passkeys: try await store.passkeys(userID: id), events: try await store.events(userID: id, limit: 20))
    }

    /// Disables (ending every session at once) or enables another account.
    public func setDisabled(_ auth: Authenticated, userID: UUID, disabled: Bool, info: RequestInfo) async throws -> User {
        let target = try await other(auth, userID)
        let now = clock()
        let event = SecurityEvent(
            id: random.timeOrderedUUID(at: now), userID: target.id, kind: disabled ? .userDisabled : .userEnabled, at: now, ip: info.ip,
            userAgent: info.userAgent, detail: ["by": auth.user.username])
        do { try await store.setDisabled(userID: target.id, disabled: disabled, event: event) } catch let error as StoreError {
            throw error == .notFound ? AccountsError.notFound() : AccountsError.conflict()
        }
        return target
    }

    /// Deletes another account and everything of it. Its own events go with it, so the deletion is
    /// recorded on the admin's timeline, which the audit log reads.
    public func delete(_ auth: Authenticated, userID: UUID, info: RequestInfo) async throws {
        let target = try await other(auth, userID)
        do { try await store.deleteUser(id: target.id) } catch let error as StoreError {
            throw error == .notFound ? AccountsError.notFound() : AccountsError.conflict()
        }
        let now = clock()
        try await store.appendEvent(SecurityEvent(
            id: random.timeOrderedUUID(at: now), userID: auth.user.id, kind: .userDeleted, at: now, ip: info.ip, userAgent: info.userAgent,
            detail: ["username": target.username, "user": target.id.lowercaseText]))
    }

    /// The newest admin and operator actions across all accounts.
    public func audit(_ auth: Authenticated, limit: Int = 100) async throws -> [(event: SecurityEvent, username: String?)] {
        try requireAdmin(auth, fresh: false)
        var named: [UUID: String] = [:]
        var entries: [(event: SecurityEvent, username: String?)] = []
        for event in try await store.adminEvents(limit: max(1, min(limit, 500))) {
            if named[event.userID] == nil, let user = try await store.user(id: event.userID) { named[event.userID] = user.username }
            entries.append((event, named[event.userID]))
        }
        return entries
    }

    /// The account `userID`, which must exist and not be the admin's own; the admin's assertion must be fresh.
    func other(_ auth: Authenticated, _ userID: UUID) async throws -> User {
        try requireAdmin(auth, fresh: true)
        guard userID != auth.user.id else { throw AccountsError.invalid("Admins cannot do this to their own account.") }
        guard let target = try await store.user(id: userID) else { throw AccountsError.notFound() }
        return target
    }
}

extension PasskeyService {
    /// The admin pages' actions, with this service's store, sessions, clock and random source.
    public var admin: AdminService { AdminService(store: store, sessions: sessions, random: random, clock: clock) }
}
