import Foundation

/// What the server's own health checks read. The HTTP layer reads through the domain, never the store.
extension PasskeyService {
    /// Throws when the store does not answer (readiness).
    public func ping() async throws {
        try await store.ping()
    }

    /// Live sessions across the server (a metric).
    public func countSessions() async throws -> Int {
        try await store.countSessions()
    }
}
