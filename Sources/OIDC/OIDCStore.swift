import Foundation

/// Something the provider issued or holds for a while: a pending authorization request, a pushed
/// authorization request, a code, a refresh token (which its access tokens are checked against), a
/// consent, a device authorization. Only the SHA-256 of its handle is stored (the handle itself is
/// the code or token), so a copy of the database yields no usable code or token.
///
/// Artifacts issued from one authorization share a `grantID`: revoking the grant (a replayed code, a
/// reused refresh token, a revoked consent) revokes every token issued from it. Grant IDs are
/// time-ordered (UUID version 7), so that a grant's rows join the end of the grant index instead of a
/// random page of it; when a grant began is no secret, and grant IDs never leave the server.
public struct OIDCArtifact: Sendable, Hashable {
    /// What an artifact is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        package enum Base: String, CaseIterable, Sendable {
            case interaction, pushedRequest = "par", code, refreshToken = "refresh", accessToken = "access", consent, deviceCode = "device", dpopProof = "dpop"
        }
        package let base: Base
        package init(_ base: Base) { self.base = base }
        /// Parses the stored spelling.
        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }
        /// An authorization request waiting for the person (sign-in or consent).
        public static let interaction = Kind(.interaction)
        /// A pushed authorization request (RFC 9126).
        public static let pushedRequest = Kind(.pushedRequest)
        /// An authorization code.
        public static let code = Kind(.code)
        /// A refresh token.
        public static let refreshToken = Kind(.refreshToken)
        /// An access token's own record (by its `jti`), as tokens were stored before they named the
        /// refresh token they are checked against (``AccessTokenClaims/grant_record``). None is stored
        /// now; those still held are read until they expire.
        public static let accessToken = Kind(.accessToken)
        /// A person's consent to a client's scopes.
        public static let consent = Kind(.consent)
        /// A device authorization (RFC 8628).
        public static let deviceCode = Kind(.deviceCode)
        /// A DPoP proof already seen (RFC 9449 §11.1), kept for its acceptance window.
        public static let dpopProof = Kind(.dpopProof)
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        public static var allCases: [Kind] { Base.allCases.map(Kind.init) }
    }

    public var kind: Kind
    /// SHA-256 of the handle.
    public var key: [UInt8]
    public var clientID: String
    public var userID: UUID?
    /// The session the artifact depends on, when it ends with that session.
    public var sessionID: UUID?
    /// The authorization it came from.
    public var grantID: UUID?
    /// Its content, as JSON.
    public var payload: [UInt8]
    public var createdAt: Date
    public var expiresAt: Date
    /// When it was used up (codes, refresh tokens, pushed requests).
    public var consumedAt: Date?
    /// Revoked with its grant.
    public var revoked: Bool

    public init(kind: Kind, key: [UInt8], clientID: String, userID: UUID? = nil, sessionID: UUID? = nil, grantID: UUID? = nil,
                payload: [UInt8], createdAt: Date, expiresAt: Date, consumedAt: Date? = nil, revoked: Bool = false) {
        self.kind = kind
        self.key = key
        self.clientID = clientID
        self.userID = userID
        self.sessionID = sessionID
        self.grantID = grantID
        self.payload = payload
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.consumedAt = consumedAt
        self.revoked = revoked
    }
}

/// Persistence for the provider: clients, signing keys and artifacts. Every method is one transaction.
/// Implementations: ``MemoryOIDCStore`` (tests) and `SQLAccountStore` (SQLite, PostgreSQL), so any node
/// of a deployment serves any step of a flow.
public protocol OIDCStore: Sendable {
    /// Stores a new client. Throws `StoreError.conflict` when the ID is taken.
    func saveClient(_ client: OIDCClient) async throws
    /// Replaces a client's secret hash. Throws `StoreError.notFound`.
    func updateClientSecret(id: String, secretHash: [UInt8]) async throws
    func client(id: String) async throws -> OIDCClient?
    func clients() async throws -> [OIDCClient]
    /// Deletes a client and everything issued to it. Throws `StoreError.notFound`.
    func deleteClient(id: String) async throws

