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

    /// Every route the router holds, taken from the router itself so that no new route escapes:
    /// each path parameter gets a value of the right shape that names nothing stored, and the query
    /// carries what the GET routes read (unknown members are ignored).
    static func routes(_ harness: H) -> [(HTTPRequest.Method, String)] {
        let query = "?user_code=BCDFG-HJKLM&case=\(UUID())&sig=AAAA&username=alice"
        return harness.server.routes.map { route in
            let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? UUID().uuidString.lowercased() : String($0) }
            return (route.method, "/" + path.joined(separator: "/") + (route.method == .get ? query : ""))
        }
    }

    @Test func theRouteListIsTheRouters() async throws {
        let routes = Self.routes(try await H())
        #expect(routes.count >= 58)
        #expect(routes.contains { $0.0 == .post && $0.1 == "/api/v1/me/recovery-requests/approve" })
        #expect(routes.contains { $0.0 == .get && $0.1.hasPrefix("/recovery/cancel?") })
        #expect(routes.contains { $0.0 == .delete && $0.1.hasPrefix("/api/v1/me/passkeys/") })
    }

    @Test func noEndpointMakesASessionWithoutAVerifiedPasskeyCeremony() async throws {
        let harness = try await H()
        let routes = Self.routes(harness)
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
            for (method, path) in routes {
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
