import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisApp
import PortcullisTesting
import Testing
import WebAuthn

@Suite struct APITests {
    typealias H = ServerHarness

    @Test func signUpSignInAndTheAccountView() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "Alice")
            let me = try await H.send(client, .get, "/api/v1/me", token: alice.token)
            #expect(me.status == .ok)
            #expect(me.object["user"]?.object?["username"] == .string("alice"))
            let passkeys = try #require(me.object["passkeys"]?.array)
            #expect(passkeys.count == 1)
            #expect(passkeys.first?.object?["name"] == .string("Test key"))
            #expect(me.object["acceptedCredentialIds"] == .array([.string(Base64URL.encode(alice.credential.credentialID))]))
            let birth = me.object["session"]?.object?["birth"]?.object
            #expect(birth?["kind"] == .string("passkey"))
            #expect(birth?["userVerified"] == .bool(true))

            // Discoverable sign-in: no username, empty allowCredentials, the user handle names the account.
            let options = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]))
            #expect(options.object["publicKey"]?.object?["allowCredentials"] == .array([]))
            #expect(options.object["publicKey"]?.object?["userVerification"] == .string("required"))
            let signIn = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": try H.assertion(&alice, options: options)]))
            #expect(signIn.status == .ok)
            let token = try #require(signIn.sessionToken)
            #expect(signIn.headers[.setCookie]?.contains("HttpOnly") == true)
            #expect(signIn.headers[.setCookie]?.contains("SameSite=Lax") == true)
            #expect(signIn.headers[.setCookie]?.contains("Path=/") == true)

            let sessions = try await H.send(client, .get, "/api/v1/me/sessions", token: token)
            #expect(sessions.object["sessions"]?.array?.count == 2)
            let events = try await H.send(client, .get, "/api/v1/me/events", token: token)
            let kinds = events.object["events"]?.array?.compactMap { $0.object?["kind"]?.string } ?? []
            #expect(kinds.contains("signup") && kinds.contains("signin"))

            let logout = try await H.send(client, .post, "/api/v1/logout", token: token)
            #expect(logout.status == .noContent)
            #expect(try await H.send(client, .get, "/api/v1/me", token: token).status == .unauthorized)
            #expect(try await H.send(client, .get, "/api/v1/me", token: alice.token).status == .ok)
        }
    }

    @Test func signInWithAUsernameAndNoEnumeration() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let known = try await H.send(client, .post, "/api/v1/login/options", json: .object(["username": .string("alice")]))
            let allowed = known.object["publicKey"]?.object?["allowCredentials"]?.array ?? []
            #expect(allowed.first?.object?["id"] == .string(Base64URL.encode(alice.credential.credentialID)))
            let signIn = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": try H.assertion(&alice, options: known)]))
            #expect(signIn.status == .ok)

            // An unknown username gets an answer of the same shape, stable for that name.
            let unknown1 = try await H.send(client, .post, "/api/v1/login/options", json: .object(["username": .string("nobody")]))
            let unknown2 = try await H.send(client, .post, "/api/v1/login/options", json: .object(["username": .string("nobody")]))
            #expect(unknown1.status == .ok)
            let fake1 = unknown1.object["publicKey"]?.object?["allowCredentials"]?.array ?? []
            #expect(!fake1.isEmpty)
            #expect(fake1 == unknown2.object["publicKey"]?.object?["allowCredentials"]?.array)
            #expect(fake1.first?.object?.members.map(\.key) == allowed.first?.object?.members.map(\.key))

            // Alice's passkey cannot complete a ceremony begun for another (unknown) username.
            let stolen = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": try H.assertion(&alice, options: unknown1)]))
            #expect(stolen.status == .badRequest)
            #expect(stolen.object["code"] == .string("verification_failed"))
        }
    }

    @Test func refusalsAreProblemsWithStableCodes() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let taken = try await H.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string("ALICE")]))
            #expect(taken.status == .conflict)
            #expect(taken.object["code"] == .string("username_taken"))
            #expect(taken.headers[.contentType] == "application/problem+json")
            // A name that looks the same is the same name: NFC, whichever way it was typed.
            _ = try await H.signUp(client, "caf\u{E9}")
            for twin in ["cafe\u{301}", "CAFE\u{301}", "Caf\u{C9}"] {
                let again = try await H.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string(twin)]))
                #expect(again.object["code"] == .string("username_taken"), "\(twin.unicodeScalars.map(\.value))")
            }

            let malformed = try await H.send(client, .post, "/api/v1/login/options", rawBody: Array("{not json".utf8))
            #expect(malformed.status == .badRequest)
            #expect(malformed.object["code"] == .string("malformed_json"))

            let huge = try await H.send(client, .post, "/api/v1/login/options", rawBody: Array(repeating: UInt8(ascii: " "), count: 70_000))
            #expect(huge.status == .contentTooLarge)
            #expect(huge.object["code"] == .string("body_too_large"))

            // The same on sign-up verify, with a real pending sign-up: nothing is stored.
            let pending = try await H.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string("frank")]))
            let frank = H.authenticator.registration(challenge: try H.challenge(pending))
            let bigCredential = Array(("{\"credential\":" + StrictJSON.serialize(frank.jsonValue) + ",\"pad\":\"" + String(repeating: "x", count: 70_000) + "\"}").utf8)
            #expect(try await H.send(client, .post, "/api/v1/signup/verify", rawBody: bigCredential).status == .contentTooLarge)
            #expect(try await H.send(client, .post, "/api/v1/signup/verify", rawBody: Array("{\"credential\":".utf8)).status == .badRequest)
            #expect(try await harness.store.user(username: "frank") == nil)
            #expect(try await harness.store.passkey(credentialID: frank.credentialID) == nil)

            let missing = try await H.send(client, .get, "/api/v1/nothing-here")
            #expect(missing.status == .notFound)
            #expect(missing.object["code"] == .string("not_found"))

            let noOrigin = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]), origin: nil)
            #expect(noOrigin.status == .forbidden)
            #expect(noOrigin.object["code"] == .string("origin_not_allowed"))
            let evilOrigin = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]), origin: "https://evil.example")
            #expect(evilOrigin.status == .forbidden)

            // A credential the server does not know: 401 with its ID, for signalUnknownCredential.
            let options = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]))
            let stranger = H.authenticator.registration(challenge: Array(repeating: 1, count: 32))
            let unknown = H.authenticator.assertion(challenge: try H.challenge(options), credential: stranger, userHandle: alice.handle)
            let user = try #require(try await harness.store.user(username: "alice"))
            let sessionsBefore = try await harness.store.sessions(userID: user.id).count
            let reply = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": unknown.jsonValue]))
            #expect(reply.status == .unauthorized)
            #expect(reply.sessionToken == nil)
            #expect(reply.object["code"] == .string("unknown_credential"))
            #expect(reply.object["credentialId"] == .string(Base64URL.encode(stranger.credentialID)))

            // Nothing about the WebAuthn failure reaches the client.
            var bad = H.authenticator.assertion(challenge: try H.challenge(options), credential: alice.credential, signCount: 9, userHandle: alice.handle)
            bad.clientData.origin = "https://evil.example"
            let refused = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": bad.jsonValue]))
            #expect(refused.status == .badRequest)
            #expect(refused.object["code"] == .string("verification_failed") || refused.object["code"] == .string("challenge_invalid"))
            #expect(refused.json.map(StrictJSON.serialize)?.contains("origin") == false)
            // Neither refusal made a session, and the challenge of the wrong-origin attempt is still usable.
            #expect(try await harness.store.sessions(userID: user.id).count == sessionsBefore)
            _ = try await H.signIn(client, &alice)
        }
    }

    @Test func aResponseCannotBeReplayedNorUsedForAnotherCeremony() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let options = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]))
            let credential = try H.assertion(&alice, options: options)
            let first = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": credential]))
            #expect(first.status == .ok)
            let user = try #require(try await harness.store.user(username: "alice"))
            let sessionsBefore = try await harness.store.sessions(userID: user.id).count
            let counterBefore = try await harness.store.passkey(credentialID: alice.credential.credentialID)?.signCount
            let replay = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": credential]))
            #expect(replay.status == .badRequest)
            #expect(replay.object["code"] == .string("challenge_invalid"))
            #expect(replay.sessionToken == nil)
            // Nothing was written: no session, no counter change.
            #expect(try await harness.store.sessions(userID: user.id).count == sessionsBefore)
            #expect(try await harness.store.passkey(credentialID: alice.credential.credentialID)?.signCount == counterBefore)

            // A sign-up challenge does not complete a sign-in.
            let signupOptions = try await H.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string("bob")]))
            let crossed = try H.assertion(&alice, options: signupOptions)
            let reply = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": crossed]))
            #expect(reply.object["code"] == .string("challenge_invalid"))

            // An expired challenge.
            let late = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]))
            harness.clock.advance(by: 301)
            let expired = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": try H.assertion(&alice, options: late)]))
            #expect(expired.object["code"] == .string("challenge_invalid"))
        }
    }

    @Test func aRefusedSignUpChangesNothing() async throws {
        let harness = try await H()
        try await harness.run { client in
            let options = try await H.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string("carol")]))
            var credential = H.authenticator.registration(challenge: try H.challenge(options))
            credential.authenticatorData.flags.remove(.userVerified)
            let refused = try await H.send(client, .post, "/api/v1/signup/verify", json: .object(["credential": credential.jsonValue]))
            #expect(refused.status == .badRequest)
            #expect(try await harness.store.user(username: "carol") == nil)
            #expect(try await harness.store.passkey(credentialID: credential.credentialID) == nil)
            // The challenge is still there: the same ceremony can still succeed.
            let good = H.authenticator.registration(challenge: try H.challenge(options))
            let accepted = try await H.send(client, .post, "/api/v1/signup/verify", json: .object(["credential": good.jsonValue]))
            #expect(accepted.status == .created)
        }
    }

    @Test func sensitiveActionsNeedAFreshAssertion() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            // Fresh after sign-up: a second passkey can be added.
            let addOptions = try await H.send(client, .post, "/api/v1/me/passkeys/options", token: alice.token)
            #expect(addOptions.status == .ok)
            let excluded = addOptions.object["publicKey"]?.object?["excludeCredentials"]?.array ?? []
            #expect(excluded.count == 1)
            let second = H.authenticator.registration(challenge: try H.challenge(addOptions), algorithm: .edDSA)
            // A name that writes lines of its own is refused before the ceremony's challenge is used up.
            let badName = try await H.send(client, .post, "/api/v1/me/passkeys/verify",
                                           json: .object(["credential": second.jsonValue, "name": .string("Phone\nFrom: admin")]), token: alice.token)
            #expect(badName.status == .badRequest && badName.object["code"] == .string("invalid_request"))
            #expect(badName.object["title"] == .string("A passkey name \(PlainText.refusal)"))
            let added = try await H.send(client, .post, "/api/v1/me/passkeys/verify", json: .object(["credential": second.jsonValue, "name": .string("Phone")]), token: alice.token)
            #expect(added.status == .created)

            // Six minutes later, deleting needs re-authentication.
            harness.clock.advance(by: 360)
            let secondID = Base64URL.encode(second.credentialID)
            let stale = try await H.send(client, .delete, "/api/v1/me/passkeys/\(secondID)", token: alice.token)
            #expect(stale.status == .forbidden)
            #expect(stale.object["code"] == .string("reauthentication_required"))
            // Renaming is not sensitive.
            #expect(try await H.send(client, .patch, "/api/v1/me/passkeys/\(secondID)", json: .object(["name": .string("My phone")]), token: alice.token).status == .noContent)
            let spoofing = try await H.send(client, .patch, "/api/v1/me/passkeys/\(secondID)", json: .object(["name": .string("My \u{202E}enohp")]), token: alice.token)
            #expect(spoofing.status == .badRequest && spoofing.object["code"] == .string("invalid_request"))
            let names = try await H.send(client, .get, "/api/v1/me", token: alice.token).object["passkeys"]?.array?.compactMap { $0.object?["name"]?.string }
            #expect(names?.sorted() == ["My phone", "Test key"])  // the refused name was not stored

            let reauthOptions = try await H.send(client, .post, "/api/v1/me/reauth/options", token: alice.token)
            let reauth = try await H.send(client, .post, "/api/v1/me/reauth/verify", json: .object(["credential": try H.assertion(&alice, options: reauthOptions)]), token: alice.token)
            #expect(reauth.status == .ok)
            let fresh = try #require(reauth.sessionToken)
            // The old token stops working: privileges changed, so the token did.
            #expect(try await H.send(client, .get, "/api/v1/me", token: alice.token).status == .unauthorized)
            alice.token = fresh
            let removed = try await H.send(client, .delete, "/api/v1/me/passkeys/\(secondID)", token: fresh)
            #expect(removed.status == .ok)
            #expect(removed.object["sessionsEnded"] == .int(0) && removed.object["signedOut"] == .bool(false))
            let last = try await H.send(client, .delete, "/api/v1/me/passkeys/\(Base64URL.encode(alice.credential.credentialID))", token: fresh)
            #expect(last.status == .conflict)
            #expect(last.object["code"] == .string("last_passkey"))
            #expect(try await H.send(client, .delete, "/api/v1/me/passkeys/AAAA", token: fresh).status == .notFound)
        }
    }

    @Test func removingAPasskeyEndsTheSessionsItMade() async throws {
        let harness = try await H()
        try await harness.run { client in
            // Passkey A: the sign-up session and a later sign-in. Passkey B: a sign-in.
            var a = try await H.signUp(client, "alice")
            let signUpSession = a.token
            let addOptions = try await H.send(client, .post, "/api/v1/me/passkeys/options", token: a.token)
            let credentialB = H.authenticator.registration(challenge: try H.challenge(addOptions))
            #expect(try await H.send(client, .post, "/api/v1/me/passkeys/verify", json: .object(["credential": credentialB.jsonValue]), token: a.token).status == .created)
            var b = H.Account(username: "alice", credential: credentialB, handle: a.handle, token: "")
            #expect(try await H.signIn(client, &a).status == .ok)
            let signInA = a.token
            #expect(try await H.signIn(client, &b).status == .ok)
            // A device approved from a session born from A.
            let started = try await H.send(client, .post, "/api/v1/device/start", json: .object([:]), origin: nil)
            let userCode = try #require(started.object["user_code"]?.string)
            #expect(try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(userCode)]), token: signInA).status == .noContent)
            harness.clock.advance(by: 6)
            let device = try await H.send(client, .post, "/api/v1/device/poll",
                                          json: .object(["device_code": try #require(started.object["device_code"])]), origin: nil)
            let deviceSession = try #require(device.sessionToken)
            let user = try #require(try await harness.store.user(username: "alice"))
            #expect(try await harness.store.sessions(userID: user.id).count == 4)

            // Bad requests first: they end nothing.
            let idA = Base64URL.encode(a.credential.credentialID)
            #expect(try await H.send(client, .delete, "/api/v1/me/passkeys/AAAA", token: b.token).status == .notFound)
            #expect(try await H.send(client, .delete, "/api/v1/me/passkeys/\(idA)", token: b.token, origin: "https://evil.example").status == .forbidden)
            #expect(try await H.send(client, .delete, "/api/v1/me/passkeys/\(idA)", token: deviceSession).status == .forbidden)
            #expect(try await harness.store.sessions(userID: user.id).count == 4)

            // From B's session, A is removed: every session A made ends, B's goes on.
            let removed = try await H.send(client, .delete, "/api/v1/me/passkeys/\(idA)", token: b.token)
            #expect(removed.status == .ok)
            #expect(removed.object["sessionsEnded"] == .int(3))
            #expect(removed.object["signedOut"] == .bool(false))
            #expect(removed.headers[values: .setCookie].isEmpty)
            for token in [signUpSession, signInA, deviceSession] {
                #expect(try await H.send(client, .get, "/api/v1/me", token: token).status == .unauthorized)
            }
            #expect(try await H.send(client, .get, "/api/v1/me", token: b.token).status == .ok)
            let event = try #require(try await harness.store.events(userID: user.id, limit: 50).first { $0.kind == .passkeyRemoved })
            #expect(event.detail["sessions_ended"] == "3")
            let timeline = try await H.send(client, .get, "/api/v1/me/events", token: b.token)
            #expect(timeline.object["events"]?.array?.first { $0.object?["kind"] == .string("passkey_removed") }?.object?["sessions_ended"] == .string("3"))

            // Removing the passkey of the session that asks signs that session out too.
            let again = try await H.send(client, .post, "/api/v1/me/passkeys/options", token: b.token)
            let credentialC = H.authenticator.registration(challenge: try H.challenge(again))
            #expect(try await H.send(client, .post, "/api/v1/me/passkeys/verify", json: .object(["credential": credentialC.jsonValue]), token: b.token).status == .created)
            let own = try await H.send(client, .delete, "/api/v1/me/passkeys/\(Base64URL.encode(credentialB.credentialID))", token: b.token)
            #expect(own.status == .ok)
            #expect(own.object["sessionsEnded"] == .int(1) && own.object["signedOut"] == .bool(true))
            #expect(own.headers[values: .setCookie].contains { $0.hasPrefix("portcullis_session=") && $0.contains("Max-Age=0") })
            #expect(try await H.send(client, .get, "/api/v1/me", token: b.token).status == .unauthorized)
            #expect(try await harness.store.sessions(userID: user.id).isEmpty)
        }
    }

    /// Alice signed up (her first session's token) and signed in again (`alice.token`), and the ID
    /// of the first session as her session list shows it.
    static func twoSessions(_ client: any TestClientProtocol) async throws -> (alice: H.Account, firstToken: String, firstID: String) {
        var alice = try await H.signUp(client, "alice")
        let firstToken = alice.token
        _ = try await H.signIn(client, &alice)
        let list = try await H.send(client, .get, "/api/v1/me/sessions", token: alice.token)
        let first = try #require(list.object["sessions"]?.array?.first { $0.object?["current"] == .bool(false) }?.object?["id"]?.string)
        return (alice, firstToken, first)
    }

    @Test func sessionsCanBeRevokedAndExpire() async throws {
        let harness = try await H { $0.session.idleTimeout = 3600 }
        try await harness.run { client in
            let (alice, firstToken, other) = try await Self.twoSessions(client)
            #expect(try await H.send(client, .delete, "/api/v1/me/sessions/\(other)", token: alice.token).status == .noContent)
            #expect(try await H.send(client, .get, "/api/v1/me", token: firstToken).status == .unauthorized)
            // Idle expiry.
            harness.clock.advance(by: 3601)
            #expect(try await H.send(client, .get, "/api/v1/me", token: alice.token).status == .unauthorized)
        }
    }

    /// A path's session ID is the 8-4-4-4-12 form and nothing else: anything near it is a 404 that
    /// ends no session.
    @Test func aSessionIDNotInItsExactFormEndsNothing() async throws {
        let harness = try await H()
        try await harness.run { client in
            let (alice, firstToken, other) = try await Self.twoSessions(client)
            let near = [other + "0", String(other.dropLast()), other.replacingOccurrences(of: "-", with: ""),
                        String(other.dropLast()) + "g", "x" + other.dropFirst(), "not-a-uuid"]
            for id in near {
                #expect(try await H.send(client, .delete, "/api/v1/me/sessions/\(id)", token: alice.token).status == .notFound, "\(id)")
            }
            let user = try #require(try await harness.store.user(username: "alice"))
            #expect(try await harness.store.sessions(userID: user.id).count == 2)
            #expect(try await H.send(client, .get, "/api/v1/me", token: firstToken).status == .ok)
            // Either case of the digits names the same session.
            #expect(try await H.send(client, .delete, "/api/v1/me/sessions/\(other.uppercased())", token: alice.token).status == .noContent)
            #expect(try await H.send(client, .get, "/api/v1/me", token: firstToken).status == .unauthorized)
        }
    }

    @Test func aDisabledUserCannotSignInAndTheirSessionsEnd() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let user = try #require(try await harness.store.user(username: "alice"))
            try await harness.store.setDisabled(userID: user.id, disabled: true, event: nil)
            #expect(try await H.send(client, .get, "/api/v1/me", token: alice.token).status == .unauthorized)
            let refused = try await H.signIn(client, &alice)
            #expect(refused.status == .forbidden)
            #expect(refused.object["code"] == .string("user_disabled"))
        }
    }

    @Test func signInVerificationIsLimitedPerCredential() async throws {
        let harness = try await H { $0.rateLimit.accountPerMinute = 3 }
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 { statuses.append(try await H.signIn(client, &alice).status) }
            #expect(statuses == [.ok, .ok, .ok, .tooManyRequests])
            // The refused assertion changed nothing: no session, no sign count, no event.
            let user = try #require(try await harness.store.user(username: "alice"))
            #expect(try await harness.store.sessions(userID: user.id).count == 4)  // sign-up and three sign-ins
            #expect(try await harness.store.passkeys(userID: user.id).first?.signCount == 3)
            #expect(try await harness.store.events(userID: user.id, limit: 50).filter { $0.kind == .signin }.count == 3)
        }
    }

    @Test func inviteOnlySignUp() async throws {
        let harness = try await H { $0.signup.mode = .inviteOnly }
        try await harness.run { client in
            let closed = try await H.send(client, .post, "/api/v1/signup/options", json: .object(["username": .string("dave")]))
            #expect(closed.status == .forbidden)
            #expect(closed.object["code"] == .string("invite_required"))
        }
    }

    @Test func rateLimitsAnswer429WithRetryAfter() async throws {
        let harness = try await H { $0.rateLimit.ipPerMinute = 5 }
        try await harness.run { client in
            var statuses: [HTTPResponse.Status] = []
            var retryAfter: String?
            for _ in 0..<7 {
                let reply = try await H.send(client, .post, "/api/v1/login/options", json: .object([:]))
                statuses.append(reply.status)
                if reply.status == .tooManyRequests { retryAfter = reply.headers[.retryAfter] }
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == .ok })
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests })
            #expect(Int(retryAfter ?? "") ?? 0 >= 1)
        }
    }

    @Test func wellKnownFilesAndHealth() async throws {
        let harness = try await H {
            $0.wellKnown.relatedOrigins = ["https://example.co.uk"]
            $0.wellKnown.appleAppIDs = ["ABCDE12345.com.example.app"]
            $0.wellKnown.androidApps = ["com.example.app:AA:BB:CC"]
        }
        try await harness.run { client in
            #expect(try await H.send(client, .get, "/.well-known/webauthn").object["origins"] == .array([.string("https://example.co.uk")]))
            let aasa = try await H.send(client, .get, "/.well-known/apple-app-site-association")
            #expect(aasa.object["webcredentials"]?.object?["apps"] == .array([.string("ABCDE12345.com.example.app")]))
            let links = try await H.send(client, .get, "/.well-known/assetlinks.json")
            #expect(links.json?.array?.first?.object?["target"]?.object?["package_name"] == .string("com.example.app"))
            #expect(try await H.send(client, .get, "/healthz").status == .ok)
            #expect(try await H.send(client, .get, "/readyz").status == .ok)
        }
    }

    @Test func metricsCountCeremoniesByKindAndOutcome() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            _ = try await H.signIn(client, &alice)
            _ = try await H.send(client, .post, "/api/v1/login/verify", json: .object(["credential": .object([:])]))
            let reply = try await client.execute(uri: "/metrics", method: .get) { response in String(buffer: response.body) }
            #expect(reply.contains(#"portcullis_ceremonies_total{kind="login_verify",outcome="success"} 1"#))
            #expect(reply.contains(#"portcullis_ceremonies_total{kind="signup_verify",outcome="success"} 1"#))
            #expect(reply.contains(#"outcome="verification_failed"} 1"#))
            #expect(reply.contains("portcullis_ceremony_duration_seconds_bucket"))
            #expect(reply.contains("portcullis_sessions 2"))
        }
    }

    /// With `metrics.token`, `/metrics` answers only `Authorization: Bearer TOKEN` (RFC 6750 §2.1);
    /// anything else gets 401 and a `WWW-Authenticate: Bearer` challenge (§3), and no figure.
    @Test(arguments: [
        (nil, HTTPResponse.Status.unauthorized), ("Bearer wrong-token-of-length-26", .unauthorized),
        ("Bearer metrics-token-0123456789", .ok), ("bearer metrics-token-0123456789", .unauthorized),
        ("Bearer metrics-token-012345678", .unauthorized), ("Bearer metrics-token-01234567890", .unauthorized),
        ("Basic bWV0cmljcy10b2tlbi0wMTIzNDU2Nzg5", .unauthorized),
    ] as [(String?, HTTPResponse.Status)])
    func metricsAskForTheirBearerToken(authorization: String?, status: HTTPResponse.Status) async throws {
        let harness = try await H { $0.metrics.token = "metrics-token-0123456789" }
        try await harness.run { client in
            var headers: HTTPFields = [:]
            if let authorization { headers[.authorization] = authorization }
            let (got, challenge, body) = try await client.execute(uri: "/metrics", method: .get, headers: headers) { response in
                (response.status, response.headers[.wwwAuthenticate], String(buffer: response.body))
            }
            #expect(got == status)
            #expect(body.contains("portcullis_sessions") == (status == .ok))
            #expect((challenge == #"Bearer realm="metrics""#) == (status == .unauthorized))
        }
    }

    @Test func metricsOnAListenerOfTheirOwnLeaveTheMainOne() async throws {
        let harness = try await H { $0.metrics.port = 9464 }
        try await harness.run { client in
            let reply = try await H.send(client, .get, "/metrics")
            #expect(reply.status == .notFound)
        }
    }
}

