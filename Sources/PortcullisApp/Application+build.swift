import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Notifications
import PortcullisHTTP
import PortcullisPages
import SQLStore
import ServiceLifecycle
import WebAuthn

/// The store a configuration names, opened, and whatever must run beside it.
public struct OpenedStore: Sendable {
    public let store: any AccountStore
    /// Services to run in the application's service group (the PostgreSQL pool).
    public let services: [any Service]
    /// Applies migrations.
    public let migrate: @Sendable () async throws -> Void
    /// Where the data lives, for people.
    public let location: String
    /// Closes what was opened (the SQLite connection).
    public let close: @Sendable () async throws -> Void
}

/// Opens the store named by `url`: `sqlite:PATH` or `postgres://...` (with a pool of at most
/// `postgresConnections`).
public func openStore(url: String, postgresConnections: Int = PostgresBackend.defaultMaximumConnections, logger: Logger) async throws -> OpenedStore {
    if url == "memory:" {
        // Nothing persists: for demonstrations and for measuring the server without a database.
        return OpenedStore(store: MemoryAccountStore(), services: [], migrate: {}, location: "memory (nothing is kept)", close: {})
    }
    if url.hasPrefix("sqlite:") {
        let path = String(url.dropFirst("sqlite:".count))
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let backend = try await SQLiteBackend.open(path: absolute, logger: logger)
        let store = SQLAccountStore(backend: backend)
        return OpenedStore(store: store, services: [], migrate: { try await store.migrate() }, location: absolute, close: { try await backend.close() })
    }
    let backend = try PostgresBackend(url: url, maximumConnections: postgresConnections, logger: logger)
    let store = SQLAccountStore(backend: backend)
    var redacted = url
    if let components = URLComponents(string: url), let password = components.password {
        redacted = url.replacingOccurrences(of: ":" + password + "@", with: ":***@")
    }
    return OpenedStore(store: store, services: [PostgresClientService(backend: backend)], migrate: { try await store.migrate() }, location: redacted, close: {})
}

/// Opens the store and runs `body` with it, running what the store needs (the PostgreSQL pool)
/// meanwhile: for commands that have no server.
public func withOpenedStore<R: Sendable>(url: String, logger: Logger, _ body: @escaping @Sendable (OpenedStore) async throws -> R) async throws -> R {
    let opened = try await openStore(url: url, logger: logger)
    do {
        let result = try await run(opened, body)
        try await opened.close()
        return result
    } catch {
        try? await opened.close()
        throw error
    }
}

private func run<R: Sendable>(_ opened: OpenedStore, _ body: @escaping @Sendable (OpenedStore) async throws -> R) async throws -> R {
    try await withThrowingTaskGroup(of: R?.self) { group in
        for service in opened.services {
            group.addTask {
                try await service.run()
                return nil
            }
        }
        group.addTask { try await body(opened) }
        while let next = try await group.next() {
            if let next {
                group.cancelAll()
                return next
            }
        }
        throw CancellationError()
    }
}

/// Closes the store once graceful shutdown has drained everything after it.
struct StoreCloser: Service {
    let close: @Sendable () async throws -> Void
    func run() async throws {
        try? await gracefulShutdown()
        try await close()
    }
}

/// Runs the PostgreSQL pool as a service.
struct PostgresClientService: Service {
    let backend: PostgresBackend
    func run() async throws { await backend.runClient() }
}

/// The whole router for a configured service: the JSON API and the pages. Throws when a page
/// template does not parse.
public func buildRouter(service: PasskeyService, configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics()) throws -> Router<AppRequestContext> {
    let library = try PageLibrary()
    return buildAPIRouter(service: service, settings: configuration.httpSettings, metrics: metrics) { router, api in
        Pages.register(on: router, api: api, library: library)
    }
}

/// Builds the whole application for `configuration`: opens the store, runs migrations before the
/// server starts, and schedules the expiry sweep.
public func buildApplication(
    configuration: ServerConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    try configuration.checkWaysInFloor()
    let opened = try await openStore(url: configuration.databaseURL, postgresConnections: configuration.databaseMaxConnections, logger: logger)
    let policy = try await configuration.accountsPolicy(now: Date())
    // Migrations must run before the secret is read; for PostgreSQL the pool must be running, so both
    // happen in beforeServerStarts, and the service reads the secret lazily through the store.
    let secretBox = SecretBox()
    let service = PasskeyService(store: opened.store, policy: policy, enumerationSecret: [], clock: { Date() }).withSecret(secretBox)
    var app = Application(
        router: try buildRouter(service: service, configuration: configuration),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Portcullis"),
        // Services shut down in reverse order: the HTTP server first, the store's connection last.
        services: [StoreCloser(close: opened.close)] + opened.services
            + [SweepService(store: opened.store, idleTimeout: configuration.sessionIdleTimeout, logger: logger)],
        onServerRunning: { channel in
            let address = channel.localAddress
            await onServerRunning("http://\(address?.ipAddress ?? configuration.host):\(address?.port ?? configuration.port)")
        },
        logger: logger)
    var channels: [any NotificationChannel] = []
    if !configuration.webhookURLs.isEmpty, let secret = configuration.webhookSecret, let signer = WebhookSigner(secret: secret) {
        channels.append(WebhookChannel(urls: configuration.webhookURLs, signer: signer))
    }
    if let mailer = try configuration.mailer(), let from = configuration.smtpFrom {
        channels.append(EmailChannel(store: opened.store, transport: mailer, from: from, serviceName: configuration.rpName, logger: logger))
    }
    if !channels.isEmpty {
        let origin = configuration.publicOrigin
        app.addServices(NotificationDispatcher(
            store: opened.store, channels: channels, logger: logger,
            links: { event in recoveryLinks(event, service: service, origin: origin) }))
    }
    let location = opened.location
    app.beforeServerStarts {
        try await opened.migrate()
        let secret = try await opened.store.secret(named: "enumeration", candidate: SystemRandomSource().bytes(32))
        secretBox.set(secret)
        FileHandle.standardOutput.write(Data("Portcullis data: \(location)\n".utf8))
    }
    return app
}

/// The "this wasn't me" link carried by every notification about an open recovery case (started or
/// approved), as `["cancelUrl": URL]`; nothing for other events.
public func recoveryLinks(_ event: SecurityEvent, service: PasskeyService, origin: String) -> [String: String] {
    guard event.kind.concernsAnOpenRecoveryCase,
          let text = event.detail["case"], let caseID = UUID(uuidString: text)
    else { return [:] }
    return ["cancelUrl": RecoveryCancelPage.link(origin: origin, caseID: caseID, signature: service.cancelSignature(caseID: caseID))]
}
