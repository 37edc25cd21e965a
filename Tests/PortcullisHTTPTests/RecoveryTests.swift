import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisApp
import PortcullisTesting
import Testing
import WebAuthn

@Suite struct RecoveryTests {
    typealias H = ServerHarness

    /// A case as the requesting browser holds it.
    struct Held {
        let id: String
        let comparisonCode: String
        let cookie: String
    }

    static func start(_ client: any TestClientProtocol, _ username: String) async throws -> Held {
        let started = try await H.send(client, .post, "/api/v1/recovery", json: .object(["username": .string(username)]))
        #expect(started.status == .created)
        let secret = try #require(started.cookie(named: "portcullis_recovery"))
        #expect(started.headers[values: .setCookie].contains { $0.contains("HttpOnly") && $0.contains("SameSite=Strict") && $0.contains("Path=/api/v1/recovery") })
        return Held(id: try #require(started.object["id"]?.string), comparisonCode: try #require(started.object["comparisonCode"]?.string),
                    cookie: "portcullis_recovery=\(secret)")
    }

    /// The requesting browser enters a recovery code.
    static func enterCode(_ client: any TestClientProtocol, _ held: Held, _ code: String) async throws -> H.Reply {
        try await H.send(client, .post, "/api/v1/recovery/\(held.id)/code", json: .object(["code": .string(code)]), cookie: held.cookie)
    }

    static func progress(_ client: any TestClientProtocol, _ held: Held) async throws -> H.Reply {
        try await H.send(client, .get, "/api/v1/recovery/\(held.id)", cookie: held.cookie)
    }

    static func invite(_ client: any TestClientProtocol, owner: H.Account, contact: H.Account) async throws {
        let invited = try await H.send(client, .post, "/api/v1/me/recovery/contacts", json: .object(["username": .string(contact.username)]), token: owner.token)
        #expect(invited.status == .created)
        let invitations = try await H.send(client, .get, "/api/v1/me/recovery/invitations", token: contact.token)
        let id = try #require(invitations.object["invitations"]?.array?.first { $0.object?["from"]?.object?["username"] == .string(owner.username) }?.object?["id"]?.string)
        #expect(try await H.send(client, .post, "/api/v1/me/recovery/invitations/\(id)/accept", token: contact.token).status == .noContent)
    }

    /// A new recovery code for `owner`, as shown once.
    static func newCode(_ client: any TestClientProtocol, for owner: H.Account) async throws -> String {
        try #require(try await H.send(client, .post, "/api/v1/me/recovery/code", token: owner.token).object["code"]?.string)
    }

    /// Alice with Bob as her accepted contact and a recovery code, and a case started for her.
    static func caseWithContactAndCode(_ client: any TestClientProtocol) async throws -> (alice: H.Account, bob: H.Account, code: String, held: Held) {
        let alice = try await H.signUp(client, "alice")
        let bob = try await H.signUp(client, "bob")
        try await invite(client, owner: alice, contact: bob)
        let code = try await newCode(client, for: alice)
        return (alice, bob, code, try await start(client, "alice"))
    }

    static func approve(_ client: any TestClientProtocol, _ held: Held, by contact: H.Account, code: String? = nil) async throws -> H.Reply {
        try await H.send(client, .post, "/api/v1/me/recovery-requests/\(held.id)/approve",
                         json: .object(["comparisonCode": .string(code ?? held.comparisonCode)]), token: contact.token)
    }

    /// Registers the new passkey that completes a released case.
    static func complete(_ client: any TestClientProtocol, _ held: Held) async throws -> (reply: H.Reply, credential: RegistrationFixture?) {
        let options = try await H.send(client, .post, "/api/v1/recovery/\(held.id)/passkey/options", cookie: held.cookie)
        guard options.status == .ok else { return (options, nil) }
        let credential = H.authenticator.registration(challenge: try H.challenge(options), algorithm: .es256)
        let verify = try await H.send(client, .post, "/api/v1/recovery/\(held.id)/passkey/verify",
                                      json: .object(["credential": credential.jsonValue, "name": .string("Recovered phone")]), cookie: held.cookie)
        return (verify, credential)
    }

    /// What is stored about a user: events, passkeys, sessions and their cases' proofs.
    static func snapshot(_ harness: H, _ username: String) async throws -> [Int] {
        let user = try #require(try await harness.store.user(username: username))
        let cases = try await harness.store.recoveryCases(userID: user.id)
        return [try await harness.store.events(userID: user.id, limit: 10_000).count, try await harness.store.passkeys(userID: user.id).count,
                try await harness.store.sessions(userID: user.id).count, cases.count, cases.map(\.proofs.count).reduce(0, +),
                cases.filter { $0.status == .open }.count]
    }

    static func kinds(_ client: any TestClientProtocol, _ token: String) async throws -> [String] {
        (try await H.send(client, .get, "/api/v1/me/events", token: token)).object["events"]?.array?.compactMap { $0.object?["kind"]?.string } ?? []
    }

    @Test func contactsReleaseACaseAfterTheWaitAndItEndsInANewPasskeyWithACoolingPeriod() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let bob = try await H.signUp(client, "bob")
            let carol = try await H.signUp(client, "carol")
            let mallory = try await H.signUp(client, "mallory")
            #expect(try await H.send(client, .patch, "/api/v1/me/recovery", json: .object(["threshold": .int(2), "addresses": .array([.string("alice@example.com"), .string("alice@example.org")])]), token: alice.token).status == .ok)
            try await Self.invite(client, owner: alice, contact: bob)
            try await Self.invite(client, owner: alice, contact: carol)
            let settings = try await H.send(client, .get, "/api/v1/me/recovery", token: alice.token)
            #expect(settings.object["contacts"]?.array?.count == 2)
            #expect(settings.object["readiness"]?.object?["acceptedContacts"] == .int(2))
            #expect(settings.object["readiness"]?.object?["selfServiceRules"]?.array?.contains { $0.object?["proofs"] == .string("contacts") } == true)

            // Alice loses her phone and asks from a new browser.
            let held = try await Self.start(client, "alice")
            #expect(held.comparisonCode.count == 6)
            // She is told at once in every live session, and on her timeline.
            let me = try await H.send(client, .get, "/api/v1/me", token: alice.token)
            #expect(me.object["openRecoveryCases"]?.array?.first?.object?["id"] == .string(held.id))
            #expect(me.object["openRecoveryCases"]?.array?.first?.object?["comparisonCode"] == nil)
            #expect(try await Self.kinds(client, alice.token).contains("recovery_started"))

