import Accounts
import Crypto
import Foundation
import PortcullisTesting
import Testing
import WebAuthn

/// The one place sessions are made, and the checks every signed-in action goes through, over the
/// memory store with a clock the test moves.
@Suite struct SessionAuthorityTests {
    static let rp = try? RelyingParty(id: "example.org", origins: ["https://example.org"])

    static func authority(_ store: MemoryAccountStore, _ clock: MutableClock) throws -> (SessionAuthority, PasskeyService) {
        let policy = AccountsPolicy(relyingParty: try #require(rp), relyingPartyName: "Test", sessionIdleTimeout: 3600,
                                    sessionAbsoluteLifetime: 7200, reauthenticationWindow: 300)
        let service = PasskeyService(store: store, policy: policy, enumerationSecret: Array(repeating: 1, count: 32), clock: { clock.now })
        return (service.sessions, service)
    }

    /// A signed-in user whose session token `token` is stored.
    static func signedIn(_ store: MemoryAccountStore, _ clock: MutableClock, birth: SessionBirth.Kind = .passkey, coolingUntil: Date? = nil)
        async throws -> (user: User, token: String)
    {
        let (user, passkey, _) = try await StoreFixtures.signUp(store, "user-\(UUID().uuidString.prefix(6).lowercased())", now: clock.now)
        let token = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        var session = StoreFixtures.session(for: user, passkey: passkey, at: clock.now, lifetime: 7200)
        session.tokenHash = Array(SHA256.hash(data: Array(token.utf8)))
        session.birth = SessionBirth(kind: birth, credentialID: passkey.credentialID, userVerified: true, deviceBound: false, coolingUntil: coolingUntil)
        let login = StoreFixtures.challenge(.login, user: user, expiresAt: clock.now.addingTimeInterval(300))
        try await store.saveChallenge(login)
        try await store.recordAssertion(credentialID: passkey.credentialID, expectedSignCount: 0, newSignCount: 1, backedUp: false, uvInitialized: true,
                                        newSession: session, reauthenticatedSession: nil, event: StoreFixtures.event(.signin, for: user),
                                        challenge: login.challenge, kind: .login, now: clock.now)
        return (user, token)
    }

    @Test func aTokenResolvesOnlyWithinItsLifetimesAndForAnEnabledUser() async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (sessions, _) = try Self.authority(store, clock)
        let (user, token) = try await Self.signedIn(store, clock)
        let (other, otherToken) = try await Self.signedIn(store, clock)
        #expect(try await sessions.authenticate(token: token)?.user.id == user.id)
        for bad in ["", "AAAA", String(token.dropLast()), Base64URL.encode(Array(repeating: 0, count: 32))] {
            #expect(try await sessions.authenticate(token: bad) == nil)
        }
        // A disabled user's session is no session.
        #expect(try await sessions.authenticate(token: otherToken) != nil)
        try await store.setDisabled(userID: other.id, disabled: true, event: nil)
        #expect(try await sessions.authenticate(token: otherToken) == nil)
        // Idle for longer than the idle timeout: gone.
        clock.advance(by: 3601)
        #expect(try await sessions.authenticate(token: token) == nil)
    }

    @Test func theAbsoluteLifetimeEndsAnActiveSession() async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (sessions, _) = try Self.authority(store, clock)
        let (_, token) = try await Self.signedIn(store, clock)
        for _ in 0..<3 {
            clock.advance(by: 2000)
            #expect(try await sessions.authenticate(token: token) != nil)  // kept alive
        }
        clock.advance(by: 1201)
        #expect(try await sessions.authenticate(token: token) == nil)  // 7,201 s after it began
    }

    @Test(arguments: [
        (SessionBirth.Kind.passkey, nil as TimeInterval?, true),
        (.deviceApproval, nil, false),
        (.recovered, 600, false),  // still cooling
        (.recovered, -1, true),  // cooled down
    ])
    func fullRightsFollowTheBirth(kind: SessionBirth.Kind, coolingFromNow: TimeInterval?, full: Bool) async throws {
        let store = MemoryAccountStore()
        let clock = MutableClock()
        let (sessions, _) = try Self.authority(store, clock)
        let (_, token) = try await Self.signedIn(store, clock, birth: kind, coolingUntil: coolingFromNow.map { clock.now.addingTimeInterval($0) })
        let auth = try #require(try await sessions.authenticate(token: token))
        if full {
            try sessions.requireFullRights(auth)
            try sessions.requireFresh(auth)
            clock.advance(by: 301)
            let stale = #expect(throws: AccountsError.self) { try sessions.requireFresh(auth) }
            #expect(stale?.code.rawValue == "reauthentication_required")
            try sessions.requireFresh(auth, within: 400)
        } else {
            let refused = #expect(throws: AccountsError.self) { try sessions.requireFullRights(auth) }
            #expect(refused?.code == .sessionNotAllowed)
            #expect(throws: AccountsError.self) { try sessions.requireFresh(auth) }
        }
    }
}
