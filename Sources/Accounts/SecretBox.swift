import Synchronization

/// A secret that is set once at start-up and read afterwards.
public final class SecretBox: Sendable {
    private let storage: Mutex<[UInt8]>

    public init(_ initial: [UInt8] = []) { storage = Mutex(initial) }

    /// The current secret.
    public var value: [UInt8] { storage.withLock { $0 } }

    /// Replaces the secret.
    public func set(_ secret: [UInt8]) { storage.withLock { $0 = secret } }
}