/// Request bodies are typed: a missing or mistyped member is a 400 that names it, a repeated key is
/// malformed JSON, and nothing is stored.
@Suite struct TypedRequestTests {
    typealias H = ServerHarness

    @Test(arguments: [
        ("/api/v1/signup/options", #"{}"#, "invalid_request", "username is required."),
        ("/api/v1/signup/options", #"{"username": 7}"#, "invalid_request", "username must be a string."),
        ("/api/v1/signup/options", #"{"username": "ana", "displayName": false}"#, "invalid_request", "displayName must be a string."),
        ("/api/v1/signup/options", #"{"username": "ana", "username": "bob"}"#, "malformed_json", nil),
        ("/api/v1/signup/options", #"{"username": "ana", "displayName": "Ana\nFrom: admin"}"#, "invalid_request", "A display name cannot hold line breaks, control characters or text-direction overrides."),
        ("/api/v1/signup/options", #"{"username": "ana", "displayName": "\u202enimda"}"#, "invalid_request", "A display name cannot hold line breaks, control characters or text-direction overrides."),
        ("/api/v1/signup/verify", #"{"credential": {}, "name": "key\u0000"}"#, "invalid_request", "A passkey name cannot hold line breaks, control characters or text-direction overrides."),
        ("/api/v1/signup/options", #"["ana"]"#, "malformed_json", nil),
        ("/api/v1/login/options", #"{"username": ["ana"]}"#, "invalid_request", "username must be a string."),
        ("/api/v1/login/verify", #"{}"#, "invalid_request", "credential is required."),
        ("/api/v1/signup/verify", #"{"credential": {}, "name": 3}"#, "invalid_request", "name must be a string."),
    ] as [(String, String, String, String?)])
    func badBodiesAreRefusedByName(path: String, body: String, code: String, title: String?) async throws {
        let harness = try await H()
        try await harness.run { client in
            let reply = try await H.send(client, .post, path, rawBody: Array(body.utf8))
            #expect(reply.status == .badRequest)
            #expect(reply.object["code"] == .string(code))
            if let title { #expect(reply.object["title"] == .string(title)) }
            #expect(try await harness.store.countSessions() == 0)
            #expect(try await harness.store.user(username: "ana") == nil)
        }
    }

    /// Views have one shape: an absent value is null, not a missing member.
    @Test func viewsShowAbsentValuesAsNull() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let me = try await H.send(client, .get, "/api/v1/me", token: alice.token)
            let passkey = try #require(me.object["passkeys"]?.array?.first?.object)
            #expect(passkey["lastUsedAt"] != nil)
            #expect(me.object["session"]?.object?["birth"]?.object?["coolingUntil"] == .null)
            #expect(me.object["user"]?.object?.members.map(\.key) == ["id", "username", "displayName"])
        }
    }
}
