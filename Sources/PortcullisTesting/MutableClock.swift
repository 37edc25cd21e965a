import Foundation
import Synchronization

/// A clock a test moves by hand.
public final class MutableClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = FixedClock.now) { current = Mutex(start) }

    /// The current instant.
    public var now: Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
