import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisApp
import PortcullisTesting
import Testing
import WebAuthn

@Suite struct DeviceApprovalTests {
    typealias H = ServerHarness

    static func start(_ client: any TestClientProtocol) async throws -> (deviceCode: String, userCode: String) {
        // The device has no passkeys and may not be a browser: no Origin, no cookie.
        let started = try await H.send(client, .post, "/api/v1/device/start", json: .object([:]), origin: nil)
        #expect(started.status == .ok)
        let o = started.object
        let userCode = try #require(o["user_code"]?.string)
        #expect(userCode.count == 11 && userCode.dropFirst(5).first == "-")
        #expect(o["interval"] == .int(5))
        #expect(o["expires_in"] == .int(600))
        #expect(o["verification_uri"] == .string("http://localhost:8080/device"))
        #expect(o["verification_uri_complete"]?.string?.hasSuffix("?user_code=" + userCode) == true)
        let deviceCode = try #require(o["device_code"]?.string)
        #expect((Base64URL.decode(deviceCode)?.count ?? 0) >= 16)
        return (deviceCode, userCode)
    }

    static func poll(_ client: any TestClientProtocol, _ deviceCode: String) async throws -> H.Reply {
        try await H.send(client, .post, "/api/v1/device/poll", json: .object(["device_code": .string(deviceCode)]), origin: nil)
    }

    @Test func aSignedInPasskeyApprovesADeviceWhichGetsALesserSession() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let (deviceCode, userCode) = try await Self.start(client)

            let pending = try await Self.poll(client, deviceCode)
            #expect(pending.status == .badRequest)
            #expect(pending.object["error"] == .string("authorization_pending"))
            let tooFast = try await Self.poll(client, deviceCode)
            #expect(tooFast.object["error"] == .string("slow_down"))

