import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OIDC
import PortcullisApp
import PortcullisTesting
import Testing
import WebAuthn

typealias OH = ServerHarness

/// The provider's HTTP mapping through the application `buildServer` assembles: discovery, the admin
/// client API, and OAuth error documents (the live flows are in Tests/OIDC, with Authlib).
@Suite struct OIDCEndpointTests {
    @Test func discoveryListsOnlyWhatIsImplemented() async throws {
        let harness = try await OH()
        try await harness.run { client in
            let metadata = try await OH.send(client, .get, "/.well-known/openid-configuration")
            #expect(metadata.status == .ok)
            #expect(metadata.object["issuer"] == .string(OH.origin))
            #expect(metadata.object["response_types_supported"] == .array([.string("code")]))
            #expect(metadata.object["code_challenge_methods_supported"] == .array([.string("S256")]))
            #expect(metadata.object["id_token_signing_alg_values_supported"]?.array?.contains(.string("none")) == false)
            let oauth = try await OH.send(client, .get, "/.well-known/oauth-authorization-server")
            #expect(oauth.json == metadata.json)
        }
    }

    @Test func adminsManageClientsWithAFreshAssertion() async throws {
        let harness = try await OH()
        try await harness.run { client in
            var admin = try await OH.signUp(client, "ada")
            let other = try await OH.signUp(client, "bob")
            try await harness.service.operatorActions.setAdmin(true, username: "ada")
            _ = try await OH.signIn(client, &admin)  // the new role is read by a new session
            let body: JSONValue = .object(["name": .string("Admin App"), "redirect_uris": .array([.string("https://app.example/cb")]),
                                           "id_token_alg": .string("ES256")])
            #expect(try await OH.send(client, .post, "/api/v1/admin/clients", json: body, token: other.token).status == .forbidden)
            let created = try await OH.send(client, .post, "/api/v1/admin/clients", json: body, token: admin.token)
            #expect(created.status == .created)
            let id = try #require(created.object["client_id"]?.string)
            #expect(created.object["client_secret"]?.string?.isEmpty == false)
            let listed = try await OH.send(client, .get, "/api/v1/admin/clients", token: admin.token)
            #expect(listed.object["clients"]?.array?.contains { $0.object?["client_id"] == .string(id) } == true)
            #expect(!StrictJSON.serialize(listed.json ?? .null).contains("secret"))
            let bad: JSONValue = .object(["name": .string("x"), "redirect_uris": .array([.string("http://app.example/cb")])])
            let refused = try await OH.send(client, .post, "/api/v1/admin/clients", json: bad, token: admin.token)
            #expect(refused.status == .badRequest)
            #expect(try await OH.send(client, .post, "/api/v1/admin/clients/\(id)/rotate-secret", token: admin.token).status == .ok)
            // An admin whose last assertion is older than the window must re-authenticate first.
            harness.clock.advance(by: 600)
            #expect(try await OH.send(client, .delete, "/api/v1/admin/clients/\(id)", token: admin.token).status == .forbidden)
            try await OH.reauth(client, &admin)
            #expect(try await OH.send(client, .delete, "/api/v1/admin/clients/\(id)", token: admin.token).status == .noContent)
            #expect(try await OH.send(client, .get, "/api/v1/admin/clients/\(id)", token: admin.token).status == .notFound)
        }
    }

    @Test func tokenEndpointErrorsAreOAuthDocuments() async throws {
        let harness = try await OH()
        try await harness.run { client in
            let reply = try await client.execute(
                uri: "/oauth2/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .authorization: "Basic bm9ib2R5Om5vdGhpbmc="],
                body: ByteBuffer(string: "grant_type=authorization_code&code=x")) { response in
                    (response.status, response.headers, try StrictJSON.parse(Array(response.body.readableBytesView)))
                }
            #expect(reply.0 == .unauthorized)
            #expect(reply.1[.wwwAuthenticate]?.hasPrefix("Basic") == true && reply.1[.cacheControl] == "no-store")
            #expect(reply.2.object?["error"] == .string("invalid_client"))
        }
    }

