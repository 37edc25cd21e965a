import Crypto
import Foundation
import WebAuthn

/// What an operator does from the command line to accounts, through the domain like everything else:
/// each change is written with its security event in one transaction, at the clock's time, with IDs
/// and secrets from the random source.
public struct OperatorActions: Sendable {
    let store: any AccountStore
    let clock: @Sendable () -> Date
    let random: any RandomSource

    /// The actions on `store`, timed by `clock`, drawing from `random`.
    public init(store: any AccountStore, clock: @escaping @Sendable () -> Date = { Date() }, random: any RandomSource = SystemRandomSource()) {
        self.store = store
        self.clock = clock
        self.random = random
    }

    /// The account called `username`.
    /// - Throws: ``AccountsError`` `not_found`.
    public func user(named username: String) async throws -> User {
        guard let user = try await store.user(username: try PasskeyService.normalize(username: username)) else { throw AccountsError.notFound() }
        return user
    }

    /// Disables (ending every session) or enables an account; the owner's timeline says so.
    @discardableResult
    public func setDisabled(_ disabled: Bool, username: String) async throws -> User {
        let user = try await user(named: username)
        let event = SecurityEvent(
            id: random.timeOrderedUUID(at: clock()), userID: user.id, kind: disabled ? .userDisabled : .userEnabled, at: clock(),
            ip: "command line", userAgent: "portcullis user \(disabled ? "disable" : "enable")")
        do { try await store.setDisabled(userID: user.id, disabled: disabled, event: event) } catch let error as StoreError {
            throw error == .notFound ? AccountsError.notFound() : AccountsError.conflict()
        }
        return user
    }

    /// Grants or revokes the admin role; the user's timeline (and notifications) say so.
    public func setAdmin(_ admin: Bool, username: String) async throws {
        let user = try await user(named: username)
        try await store.setAdmin(userID: user.id, admin: admin, event: SecurityEvent(
            id: random.timeOrderedUUID(at: clock()), userID: user.id, kind: admin ? .adminGranted : .adminRevoked, at: clock(), ip: "command line",
            userAgent: "portcullis admin"))
    }

    /// Deletes an account and everything of its.
    public func delete(username: String) async throws {
        let user = try await user(named: username)
        do { try await store.deleteUser(id: user.id) } catch let error as StoreError {
            throw error == .notFound ? AccountsError.notFound() : AccountsError.conflict()
        }
    }

    /// A single-use sign-up invite that expires after `lifetime` seconds; its code is returned once
    /// and only its hash is stored.
    public func createInvite(lifetime: TimeInterval) async throws -> String {
        let code = Base64URL.encode(random.bytes(18))
        let now = clock()
        try await store.createInvite(Invite(codeHash: sha256(code), createdAt: now, expiresAt: now.addingTimeInterval(lifetime)))
        return code
    }
}

extension PasskeyService {
    /// The operator's actions, with this service's store, clock and random source.
    public var operatorActions: OperatorActions { OperatorActions(store: store, clock: clock, random: random) }
}
