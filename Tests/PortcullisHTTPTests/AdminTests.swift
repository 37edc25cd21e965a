import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisTesting
import Testing
import WebAuthn

/// The admin pages' account routes: only admins read them, every change needs a passkey assertion at
/// most a minute old, never applies to the admin's own account, and lands in the audit log.
@Suite struct AdminTests {
    typealias H = ServerHarness

    static func admin(_ harness: H, _ client: any TestClientProtocol, _ username: String) async throws -> H.Account {
        var admin = try await H.signUp(client, username)
        try await harness.service.operatorActions.setAdmin(true, username: username)
        _ = try await H.signIn(client, &admin)  // the new role is read by a new session
        return admin
    }

    @Test func onlyAdminsFindAccountsAndASearchIsAPrefix() async throws {
        let harness = try await H()
        try await harness.run { client in
            let ada = try await Self.admin(harness, client, "ada")
            let bob = try await H.signUp(client, "bob")
            _ = try await H.signUp(client, "a_b")
            _ = try await H.signUp(client, "axb")
            let refused = try await H.send(client, .get, "/api/v1/admin/users", token: bob.token)
            #expect(refused.status == .forbidden)
            #expect(refused.object["code"] == .string("admin_required"))
            #expect(try await H.send(client, .get, "/api/v1/admin/audit", token: bob.token).status == .forbidden)
            func names(_ query: String) async throws -> [String] {
                let reply = try await H.send(client, .get, "/api/v1/admin/users?q=\(query)", token: ada.token)
                return (reply.object["users"]?.array ?? []).compactMap { $0.object?["username"]?.string }
            }
            #expect(try await names("") == ["a_b", "ada", "axb", "bob"])
            #expect(try await names("a_") == ["a_b"])  // "_" is a character here, not LIKE's wildcard
            #expect(try await names("A") == ["a_b", "ada", "axb"])
            #expect(try await names("%25") == [])
            let bobID = try #require(try await harness.store.user(username: "bob")).id
            let shown = try await H.send(client, .get, "/api/v1/admin/users/\(bobID.uuidString)", token: ada.token)
            #expect(shown.object["user"]?.object?["username"] == .string("bob"))
            #expect(shown.object["passkeys"]?.array?.count == 1)
            #expect(shown.object["events"]?.array?.first?.object?["kind"] == .string("signup"))
            #expect(try await H.send(client, .get, "/api/v1/admin/users/\(UUID().uuidString)", token: ada.token).status == .notFound)
        }
    }

    @Test func changesNeedAFreshAssertionSpareTheAdminAndAreAudited() async throws {
        let harness = try await H()
        try await harness.run { client in
            var ada = try await Self.admin(harness, client, "ada")
            let bob = try await H.signUp(client, "bob")
            _ = try await H.signUp(client, "carl")
            let bobID = try #require(try await harness.store.user(username: "bob")).id.uuidString
            let carlID = try #require(try await harness.store.user(username: "carl")).id.uuidString
            let adaID = try #require(try await harness.store.user(username: "ada")).id.uuidString
            #expect(try await H.send(client, .post, "/api/v1/admin/users/\(bobID)/disable", token: bob.token).status == .forbidden)

            // Stale: the admin confirms with a passkey first.
            harness.clock.advance(by: 61)
            let stale = try await H.send(client, .post, "/api/v1/admin/users/\(bobID)/disable", token: ada.token)
            #expect(stale.status == .forbidden)
            #expect(stale.object["code"] == .string("reauthentication_required"))
            #expect(try await H.send(client, .get, "/api/v1/me", token: bob.token).status == .ok)
            try await H.reauth(client, &ada)

            // Not on their own account.
            let own = try await H.send(client, .post, "/api/v1/admin/users/\(adaID)/disable", token: ada.token)
            #expect(own.status == .badRequest)
            #expect(try await H.send(client, .delete, "/api/v1/admin/users/\(adaID)", token: ada.token).status == .badRequest)

            // Disabling signs bob out everywhere; enabling lets him sign in again.
            let disabled = try await H.send(client, .post, "/api/v1/admin/users/\(bobID)/disable", token: ada.token)
            #expect(disabled.object["disabled"] == .bool(true))
            #expect(try await H.send(client, .get, "/api/v1/me", token: bob.token).status == .unauthorized)
            harness.clock.advance(by: 1)
            #expect(try await H.send(client, .post, "/api/v1/admin/users/\(bobID)/enable", token: ada.token).object["disabled"] == .bool(false))
            harness.clock.advance(by: 1)

            // Deleting carl removes him; the deletion is on ada's timeline, which the audit log reads.
            #expect(try await H.send(client, .delete, "/api/v1/admin/users/\(carlID)", token: ada.token).status == .noContent)
            #expect(try await harness.store.user(username: "carl") == nil)
            #expect(try await H.send(client, .delete, "/api/v1/admin/users/\(carlID)", token: ada.token).status == .notFound)

            let audit = try await H.send(client, .get, "/api/v1/admin/audit", token: ada.token).object["entries"]?.array ?? []
            let kinds = audit.compactMap { $0.object?["event"]?.object?["kind"]?.string }
            #expect(kinds.prefix(3) == ["admin_deleted_user", "admin_enabled", "admin_disabled"])
            #expect(audit.first?.object?["event"]?.object?["username"] == .string("carl"))
            #expect(audit.first?.object?["username"] == .string("ada"))
            #expect(audit[1].object?["event"]?.object?["by"] == .string("ada"))
            #expect(audit[1].object?["username"] == .string("bob"))
            #expect(kinds.contains("admin_granted"))  // the command line's grant, too
        }
    }
}