            // Bob sees the case; a wrong comparison code and a stranger are refused, and nothing changes.
            let listed = try await H.send(client, .get, "/api/v1/me/recovery-requests", token: bob.token)
            #expect(listed.object["approvable"]?.array?.first?.object?["id"] == .string(held.id))
            let before = try await Self.snapshot(harness, "alice")
            let wrong = held.comparisonCode == "000000" ? "111111" : "000000"
            #expect(try await Self.approve(client, held, by: bob, code: wrong).object["code"] == .string("comparison_code_mismatch"))
            #expect(try await Self.approve(client, held, by: mallory).status == .notFound)
            #expect(try await Self.snapshot(harness, "alice") == before)

            // One contact when M = 2 does not release the case; a replayed approval changes nothing.
            #expect(try await Self.approve(client, held, by: bob).status == .noContent)
            let afterOne = try await Self.snapshot(harness, "alice")
            #expect(try await Self.approve(client, held, by: bob).status == .conflict)
            #expect(try await Self.snapshot(harness, "alice") == afterOne)
            #expect(try await Self.progress(client, held).object["releaseAt"] == .null)
            #expect(try await Self.complete(client, held).reply.object["code"] == .string("recovery_not_released"))

            // The second contact satisfies the rule; the case is released 24 hours later.
            #expect(try await Self.approve(client, held, by: carol).status == .noContent)
            let progress = try await Self.progress(client, held)
            #expect(progress.object["released"] == .bool(false))
            #expect(progress.object["releaseAt"] != .null)
            #expect(try await Self.complete(client, held).reply.status == .forbidden)
            // Another browser (without the case secret) learns nothing.
            #expect(try await H.send(client, .get, "/api/v1/recovery/\(held.id)", cookie: "portcullis_recovery=guess").status == .notFound)

            harness.clock.advance(by: 86400 + 1)
            #expect(try await Self.progress(client, held).object["released"] == .bool(true))
            let (completed, credential) = try await Self.complete(client, held)
            #expect(completed.status == .created)
            let recoveredToken = try #require(completed.sessionToken)
            let recoveredMe = try await H.send(client, .get, "/api/v1/me", token: recoveredToken)
            #expect(recoveredMe.object["session"]?.object?["birth"]?.object?["kind"] == .string("recovered"))
            #expect(recoveredMe.object["passkeys"]?.array?.count == 2)
            #expect(try await Self.kinds(client, recoveredToken).contains("recovery_completed"))
            // The case completes once.
            #expect(try await Self.complete(client, held).reply.status == .notFound)

            // During the cooling period the recovered session may not change the account, and signing
            // in again with the recovered passkey does not shed the restriction.
            var recovered = H.Account(username: "alice", credential: try #require(credential), handle: alice.handle, token: recoveredToken)
            for token in [recoveredToken, try #require(try await H.signIn(client, &recovered).sessionToken)] {
                let oldKey = Base64URL.encode(alice.credential.credentialID)
                let forbidden: [(HTTPRequest.Method, String, JSONValue?)] = [
                    (.delete, "/api/v1/me/passkeys/\(oldKey)", nil),
                    (.post, "/api/v1/me/passkeys/options", nil),
                    (.patch, "/api/v1/me/recovery", .object(["threshold": .int(1)])),
                    (.post, "/api/v1/me/recovery/code", nil),
                    (.post, "/api/v1/me/recovery/contacts", .object(["username": .string("mallory")])),
                    (.post, "/api/v1/me/enrolments", nil),
                    (.get, "/api/v1/device/lookup?user_code=BCDFGHJKLM", nil),
                ]
                for (method, path, body) in forbidden {
                    let reply = try await H.send(client, method, path, json: body, token: token)
                    #expect(reply.object["code"] == .string("session_not_allowed"), "\(method) \(path)")
                }
            }
            #expect(try await harness.store.passkeys(userID: try #require(try await harness.store.user(username: "alice")).id).count == 2)

            // Alice's other passkey may revoke the recovered one at any time.
            harness.clock.advance(by: 60)
            try await H.reauth(client, &alice)
            let recoveredKey = Base64URL.encode(try #require(credential).credentialID)
            let removed = try await H.send(client, .delete, "/api/v1/me/passkeys/\(recoveredKey)", token: alice.token)
            #expect(removed.status == .ok)
            // And every session the recovered passkey made ends with it.
            #expect(removed.object["sessionsEnded"] == .int(2))
            #expect(try await H.send(client, .get, "/api/v1/me", token: recoveredToken).status == .unauthorized)
            #expect(try await H.send(client, .get, "/api/v1/me", token: recovered.token).status == .unauthorized)
        }
    }

    @Test func aRecoveredSessionCannotCancelTheOwnersNextCase() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let code = try await Self.newCode(client, for: alice)
            // An attacker with the stolen code completes a case after its wait (the owner missed the notices).
            let stolen = try await Self.start(client, "alice")
            #expect(try await Self.enterCode(client, stolen, code).status == .ok)
            harness.clock.advance(by: 72 * 3600 + 1)
            let (completed, _) = try await Self.complete(client, stolen)
            let attacker = try #require(completed.sessionToken)

            // The real owner starts a case; the attacker's recovered session cannot cancel it.
            let owners = try await Self.start(client, "alice")
            let refused = try await H.send(client, .post, "/api/v1/me/recovery-requests/\(owners.id)/cancel", token: attacker)
            #expect(refused.status == .forbidden)
            #expect(refused.object["code"] == .string("session_not_allowed"))
            // It says why and until when: the end of the cooling period, for the page to show in local time.
            #expect(refused.object["title"]?.string?.hasPrefix("This session comes from an account recovery") == true)
            let until = try #require(refused.object["until"]?.string.flatMap { try? Date($0, strategy: .iso8601) })
            #expect(abs(until.timeIntervalSince(harness.clock.now.addingTimeInterval(86400))) < 2)
            #expect(try await Self.progress(client, owners).object["status"] == .string("open"))
            // The attacker still sees it (every session shows open cases), but only to watch.
            let seen = try await H.send(client, .get, "/api/v1/me", token: attacker)
            #expect(seen.object["openRecoveryCases"]?.array?.count == 1)

