import Accounts
import ArgumentParser
import Foundation
import Logging
import OIDC
import PortcullisApp
import WebAuthn

extension StoreOptions {
    /// Runs `body` with the OpenID Connect provider on the configured, migrated store.
    func withProvider<R: Sendable>(_ body: @escaping @Sendable (OIDCProvider) async throws -> R) async throws -> R {
        let configuration = try await ConfigurationLoader.load(file: configFile)
        return try await withOpenedStore(url: configuration.database.url, logger: Logger(label: "portcullis")) { opened in
            try await opened.migrate()
            let secret = SecretBox()
            secret.set(try await opened.store.secret(named: "oidc", candidate: SystemRandomSource().bytes(32)))
            let provider = makeProvider(opened: opened, configuration: configuration, random: SystemRandomSource(), secret: secret, clock: { Date() })
            return try await body(provider)
        }
    }
}

/// `portcullis client ...`: the apps that sign their users in through Portcullis.
struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Register and manage OpenID Connect clients (apps).",
        subcommands: [Create.self, List.self, Show.self, Delete.self, RotateSecret.self])

    static func view(_ client: OIDCClient) -> JSONValue {
        var object: JSONObject = [
            "client_id": .string(client.id), "name": .string(client.name), "public": .bool(client.isPublic),
            "redirect_uris": .array(client.redirectURIs.map(JSONValue.string)),
            "post_logout_redirect_uris": .array(client.postLogoutRedirectURIs.map(JSONValue.string)),
            "third_party": .bool(client.thirdParty), "device_grant": .bool(client.deviceGrant), "require_par": .bool(client.requirePAR),
            "require_dpop": .bool(client.requireDPoP), "require_device_bound": .bool(client.requireDeviceBound),
            "id_token_alg": .string(client.idTokenAlgorithm.rawValue), "pairwise": .bool(client.pairwise),
            "scopes": .array(client.scopes.map(JSONValue.string)), "created_at": .string(ISO8601DateFormatter().string(from: client.createdAt)),
        ]
        object["backchannel_logout_uri"] = client.backchannelLogoutURI.map(JSONValue.string) ?? .null
        object["max_auth_age"] = client.maxAuthAge.map { .int($0) } ?? .null
        return .object(object)
    }

    struct Create: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client; prints {\"client_id\": ..., \"client_secret\": ...} (the secret is shown once).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The app's name, shown to people.") var name: String
        @Option(name: .customLong("redirect-uri"), help: "A redirect URI, matched exactly (repeat for more).") var redirectURIs: [String] = []
        @Option(name: .customLong("post-logout-redirect-uri"), help: "Where RP-initiated logout may return (repeat for more).")
        var postLogoutRedirectURIs: [String] = []
        @Option(name: .customLong("backchannel-logout-uri"), help: "Where logout tokens are posted.") var backchannelLogoutURI: String?
        @Flag(name: .customLong("public"), help: "A public client (no secret; PKCE only).") var isPublic = false
        @Flag(name: .customLong("third-party"), help: "People must consent before the app gets their data.") var thirdParty = false
        @Flag(name: .customLong("device-grant"), help: "May use the device authorization grant.") var deviceGrant = false
        @Flag(name: .customLong("require-par"), help: "Authorization requests must be pushed (RFC 9126).") var requirePAR = false
        @Flag(name: .customLong("require-dpop"), help: "Tokens must be DPoP-bound (RFC 9449).") var requireDPoP = false
        @Flag(name: .customLong("require-device-bound"), help: "Every sign-in needs a device-bound passkey (acr phrh).") var requireDeviceBound = false
        @Option(name: .customLong("max-auth-age"), help: "Seconds after which a sign-in is too old for this app.") var maxAuthAge: Int?
        @Option(name: .customLong("id-token-alg"), help: "RS256 (default) or ES256.") var idTokenAlg = "RS256"
        @Flag(help: "Give this app its own subject identifier for each person.") var pairwise = false
        @Option(name: .customLong("scope"), help: "A scope the app may ask for (repeat; default openid profile offline_access).") var scopes: [String] = []

        func run(io: CommandIO) async throws -> Int32 {
            guard let algorithm = SigningAlgorithm(rawValue: idTokenAlg) else { throw UsageError("--id-token-alg must be RS256 or ES256") }
            if let maxAuthAge, maxAuthAge < 0 { throw UsageError("--max-auth-age must not be negative") }
            var registration = ClientRegistration(name: name, redirectURIs: redirectURIs)
            registration.postLogoutRedirectURIs = postLogoutRedirectURIs
            registration.backchannelLogoutURI = backchannelLogoutURI
            registration.isPublic = isPublic
            registration.thirdParty = thirdParty
            registration.deviceGrant = deviceGrant
            registration.requirePAR = requirePAR
            registration.requireDPoP = requireDPoP
            registration.requireDeviceBound = requireDeviceBound
            registration.maxAuthAge = maxAuthAge
            registration.idTokenAlgorithm = algorithm
            registration.pairwise = pairwise
            registration.scopes = scopes
            // Checked before the store is opened: a bad option changes nothing.
            do { _ = try registration.validated(id: "check", secretHash: nil, now: Date()) } catch let error as OIDCError {
                throw UsageError(error.message)
            }
            let registered = registration
            let (client, secret) = try await store.withProvider { try await $0.createClient(registered) }
            var object: JSONObject = ["client_id": .string(client.id)]
            if let secret { object["client_secret"] = .string(secret) }
            io.out(StrictJSON.serialize(.object(object)) + "\n")
            return 0
        }
    }

    struct List: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "List clients, one JSON object a line.")
        @OptionGroup var store: StoreOptions

        func run(io: CommandIO) async throws -> Int32 {
            for client in try await store.withProvider({ try await $0.clients() }) { io.out(StrictJSON.serialize(ClientCommand.view(client)) + "\n") }
            return 0
        }
    }

    struct Show: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Show one client.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The client_id.") var id: String

        func run(io: CommandIO) async throws -> Int32 {
            let id = self.id
            guard let client = try await store.withProvider({ try await $0.client(id: id) }) else { throw CommandFailure(.notFound, "no client \(id)") }
            io.out(StrictJSON.serialize(ClientCommand.view(client)) + "\n")
            return 0
        }
    }

    struct Delete: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a client and every token issued to it.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The client_id.") var id: String

        func run(io: CommandIO) async throws -> Int32 {
            let id = self.id
            do { try await store.withProvider { try await $0.deleteClient(id: id) } } catch let error as OIDCError { throw UsageError("\(error.message) (\(id))") }
            io.out("deleted \(id)\n")
            return 0
        }
    }

    struct RotateSecret: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-secret", abstract: "Give a confidential client a new secret (shown once).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The client_id.") var id: String

        func run(io: CommandIO) async throws -> Int32 {
            let id = self.id
            let secret: String
            do { secret = try await store.withProvider { try await $0.rotateSecret(clientID: id) } } catch let error as OIDCError {
                throw UsageError("\(error.message) (\(id))")
            }
            io.out(StrictJSON.serialize(.object(["client_id": .string(id), "client_secret": .string(secret)])) + "\n")
            return 0
        }
    }
}

/// `portcullis keys rotate`: new signing keys; the old ones stay published until their tokens expire.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "The OpenID Connect signing keys.", subcommands: [Rotate.self, List.self])

    struct Rotate: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new RS256 and ES256 key; the previous ones stay published until every token they signed has expired.")
        @OptionGroup var store: StoreOptions

        func run(io: CommandIO) async throws -> Int32 {
            let kids = try await store.withProvider { provider in
                try await provider.keys.ensureKeys()
                return try await provider.keys.rotate()
            }
            io.out(StrictJSON.serialize(.object(["new_kids": .array(kids.map(JSONValue.string))])) + "\n")
            return 0
        }
    }

    struct List: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Print the published keys (the JWKS).")
        @OptionGroup var store: StoreOptions

        func run(io: CommandIO) async throws -> Int32 {
            let jwks = try await store.withProvider { try await $0.keys.jwks() }
            io.out(StrictJSON.serialize(jwks) + "\n")
            return 0
        }
    }
}
