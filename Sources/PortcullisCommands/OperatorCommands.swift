import Accounts
import ArgumentParser
import Crypto
import Foundation
import Logging
import PortcullisApp
import WebAuthn

/// Options every operator command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A JSON configuration file (environment variables override it).")
    var configFile: String?

    /// Runs `body` on the configured, migrated store.
    func withStore<R: Sendable>(_ body: @escaping @Sendable (any AccountStore) async throws -> R) async throws -> R {
        try await withStore { store, _ in try await body(store) }
    }

    /// For commands that only read: runs `body` on the configured store when there is one, and
    /// answers `nil` without creating anything when the configured SQLite file does not exist yet.
    /// - Returns: `body`'s result, or `nil` and the missing file's path.
    func withExistingStore<R: Sendable>(_ body: @escaping @Sendable (any AccountStore) async throws -> R) async throws -> (R?, missing: String?) {
        let configuration = try await ConfigurationLoader.load(file: configFile)
        let url = configuration.database.url
        if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            if !FileManager.default.fileExists(atPath: path) { return (nil, path) }
        }
        return (try await withStore(body), nil)
    }

    /// Runs `body` on the configured, migrated store, with the configuration it was opened from.
    func withStore<R: Sendable>(_ body: @escaping @Sendable (any AccountStore, ServerConfiguration) async throws -> R) async throws -> R {
        let configuration = try await ConfigurationLoader.load(file: configFile)
        return try await withOpenedStore(url: configuration.database.url, logger: Logger(label: "portcullis")) { opened in
            try await opened.migrate()
            return try await body(opened.store, configuration)
        }
    }
}

enum OperatorOutput {
    static func user(_ user: User, passkeys: [Passkey]? = nil, sessions: Int? = nil) -> JSONValue {
        var object: JSONObject = [
            "id": .string(user.id.lowercaseText), "username": .string(user.username), "displayName": .string(user.displayName),
            "createdAt": .string(ISO8601DateFormatter().string(from: user.createdAt)), "disabled": .bool(user.disabled),
        ]
        if let passkeys {
            object["passkeys"] = .array(passkeys.map { passkey in
                .object([
                    "id": .string(Base64URL.encode(passkey.credentialID)), "name": .string(passkey.name), "aaguid": .string(passkey.aaguid.description),
                    "provider": KnownAuthenticators.name(for: passkey.aaguid).map(JSONValue.string) ?? .null,
                    "backedUp": .bool(passkey.backedUp), "deviceBound": .bool(passkey.isDeviceBound),
                    "createdAt": .string(ISO8601DateFormatter().string(from: passkey.createdAt)),
                    "lastUsedAt": passkey.lastUsedAt.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
                ])
            })
        }
        if let sessions { object["sessions"] = .int(sessions) }
        return .object(object)
    }

    /// Runs `action`, telling the operator plainly when `username` names no one.
    static func naming<R>(_ username: String, _ action: () async throws -> R) async throws -> R {
        do { return try await action() } catch let error as AccountsError where error.code == .notFound {
            throw CommandFailure(.notFound, "no user named \(username)")
        }
    }

    static func find(_ username: String, in store: any AccountStore) async throws -> User {
        guard let user = try await store.user(username: username.lowercased()) else { throw CommandFailure(.notFound, "no user named \(username)") }
        return user
    }
}