            // Within the cooling period, the owner's own passkey and the signed link still cancel.
            try await H.reauth(client, &alice)
            #expect(try await H.send(client, .post, "/api/v1/me/recovery-requests/\(owners.id)/cancel", token: alice.token).status == .noContent)
            let third = try await Self.start(client, "alice")
            let signature = harness.service.recovery.cancelSignature(caseID: try #require(UUID(uuidString: third.id)))
            #expect(try await H.send(client, .post, "/api/v1/me/recovery-requests/\(third.id)/cancel", token: attacker).status == .forbidden)
            #expect(try await Self.postCancel(client, caseID: third.id, sig: signature).status == .ok)
            #expect(try await Self.progress(client, third).object["status"] == .string("cancelled"))
        }
    }

    @Test func floodingOneUsernameFromOneAddressDoesNotLockTheOwnerOut() async throws {
        let harness = try await H {
            $0.http.trustForwardedFor = true
            $0.recovery.startsPerUsernameAndIP = 3
            $0.recovery.startsPerIP = 5
            $0.recovery.startsPerUsername = 7
        }
        try await harness.run { client in
            _ = try await H.signUp(client, "alice")
            func start(_ username: String, from ip: String) async throws -> HTTPResponse.Status {
                try await H.send(client, .post, "/api/v1/recovery", json: .object(["username": .string(username)]), ip: ip).status
            }
            // A stranger spends far more than the allowance of one address on alice.
            var stranger: [HTTPResponse.Status] = []
            for _ in 0..<20 { stranger.append(try await start("alice", from: "203.0.113.9")) }
            #expect(stranger.prefix(3).allSatisfy { $0 == .created })
            #expect(stranger.dropFirst(3).allSatisfy { $0 == .tooManyRequests })
            // The owner, from their own address, still starts a case: the refused starts spent nothing of hers.
            #expect(try await start("alice", from: "198.51.100.7") == .created)
            let alice = try #require(try await harness.store.user(username: "alice"))
            #expect(try await harness.service.recovery.openCases(userID: alice.id).count == 4)
            // One address is limited across usernames too.
            var spread: [HTTPResponse.Status] = []
            for name in ["u1", "u2", "u3", "u4", "u5", "u6"] { spread.append(try await start(name, from: "203.0.113.10")) }
            #expect(spread == [.created, .created, .created, .created, .created, .tooManyRequests])
            // Only many addresses together reach the per-username ceiling (7 an hour here).
            #expect(try await start("alice", from: "203.0.113.11") == .created)
            #expect(try await start("alice", from: "203.0.113.11") == .created)
            #expect(try await start("alice", from: "203.0.113.12") == .created)
            #expect(try await start("alice", from: "203.0.113.13") == .tooManyRequests)
        }
    }

    /// Behind a proxy, the address is the entry the proxy appended to X-Forwarded-For (the last), so
    /// entries the client wrote before it choose nothing: not the limit it is counted under.
    @Test func anAddressTheClientWritesIntoXForwardedForIsNotBelieved() async throws {
        let harness = try await H {
            $0.http.trustForwardedFor = true
            $0.recovery.startsPerIP = 3
            $0.recovery.startsPerUsernameAndIP = 100
        }
        try await harness.run { client in
            func start(_ username: String, forwardedFor: String) async throws -> HTTPResponse.Status {
                try await H.send(client, .post, "/api/v1/recovery", json: .object(["username": .string(username)]), ip: forwardedFor).status
            }
            var statuses: [HTTPResponse.Status] = []
            for n in 0..<5 { statuses.append(try await start("u\(n)", forwardedFor: "203.0.113.\(n), 198.51.100.1")) }
            #expect(statuses == [.created, .created, .created, .tooManyRequests, .tooManyRequests])
            #expect(try await start("u9", forwardedFor: "198.51.100.2") == .created)
        }
    }

    @Test func aFloodOfCasesHidesNoCaseFromTheOwnerOrItsContacts() async throws {
        let harness = try await H {
            $0.recovery.startsPerUsernameAndIP = 100
            $0.recovery.startsPerIP = 100
        }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let bob = try await H.signUp(client, "bob")
            try await Self.invite(client, owner: alice, contact: bob)
            let code = try await Self.newCode(client, for: alice)
            // The genuine request, then an attacker's case holding the stolen code, then a flood.
            let genuine = try await Self.start(client, "alice")
            harness.clock.advance(by: 1)
            let dangerous = try await Self.start(client, "alice")
            #expect(try await Self.enterCode(client, dangerous, code).status == .ok)
            for _ in 0..<55 {
                harness.clock.advance(by: 1)
                _ = try await Self.start(client, "alice")
            }
            // The owner's view is bounded, and the case gathering proofs comes first.
            let me = try await H.send(client, .get, "/api/v1/me", token: alice.token)
            let shown = me.object["openRecoveryCases"]?.array ?? []
            #expect(shown.count == openRecoveryCasesShown)
            #expect(shown.first?.object?["id"] == .string(dangerous.id))
            #expect(shown.first?.object?["proofs"] == .int(1))
            #expect(!shown.contains { $0.object?["id"] == .string(genuine.id) })

            // Bob approves the genuine request by the code alice reads to him, though no list shows it.
            let listed = try await H.send(client, .get, "/api/v1/me/recovery-requests", token: bob.token)
            #expect(!(listed.object["approvable"]?.array ?? []).contains { $0.object?["id"] == .string(genuine.id) })
            let aliceID = try #require(try await harness.store.user(username: "alice")).id.uuidString.lowercased()
            func approve(_ code: String, owner: String? = nil) async throws -> H.Reply {
                try await H.send(client, .post, "/api/v1/me/recovery-requests/approve",
                                 json: .object(["owner": .string(owner ?? aliceID), "comparisonCode": .string(code)]), token: bob.token)
            }
            let before = try await Self.snapshot(harness, "alice")
            #expect(try await approve("12345").object["code"] == .string("comparison_code_mismatch"))
            #expect(try await approve("abcdef").object["code"] == .string("comparison_code_mismatch"))
            #expect(try await approve(genuine.comparisonCode, owner: UUID().uuidString).status == .notFound)
            #expect(try await approve(genuine.comparisonCode, owner: "not-an-id").status == .badRequest)
            #expect(try await Self.snapshot(harness, "alice") == before)
            #expect(try await approve(genuine.comparisonCode).status == .noContent)
            #expect(try await Self.progress(client, genuine).object["proofs"]?.array?.count == 1)
            // Now it holds a proof, the owner sees it near the top.
            let after = try await H.send(client, .get, "/api/v1/me", token: alice.token)
            #expect((after.object["openRecoveryCases"]?.array ?? []).prefix(2).contains { $0.object?["id"] == .string(genuine.id) })
        }
    }

    /// A contact who was not asked declines: every open case of that owner ends, each with an event
    /// naming the contact; someone who is not an accepted contact can decline nothing.
    @Test func aContactWhoWasNotAskedDeclines() async throws {
        let harness = try await H {
            $0.recovery.startsPerUsernameAndIP = 100
            $0.recovery.startsPerIP = 100
        }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let bob = try await H.signUp(client, "bob")
            let mallory = try await H.signUp(client, "mallory")
            try await Self.invite(client, owner: alice, contact: bob)
            let first = try await Self.start(client, "alice")
            let second = try await Self.start(client, "alice")
            let aliceID = try #require(try await harness.store.user(username: "alice")).id.uuidString.lowercased()
            func decline(_ who: H.Account, owner: String) async throws -> H.Reply {
                try await H.send(client, .post, "/api/v1/me/recovery-requests/decline", json: .object(["owner": .string(owner)]), token: who.token)
            }
            let before = try await Self.snapshot(harness, "alice")
            #expect(try await decline(mallory, owner: aliceID).status == .notFound)
            #expect(try await decline(bob, owner: UUID().uuidString).status == .notFound)
            #expect(try await decline(bob, owner: "not-an-id").status == .badRequest)
            #expect(try await Self.snapshot(harness, "alice") == before)
            let declined = try await decline(bob, owner: aliceID)
            #expect(declined.status == .ok)
            #expect(declined.object["cancelled"] == .int(2))
            for started in [first, second] {
                #expect(try await Self.progress(client, started).object["status"] == .string("cancelled"))
            }
            let events = try await H.send(client, .get, "/api/v1/me/events", token: alice.token).object["events"]?.array ?? []
            #expect(events.filter { $0.object?["kind"] == .string("recovery_cancelled") }.count == 2)
            // Nothing is left to decline.
            #expect(try await decline(bob, owner: aliceID).status == .notFound)
        }
    }

    /// A new notification address is confirmed by the link sent to it: the link's page changes nothing,
    /// its form confirms; a forged, expired or stale link does not; removing an address unconfirms it.
    @Test func notificationAddressesAreConfirmedByTheirLink() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let patch = try await H.send(client, .patch, "/api/v1/me/recovery",
                                         json: .object(["addresses": .array([.string("a@example.com"), .string("b@example.com")])]), token: alice.token)
            #expect(patch.status == .ok)
            let user = try #require(try await harness.store.user(username: "alice"))
            let sent = try await harness.store.events(userID: user.id, limit: 20).filter { $0.kind == .addressVerificationSent }
            #expect(Set(sent.compactMap { $0.detail["address"] }) == ["a@example.com", "b@example.com"])
            let forA = try #require(sent.first { $0.detail["address"] == "a@example.com" })
            let link = try #require(recoveryLinks(forA, service: harness.service, origin: H.origin)["verifyUrl"])
            #expect(link.hasPrefix(H.origin + "/addresses/verify?user=\(user.id.uuidString.lowercased())&address=a%40example.com&expires="))
            let query = String(try #require(link.split(separator: "?", maxSplits: 1).last))
            func overview() async throws -> JSONObject { try await H.send(client, .get, "/api/v1/me/recovery", token: alice.token).object }
            func post(_ form: String) async throws -> H.Reply {
                try await H.send(client, .post, "/addresses/verify", rawBody: Array(form.utf8))
            }

            // Opening the link shows a form and changes nothing.
            #expect(try await H.send(client, .get, "/addresses/verify?" + query).status == .ok)
            #expect(try await overview()["verifiedAddresses"] == .array([]))
            // A forged signature, or the link for another address, confirms nothing.
            let forged = query.replacingOccurrences(of: "&sig=", with: "&sig=A")
            #expect(try await post(forged).status == .forbidden)
            #expect(try await post(query.replacingOccurrences(of: "a%40example.com", with: "b%40example.com")).status == .forbidden)
            #expect(try await overview()["verifiedAddresses"] == .array([]))
            // The form confirms it.
            #expect(try await post(query).status == .ok)
            #expect(try await overview()["verifiedAddresses"] == .array([.string("a@example.com")]))
            #expect(try await overview()["readiness"]?.object?["notificationAddresses"] == .int(1))

            // Replacing b by c keeps a confirmed, and c gets its own link; b's link no longer works.
            let forB = try #require(sent.first { $0.detail["address"] == "b@example.com" })
            let linkB = try #require(recoveryLinks(forB, service: harness.service, origin: H.origin)["verifyUrl"])
            _ = try await H.send(client, .patch, "/api/v1/me/recovery",
                                 json: .object(["addresses": .array([.string("a@example.com"), .string("c@example.com")])]), token: alice.token)
            #expect(try await overview()["verifiedAddresses"] == .array([.string("a@example.com")]))
            #expect(try await post(String(try #require(linkB.split(separator: "?", maxSplits: 1).last))).status == .forbidden)
            let forC = try #require(try await harness.store.events(userID: user.id, limit: 30).first {
                $0.kind == .addressVerificationSent && $0.detail["address"] == "c@example.com"
            })
            // A link older than its 7 days does not work.
            harness.clock.advance(by: 7 * 86400 + 1)
            let linkC = try #require(recoveryLinks(forC, service: harness.service, origin: H.origin)["verifyUrl"])
            #expect(try await post(String(try #require(linkC.split(separator: "?", maxSplits: 1).last))).status == .forbidden)
        }
    }

    @Test func theCoolingPeriodEnds() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let code = try await Self.newCode(client, for: alice)
            #expect(code.filter { $0 != "-" }.count == 26)
            let held = try await Self.start(client, "alice")
            #expect(try await Self.enterCode(client, held, code.lowercased()).status == .ok)
            harness.clock.advance(by: 72 * 3600 + 1)
            let (completed, credential) = try await Self.complete(client, held)
            #expect(completed.status == .created)
            var recovered = H.Account(username: "alice", credential: try #require(credential), handle: alice.handle, token: try #require(completed.sessionToken))
            harness.clock.advance(by: 86400 + 1)
            try await H.reauth(client, &recovered)
            #expect(try await H.send(client, .patch, "/api/v1/me/recovery", json: .object(["threshold": .int(1)]), token: recovered.token).status == .ok)
            // A new sign-in with it is an ordinary passkey session now.
            let signedIn = try await H.signIn(client, &recovered)
            let me = try await H.send(client, .get, "/api/v1/me", token: signedIn.sessionToken)
            #expect(me.object["session"]?.object?["birth"]?.object?["kind"] == .string("passkey"))
        }
    }

    @Test func aStolenRecoveryCodeAloneIsCancelledByTheOwnersPasskey() async throws {
        let harness = try await H()
        try await harness.run { client in
            var alice = try await H.signUp(client, "alice")
            let first = try await Self.newCode(client, for: alice)
            let code = try await Self.newCode(client, for: alice)
            #expect(first != code)

            let held = try await Self.start(client, "alice")
            // The replaced code no longer works; wrong codes are counted.
            let wrong = try await Self.enterCode(client, held, first)
            #expect(wrong.object["code"] == .string("recovery_code_invalid"))
            #expect(try await Self.enterCode(client, held, code).status == .ok)
            let release = try await Self.progress(client, held)
            #expect(release.object["proofs"]?.array?.count == 1)
            harness.clock.advance(by: 3600)
            #expect(try await Self.complete(client, held).reply.status == .forbidden)

            // Alice signs in with her passkey, sees the case, and cancels it.
            let signIn = try await H.signIn(client, &alice)
            #expect(signIn.object["openRecoveryCases"]?.array?.count == 1)
            #expect(try await H.send(client, .post, "/api/v1/me/recovery-requests/\(held.id)/cancel", token: alice.token).status == .noContent)
            harness.clock.advance(by: 72 * 3600)
            #expect(try await Self.complete(client, held).reply.status == .notFound)
            #expect(try await Self.progress(client, held).object["status"] == .string("cancelled"))
            #expect(try await H.send(client, .post, "/api/v1/me/recovery-requests/\(held.id)/cancel", token: alice.token).status == .conflict)
        }
    }

    @Test(arguments: [(5, 10), (3, 6)])
    func codeGuessesAreLimitedPerCaseAndPerIP(perCase: Int, perIP: Int) async throws {
        let harness = try await H {
            $0.recovery.maxCodeAttempts = perCase
            $0.recovery.codeAttemptsPerIP = perIP
        }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let code = try await Self.newCode(client, for: alice)
            let held = try await Self.start(client, "alice")
            for _ in 0..<perCase {
                let guess = try await Self.enterCode(client, held, "AAAAA-AAAAA")
                #expect(guess.object["code"] == .string("recovery_code_invalid"))
            }
            let before = try await Self.snapshot(harness, "alice")
            // Even the right code is refused after the case's wrong ones.
            let blocked = try await Self.enterCode(client, held, code)
            #expect(blocked.object["code"] == .string("too_many_attempts"))
            #expect(try await Self.snapshot(harness, "alice") == before)
            // And the IP is throttled across cases: its next attempt past the limit is refused.
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<(perIP - perCase - 1) {
                statuses.append(try await Self.enterCode(client, held, code).status)
            }
            #expect(statuses.allSatisfy { $0 == .forbidden })
            #expect(try await Self.enterCode(client, held, code).status == .tooManyRequests)
        }
    }

    @Test func theCancelLinkShowsAPageAndOnlyItsPostCancels() async throws {
        let harness = try await H { $0.recovery.blockAfterCancel = 3600 }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let held = try await Self.start(client, "alice")
            let caseID = try #require(UUID(uuidString: held.id))
            let signature = harness.service.recovery.cancelSignature(caseID: caseID)
            let link = "/recovery/cancel?case=\(held.id)&sig=\(signature)"

            // A mail scanner fetching the link changes nothing.
            let page = try await H.send(client, .get, link, origin: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(try await harness.store.recoveryCase(id: caseID)?.status == .open)

            // A forged or mismatched signature is refused, and nothing changes.
            let other = try await Self.start(client, "alice")
            let before = try await Self.snapshot(harness, "alice")
            let forged = harness.service.recovery.cancelSignature(caseID: try #require(UUID(uuidString: other.id)))
            for sig in [forged, "AAAA", String(signature.dropLast()) + (signature.hasSuffix("A") ? "B" : "A")] {
                let refused = try await Self.postCancel(client, caseID: held.id, sig: sig)
                #expect(refused.status == .forbidden)
                #expect(refused.object["code"] == .string("link_invalid"))
            }
            #expect(try await H.send(client, .get, "/recovery/cancel?case=\(held.id)&sig=\(forged)", origin: nil).status == .forbidden)
            // A form without a case ID, or with one that is not a UUID, is the same refusal.
            #expect(try await Self.postCancel(client, caseID: "not-a-uuid", sig: signature).object["code"] == .string("link_invalid"))
            #expect(try await H.send(client, .get, "/recovery/cancel?sig=\(signature)", origin: nil).object["code"] == .string("link_invalid"))
            // A field given twice is refused, not resolved in favour of either copy.
            for extra in ["&case=\(other.id)", "&sig=\(signature)", "&case=\(held.id)"] {
                let repeated = try await Self.postCancel(client, caseID: held.id, sig: signature, extra: extra)
                #expect(repeated.status == .forbidden)
                #expect(repeated.object["code"] == .string("link_invalid"))
            }
            #expect(try await Self.snapshot(harness, "alice") == before)
            #expect(try await harness.store.recoveryCase(id: caseID)?.status == .open)

            let cancelled = try await Self.postCancel(client, caseID: held.id, sig: signature)
            #expect(cancelled.status == .ok)
            #expect(try await harness.store.recoveryCase(id: caseID)?.status == .cancelled)
            // A replayed POST changes nothing more.
            #expect(try await Self.postCancel(client, caseID: held.id, sig: signature).status == .conflict)

            // New cases are blocked for recovery.block_after_cancel (an hour here): they are decoys nobody can approve or complete.
            let blocked = try await Self.start(client, "alice")
            #expect(try await harness.store.recoveryCase(id: try #require(UUID(uuidString: blocked.id)))?.userID == nil)
            #expect(try await Self.kinds(client, alice.token).filter { $0 == "recovery_started" }.count == 2)
            harness.clock.advance(by: 3599)
            let stillBlocked = try await Self.start(client, "alice")
            #expect(try await harness.store.recoveryCase(id: try #require(UUID(uuidString: stillBlocked.id)))?.userID == nil)
            harness.clock.advance(by: 2)
            let later = try await Self.start(client, "alice")
            #expect(try await harness.store.recoveryCase(id: try #require(UUID(uuidString: later.id)))?.userID != nil)
        }
    }

    @Test func notificationsCarryAWorkingCancelLinkOnlyWhileACaseCanBeCancelled() async throws {
        let harness = try await H()
        try await harness.run { client in
            _ = try await H.signUp(client, "alice")
            let held = try await Self.start(client, "alice")
            let alice = try #require(try await harness.store.user(username: "alice"))
            let started = try #require(try await harness.store.events(userID: alice.id, limit: 50).first { $0.kind == .recoveryStarted })
            let link = try #require(recoveryLinks(started, service: harness.service, origin: H.origin)["cancelUrl"])
            #expect(link.hasPrefix(H.origin + "/recovery/cancel?case=\(held.id)&sig="))
            let sig = String(try #require(link.split(separator: "sig=").last))
            for kind in SecurityEvent.Kind.allCases where ![.recoveryStarted, .recoveryApproved, .recoveryCodeFailed].contains(kind) {
                var other = started
                other.kind = kind
                #expect(recoveryLinks(other, service: harness.service, origin: H.origin).isEmpty, "\(kind)")
            }
            #expect(try await H.send(client, .get, String(link.dropFirst(H.origin.count)), origin: nil).status == .ok)
            #expect(try await Self.postCancel(client, caseID: held.id, sig: sig).status == .ok)
            #expect(try await harness.store.recoveryCase(id: try #require(UUID(uuidString: held.id)))?.status == .cancelled)
        }
    }

    static func postCancel(_ client: any TestClientProtocol, caseID: String, sig: String, extra: String = "") async throws -> H.Reply {
        let form = "case=\(caseID)&sig=\(sig.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? sig)" + extra
        return try await client.execute(
            uri: "/recovery/cancel", method: .post,
            headers: [.origin: H.origin, .contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form)
        ) { response in
            let body = Array(response.body.readableBytesView)
            return H.Reply(status: response.status, json: try? StrictJSON.parse(body), headers: response.headers)
        }
    }

    @Test func anUnknownUsernameGetsACaseThatLooksTheSame() async throws {
        let harness = try await H()
        try await harness.run { client in
            _ = try await H.signUp(client, "alice")
            let real = try await H.send(client, .post, "/api/v1/recovery", json: .object(["username": .string("alice")]))
            let decoy = try await H.send(client, .post, "/api/v1/recovery", json: .object(["username": .string("nobody")]))
            #expect(real.status == decoy.status)
            #expect(real.object.members.map(\.key) == decoy.object.members.map(\.key))
            #expect(decoy.object["comparisonCode"]?.string?.count == 6)
            let held = Held(id: try #require(decoy.object["id"]?.string), comparisonCode: "", cookie: "portcullis_recovery=\(try #require(decoy.cookie(named: "portcullis_recovery")))")
            let realHeld = Held(id: try #require(real.object["id"]?.string), comparisonCode: "", cookie: "portcullis_recovery=\(try #require(real.cookie(named: "portcullis_recovery")))")
            let a = try await Self.progress(client, held)
            let b = try await Self.progress(client, realHeld)
            #expect(a.status == .ok && b.status == .ok)
            #expect(a.object.members.map(\.key) == b.object.members.map(\.key))
            #expect(a.object["status"] == b.object["status"])
            // A decoy never progresses.
            let code = try await Self.enterCode(client, held, "AAAAA")
            #expect(code.object["code"] == .string("recovery_code_invalid"))
            #expect(try await Self.complete(client, held).reply.object["code"] == .string("recovery_not_released"))
            // Malformed usernames are refused before anything is stored.
            #expect(try await H.send(client, .post, "/api/v1/recovery", json: .object(["username": .string("a b")])).status == .badRequest)
        }
    }

    @Test func twoAdminsRecoverWithoutAWaitAndNoLoneAdminCan() async throws {
        let harness = try await H()
        try await harness.run { client in
            _ = try await H.signUp(client, "alice")
            let dave = try await H.signUp(client, "dave")
            let erin = try await H.signUp(client, "erin")
            let frank = try await H.signUp(client, "frank")
            for admin in ["dave", "erin", "frank"] { try await harness.service.operatorActions.setAdmin(true, username: admin) }
            let held = try await Self.start(client, "alice")
            let path = "/api/v1/admin/recovery-cases/\(held.id)/approve"
            let body: JSONValue = .object(["comparisonCode": .string(held.comparisonCode)])

            // A non-admin is refused.
            let bob = try await H.signUp(client, "bob")
            #expect(try await H.send(client, .post, path, json: body, token: bob.token).object["code"] == .string("admin_required"))

            // One admin from the command line, then the same admin again, then another from the command line: one proof counts.
            _ = try await harness.service.recovery.adminEnrol(admin: "dave", username: "alice", comparisonCode: held.comparisonCode)
            await #expect(throws: AccountsError.self) { _ = try await harness.service.recovery.adminEnrol(admin: "dave", username: "alice", comparisonCode: held.comparisonCode) }
            _ = try await harness.service.recovery.adminEnrol(admin: "frank", username: "alice", comparisonCode: held.comparisonCode)
            #expect(try await Self.progress(client, held).object["releaseAt"] == .null)
            // A wrong comparison code on the command line is refused.
            await #expect(throws: AccountsError.self) { _ = try await harness.service.recovery.adminEnrol(admin: "erin", username: "alice", comparisonCode: "999999x") }
            // A non-admin on the command line is refused.
            await #expect(throws: AccountsError.self) { _ = try await harness.service.recovery.adminEnrol(admin: "bob", username: "alice", comparisonCode: held.comparisonCode) }

            // The second admin approves with their passkey: released at once.
            let listed = try await H.send(client, .get, "/api/v1/admin/recovery-cases?username=alice", token: erin.token)
            #expect(listed.object["cases"]?.array?.first?.object?["id"] == .string(held.id))
            #expect(try await H.send(client, .post, path, json: body, token: erin.token).status == .noContent)
            #expect(try await Self.progress(client, held).object["released"] == .bool(true))
            #expect(try await Self.complete(client, held).reply.status == .created)
            _ = dave
            _ = frank
        }
    }

    @Test func adminsCannotApproveTheirOwnCaseAndStaleAdminsMustReauthenticate() async throws {
        let harness = try await H()
        try await harness.run { client in
            var dave = try await H.signUp(client, "dave")
            try await harness.service.operatorActions.setAdmin(true, username: "dave")
            let own = try await Self.start(client, "dave")
            let reply = try await H.send(client, .post, "/api/v1/admin/recovery-cases/\(own.id)/approve",
                                         json: .object(["comparisonCode": .string(own.comparisonCode)]), token: dave.token)
            #expect(reply.object["code"] == .string("own_case"))
            _ = try await H.signUp(client, "alice")
            let held = try await Self.start(client, "alice")
            harness.clock.advance(by: 600)
            let stale = try await H.send(client, .post, "/api/v1/admin/recovery-cases/\(held.id)/approve",
                                         json: .object(["comparisonCode": .string(held.comparisonCode)]), token: dave.token)
            #expect(stale.object["code"] == .string("reauthentication_required"))
            try await H.reauth(client, &dave)
            #expect(try await H.send(client, .post, "/api/v1/admin/recovery-cases/\(held.id)/approve",
                                     json: .object(["comparisonCode": .string(held.comparisonCode)]), token: dave.token).status == .noContent)
            // The affected user is told about admin actions.
            let alice = try #require(try await harness.store.user(username: "alice"))
            #expect(try await harness.store.events(userID: alice.id, limit: 50).contains { $0.kind == .recoveryApproved && $0.detail["proof"] == "admin" })
            let daveUser = try #require(try await harness.store.user(username: "dave"))
            #expect(try await harness.store.events(userID: daveUser.id, limit: 50).contains { $0.kind == .adminGranted })
        }
    }

    @Test func deviceApprovalSessionsCannotTouchRecovery() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let bob = try await H.signUp(client, "bob")
            try await Self.invite(client, owner: bob, contact: alice)
            let held = try await Self.start(client, "bob")
            // A device-approval session for alice.
            let (deviceCode, userCode) = try await DeviceApprovalTests.start(client)
            #expect(try await H.send(client, .post, "/api/v1/device/approve", json: .object(["user_code": .string(userCode)]), token: alice.token).status == .noContent)
            let token = try #require(try await DeviceApprovalTests.poll(client, deviceCode).sessionToken)
            let before = try await Self.snapshot(harness, "bob")
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/api/v1/me/recovery-requests/\(held.id)/approve", JSONValue.object(["comparisonCode": .string(held.comparisonCode)])),
                (.patch, "/api/v1/me/recovery", .object(["threshold": .int(1)])),
                (.post, "/api/v1/me/recovery/code", .object([:])),
                (.post, "/api/v1/me/recovery/contacts", .object(["username": .string("bob")])),
            ] {
                #expect(try await H.send(client, method, path, json: body, token: token).object["code"] == .string("session_not_allowed"), "\(path)")
            }
            #expect(try await Self.snapshot(harness, "bob") == before)
        }
    }

    @Test func readinessAndTheAccountsThatCouldNotRecover() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let dave = try await H.signUp(client, "dave")
            try await harness.service.operatorActions.setAdmin(true, username: "dave")
            let readiness = try await H.send(client, .get, "/api/v1/me/recovery", token: alice.token).object["readiness"]?.object
            #expect(readiness?["canRecoverWithoutAdmins"] == .bool(false))
            #expect((readiness?["next"]?.array?.count ?? 0) >= 3)
            let listed = try await H.send(client, .get, "/api/v1/admin/unrecoverable", token: dave.token)
            let names = listed.object["accounts"]?.array?.compactMap { $0.object?["user"]?.object?["username"]?.string } ?? []
            #expect(names.contains("alice"))
            #expect(try await H.send(client, .get, "/api/v1/admin/unrecoverable", token: alice.token).status == .forbidden)

            // With a recovery code, alice could recover (the code alone, after 72 hours).
            _ = try await H.send(client, .post, "/api/v1/me/recovery/code", token: alice.token)
            let after = try await H.send(client, .get, "/api/v1/admin/unrecoverable", token: dave.token)
            let stillListed = after.object["accounts"]?.array?.compactMap { $0.object?["user"]?.object?["username"]?.string } ?? []
            #expect(!stillListed.contains("alice"))

            let ways = try await H.send(client, .get, "/api/v1/admin/ways-in", token: dave.token)
            let wayNames = ways.object["waysIn"]?.array?.compactMap { $0.object?["name"]?.string } ?? []
            #expect(wayNames == ["passkey-sign-in", "device-approval", "enrolment", "recovery:contacts", "recovery:code", "recovery:contact+code", "recovery:admins"])
            // No oidc.key_secret here: the report says the signing keys are unsealed, and what to do.
            #expect(ways.object["signingKeysSealed"] == .bool(false))
            #expect(ways.object["signingKeysNote"]?.string?.contains("oidc.key_secret") == true)
            #expect(try await H.send(client, .get, "/api/v1/admin/ways-in", token: alice.token).status == .forbidden)
        }
    }

    /// Anyone may read how this site recovers accounts (the same for everyone; it names no account).
    @Test func theRulesArePublic() async throws {
        let harness = try await H { $0.recovery.rules = [RecoveryRule(code: true, wait: 60), RecoveryRule(contacts: .threshold, wait: 86400)] }
        try await harness.run { client in
            let reply = try await H.send(client, .get, "/api/v1/recovery/rules")
            #expect(reply.status == .ok && reply.object["codeEnabled"] == .bool(true))
            let rules = reply.object["rules"]?.array?.compactMap { $0.object?["waitSeconds"]?.int64 }
            #expect(rules?.sorted() == [60, 86400])
        }
    }

    /// The recovery code that proved a completed recovery is used up with it: someone who saw it typed
    /// cannot start another recovery with it.
    @Test func aRecoveryCodeIsUsedUpByTheRecoveryItCompletes() async throws {
        let harness = try await H { $0.recovery.rules = [RecoveryRule(code: true, wait: 60)] }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let code = try await Self.newCode(client, for: alice)
            let held = try await Self.start(client, "alice")
            #expect(try await Self.enterCode(client, held, code).status == .ok)
            harness.clock.advance(by: 61)
            let (completed, _) = try await Self.complete(client, held)
            #expect(completed.status == .created)
            let user = try #require(try await harness.store.user(username: "alice"))
            #expect(try await harness.store.recoverySettings(userID: user.id)?.codeHash == nil)
            let again = try await Self.start(client, "alice")
            #expect(try await Self.enterCode(client, again, code).object["code"] == .string("recovery_code_invalid"))
        }
    }

    /// Malformed JSON, an oversized body, a wrong Origin, a missing field, a replayed or foreign
    /// registration: each gets its stable error and nothing about the account changes.
    @Test func badInputToRecoveryIsRefusedAndChangesNothing() async throws {
        let harness = try await H { $0.recovery.rules = [RecoveryRule(code: true, wait: 60)] }
        try await harness.run { client in
            let (_, bob, code, held) = try await Self.caseWithContactAndCode(client)
            let caseID = try #require(UUID(uuidString: held.id))
            let before = try await Self.snapshot(harness, "alice")
            let attempts = try await harness.store.recoveryCase(id: caseID)?.codeAttempts
            let big = Array(repeating: UInt8(ascii: " "), count: 70_000) + Array(#"{"username":"alice"}"#.utf8)
            let cases: [(String, HTTPRequest.Method, String, [UInt8]?, String?, String?, HTTPResponse.Status, String)] = [
                ("malformed start", .post, "/api/v1/recovery", Array(#"{"username":"alice""#.utf8), H.origin, nil, .badRequest, "malformed_json"),
                ("oversized start", .post, "/api/v1/recovery", big, H.origin, nil, .contentTooLarge, "body_too_large"),
                ("foreign origin start", .post, "/api/v1/recovery", Array(#"{"username":"alice"}"#.utf8), "https://evil.example", nil, .forbidden, "origin_not_allowed"),
                ("no username", .post, "/api/v1/recovery", Array("{}".utf8), H.origin, nil, .badRequest, "invalid_request"),
                ("malformed code", .post, "/api/v1/recovery/\(held.id)/code", Array(#"{"code":"#.utf8), H.origin, held.cookie, .badRequest, "malformed_json"),
                ("foreign origin code", .post, "/api/v1/recovery/\(held.id)/code", Array("{\"code\":\"\(code)\"}".utf8), "https://evil.example", held.cookie, .forbidden, "origin_not_allowed"),
                ("foreign origin approve", .post, "/api/v1/me/recovery-requests/\(held.id)/approve",
                 Array("{\"comparisonCode\":\"\(held.comparisonCode)\"}".utf8), "https://evil.example", "portcullis_session=\(bob.token)", .forbidden, "origin_not_allowed"),
                ("unknown case", .get, "/api/v1/recovery/\(UUID())", nil, H.origin, held.cookie, .notFound, "not_found"),
            ]
            for (name, method, path, body, origin, cookie, status, problem) in cases {
                let reply = try await H.send(client, method, path, rawBody: body, origin: origin, cookie: cookie)
                #expect(reply.status == status, "\(name)")
                #expect(reply.object["code"] == .string(problem), "\(name)")
            }
            #expect(try await Self.snapshot(harness, "alice") == before)
            #expect(try await harness.store.recoveryCase(id: caseID)?.codeAttempts == attempts)

            // A registration answering no challenge of this case, then the right one replayed after completion.
            #expect(try await Self.enterCode(client, held, code).status == .ok)
            harness.clock.advance(by: 61)
            let foreign = H.authenticator.registration(challenge: Array(repeating: 3, count: 32), algorithm: .es256)
            let refused = try await H.send(client, .post, "/api/v1/recovery/\(held.id)/passkey/verify", json: .object(["credential": foreign.jsonValue]),
                                           cookie: held.cookie)
            #expect(refused.object["code"] == .string("challenge_invalid"))
            let released = try await Self.snapshot(harness, "alice")
            let (completed, credential) = try await Self.complete(client, held)
            #expect(completed.status == .created)
            let done = try await Self.snapshot(harness, "alice")
            #expect(done != released)
            let replay = try await H.send(client, .post, "/api/v1/recovery/\(held.id)/passkey/verify",
                                          json: .object(["credential": try #require(credential).jsonValue]), cookie: held.cookie)
            #expect(replay.status == .notFound)
            #expect(try await Self.snapshot(harness, "alice") == done)
        }
    }

    @Test func aCaseExpiresAfterSevenDays() async throws {
        let harness = try await H()
        try await harness.run { client in
            let (_, contact, code, held) = try await Self.caseWithContactAndCode(client)
            var bob = contact
            harness.clock.advance(by: 7 * 86400 + 1)
            #expect(try await H.signIn(client, &bob).status == .ok)
            let before = try await Self.snapshot(harness, "alice")
            #expect(try await Self.approve(client, held, by: bob).status == .notFound)
            #expect(try await Self.enterCode(client, held, code).status == .notFound)
            #expect(try await Self.complete(client, held).reply.status == .notFound)
            #expect(try await Self.progress(client, held).object["status"] == .string("expired"))
            #expect(try await Self.snapshot(harness, "alice") == before)
        }
    }

    @Test func recoveryCodesCanBeSwitchedOff() async throws {
        let harness = try await H { $0.recovery.codeEnabled = false }
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            #expect(try await H.send(client, .post, "/api/v1/me/recovery/code", token: alice.token).object["code"] == .string("recovery_code_disabled"))
            let held = try await Self.start(client, "alice")
            #expect(try await Self.enterCode(client, held, "X").object["code"] == .string("recovery_code_disabled"))
        }
    }

    @Test func badSetUpRequestsAreRefusedAndChangeNothing() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let before = try await Self.snapshot(harness, "alice")
            let cases: [(HTTPRequest.Method, String, JSONValue, HTTPResponse.Status)] = [
                (.patch, "/api/v1/me/recovery", .object(["threshold": .int(0)]), .badRequest),
                (.patch, "/api/v1/me/recovery", .object(["threshold": .string("2")]), .badRequest),
                (.patch, "/api/v1/me/recovery", .object(["addresses": .array([.string("not-an-address")])]), .badRequest),
                (.patch, "/api/v1/me/recovery", .object(["addresses": .array([.string("a@b.example"), .string("a@B.EXAMPLE")])]), .badRequest),
                (.patch, "/api/v1/me/recovery", .object(["addresses": .array([.string("only@one.example")])]), .badRequest),
                (.patch, "/api/v1/me/recovery", .object([:]), .badRequest),
                (.post, "/api/v1/me/recovery/contacts", .object(["username": .string("alice")]), .badRequest),
                (.post, "/api/v1/me/recovery/contacts", .object(["username": .string("nobody")]), .notFound),
                (.post, "/api/v1/me/recovery/invitations/\(UUID().uuidString)/accept", .object([:]), .notFound),
                (.delete, "/api/v1/me/recovery/contacts/\(UUID().uuidString)", .object([:]), .notFound),
                (.post, "/api/v1/me/recovery-requests/not-a-uuid/approve", .object(["comparisonCode": .string("1")]), .notFound),
            ]
            for (method, path, body, status) in cases {
                #expect(try await H.send(client, method, path, json: body, token: alice.token).status == status, "\(method) \(path) \(body)")
            }
            #expect(try await Self.snapshot(harness, "alice") == before)
        }
    }
}