            // The approver sees where the request came from, typed in any case and spacing.
            let lookup = try await H.send(client, .get, "/api/v1/device/lookup?user_code=\(userCode.lowercased())", token: alice.token)
            #expect(lookup.status == .ok)
            #expect(lookup.object["userAgent"] == .string("PortcullisTests/1.0"))
            #expect(lookup.object["ip"] != nil)
            let approve = try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(userCode)]), token: alice.token)
            #expect(approve.status == .noContent)

            harness.clock.advance(by: 6)
            let granted = try await Self.poll(client, deviceCode)
            #expect(granted.status == .ok)
            let deviceToken = try #require(granted.sessionToken)
            #expect(granted.headers[.setCookie]?.contains("Max-Age=43200") == true)
            let me = try await H.send(client, .get, "/api/v1/me", token: deviceToken)
            #expect(me.object["session"]?.object?["birth"]?.object?["kind"] == .string("device-approval"))

            // Single use.
            harness.clock.advance(by: 6)
            #expect(try await Self.poll(client, deviceCode).object["error"] == .string("invalid_grant"))

            // The lesser session can do none of the sensitive things.
            for (method, path) in [(HTTPRequest.Method.post, "/api/v1/me/passkeys/options"),
                                   (.delete, "/api/v1/me/passkeys/\(Base64URL.encode(alice.credential.credentialID))")] {
                let refused = try await H.send(client, method, path, token: deviceToken)
                #expect(refused.status == .forbidden, "\(path)")
                #expect(refused.object["code"] == .string("session_not_allowed"))
                #expect(refused.object["title"]?.string?.hasPrefix("This device was signed in by approval from another device") == true)
            }
            #expect(try await H.send(client, .patch, "/api/v1/me/passkeys/\(Base64URL.encode(alice.credential.credentialID))",
                                     json: .object(["name": .string("x")]), token: deviceToken).status == .forbidden)
            let (_, otherCode) = try await Self.start(client)
            let chained = try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(otherCode)]), token: deviceToken)
            #expect(chained.status == .forbidden)
            let sessions = try await H.send(client, .get, "/api/v1/me/sessions", token: deviceToken)
            let first = try #require(sessions.object["sessions"]?.array?.first { $0.object?["current"] == .bool(false) }?.object?["id"]?.string)
            #expect(try await H.send(client, .delete, "/api/v1/me/sessions/\(first)", token: deviceToken).status == .forbidden)
            let events = try await H.send(client, .get, "/api/v1/me/events", token: alice.token)
            let kinds = events.object["events"]?.array?.compactMap { $0.object?["kind"]?.string } ?? []
            #expect(kinds.contains("device_approved") && kinds.contains("signin_device_approval"))
        }
    }

    @Test func denialExpiryStaleApproversAndGuessing() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let (deniedCode, deniedUser) = try await Self.start(client)
            #expect(try await H.send(client, .post, "/api/v1/device/deny", json: .object(["user_code": .string(deniedUser)]), token: alice.token).status == .noContent)
            #expect(try await Self.poll(client, deniedCode).object["error"] == .string("access_denied"))
            // A decided request cannot be decided again.
            #expect(try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(deniedUser)]), token: alice.token).status == .notFound)

            // An approver whose passkey assertion is over a minute old must re-authenticate first.
            let (_, staleUser) = try await Self.start(client)
            harness.clock.advance(by: 61)
            let stale = try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(staleUser)]), token: alice.token)
            #expect(stale.object["code"] == .string("reauthentication_required"))

            // Requests expire after ten minutes.
            let (expiredCode, _) = try await Self.start(client)
            harness.clock.advance(by: 601)
            #expect(try await Self.poll(client, expiredCode).object["error"] == .string("expired_token"))
            #expect(try await Self.poll(client, "not-a-device-code").object["error"] == .string("invalid_grant"))
        }
    }

    @Test func anApprovalAfterExpiryOrBySomeoneElseGivesNothingItShouldNot() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let bob = try await H.signUp(client, "bob")

            // After expiry an approval is refused and changes nothing; the device hears expired_token.
            let (lateDevice, lateUser) = try await Self.start(client)
            harness.clock.advance(by: 601)
            #expect(try await H.signIn(client, &alice).status == .ok)
            let sessions = try await harness.store.countSessions()
            #expect(try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(lateUser)]), token: alice.token).status == .notFound)
            #expect(try await Self.poll(client, lateDevice).object["error"] == .string("expired_token"))
            #expect(try await harness.store.countSessions() == sessions)

            // The session goes to the account that approved, and a second approver cannot take it over.
            harness.clock.advance(by: 6)
            let (device, user) = try await Self.start(client)
            let bobFresh = try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(user)]), token: bob.token)
            #expect(bobFresh.object["code"] == .string("reauthentication_required"))  // bob's assertion is over a minute old
            #expect(try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(user)]), token: alice.token).status == .noContent)
            #expect(try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(user)]), token: alice.token).status == .notFound)
            let granted = try await Self.poll(client, device)
            #expect(granted.object["user"]?.object?["username"] == .string("alice"))
        }
    }

    @Test func userCodeGuessesAreThrottled() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<12 {
                statuses.append(try await H.send(client, .get, "/api/v1/device/lookup?user_code=BCDFG-HJKLM", token: alice.token).status)
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .notFound })
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests })
        }
    }

    @Test func theLifetimeAndGuessLimitAreTheOperatorsSettings() async throws {
        let harness = try await H {
            $0.deviceApproval.requestLifetime = 120
            $0.deviceApproval.guessesPerIPPerMinute = 3
        }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let started = try await H.send(client, .post, "/api/v1/device/start", json: .object([:]), origin: nil)
            #expect(started.object["expires_in"] == .int(120))
            let deviceCode = try #require(started.object["device_code"]?.string)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 {
                statuses.append(try await H.send(client, .get, "/api/v1/device/lookup?user_code=BCDFG-HJKLM", token: alice.token).status)
            }
            #expect(statuses == [.notFound, .notFound, .notFound, .tooManyRequests])
            harness.clock.advance(by: 119)
            #expect(try await Self.poll(client, deviceCode).object["error"] == .string("authorization_pending"))
            harness.clock.advance(by: 2)
            #expect(try await Self.poll(client, deviceCode).object["error"] == .string("expired_token"))
        }
    }

    /// A device that names the account: its request reaches that account's sessions at once, with three
    /// numbers; the right one approves, and a device posting nothing still starts a plain request.
    @Test func aNamedRequestIsPushedAndApprovedByNumber() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let bob = try await H.signUp(client, "bob")
            let started = try await H.send(client, .post, "/api/v1/device/start", json: .object(["username": .string(" Alice ")]), origin: nil)
            #expect(started.status == .ok)
            let number = try #require(started.object["match_number"]?.int64)
            let userCode = try #require(started.object["user_code"]?.string)
            let deviceCode = try #require(started.object["device_code"]?.string)

            let pushed = try await H.send(client, .get, "/api/v1/device/pending", token: alice.token)
            let request = try #require(pushed.object["requests"]?.array?.first?.object)
            #expect(request["userCode"] == .string(userCode))
            let choiceValues = try #require(request["choices"]?.array)
            let choices = choiceValues.compactMap { $0.int64 }
            #expect(choices.count == 3 && choices.contains(number))
            #expect(try await H.send(client, .get, "/api/v1/device/pending", token: bob.token).object["requests"] == .array([]))
            // Bob has the code but the request is Alice's: not found for him.
            #expect(try await H.send(client, .get, "/api/v1/device/lookup?user_code=\(userCode)", token: bob.token).status == .notFound)
            let lookup = try await H.send(client, .get, "/api/v1/device/lookup?user_code=\(userCode)", token: alice.token)
            #expect((lookup.object["choices"]?.array ?? []).compactMap { $0.int64 } == choices)

            let approve = try await H.send(client, .post, "/api/v1/device/approve",
                                           json: .object(["user_code": .string(userCode), "number": .int(number)]), token: alice.token)
            #expect(approve.status == .noContent)
            harness.clock.advance(by: 6)
            #expect(try await Self.poll(client, deviceCode).status == .ok)

            // A wrong number: 400 number_mismatch, and the device hears access_denied.
            let second = try await H.send(client, .post, "/api/v1/device/start", json: .object(["username": .string("alice")]), origin: nil)
            let secondCode = try #require(second.object["user_code"]?.string)
            let wrong = (try #require(second.object["match_number"]?.int64) - 9) % 90 + 10
            let refused = try await H.send(client, .post, "/api/v1/device/approve",
                                           json: .object(["user_code": .string(secondCode), "number": .int(wrong)]), token: alice.token)
            #expect(refused.status == .badRequest)
            #expect(refused.object["code"] == .string("number_mismatch"))
            harness.clock.advance(by: 6)
            #expect(try await Self.poll(client, try #require(second.object["device_code"]?.string)).object["error"] == .string("access_denied"))

            // No body at all, or an empty object: a plain request, as before.
            let bare = try await H.send(client, .post, "/api/v1/device/start", rawBody: [], origin: nil)
            #expect(bare.status == .ok && bare.object["user_code"] != nil)
        }
    }

    @Test(arguments: [
        (#"{"username": 5}"#, "invalid_request"), (#"{"username": "no spaces allowed"}"#, "invalid_request"), ("not json", "malformed_json"),
    ])
    func aBadStartBodyIsRefusedAndStoresNothing(body: String, code: String) async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let refused = try await H.send(client, .post, "/api/v1/device/start", rawBody: Array(body.utf8), origin: nil)
            #expect(refused.status == .badRequest)
            #expect(refused.object["code"] == .string(code))
            #expect(try await H.send(client, .get, "/api/v1/device/pending", token: alice.token).object["requests"] == .array([]))
        }
    }

    @Test(arguments: ["bcdfg-hjklm", "BCDFGHJKLM", " BCDFG HJKLM "])
    func userCodesNormalize(text: String) {
        #expect(UserCode.normalize(text) == "BCDFGHJKLM")
    }

    @Test(arguments: ["BCDFG-HJKLA", "BCDFG-HJKL", "BCDFG-HJKLMN", "0CDFG-HJKLM"])
    func badUserCodesAreRefused(text: String) {
        #expect(UserCode.normalize(text) == nil)
    }

    @Test func generatedUserCodesUseTheAlphabetAndVary() {
        let random = SystemRandomSource()
        let codes = Set((0..<200).map { _ in UserCode.generate(using: random) })
        #expect(codes.count == 200)
        #expect(codes.allSatisfy { $0.count == 10 && $0.allSatisfy(UserCode.alphabet.contains) })
    }
}