/// `portcullis user ...`
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "List, inspect, disable, enable and delete users.",
        subcommands: [List.self, Show.self, Disable.self, Enable.self, Delete.self])

    struct List: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "List users, oldest first, one JSON object a line.")
        @OptionGroup var store: StoreOptions
        @Option(help: "At most this many.") var limit = 1000

        func run(io: CommandIO) async throws -> Int32 {
            let limit = self.limit
            let (found, missing) = try await store.withExistingStore { try await $0.listUsers(limit: limit) }
            let users = found ?? []
            for user in users { io.out(StrictJSON.serialize(OperatorOutput.user(user)) + "\n") }
            // Said on stderr, so that stdout stays one JSON object a line.
            if let missing { io.err("no users: there is no database at \(missing) yet (nothing was created)\n") } else if users.isEmpty { io.err("no users yet\n") }
            return 0
        }
    }

    struct Show: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user with their passkeys.")
        @OptionGroup var store: StoreOptions
        @Argument var username: String

        func run(io: CommandIO) async throws -> Int32 {
            let username = self.username
            let (found, missing) = try await store.withExistingStore { store in
                let user = try await OperatorOutput.find(username, in: store)
                return OperatorOutput.user(user, passkeys: try await store.passkeys(userID: user.id), sessions: try await store.sessions(userID: user.id).count)
            }
            guard let json = found else {
                throw CommandFailure(.notFound, "no user named \(username): there is no database at \(missing ?? "the configured path") yet (nothing was created)")
            }
            io.out(StrictJSON.serialize(json) + "\n")
            return 0
        }
    }

    struct Disable: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: they cannot sign in, and their sessions end.")
        @OptionGroup var store: StoreOptions
        @Argument var username: String

        func run(io: CommandIO) async throws -> Int32 { try await UserCommand.setDisabled(true, username: username, store: store, io: io) }
    }

    struct Enable: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user.")
        @OptionGroup var store: StoreOptions
        @Argument var username: String

        func run(io: CommandIO) async throws -> Int32 { try await UserCommand.setDisabled(false, username: username, store: store, io: io) }
    }

    /// Disables or enables a user through the domain, with the operator's action on their timeline.
    static func setDisabled(_ disabled: Bool, username: String, store: StoreOptions, io: CommandIO) async throws -> Int32 {
        _ = try await store.withStore { store in
            try await OperatorOutput.naming(username) { try await OperatorActions(store: store).setDisabled(disabled, username: username) }
        }
        io.out("\(disabled ? "disabled" : "enabled") \(username)\n")
        return 0
    }

    struct Delete: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user and everything of theirs.")
        @OptionGroup var store: StoreOptions
        @Argument var username: String
        @Flag(help: "Confirm the deletion.") var yes = false

        func run(io: CommandIO) async throws -> Int32 {
            guard yes else { throw UsageError("deleting \(username) cannot be undone; add --yes") }
            let username = self.username
            try await store.withStore { store in try await OperatorOutput.naming(username) { try await OperatorActions(store: store).delete(username: username) } }
            io.out("deleted \(username)\n")
            return 0
        }
    }
}

/// `portcullis invite create`
struct InviteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "invite", abstract: "Invites for invite-only sign-up.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a single-use invite and print its sign-up link and when it expires (shown once).",
            discussion: "Prints the link (the public origin with the invite in it) on the first line and its expiry on the second.")
        @OptionGroup var store: StoreOptions
        @Option(name: .customLong("expires-in"), help: "Seconds until it expires.") var expiresIn = 7 * 86400

        func run(io: CommandIO) async throws -> Int32 {
            guard (60...(366 * 86400)).contains(expiresIn) else { throw UsageError("--expires-in must be 60 to 31622400 seconds") }
            let lifetime = TimeInterval(expiresIn)
            let (code, origin) = try await store.withStore { store, configuration in
                (try await OperatorActions(store: store).createInvite(lifetime: lifetime), configuration.publicOrigin)
            }
            let expiry = ISO8601DateFormatter().string(from: Date().addingTimeInterval(lifetime))
            io.out(Self.link(origin: origin, code: code) + "\n" + "expires \(expiry) (single use; only its hash is stored)\n")
            return 0
        }

        /// The sign-up page with the invite in its query (the page takes it from there). The code is
        /// base64url, which a query carries as it is.
        static func link(origin: String, code: String) -> String { origin + "/?invite=" + code }
    }
}
