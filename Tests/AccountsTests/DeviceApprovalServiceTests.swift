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

    /// The code of the domain refusal `action` throws; `nil` when it succeeds.
    static func refusal(_ action: () async throws -> Void) async throws -> String? {
        do { try await action() } catch let error as AccountsError { return error.code.rawValue }
        return nil
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

    /// A request that names an account is shown to that account's sessions at once, and only that
    /// account approves it, by picking the number the device shows among three.
    @Test func aRequestNamingAnAccountIsPushedAndNeedsTheRightNumber() async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (devices, sessions) = try Self.service(store, clock)
        let info = RequestInfo(ip: "192.0.2.1", userAgent: "Phone without passkeys")
        let owner = try await Self.approver(store, clock, sessions)
        let stranger = try await Self.approver(store, clock, sessions)

        let started = try await devices.start(info: info, username: owner.user.username)
        #expect((10...99).contains(started.matchNumber))
        let pushed = try await devices.pending(owner)
        #expect(pushed.map(\.userCode) == [started.userCode])
        let choices = try #require(pushed.first?.choices)
        #expect(choices.count == 3 && Set(choices).count == 3 && choices.contains(started.matchNumber))
        #expect(choices.allSatisfy { (10...99).contains($0) })
        // The same three, in the same order, however often the approver looks.
        #expect(try await devices.pending(owner).first?.choices == choices)
        #expect(try await devices.pending(stranger).isEmpty)

        // Someone else, even with the code, neither finds nor approves it.
        #expect(try await Self.refusal { _ = try await devices.lookup(stranger, userCode: started.userCode) } == "not_found")
        #expect(try await Self.refusal {
            try await devices.decide(stranger, userCode: started.userCode, approve: true, number: started.matchNumber, info: info)
        } == "not_found")
        try await devices.decide(owner, userCode: started.userCode, approve: true, number: started.matchNumber, info: info)
        clock.advance(by: 5)
        guard case .approved(let user, _) = try await devices.poll(deviceCode: started.deviceCode, info: info) else { Issue.record("not approved"); return }
        #expect(user.id == owner.user.id)
        #expect(try await devices.pending(owner).isEmpty)
    }

    /// A wrong pick, or an approval without a pick, denies the request: the device hears access_denied
    /// and the account's timeline says why.
    @Test(arguments: [Int?.none, .some(-1)])
    func aWrongNumberDeniesTheRequest(pick: Int?) async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (devices, sessions) = try Self.service(store, clock)
        let info = RequestInfo(ip: "192.0.2.1", userAgent: "Phone without passkeys")
        let owner = try await Self.approver(store, clock, sessions)
        let started = try await devices.start(info: info, username: owner.user.username)
        let wrong = pick.map { _ in started.matchNumber == 99 ? 10 : started.matchNumber + 1 }
        #expect(try await Self.refusal {
            try await devices.decide(owner, userCode: started.userCode, approve: true, number: wrong, info: info)
        } == "number_mismatch")
        guard case .accessDenied = try await devices.poll(deviceCode: started.deviceCode, info: info) else { Issue.record("not denied"); return }
        let denial = try #require(try await store.events(userID: owner.user.id, limit: 10).first { $0.kind == .deviceDenied })
        #expect(denial.detail["reason"] == "wrong_number")
        // And it cannot be approved afterwards with the right number.
        #expect(try await Self.refusal {
            try await devices.decide(owner, userCode: started.userCode, approve: true, number: started.matchNumber, info: info)
        } == "not_found")
    }

    /// An unknown username starts a request that looks the same to the device, and is pushed to nobody;
    /// a request without a username keeps today's flow: any signed-in account with the code, no number.
    @Test func unknownAndUnnamedRequests() async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (devices, sessions) = try Self.service(store, clock)
        let info = RequestInfo(ip: "192.0.2.1", userAgent: "TV")
        let approver = try await Self.approver(store, clock, sessions)
        let unknown = try await devices.start(info: info, username: "nobody-here")
        #expect((10...99).contains(unknown.matchNumber) && unknown.expiresIn == 300)
        #expect(try await store.deviceRequest(userCode: unknown.userCode)?.targetUserID == nil)
        #expect(try await devices.pending(approver).isEmpty)
        let unnamed = try await devices.start(info: info)
        try await devices.decide(approver, userCode: unnamed.userCode, approve: true, info: info)
        clock.advance(by: 5)
        guard case .approved = try await devices.poll(deviceCode: unnamed.deviceCode, info: info) else { Issue.record("not approved"); return }
    }
}
