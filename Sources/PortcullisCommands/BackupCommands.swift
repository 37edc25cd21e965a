import ArgumentParser
import Foundation
import PortcullisApp
import SQLStore

/// Runs `action` on the configured SQLite file's path and prints what it returns. A PostgreSQL URL is
/// a configuration error (its own tools back it up; the README gives the recipe), and a refusal of
/// the file operation is a refusal (exit 5).
private func onSQLiteFile(configFile: String?, command: String, io: CommandIO, _ action: (String) throws -> String) async throws -> Int32 {
    let url = try await ConfigurationLoader.load(file: configFile).database.url
    guard url.hasPrefix("sqlite:") else {
        throw CommandFailure(.configuration, "database.url is PostgreSQL: \(command) is for the embedded SQLite file; use pg_dump and pg_restore (see the README)")
    }
    do {
        io.out(try action(String(url.dropFirst("sqlite:".count))) + "\n")
        return 0
    } catch let refusal as SQLiteFiles.Refusal {
        throw CommandFailure(.refused, refusal.description)
    }
}

/// `portcullis backup --to FILE`
struct BackupCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the SQLite database, consistently, while the server runs.",
        discussion: "Writes one snapshot of the configured database into FILE (a new file, mode 0600) and checks it. Every commit acknowledged before the copy began is in it.")

    @Option(name: .customLong("config"), help: "A JSON configuration file (environment variables override it).")
    var configFile: String?

    @Option(name: .customLong("to"), help: "The backup file to write; it must not exist.")
    var target: String

    func run(io: CommandIO) async throws -> Int32 {
        try await onSQLiteFile(configFile: configFile, command: "backup", io: io) { path in
            let version = try SQLiteFiles.backup(databasePath: path, to: target)
            return "backed up \(path) to \(target) (schema version \(version))"
        }
    }
}

/// `portcullis restore FILE [--force]`
struct RestoreCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in place as the SQLite database of a stopped server.",
        discussion: "Checks the backup, then moves it into the configured database path. An existing database is replaced only with --force, and never while a process has it open.")

    @Option(name: .customLong("config"), help: "A JSON configuration file (environment variables override it).")
    var configFile: String?

    @Argument(help: "The backup file, as `portcullis backup` wrote it.")
    var source: String

    @Flag(name: .customLong("force"), help: "Replace the existing database.")
    var force = false

    func run(io: CommandIO) async throws -> Int32 {
        try await onSQLiteFile(configFile: configFile, command: "restore", io: io) { path in
            let version = try SQLiteFiles.restore(from: source, to: path, force: force)
            return "restored \(source) into \(path) (schema version \(version)); start the server to use it"
        }
    }
}
