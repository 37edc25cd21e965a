import Accounts
import Foundation
import WebAuthn

/// Records for store tests.
public enum StoreFixtures {
    /// A user with a fresh ID and handle.
    public static func user(_ name: String, at: Date = FixedClock.now) -> User {
        User(id: UUID(), username: name, displayName: name.capitalized, handle: Array(UUID().uuidString.utf8.prefix(32)), createdAt: at)
    }

    /// A passkey for `user`.
    public static func passkey(for user: User, id: [UInt8] = Array(UUID().uuidString.utf8), signCount: UInt32 = 0, at: Date = FixedClock.now) -> Passkey {
        Passkey(credentialID: id, userID: user.id, publicKey: [0xA5, 1, 2], algorithm: .es256, signCount: signCount,
                aaguid: .zero, name: "Test key", transports: [.internal, .hybrid],
                backupEligible: true, backedUp: true, uvInitialized: true, attestationFormat: "none", attestationTrusted: false, createdAt: at)
    }

    /// A session for `user`, born from `passkey`.
    public static func session(for user: User, passkey: Passkey, token: String = UUID().uuidString, at: Date = FixedClock.now,
                               lifetime: TimeInterval = 3600) -> Session {
        Session(id: UUID(), tokenHash: Array(token.utf8), userID: user.id,
                birth: SessionBirth(kind: .passkey, credentialID: passkey.credentialID, userVerified: true, deviceBound: false),
                createdAt: at, lastSeenAt: at, expiresAt: at.addingTimeInterval(lifetime), authenticatedAt: at, ip: "127.0.0.1", userAgent: "test")
    }

    /// An event for `user`.
    public static func event(_ kind: SecurityEvent.Kind, for user: User, at: Date = FixedClock.now) -> SecurityEvent {
        SecurityEvent(id: UUID(), userID: user.id, kind: kind, at: at, ip: "127.0.0.1", userAgent: "test", detail: ["k": "v"])
    }

    /// A challenge of `kind`.
    public static func challenge(_ kind: CeremonyKind, user: User? = nil, pending: User? = nil, expiresAt: Date = FixedClock.now.addingTimeInterval(300)) -> CeremonyChallenge {
        CeremonyChallenge(
            challenge: UUID().uuidString, kind: kind, userID: user?.id,
            pendingUser: pending.map { PendingUser(username: $0.username, displayName: $0.displayName, handle: $0.handle, inviteHash: nil) },
            expiresAt: expiresAt)
    }

    /// Signs `name` up in `store` as the server does (a sign-up challenge completed with a passkey, a
    /// session and the sign-up event); returns the user, the passkey and the session.
    public static func signUp(_ store: any AccountStore, _ name: String = "user-\(UUID().uuidString.prefix(8))",
                              now: Date = FixedClock.now) async throws -> (User, Passkey, Session) {
        let user = user(name.lowercased())
        let passkey = passkey(for: user)
        let session = session(for: user, passkey: passkey)
        let challenge = challenge(.signup, pending: user)
        try await store.saveChallenge(challenge)
        try await store.createUser(user, passkey: passkey, session: session, event: event(.signup, for: user),
                                   inviteHash: nil, challenge: challenge.challenge, now: now)
        return (user, passkey, session)
    }
}
