import Accounts
import ArgumentParser
import Foundation
import Logging
import PortcullisApp
import PortcullisHTTP
import WebAuthn

/// `portcullis admin grant|revoke|enrol`
struct AdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "Grant and revoke the admin role; add an admin proof to a user's recovery case.",
        subcommands: [Grant.self, Revoke.self, Enrol.self])

    /// Runs `body` with a service on the configured, migrated store.
    static func withService<R: Sendable>(_ options: StoreOptions, _ body: @escaping @Sendable (PasskeyService) async throws -> R) async throws -> R {
        let configuration = try await ConfigurationLoader.load(file: options.configFile)
        let policy = try await configuration.accountsPolicy(now: Date())
        return try await withOpenedStore(url: configuration.database.url, logger: Logger(label: "portcullis")) { opened in
            try await opened.migrate()
            let secret = try await opened.store.secret(named: "enumeration", candidate: SystemRandomSource().bytes(32))
            return try await body(PasskeyService(store: opened.store, policy: policy, enumerationSecret: secret))
        }
    }

    static func refusal(_ error: AccountsError) -> CommandFailure {
        CommandFailure(error.code == .notFound ? .notFound : .refused, error.title)
    }

    /// Grants or revokes the role; the user's timeline (and notifications) say so.
    static func setRole(_ admin: Bool, username: String, store: StoreOptions, io: CommandIO) async throws -> Int32 {
        do { try await withService(store) { try await $0.operatorActions.setAdmin(admin, username: username) } } catch let error as AccountsError {
            throw refusal(error)
        }
        io.out(admin ? "granted admin to \(username)\n" : "revoked admin from \(username)\n")
        return 0
    }

    struct Grant: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Make a user an admin (audited and notified to them).")
        @OptionGroup var store: StoreOptions
        @Argument var username: String

        func run(io: CommandIO) async throws -> Int32 { try await AdminCommand.setRole(true, username: username, store: store, io: io) }
    }

    struct Revoke: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(abstract: "Take the admin role away (audited and notified).")
        @OptionGroup var store: StoreOptions
        @Argument var username: String

        func run(io: CommandIO) async throws -> Int32 { try await AdminCommand.setRole(false, username: username, store: store, io: io) }
    }

    struct Enrol: AsyncParsableCommand, IOCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an admin proof, in the name of an admin, to the user's open recovery case with this comparison code.",
            discussion: """
                The user starts a case on their new device and reads its comparison code to the admin. One admin proof may come from \
                here; with recovery.admin_approvals = 2 (the default) a second admin approves with their own passkey \
                (POST /api/v1/admin/recovery-cases/{id}/approve). Nothing here signs anyone in: the case ends only in the user's new passkey.
                """)
        @OptionGroup var store: StoreOptions
        @Argument(help: "The user whose account is being recovered.") var username: String
        @Option(help: "The admin giving the proof (must hold the admin role).") var admin: String
        @Option(name: .customLong("comparison-code"), help: "The code the user's device shows.") var comparisonCode: String

        func run(io: CommandIO) async throws -> Int32 {
            let (username, admin, code) = (self.username, self.admin, self.comparisonCode)
            let target: RecoveryCase
            do {
                target = try await AdminCommand.withService(store) { try await $0.recovery.adminEnrol(admin: admin, username: username, comparisonCode: code) }
            } catch let error as AccountsError {
                throw AdminCommand.refusal(error)
            }
            io.out(StrictJSON.serialize(.object(["case": .string(target.id.lowercaseText), "proof": .string("admin"), "by": .string(admin)])) + "\n")
            return 0
        }
    }
}

/// `portcullis check-config`: every way into an account under this configuration, and whether the
/// server would start.
struct CheckConfigCommand: AsyncParsableCommand, IOCommand {
    /// The report for people: one row per way in (name, wait, phishing resistance, below the floor,
    /// proofs), then what each yields and its limits, then the signing keys.
    static func table(_ report: WaysInReport) -> String {
        let header = ["WAY IN", "WAIT", "RESISTS PHISHING", "BELOW FLOOR", "PROOFS"]
        let rows = report.waysIn.map { way in
            [way.name, way.wait, way.phishingResistant ? "yes" : "no", way.belowFloor ? "YES" : "no", way.proofs.joined(separator: " + ")]
        }
        let widths = (0..<header.count - 1).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in index < widths.count ? cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0) : cell }
                .joined() + "\n"
        }
        var text = line(header) + rows.map(line).joined() + "\n"
        for way in report.waysIn {
            text += "\(way.name): yields \(way.yields); notifies \(way.notified.isEmpty ? "no one" : way.notified.joined(separator: ", "))"
                + (way.limits.isEmpty ? "" : "; limits: " + way.limits.joined(separator: "; ")) + "\n"
        }
        if report.allowWeakWaysIn == true { text += "\nallow_weak_ways_in is set: serve starts even with a way in below the floor.\n" }
        text += "\nSigning keys: " + (report.signingKeysSealed ? "sealed with the key-encryption secret.\n" : (report.signingKeysNote ?? "not sealed.") + "\n")
        return text
    }

    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "List every way into an account, with its proofs, wait and notifications; exit 1 if one is below the floor.")
    @Option(name: .customLong("config"), help: "A JSON configuration file (environment variables override it).")
    var configFile: String?
    @Flag(help: "Print the report as one JSON object (for machines) instead of a table.") var json = false

    func run(io: CommandIO) async throws -> Int32 {
        let configuration = try await ConfigurationLoader.load(file: configFile)
        let report = WaysInReport(configuration.waysIn, allowWeakWaysIn: configuration.allowWeakWaysIn, signingKeysSealed: configuration.oidc.keySecret != nil)
        io.out(json ? StrictJSON.serialize(report.json) + "\n" : Self.table(report))
        do { try configuration.checkWaysInFloor() } catch {
            io.err("error: \(error)\n")
            return 1
        }
        return 0
    }
}