    /// The sign-in page's verify request names its waiting request: the answer carries the redirect
    /// back to the app, once. A used or unknown request still signs the person in, without one (the
    /// page then shows why at the resume path); a malformed one is refused before anything happens.
    @Test func aSignInNamingItsRequestAnswersWithTheWayBackToTheApp() async throws {
        let harness = try await OH()
        try await harness.run { client in
            var admin = try await OH.signUp(client, "ada")
            try await harness.service.operatorActions.setAdmin(true, username: "ada")
            _ = try await OH.signIn(client, &admin)
            let body: JSONValue = .object(["name": .string("App"), "redirect_uris": .array([.string("https://app.example/cb")])])
            let created = try await OH.send(client, .post, "/api/v1/admin/clients", json: body, token: admin.token)
            let clientID = try #require(created.object["client_id"]?.string)
            let query = "response_type=code&client_id=\(clientID)&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid&state=s1"
                + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
            let page = try await client.execute(uri: "/oauth2/authorize?" + query, method: .get) { String(buffer: $0.body) }
            let start = try #require(page.range(of: "data-interaction=\"")?.upperBound)
            let interaction = String(page[start...].prefix { $0 != "\"" })

            func verify(_ interaction: JSONValue) async throws -> OH.Reply {
                let options = try await OH.send(client, .post, "/api/v1/login/options", json: .object([:]))
                return try await OH.send(client, .post, "/api/v1/login/verify",
                                         json: .object(["credential": try OH.assertion(&admin, options: options), "interaction": interaction]))
            }
            let first = try await verify(.string(interaction))
            #expect(first.status == .ok && first.sessionToken != nil)
            let location = try #require(first.object["returnTo"]?.string)
            #expect(location.hasPrefix("https://app.example/cb?code=") && location.contains("&state=s1&iss="))
            // Used: still a sign-in, no way back to offer.
            let again = try await verify(.string(interaction))
            #expect(again.status == .ok && again.sessionToken != nil && again.object["returnTo"] == .null)
            let unknown = try await verify(.string("no-such-request"))
            #expect(unknown.status == .ok && unknown.object["returnTo"] == .null)
            let malformed = try await verify(.int(7))
            #expect(malformed.status == .badRequest && malformed.sessionToken == nil)
        }
    }

    /// The sign-in page carries the options of a sign-in with any passkey (no round trip before the
    /// browser asks for one). Their challenge signs the person in once, as one from the options API
    /// does; the page counts against the address's limit as that request does, and once the limit is
    /// spent it carries none (the page's script then asks the API, which answers the refusal).
    @Test func theSignInPageCarriesOptionsWhoseChallengeWorksOnce() async throws {
        let harness = try await OH { $0.rateLimit.ipPerMinute = 8 }
        let (app, _) = try await harness.server.oidc.createClient(ClientRegistration(name: "App", redirectURIs: ["https://app.example/cb"]))
        let store = harness.store
        try await harness.run { client in
            var ada = try await OH.signUp(client, "ada")
            let query = "response_type=code&client_id=\(app.id)&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid&state=s1"
                + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
            func page() async throws -> (interaction: String, options: String) {
                let html = try await client.execute(uri: "/oauth2/authorize?" + query, method: .get) { String(buffer: $0.body) }
                func attribute(_ name: String) throws -> String {
                    let start = try #require(html.range(of: "\(name)=\"")?.upperBound)
                    return String(html[start...].prefix { $0 != "\"" })
                }
                let options = try attribute("data-options").replacingOccurrences(of: "&quot;", with: "\"")
                    .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
                return (try attribute("data-interaction"), options)
            }
            let shown = try await page()
            let carried = try StrictJSON.parse(Array(shown.options.utf8))
            let publicKey = try #require(carried.object?["publicKey"]?.object)
            #expect(publicKey["allowCredentials"] == .array([]) && publicKey["timeout"] == .int(300_000))
            let options = OH.Reply(status: .ok, json: carried, headers: [:])
            let challenge = try #require(publicKey["challenge"]?.string)
            #expect(try await store.challenge(challenge) != nil, "the carried challenge is stored as the API's would be")

            let first = try await OH.send(client, .post, "/api/v1/login/verify",
                                          json: .object(["credential": try OH.assertion(&ada, options: options), "interaction": .string(shown.interaction)]))
            #expect(first.status == .ok && first.sessionToken != nil)
            #expect(first.object["returnTo"]?.string?.hasPrefix("https://app.example/cb?code=") == true)
            let replayed = try await OH.send(client, .post, "/api/v1/login/verify", json: .object(["credential": try OH.assertion(&ada, options: options)]))
            #expect(replayed.status != .ok && replayed.sessionToken == nil, "a carried challenge is used up like any other")

            // Pages spend the address's limit (8 a minute, with the sign-up's and sign-in's requests); a page
            // shown after that still works, without options.
            var spent = try await page()
            for _ in 0..<8 where !spent.options.isEmpty { spent = try await page() }
            #expect(!spent.interaction.isEmpty && spent.options.isEmpty)
            #expect(try await OH.send(client, .post, "/api/v1/login/options", json: .object([:])).status == .tooManyRequests)
        }
    }
}