    /// Every stored signing key, oldest first.
    func signingKeys() async throws -> [StoredSigningKey]
    /// Adds `keys` and marks every earlier key of their algorithms retired at `now`.
    func addSigningKeys(_ keys: [StoredSigningKey], now: Date) async throws
    /// Replaces an unsealed key's private half with its sealed form; does nothing when another node
    /// sealed it first.
    func sealSigningKey(kid: String, sealed: [UInt8]) async throws

    /// Stores artifacts (one transaction).
    func saveArtifacts(_ artifacts: [OIDCArtifact]) async throws
    func artifact(kind: OIDCArtifact.Kind, key: [UInt8]) async throws -> OIDCArtifact?
    /// Uses up an artifact that is unused, unrevoked and unexpired at `now`, and stores `replacements`
    /// in the same transaction. Returns false, changing nothing, when it was not usable.
    func consumeArtifact(kind: OIDCArtifact.Kind, key: [UInt8], now: Date, replacements: [OIDCArtifact]) async throws -> Bool
    /// Replaces an artifact's payload (and expiry) while it is unused and unrevoked; false when it is not.
    func updateArtifact(kind: OIDCArtifact.Kind, key: [UInt8], payload: [UInt8], expiresAt: Date) async throws -> Bool
    /// Deletes one artifact.
    func deleteArtifact(kind: OIDCArtifact.Kind, key: [UInt8]) async throws
    /// Revokes every artifact of a grant; returns how many.
    @discardableResult func revokeGrant(_ grantID: UUID) async throws -> Int
    /// Revokes every artifact that depends on one of `sessionIDs`; returns how many.
    @discardableResult func revokeSessions(_ sessionIDs: [UUID]) async throws -> Int
    /// Revokes every artifact a user holds for a client and deletes the consent (the user disconnects
    /// an app); returns how many were revoked. Codes count while their session lasts: a store may find
    /// a user's codes through the user's sessions, and a code of an ended session is honoured by no
    /// exchange.
    @discardableResult func revokeClientAccess(userID: UUID, clientID: String) async throws -> Int
    /// The user's unrevoked artifacts of `kind` (codes: those of the user's sessions that last).
    func artifacts(kind: OIDCArtifact.Kind, userID: UUID) async throws -> [OIDCArtifact]
    /// The clients that were issued codes or tokens for the user (from `sessionID` only, when given),
    /// revoked ones included: whom a back-channel logout tells. Codes count while their session lasts.
    func clientIDs(userID: UUID, sessionID: UUID?) async throws -> [String]
    /// Deletes artifacts that expired before `now`; returns how many.
    func sweepExpiredArtifacts(now: Date) async throws -> Int
}

