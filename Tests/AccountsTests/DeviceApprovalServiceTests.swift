import Accounts
import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// Device approval as a service over the memory store, with a clock the test moves: the approver's
/// freshness, the one session it makes, and each request used once.
@Suite struct DeviceApprovalServiceTests {
    static func service(_ store: MemoryAccountStore, _ clock: MutableClock) throws -> (DeviceApprovalService, SessionAuthority) {
        let (sessions, _) = try SessionAuthorityTests.authority(store, clock)
        return (DeviceApprovalService(store: store, sessions: sessions, policy: DeviceApprovalPolicy(requestLifetime: 300), clock: { clock.now }), sessions)
    }

    /// Someone signed in with a passkey just now.
    static func approver(_ store: MemoryAccountStore, _ clock: MutableClock, _ sessions: SessionAuthority) async throws -> Authenticated {
        let (_, token) = try await SessionAuthorityTests.signedIn(store, clock)
        return try #require(try await sessions.authenticate(token: token))
    }

    @Test func anApprovedRequestYieldsOneDeviceApprovalSession() async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (devices, sessions) = try Self.service(store, clock)
        let info = RequestInfo(ip: "192.0.2.1", userAgent: "TV")
        let stale = try await Self.approver(store, clock, sessions)

        let started = try await devices.start(info: info)
        #expect(started.expiresIn == 300)
        guard case .authorizationPending = try await devices.poll(deviceCode: started.deviceCode, info: info) else { Issue.record("not pending"); return }

        // The approver's passkey assertion must be at most a minute old.
        clock.advance(by: 120)
        await #expect(throws: AccountsError.self) { try await devices.decide(stale, userCode: started.userCode, approve: true, info: info) }
        let fresh = try await Self.approver(store, clock, sessions)
        try await devices.decide(fresh, userCode: started.userCode, approve: true, info: info)

        clock.advance(by: 10)
        guard case .approved(let approvedUser, let issued) = try await devices.poll(deviceCode: started.deviceCode, info: info) else {
            Issue.record("not approved"); return
        }
        #expect(approvedUser.id == fresh.user.id)
        #expect(issued.session.birth.kind == .deviceApproval)
        #expect(issued.session.birth.credentialID == fresh.session.birth.credentialID)
        #expect(try await store.session(tokenHash: issued.session.tokenHash) != nil)
        // Used once: the next poll gets nothing.
        clock.advance(by: 10)
        guard case .invalidGrant = try await devices.poll(deviceCode: started.deviceCode, info: info) else { Issue.record("reused"); return }
    }

    @Test func anUnknownOrExpiredRequestGivesNothing() async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (devices, _) = try Self.service(store, clock)
        let info = RequestInfo(ip: "192.0.2.1", userAgent: "TV")
        guard case .invalidGrant = try await devices.poll(deviceCode: "no-such-code", info: info) else { Issue.record("unknown accepted"); return }
        let started = try await devices.start(info: info)
        clock.advance(by: 301)
        guard case .expiredToken = try await devices.poll(deviceCode: started.deviceCode, info: info) else { Issue.record("expired accepted"); return }
    }
}
