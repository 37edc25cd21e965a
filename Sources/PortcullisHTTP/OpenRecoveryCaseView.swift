import Accounts
import Foundation

/// An open recovery case as its owner is shown it (never its comparison code), with where to cancel it.
struct OpenRecoveryCaseView: Encodable, Sendable, Equatable {
    let id: UUID
    let createdAt: Date
    let expiresAt: Date
    let ip: String
    let userAgent: String
    /// How many proofs it holds.
    let proofs: Int
    /// The API path that cancels it.
    let cancel: String

    init(_ c: RecoveryCase) {
        id = c.id
        createdAt = c.createdAt
        expiresAt = c.expiresAt
        ip = c.ip
        userAgent = c.userAgent
        proofs = c.proofs.count
        cancel = "/api/v1/me/recovery-requests/\(c.id.lowercaseText)/cancel"
    }
}
