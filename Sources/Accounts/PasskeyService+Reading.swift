import Foundation

/// What the signed-in user, and the server's own health checks, may read. The HTTP layer reads
/// through these, never through the store.
extension PasskeyService {
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

    /// Throws when the store does not answer (readiness).
    public func ping() async throws {
        try await store.ping()
    }

    /// Live sessions across the server (a metric).
    public func countSessions() async throws -> Int {
        try await store.countSessions()
    }
}
