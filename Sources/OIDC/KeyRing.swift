import Foundation
import JWTKit
import Synchronization
import WebAuthn

/// The provider's signing keys as one node holds them: loaded from the store (so every node signs with
/// the same keys and publishes the same set), reloaded when a token names a key it has not seen or
/// after ``reloadInterval``, so a rotation done by `portcullis keys rotate` reaches running nodes.
///
/// A retired key is still published, and still verifies, for ``retention`` after it stopped signing,
/// which is longer than any token it signed lives.
public actor KeyRing {
    let store: any OIDCStore
    let encryption: KeyEncryption?
    let clock: @Sendable () -> Date
    /// How long a retired key stays published.
    public let retention: TimeInterval
    /// How often a node looks for new keys.
    let reloadInterval: TimeInterval
    var loaded: [String: LoadedKey] = [:]
    /// The newest active signer of each algorithm as of the last load, and when that was: what
    /// ``sign(_:algorithm:type:)`` reads without entering the actor.
    private let signers = Mutex<(byAlgorithm: [SigningAlgorithm: JWSSigner], at: Date?)>(([:], nil))
    /// When the keys were last loaded.
    var loadedAt: Date? { signers.withLock { $0.at } }

    public init(store: any OIDCStore, encryption: KeyEncryption?, retention: TimeInterval, reloadInterval: TimeInterval = 30,
                clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.reloadInterval = reloadInterval
        self.encryption = encryption
        self.retention = retention
        self.clock = clock
    }

    /// Makes a key for every algorithm that has no active one (the first start of a deployment), and
    /// seals the keys stored before a key-encryption secret was configured.
    public func ensureKeys() async throws {
        var stored = try await store.signingKeys()
        if let encryption, stored.contains(where: { !$0.encrypted }) {
            for key in stored where !key.encrypted {
                try await store.sealSigningKey(kid: key.kid, sealed: try encryption.seal(key.privateKey, kid: key.kid))
            }
            stored = try await store.signingKeys()
        }
        let missing = SigningAlgorithm.allCases.filter { algorithm in !stored.contains { $0.algorithm == algorithm && $0.retiredAt == nil } }
        if !missing.isEmpty {
            let now = clock()
            try await store.addSigningKeys(try missing.map { try SigningKeys.generate($0, encryption: encryption, now: now) }, now: now)
        }
        try await reload()
    }

    /// Adds a new key for every algorithm; the previous ones retire but stay published for ``retention``.
    /// Returns the new key IDs.
    @discardableResult
    public func rotate() async throws -> [String] {
        let now = clock()
        let keys = try SigningAlgorithm.allCases.map { try SigningKeys.generate($0, encryption: encryption, now: now) }
        try await store.addSigningKeys(keys, now: now)
        try await reload()
        return keys.map(\.kid)
    }

    /// Whether every stored key is sealed with the key-encryption secret.
    public func allEncrypted() async throws -> Bool { try await store.signingKeys().allSatisfy(\.encrypted) }

    func reload() async throws {
        let now = clock()
        var next: [String: LoadedKey] = [:]
        for stored in try await store.signingKeys() where stored.retiredAt.map({ $0.addingTimeInterval(retention) > now }) ?? true {
            if var known = loaded[stored.kid] {
                known.stored = stored  // its retirement may be news
                next[stored.kid] = known
            } else {
                next[stored.kid] = try await SigningKeys.load(stored, encryption: encryption)
            }
        }
        loaded = next
        var active: [SigningAlgorithm: LoadedKey] = [:]
        for key in next.values where key.stored.retiredAt == nil {
            if let other = active[key.stored.algorithm], other.stored.createdAt >= key.stored.createdAt { continue }
            active[key.stored.algorithm] = key
        }
        signers.withLock { $0 = (active.mapValues(\.signer), now) }
    }

    private func fresh() async throws {
        if let loadedAt, clock().timeIntervalSince(loadedAt) < reloadInterval { return }
        try await reload()
    }

    /// The signer of the newest active key of `algorithm`, the keys loaded afresh when they are stale.
    func signer(_ algorithm: SigningAlgorithm) async throws -> JWSSigner {
        try await fresh()
        if let signer = signers.withLock({ $0.byAlgorithm[algorithm] }) { return signer }
        try await ensureKeys()
        guard let signer = signers.withLock({ $0.byAlgorithm[algorithm] }) else { throw OIDCError.keySecretMismatch }
        return signer
    }

    /// Signs `claims` with the active key of `algorithm`, with `typ` in the header. While the keys
    /// are fresh it signs on the caller's task, without entering the actor.
    nonisolated func sign(_ claims: some SignedClaims, algorithm: SigningAlgorithm, type: String) async throws -> String {
        let payload = claims.claimsJSON
        let now = clock()
        let known = signers.withLock { state -> JWSSigner? in
            guard let at = state.at, now.timeIntervalSince(at) < reloadInterval else { return nil }
            return state.byAlgorithm[algorithm]
        }
        if let known { return try known.sign(payload, type: type) }
        return try await signer(algorithm).sign(payload, type: type)
    }

    /// The published keys (RFC 7517 §5).
    public func jwks() async throws -> JSONValue {
        try await fresh()
        let keys = loaded.values.sorted { ($0.stored.createdAt, $0.stored.kid) > ($1.stored.createdAt, $1.stored.kid) }.map(\.jwk)
        return .object(JSONObject([("keys", .array(keys))]))
    }

    /// Verifies a token this provider signed and decodes its claims; `type`, when given, must be the
    /// header's `typ`. Throws when the signature, the key or the format is wrong.
    public func verify<Payload: JWTPayload>(_ token: String, as: Payload.Type, type: String? = nil) async throws -> Payload {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 16384, let headerBytes = Base64URL.decode(String(parts[0])),
              let header = try? StrictJSON.parse(headerBytes).object, let kid = header["kid"]?.string,
              let alg = header["alg"]?.string
        else { throw OAuthError.invalidToken("The token is malformed.") }
        if let type, header["typ"]?.string?.lowercased() != type { throw OAuthError.invalidToken("The token is of another type.") }
        try await fresh()
        if loaded[kid] == nil, clock().timeIntervalSince(loadedAt ?? .distantPast) > 1 { try await reload() }
        guard let key = loaded[kid], key.stored.algorithm.rawValue == alg else { throw OAuthError.invalidToken("The token was not signed by this server.") }
        do {
            return try await key.collection.verify(token, as: Payload.self)
        } catch {
            throw OAuthError.invalidToken("The token's signature or claims do not verify.")
        }
    }
}
