import Accounts
import Foundation
import HTTPTypes
import IPPlaces
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Notifications
import OIDC
import PortcullisHTTP
import PortcullisPages
import SQLStore
import ServiceLifecycle
import WebAuthn

/// The store a configuration names, opened, and whatever must run beside it.
public struct OpenedStore: Sendable {
    public let store: any AccountStore
    /// The OpenID Connect provider's store (the same database).
    public let oidcStore: any OIDCStore
    /// Where rate limits count: the database on PostgreSQL, which every node shares; this process otherwise.
    public let rateCounter: any RateCounter
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
        return OpenedStore(store: MemoryAccountStore(), oidcStore: MemoryOIDCStore(), rateCounter: MemoryRateCounter(), services: [], migrate: {}, location: "memory (nothing is kept)", close: {})
    }
    if url.hasPrefix("sqlite:") {
        let path = String(url.dropFirst("sqlite:".count))
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let backend = try await SQLiteBackend.open(path: absolute, logger: logger)
        let store = SQLAccountStore(backend: backend)
        // One server owns an SQLite file, so its rate limits count in memory, off the write lock.
        return OpenedStore(store: store, oidcStore: store, rateCounter: MemoryRateCounter(), services: [], migrate: { try await store.migrate() }, location: absolute, close: { try await backend.close() })
    }
    let backend = try PostgresBackend(url: url, maximumConnections: postgresConnections, logger: logger)
    let store = SQLAccountStore(backend: backend)
    var redacted = url
    if let components = URLComponents(string: url), let password = components.password {
        redacted = url.replacingOccurrences(of: ":" + password + "@", with: ":***@")
    }
    return OpenedStore(store: store, oidcStore: store, rateCounter: backend, services: [PostgresClientService(backend: backend)], migrate: { try await store.migrate() }, location: redacted, close: {})
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
public func buildRouter(
    service: PasskeyService, oidc: OIDCProvider, configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics(),
    rateCounter: any RateCounter = MemoryRateCounter()
) throws -> Router<AppRequestContext> {
    let library = try PageLibrary(accentColor: configuration.pages.accentColor, logo: try configuration.pages.logo())
    let errors = ErrorPages(library: library, siteName: service.policy.relyingPartyName)
    var settings = configuration.httpSettings
    if let places = try configuration.session.places() { settings.place = { places.place(of: $0) } }
    return buildAPIRouter(service: service, oidc: oidc, settings: settings, metrics: metrics, rateCounter: rateCounter,
                          errorPage: { errors.page($0, $1) }) { router, kit in
        Pages.register(on: router, kit: kit, library: library)
    }
}

/// The application Portcullis runs: Hummingbird on the router of ``buildRouter(service:oidc:configuration:metrics:rateCounter:)``.
public typealias PortcullisApplication = Application<RouterResponder<AppRequestContext>>

/// A built server: the application, and the domain inside it, which tests and the benchmarks reach.
public struct PortcullisServer: Sendable {
    public var application: PortcullisApplication
    public let service: PasskeyService
    public let store: any AccountStore
    /// The OpenID Connect provider.
    public let oidc: OIDCProvider
    /// Every route the application's router holds.
    public let routes: [(method: HTTPRequest.Method, path: String)]
}

