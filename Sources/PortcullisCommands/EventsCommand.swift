import Accounts
import ArgumentParser
import Foundation
import WebAuthn

/// `portcullis events`: one account's security timeline, or (without `--user`) the audit log of
/// admin and operator actions across accounts; newest first, one JSON object a line.
struct EventsCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print a user's security timeline (--user), or the audit log of admin and operator actions; newest first, one JSON object a line.")

    @OptionGroup var store: StoreOptions
    @Option(help: "The account whose timeline to print.") var user: String?
    @Option(help: "Only events since this: an ISO 8601 date-time (2026-12-01T00:00:00Z) or an age (90m, 24h, 7d).") var since: String?
    @Option(help: "At most this many (1 to 10000).") var limit = 100

    func run(io: CommandIO) async throws -> Int32 {
        guard (1...10_000).contains(limit) else { throw UsageError("--limit must be 1 to 10000") }
        let cutoff = try since.map(Self.cutoff)
        let (user, limit) = (self.user, self.limit)
        let (found, missing) = try await store.withExistingStore { store -> [(SecurityEvent, String?)] in
            if let user {
                let owner = try await OperatorOutput.find(user, in: store)
                return try await store.events(userID: owner.id, limit: limit).map { ($0, owner.username) }
            }
            var names: [UUID: String] = [:]
            var entries: [(SecurityEvent, String?)] = []
            for event in try await store.adminEvents(limit: limit) {
                if names[event.userID] == nil, let named = try await store.user(id: event.userID) { names[event.userID] = named.username }
                entries.append((event, names[event.userID]))
            }
            return entries
        }
        if let missing {
            if let user { throw CommandFailure(.notFound, "no user named \(user): there is no database at \(missing) yet (nothing was created)") }
            io.err("no events: there is no database at \(missing) yet (nothing was created)\n")
            return 0
        }
        let events = (found ?? []).filter { entry in cutoff.map { entry.0.at >= $0 } ?? true }
        for (event, username) in events { io.out(StrictJSON.serialize(Self.json(event, username: username)) + "\n") }
        if events.isEmpty { io.err("no events\(since.map { " since \($0)" } ?? "")\n") }
        return 0
    }

    /// `--since` as a point in time.
    static func cutoff(_ text: String) throws -> Date {
        if let age = RecoveryPolicy.parseDuration(text) { return Date().addingTimeInterval(-age) }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        throw UsageError("--since must be an ISO 8601 date-time such as 2026-12-01T00:00:00Z, or an age such as 24h or 7d")
    }

    static func json(_ event: SecurityEvent, username: String?) -> JSONValue {
        var object: JSONObject = [
            "at": .string(event.at.formatted(.iso8601)), "kind": .string(event.kind.rawValue),
            "user": username.map(JSONValue.string) ?? .null, "ip": .string(event.ip), "userAgent": .string(event.userAgent),
        ]
        if !event.detail.isEmpty { object["detail"] = .object(JSONObject(event.detail.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })) }
        return .object(object)
    }
}
