import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
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
}