/// Builds the whole application for `configuration`, with `clock` and `random` as the only
/// sources of time and randomness: opens the store, runs migrations before the server starts,
/// and schedules the expiry sweep and the notifications. The one assembly of the server, used by
/// `portcullis serve` and by the tests.
public func buildServer(
    configuration: ServerConfiguration, clock: @escaping @Sendable () -> Date = { Date() }, random: any RandomSource = SystemRandomSource(),
    logger: Logger, onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> PortcullisServer {
    try configuration.checkWaysInFloor()
    let opened = try await openStore(url: configuration.database.url, postgresConnections: configuration.database.maxConnections, logger: logger)
    let policy = try await configuration.accountsPolicy(now: clock())
    // Migrations must run before the secret is read; for PostgreSQL the pool must be running, so both
    // happen in beforeServerStarts, and the service reads the secret lazily through the store.
    let secretBox = SecretBox()
    // The domain writes through a store that logs each security event it commits.
    let loggedStore = LoggedAccountStore(base: opened.store, log: SecurityEventLog(logger: logger))
    let service = PasskeyService(store: loggedStore, policy: policy, random: random, enumerationSecret: [], clock: clock).withSecret(secretBox)
    let oidcSecret = SecretBox()
    let oidc = makeProvider(opened: opened, configuration: configuration, random: random, secret: oidcSecret, clock: clock)
    let metrics = ServerMetrics()
    let router = try buildRouter(service: service, oidc: oidc, configuration: configuration, metrics: metrics, rateCounter: opened.rateCounter)
    let routes = router.routes.map { (method: $0.method, path: $0.path.description) }
    // A connection that sends no byte of a request for http.idle_timeout is closed: an idle
    // kept-alive one, and one whose request head or body stalls (which would otherwise hold a
    // request, and a stop, for as long as its client likes).
    let server = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.http.idleTimeout))))
    var app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.http.host, port: configuration.http.port), serverName: "Portcullis"),
        // Services shut down in reverse order: the HTTP server first, the store's connection last.
        services: [StoreCloser(close: opened.close)] + opened.services
            + [SweepService(store: opened.store, idleTimeout: configuration.session.idleTimeout, eventRetention: configuration.events.retention,
                            clock: clock, logger: logger,
                            also: { try await oidc.sweep() + opened.rateCounter.sweepRateCounts(now: Date()) })],
        onServerRunning: { channel in
            let address = channel.localAddress
            await onServerRunning("http://\(address?.ipAddress ?? configuration.http.host):\(address?.port ?? configuration.http.port)")
        },
        logger: logger)
    // Metrics on a listener of their own (metrics.port), for a monitoring network: nothing else is
    // served there, and the main listener no longer serves them.
    if let port = configuration.metrics.port {
        let endpoint = MetricsEndpoint(service: service, metrics: metrics, token: configuration.metrics.token)
        let metricsRouter = Router()
        metricsRouter.get("metrics") { request, _ in await endpoint.respond(authorization: request.headers[.authorization]) }
        app.addServices(Application(
            router: metricsRouter, server: server, configuration: .init(address: .hostname(configuration.metrics.host, port: port), serverName: "Portcullis"),
            logger: logger))
    }
    var channels: [any NotificationChannel] = []
    if let webhooks = configuration.webhooks.channel { channels.append(webhooks) }
    if let mailer = try configuration.smtp.mailer(), let from = configuration.smtp.from {
        channels.append(EmailChannel(store: opened.store, transport: mailer, from: from, serviceName: configuration.rp.name, logger: logger))
    }
    // Apps registered with a back-channel logout URI hear when their users' sessions end.
    channels.append(BackchannelLogoutChannel(provider: oidc))
    if !channels.isEmpty {
        let origin = configuration.publicOrigin
        app.addServices(NotificationDispatcher(
            store: opened.store, channels: channels, logger: logger,
            links: { event in recoveryLinks(event, service: service, origin: origin) }))
    }
    app.beforeServerStarts {
        try await opened.migrate()
        let secret = try await opened.store.secret(named: "enumeration", candidate: random.bytes(32))
        secretBox.set(secret)
        oidcSecret.set(try await opened.store.secret(named: "oidc", candidate: random.bytes(32)))
        try await oidc.keys.ensureKeys()
        FileHandle.standardOutput.write(Data("Portcullis data: \(opened.location)\n".utf8))
    }
    return PortcullisServer(application: app, service: service, store: opened.store, oidc: oidc, routes: routes)
}

/// The OpenID Connect provider over an opened store, as `configuration` sets it up. `secret` is
/// filled from the store before use (`beforeServerStarts`, or by the command that opened the store).
public func makeProvider(
    opened: OpenedStore, configuration: ServerConfiguration, random: any RandomSource, secret: SecretBox, clock: @escaping @Sendable () -> Date
) -> OIDCProvider {
    let settings = configuration.oidcSettings
    let keys = KeyRing(store: opened.oidcStore, encryption: KeyEncryption(secret: configuration.oidc.keySecret), retention: settings.keyRetention,
                       reloadInterval: settings.keyReloadInterval, clock: clock)
    return OIDCProvider(store: opened.oidcStore, accounts: opened.store, keys: keys, settings: settings, random: random, secret: secret, clock: clock)
}

/// The application of ``buildServer(configuration:clock:random:logger:onServerRunning:)``.
public func buildApplication(
    configuration: ServerConfiguration, clock: @escaping @Sendable () -> Date = { Date() }, random: any RandomSource = SystemRandomSource(),
    logger: Logger, onServerRunning: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> PortcullisApplication {
    try await buildServer(configuration: configuration, clock: clock, random: random, logger: logger, onServerRunning: onServerRunning).application
}

/// The "this wasn't me" link carried by every notification about an open recovery case (started or
/// approved), as `["cancelUrl": URL]`; a new notification address's verification link, as
/// `["verifyUrl": URL]`; nothing for other events.
public func recoveryLinks(_ event: SecurityEvent, service: PasskeyService, origin: String) -> [String: String] {
    if event.kind == .addressVerificationSent, let address = event.detail["address"] {
        let query = service.recovery.addressLinkQuery(userID: event.userID, address: address, now: event.at)
        return ["verifyUrl": AddressVerifyPage.link(origin: origin, userID: event.userID, address: address, expires: query.expires, signature: query.signature)]
    }
    guard event.kind.concernsAnOpenRecoveryCase,
          let text = event.detail["case"], let caseID = UUID(text: text)
    else { return [:] }
    return ["cancelUrl": RecoveryCancelPage.link(origin: origin, caseID: caseID, signature: service.recovery.cancelSignature(caseID: caseID))]
}
