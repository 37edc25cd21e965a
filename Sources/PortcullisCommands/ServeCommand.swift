import ArgumentParser
import Configuration
import Foundation
import Logging
import Hummingbird
import PortcullisApp
import SystemPackage

/// Reads the configuration: environment variables over an optional JSON file over defaults.
enum ConfigurationLoader {
    static func load(file: String?) async throws -> ServerConfiguration {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider()]
        if let file {
            guard FileManager.default.fileExists(atPath: file) else { throw UsageError("cannot read the configuration file \(file)") }
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
        }
        do {
            return try ServerConfiguration(reader: ConfigReader(providers: providers))
        } catch let error as ServerConfiguration.Invalid {
            throw UsageError(error.description)
        }
    }
}

/// `portcullis serve`: runs the server.
struct ServeCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Portcullis server (defaults: http://localhost:8080, data in ./portcullis.sqlite)."
    )

    @Option(name: .customLong("config"), help: "A JSON configuration file (environment variables override it).")
    var configFile: String?

    func run(io: CommandIO) async throws -> Int32 {
        let configuration = try await ConfigurationLoader.load(file: configFile)
        // A way in below the floor stops the start (see `portcullis check-config`).
        do { try configuration.checkWaysInFloor() } catch let error as ServerConfiguration.Invalid { throw UsageError(error.description) }
        var logger = Logger(label: "portcullis")
        logger.logLevel = .info
        let origins = configuration.effectiveOrigins.joined(separator: ", ")
        let app = try await buildApplication(configuration: configuration, logger: logger) { address in
            FileHandle.standardOutput.write(Data("Portcullis listening on \(address) (RP ID \(configuration.rp.id), origins \(origins))\n".utf8))
        }
        // SIGTERM and SIGINT drain in-flight requests, then stop.
        try await app.runService()
        return 0
    }
}

/// `portcullis migrate`: applies database migrations and exits.
struct MigrateCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply database migrations, then exit.")

    @Option(name: .customLong("config"), help: "A JSON configuration file (environment variables override it).")
    var configFile: String?

    func run(io: CommandIO) async throws -> Int32 {
        let configuration = try await ConfigurationLoader.load(file: configFile)
        try await withOpenedStore(url: configuration.database.url, logger: Logger(label: "portcullis")) { opened in
            try await opened.migrate()
            io.out("migrated \(opened.location)\n")
        }
        return 0
    }
}
