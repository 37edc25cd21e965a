import ArgumentParser
import Configuration
import Foundation
import Logging
import Hummingbird
import NIOCore
import PortcullisApp
import Synchronization
import SystemPackage
import WebAuthn

/// Reads the configuration: environment variables over an optional JSON file over defaults.
package enum ConfigurationLoader {
    /// The configuration file's values, parsed by the strict JSON parser (duplicate keys refused)
    /// with their JSON types kept: swift-configuration's JSON snapshot reads `true` as the integer 1
    /// and `2` as a boolean, so a port of `true` would start a server on port 1. Here a value of the
    /// wrong type is refused by the section that reads it, naming the key.
    static func fileProvider(path: String) throws -> InMemoryProvider {
        try fileContents(path: path).provider
    }

    /// The file's provider, and every key it sets (`http.port`, ...), to check against the keys read.
    static func fileContents(path: String) throws -> (provider: InMemoryProvider, keys: [String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure(.configuration, "cannot read the configuration file \(path)") }
        guard case .object(let root)? = try? StrictJSON.parse(Array(data)) else {
            throw CommandFailure(.configuration, "the configuration file \(path) is not one JSON object (with no key given twice)")
        }
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        func walk(_ object: JSONObject, _ prefix: [String]) throws {
            for (name, value) in object.members {
                let key = prefix + [name]
                let content: ConfigContent
                switch value {
                case .object(let inner):
                    try walk(inner, key)
                    continue
                case .null: continue
                case .string(let text): content = .string(text)
                case .bool(let flag): content = .bool(flag)
                case .number(let text):
                    if let integer = Int(text) { content = .int(integer) } else if let number = Double(text) { content = .double(number) } else {
                        throw CommandFailure(.configuration, "\(key.joined(separator: ".")): \(text) is not a number this server reads")
                    }
                case .array(let items):
                    let strings = items.compactMap(\.string)
                    guard strings.count == items.count else {
                        throw CommandFailure(.configuration, "\(key.joined(separator: ".")): a list holds strings only")
                    }
                    content = .stringArray(strings)
                }
                values[AbsoluteConfigKey(key)] = ConfigValue(content, isSecret: name == "password" || name.hasSuffix("secret"))
            }
        }
        try walk(root, [])
        return (InMemoryProvider(values: values), values.keys.map { $0.components.joined(separator: ".") }.sorted())
    }

    /// Records the key of every value the configuration reads: the keys this server knows.
    final class KeyRecorder: AccessReporter, Sendable {
        private let keys = Mutex<Set<String>>([])
        func report(_ event: AccessEvent) {
            let key = event.metadata.key.components.joined(separator: ".")
            keys.withLock { _ = $0.insert(key) }
        }
        var recorded: Set<String> { keys.withLock { $0 } }
    }

    /// Every key the configuration reads, whether set or not.
    package static func knownKeys() throws -> Set<String> {
        let recorder = KeyRecorder()
        _ = try ServerConfiguration(reader: ConfigReader(providers: [InMemoryProvider(values: [:])], accessReporter: recorder))
        return recorder.recorded
    }

    /// The known key nearest to `key` by edit distance (the typo's likely intent).
    static func nearest(to key: String, in known: Set<String>) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var current = [i + 1]
                for (j, y) in b.enumerated() { current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))) }
                previous = current
            }
            return previous[b.count]
        }
        let typed = Array(key)
        return known.min { (distance(typed, Array($0)), $0) < (distance(typed, Array($1)), $1) }
    }

    static func load(file: String?) async throws -> ServerConfiguration {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider()]
        var fileKeys: [String] = []
        if let file {
            let contents = try fileContents(path: file)
            providers.append(contents.provider)
            fileKeys = contents.keys
        }
        let recorder = KeyRecorder()
        do {
            let configuration = try ServerConfiguration(reader: ConfigReader(providers: providers, accessReporter: recorder))
            // A key the server never reads is a typo or a key of another version: refused, with the nearest known one.
            let known = recorder.recorded
            if let unknown = fileKeys.first(where: { !known.contains($0) }) {
                let hint = nearest(to: unknown, in: known).map { "; did you mean \($0)?" } ?? ""
                throw CommandFailure(.configuration, "\(unknown): no such key\(hint)")
            }
            return configuration
        } catch let error as ServerConfiguration.Invalid {
            throw CommandFailure(.configuration, "\(error.key): \(error.reason)")
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
        do { try configuration.checkWaysInFloor() } catch let error as ServerConfiguration.Invalid { throw CommandFailure(.configuration, "\(error.key): \(error.reason)") }
        let logger = configuration.log.logger(label: "portcullis")
        // Traces, when a collector is configured: the exporter runs beside the server and stops after it.
        let tracing = try startTracing(configuration.tracing, logger: logger)
        let origins = configuration.effectiveOrigins.joined(separator: ", ")
        var app = try await buildApplication(configuration: configuration, logger: logger) { address in
            FileHandle.standardOutput.write(Data("Portcullis listening on \(address) (RP ID \(configuration.rp.id), origins \(origins))\n".utf8))
        }
        if let tracing { app.addServices(tracing) }
        // SIGTERM and SIGINT drain in-flight requests, then stop; within http.stop_timeout, or the
        // process exits with StopDeadline.exitStatus.
        do {
            try await StopDeadline.run(timeout: configuration.http.stopTimeout, logger: logger) {
                try await app.runService()
            }
        } catch let error as IOError where [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(error.errnoCode) {
            let reason = switch error.errnoCode {
            case EADDRINUSE: "the port is in use (is another server running there?)"
            case EACCES: "not allowed (ports below 1024 need privileges)"
            default: "this machine has no such address"
            }
            throw CommandFailure(.cannotListen, "\(configuration.http.host):\(configuration.http.port): \(reason). "
                + "Set http.port (HTTP_PORT) or http.host (HTTP_HOST) to another value.")
        }
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
