import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisApp
import PortcullisTesting
import Testing
import WebAuthn

@Suite struct EnrolmentTests {
    typealias H = ServerHarness

    struct Opened {
        let id: String
        let code: String
        let browserCookie: String
    }

    static func createAndOpen(_ client: any TestClientProtocol, token: String) async throws -> Opened {
        let created = try await H.send(client, .post, "/api/v1/me/enrolments", token: token)
        #expect(created.status == .created)
        let link = try #require(created.object["link"]?.string)
        #expect(link.hasPrefix("http://localhost:8080/enrol#"))
        let linkToken = String(link.split(separator: "#").last ?? "")
        let opened = try await H.send(client, .post, "/api/v1/enrol/open", json: .object(["token": .string(linkToken)]))
        #expect(opened.status == .ok)
        let secret = try #require(opened.cookie(named: "portcullis_enrol"))
        #expect(opened.headers[values: .setCookie].contains { $0.contains("SameSite=Strict") && $0.contains("HttpOnly") })
        // The link works once.
        #expect(try await H.send(client, .post, "/api/v1/enrol/open", json: .object(["token": .string(linkToken)])).status == .notFound)
        return Opened(id: try #require(opened.object["id"]?.string), code: try #require(opened.object["confirmationCode"]?.string),
                      browserCookie: "portcullis_enrol=\(secret)")
    }

    @Test func aNewDeviceEnrolsItsOwnPasskey() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let opened = try await Self.createAndOpen(client, token: alice.token)
            #expect(opened.code.count == 6)

            // Before confirmation the new device gets nothing.
            #expect(try await H.send(client, .post, "/api/v1/enrol/passkey/options", json: .object(["id": .string(opened.id)]), cookie: opened.browserCookie).status == .notFound)
            let status = try await H.send(client, .get, "/api/v1/me/enrolments/\(opened.id)", token: alice.token)
            #expect(status.object["status"] == .string("opened"))
            #expect(status.object["device"]?.object?["userAgent"] == .string("PortcullisTests/1.0"))
            #expect(try await H.send(client, .post, "/api/v1/me/enrolments/\(opened.id)/confirm", json: .object(["confirmationCode": .string(opened.code)]), token: alice.token).status == .noContent)

            // Without the browser secret, another browser cannot continue.
            #expect(try await H.send(client, .post, "/api/v1/enrol/passkey/options", json: .object(["id": .string(opened.id)]), cookie: "portcullis_enrol=stolen").status == .notFound)
            let options = try await H.send(client, .post, "/api/v1/enrol/passkey/options", json: .object(["id": .string(opened.id)]), cookie: opened.browserCookie)
            #expect(options.status == .ok)
            #expect(options.object["publicKey"]?.object?["excludeCredentials"]?.array?.count == 1)
            let laptop = H.authenticator.registration(challenge: try H.challenge(options), algorithm: .edDSA)
            let verify = try await H.send(client, .post, "/api/v1/enrol/passkey/verify",
                                          json: .object(["id": .string(opened.id), "credential": laptop.jsonValue, "name": .string("New laptop")]),
                                          cookie: opened.browserCookie)
            #expect(verify.status == .created)
            let newToken = try #require(verify.sessionToken)
            let me = try await H.send(client, .get, "/api/v1/me", token: newToken)
            #expect(me.object["passkeys"]?.array?.count == 2)
            #expect(me.object["session"]?.object?["birth"]?.object?["kind"] == .string("passkey"))
            // Used once.
            #expect(try await H.send(client, .post, "/api/v1/enrol/passkey/options", json: .object(["id": .string(opened.id)]), cookie: opened.browserCookie).status == .notFound)
            let kinds = (try await H.send(client, .get, "/api/v1/me/events", token: newToken)).object["events"]?.array?.compactMap { $0.object?["kind"]?.string } ?? []
            for kind in ["enrolment_created", "enrolment_opened", "enrolment_confirmed", "passkey_added"] { #expect(kinds.contains(kind), "\(kind)") }
        }
    }

    @Test func aWrongCodeCancelsAndStaleOrLesserSessionsCannotEnrol() async throws {
        let harness = try await H()
        try await harness.run { client in
            let alice = try await H.signUp(client, "alice")
            let opened = try await Self.createAndOpen(client, token: alice.token)
            let wrong = opened.code == "000000" ? "111111" : "000000"
            let refused = try await H.send(client, .post, "/api/v1/me/enrolments/\(opened.id)/confirm", json: .object(["confirmationCode": .string(wrong)]), token: alice.token)
            #expect(refused.status == .badRequest)
            #expect(try await H.send(client, .get, "/api/v1/me/enrolments/\(opened.id)", token: alice.token).object["status"] == .string("cancelled"))
            #expect(try await H.send(client, .post, "/api/v1/me/enrolments/\(opened.id)/confirm", json: .object(["confirmationCode": .string(opened.code)]), token: alice.token).status == .notFound)

            // Another user cannot see or confirm it.
            let bob = try await H.signUp(client, "bob")
            #expect(try await H.send(client, .get, "/api/v1/me/enrolments/\(opened.id)", token: bob.token).status == .notFound)

            // Links expire after ten minutes; creating one needs a fresh assertion.
            let late = try await Self.createAndOpen(client, token: bob.token)
            harness.clock.advance(by: 601)
            #expect(try await H.send(client, .post, "/api/v1/me/enrolments/\(late.id)/confirm", json: .object(["confirmationCode": .string(late.code)]), token: bob.token).status == .forbidden)
            #expect(try await H.send(client, .post, "/api/v1/me/enrolments", token: bob.token).object["code"] == .string("reauthentication_required"))
        }
    }
}