/// An in-memory ``OIDCStore`` for unit tests and the `memory:` store.
public actor MemoryOIDCStore: OIDCStore {
    var clientsByID: [String: OIDCClient] = [:]
    var keys: [StoredSigningKey] = []
    var artifactsByKey: [String: OIDCArtifact] = [:]

    public init() {}

    static func index(_ kind: OIDCArtifact.Kind, _ key: [UInt8]) -> String { kind.rawValue + ":" + key.map { String($0, radix: 16) }.joined(separator: ".") }

    public func saveClient(_ client: OIDCClient) async throws {
        guard clientsByID[client.id] == nil else { throw OIDCStoreError.conflict }
        clientsByID[client.id] = client
    }

    public func updateClientSecret(id: String, secretHash: [UInt8]) async throws {
        guard clientsByID[id] != nil else { throw OIDCStoreError.notFound }
        clientsByID[id]?.secretHash = secretHash
    }

    public func client(id: String) async throws -> OIDCClient? { clientsByID[id] }
    public func clients() async throws -> [OIDCClient] { clientsByID.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }

    public func deleteClient(id: String) async throws {
        guard clientsByID.removeValue(forKey: id) != nil else { throw OIDCStoreError.notFound }
        artifactsByKey = artifactsByKey.filter { $0.value.clientID != id }
    }

    public func signingKeys() async throws -> [StoredSigningKey] { keys }

    public func addSigningKeys(_ new: [StoredSigningKey], now: Date) async throws {
        let algorithms = Set(new.map(\.algorithm))
        for index in keys.indices where algorithms.contains(keys[index].algorithm) && keys[index].retiredAt == nil { keys[index].retiredAt = now }
        keys += new
    }

    public func sealSigningKey(kid: String, sealed: [UInt8]) async throws {
        for index in keys.indices where keys[index].kid == kid && !keys[index].encrypted {
            keys[index].privateKey = sealed
            keys[index].encrypted = true
        }
    }

    public func saveArtifacts(_ artifacts: [OIDCArtifact]) async throws {
        for artifact in artifacts { artifactsByKey[Self.index(artifact.kind, artifact.key)] = artifact }
    }

    public func artifact(kind: OIDCArtifact.Kind, key: [UInt8]) async throws -> OIDCArtifact? { artifactsByKey[Self.index(kind, key)] }

    public func consumeArtifact(kind: OIDCArtifact.Kind, key: [UInt8], now: Date, replacements: [OIDCArtifact]) async throws -> Bool {
        let index = Self.index(kind, key)
        guard let stored = artifactsByKey[index], stored.consumedAt == nil, !stored.revoked, stored.expiresAt > now else { return false }
        artifactsByKey[index]?.consumedAt = now
        try await saveArtifacts(replacements)
        return true
    }

    public func updateArtifact(kind: OIDCArtifact.Kind, key: [UInt8], payload: [UInt8], expiresAt: Date) async throws -> Bool {
        let index = Self.index(kind, key)
        guard let stored = artifactsByKey[index], stored.consumedAt == nil, !stored.revoked else { return false }
        artifactsByKey[index]?.payload = payload
        artifactsByKey[index]?.expiresAt = expiresAt
        return true
    }

    public func deleteArtifact(kind: OIDCArtifact.Kind, key: [UInt8]) async throws { artifactsByKey[Self.index(kind, key)] = nil }

    public func revokeGrant(_ grantID: UUID) async throws -> Int { revoke { $0.grantID == grantID } }

    public func revokeSessions(_ sessionIDs: [UUID]) async throws -> Int {
        let ids = Set(sessionIDs)
        return revoke { $0.sessionID.map(ids.contains) ?? false }
    }

    public func revokeClientAccess(userID: UUID, clientID: String) async throws -> Int {
        let count = revoke { $0.userID == userID && $0.clientID == clientID && $0.kind != .consent }
        artifactsByKey = artifactsByKey.filter { !($0.value.kind == .consent && $0.value.userID == userID && $0.value.clientID == clientID) }
        return count
    }

    private func revoke(_ matching: (OIDCArtifact) -> Bool) -> Int {
        var count = 0
        for (index, artifact) in artifactsByKey where matching(artifact) && !artifact.revoked {
            artifactsByKey[index]?.revoked = true
            count += 1
        }
        return count
    }

    public func artifacts(kind: OIDCArtifact.Kind, userID: UUID) async throws -> [OIDCArtifact] {
        artifactsByKey.values.filter { $0.kind == kind && $0.userID == userID && !$0.revoked }.sorted { $0.createdAt < $1.createdAt }
    }

    public func clientIDs(userID: UUID, sessionID: UUID?) async throws -> [String] {
        let issued: Set<OIDCArtifact.Kind> = [.code, .accessToken, .refreshToken]
        return Set(artifactsByKey.values.filter { issued.contains($0.kind) && $0.userID == userID && (sessionID == nil || $0.sessionID == sessionID) }
            .map(\.clientID)).sorted()
    }

    public func sweepExpiredArtifacts(now: Date) async throws -> Int {
        let expired = artifactsByKey.filter { $0.value.expiresAt <= now }.map(\.key)
        for key in expired { artifactsByKey[key] = nil }
        return expired.count
    }
}

/// Why the provider's store refused a write.
public enum OIDCStoreError: Error, Hashable, Sendable {
    /// The ID is taken.
    case conflict
    /// No such record.
    case notFound
}
