import Accounts
import Foundation
import Logging
@testable import PortcullisApp
import PortcullisTesting
import Testing

/// The minute's sweep deletes events past `events.retention` in batches until none is left (within
/// its batch budget), and none at all when events are kept for ever.
struct SweepServiceTests {
    static func sweeper(_ store: any AccountStore, retention: TimeInterval?) -> SweepService {
        SweepService(store: store, idleTimeout: 86400, eventRetention: retention, clock: { FixedClock.now }, logger: Logger(label: "test"),
                     also: { 0 })
    }

    static func storeWithEvents(old: Int, recent: Int) async throws -> (MemoryAccountStore, User) {
        let store = MemoryAccountStore()
        let (user, _, _) = try await StoreFixtures.signUp(store, "sweep-\(UUID().uuidString.prefix(6))", now: FixedClock.now)
        for index in 0..<old {
            try await store.appendEvent(StoreFixtures.event(.signin, for: user, at: FixedClock.now.addingTimeInterval(-400 * 86400 - Double(index))))
        }
        for index in 0..<recent {
            try await store.appendEvent(StoreFixtures.event(.signin, for: user, at: FixedClock.now.addingTimeInterval(-Double(index))))
        }
        return (store, user)
    }

    @Test(arguments: [(0, 0), (1, 0), (SweepService.eventBatch, 1), (2 * SweepService.eventBatch + 500, 3)])
    func eventsPastRetentionAreDeletedInBatches(old: Int, recent: Int) async throws {
        let (store, user) = try await Self.storeWithEvents(old: old, recent: recent)
        #expect(try await Self.sweeper(store, retention: 365 * 86400).sweepEvents(now: FixedClock.now) == old)
        // The sign-up's event and the recent ones are left.
        #expect(try await store.events(userID: user.id, limit: 10_000).count == recent + 1)
    }

    @Test func eventsKeptForEverAreNotSwept() async throws {
        let (store, user) = try await Self.storeWithEvents(old: 3, recent: 1)
        #expect(try await Self.sweeper(store, retention: nil).sweepEvents(now: FixedClock.now) == 0)
        #expect(try await store.events(userID: user.id, limit: 100).count == 5)
    }
}
