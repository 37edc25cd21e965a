import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisApp
import PortcullisTesting
import Testing
import WebAuthn

/// The invariant of issue 4, from every endpoint: a session exists only after a passkey ceremony
/// this server verified. Every route is called with bodies that carry no valid ceremony (nothing,
/// junk, a response signed for another challenge, a replay); none may set a session cookie or add a
/// stored session.
@Suite struct SessionInvariantTests {
    typealias H = ServerHarness

    /// Every route the server registers (keep in step with the controllers' `register(on:)`).
    static let routes: [(HTTPRequest.Method, String)] = [
        (.post, "/api/v1/signup/options"), (.post, "/api/v1/signup/verify"), (.post, "/api/v1/login/options"), (.post, "/api/v1/login/verify"),
        (.post, "/api/v1/logout"), (.get, "/api/v1/me"), (.post, "/api/v1/me/passkeys/options"), (.post, "/api/v1/me/passkeys/verify"),
        (.patch, "/api/v1/me/passkeys/AAAA"), (.delete, "/api/v1/me/passkeys/AAAA"), (.post, "/api/v1/me/reauth/options"),
        (.post, "/api/v1/me/reauth/verify"), (.get, "/api/v1/me/sessions"), (.delete, "/api/v1/me/sessions/\(UUID())"), (.get, "/api/v1/me/events"),
        (.post, "/api/v1/device/start"), (.post, "/api/v1/device/poll"), (.get, "/api/v1/device/lookup?user_code=BCDFG-HJKLM"),
        (.post, "/api/v1/device/approve"), (.post, "/api/v1/device/deny"),
        (.post, "/api/v1/me/enrolments"), (.get, "/api/v1/me/enrolments/\(UUID())"), (.post, "/api/v1/me/enrolments/\(UUID())/confirm"),
        (.post, "/api/v1/enrol/open"), (.post, "/api/v1/enrol/passkey/options"), (.post, "/api/v1/enrol/passkey/verify"),
        (.get, "/api/v1/me/recovery"), (.patch, "/api/v1/me/recovery"), (.post, "/api/v1/me/recovery/code"), (.post, "/api/v1/me/recovery/contacts"),
        (.delete, "/api/v1/me/recovery/contacts/\(UUID())"), (.get, "/api/v1/me/recovery/invitations"),
        (.post, "/api/v1/me/recovery/invitations/\(UUID())/accept"), (.get, "/api/v1/me/recovery-requests"),
        (.post, "/api/v1/me/recovery-requests/\(UUID())/approve"), (.post, "/api/v1/me/recovery-requests/\(UUID())/cancel"),
        (.post, "/api/v1/recovery"), (.get, "/api/v1/recovery/\(UUID())"), (.post, "/api/v1/recovery/\(UUID())/code"),
        (.post, "/api/v1/recovery/\(UUID())/passkey/options"), (.post, "/api/v1/recovery/\(UUID())/passkey/verify"),
        (.get, "/recovery/cancel?case=\(UUID())&sig=AAAA"), (.post, "/recovery/cancel"),
        (.get, "/api/v1/admin/ways-in"), (.get, "/api/v1/admin/recovery-cases?username=alice"), (.post, "/api/v1/admin/recovery-cases/\(UUID())/approve"),
        (.get, "/api/v1/admin/unrecoverable"), (.get, "/"), (.get, "/device"), (.get, "/enrol"), (.get, "/recover"), (.get, "/app.js"),
        (.get, "/.well-known/webauthn"), (.get, "/healthz"), (.get, "/readyz"), (.get, "/metrics"),
    ]

    @Test func noEndpointMakesASessionWithoutAVerifiedPasskeyCeremony() async throws {
        let harness = try H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let signedUp = try await harness.store.countSessions()

            // A real response, kept to be replayed, and one signed for a challenge the server never issued.
            let options = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]))
            let used = try H.assertion(&alice, options: options)
            #expect(try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": used])).status == .ok)
            let baseline = try await harness.store.countSessions()
            #expect(baseline == signedUp + 1)
            alice.signCount += 1
            let foreign = H.authenticator.assertion(challenge: Array(repeating: 7, count: 32), credential: alice.credential, signCount: alice.signCount,
                                                    userHandle: alice.handle).jsonValue
            let stranger = H.authenticator.registration(challenge: Array(repeating: 9, count: 32), algorithm: .es256).jsonValue
            let bodies: [JSONValue?] = [
                nil, .object([:]), .object(["credential": .string("junk")]), .object(["credential": used]), .object(["credential": foreign]),
                .object(["credential": stranger, "id": .string(UUID().uuidString), "token": .string("AAAA"), "device_code": .string("AAAA"),
                         "username": .string("alice"), "code": .string("AAAAA"), "comparisonCode": .string("000000")]),
            ]
            for (method, path) in Self.routes {
                for body in bodies {
                    for cookie in [nil, "portcullis_recovery=AAAA; portcullis_enrol=AAAA; portcullis_session=AAAA"] {
                        let reply = try await H.send(client, method, path, json: method == .get ? nil : body, cookie: cookie)
                        #expect(reply.sessionToken == nil || reply.sessionToken == "", "\(method) \(path) set a session cookie")
                        #expect(reply.status.code < 500, "\(method) \(path) answered \(reply.status)")
                    }
                }
            }
            #expect(try await harness.store.countSessions() == baseline)
        }
    }
}
