import Accounts
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import PostgresNIO
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// PostgreSQL through a postgres-nio connection pool. The client is a `Service`: run it in the
/// application's service group (or ``withRunningClient(_:)``).
public struct PostgresBackend: SQLBackend {
    /// The pool; it must be running for queries to proceed.
    public let client: PostgresClient
    /// The sign-in's challenge inserts and assertion reads, batched across callers.
    let challengeInserts: Batcher<CeremonyChallenge, Void>
    let assertionContexts: Batcher<AssertionContextRequest, AssertionContext>
    let signIns: Batcher<RecordSignInStatement, SignInOutcome>
    let rateCounts: Batcher<RateHits, [Int]>
    public let binaryType = "BYTEA"
    public let isPostgres = true

    /// Pooled connections a node keeps at most, unless configured: on the 2-core benchmark machine
    /// 4 and 8 connections signed in alike, and many more signed in fewer with a higher p99 (each
    /// connection is a PostgreSQL process competing for the same cores; the commit that chose 8 has
    /// the figures).
    public static let defaultMaximumConnections = 8

    /// A backend for a `postgres://user:password@host:port/database` URL, with at most
    /// `maximumConnections` pooled connections.
    /// The URL may set `sslmode` and `sslrootcert` (see ``PostgresConnectionSettings``).
    public init(url: String, maximumConnections: Int = PostgresBackend.defaultMaximumConnections, logger: Logger) throws {
        let settings = try PostgresConnectionSettings(url: url)
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password, database: settings.database, tls: try settings.clientTLS())
        configuration.options.maximumConnections = max(1, maximumConnections)
        // The pool starts an idle timer and a keep-alive timer each time a connection falls idle, and
        // cancels them when it is leased again. On Linux a cancelled sleep keeps its task and dispatch
        // timer until the original deadline, so under load the server held memory for every idle
        // spell of the last 60 s (its RSS grew steadily for the first minute of a benchmark).
        // A short idle timeout bounds that: connections idle for 10 s close. No keep-alive: a connection
        // never idles long enough to need one, and a ping that fires as its connection's idle timeout
        // closes it can leave the pool's shutdown waiting for good (seen with batching, which leaves
        // connections idle under load: SIGTERM then hung in PostgresClient.run).
        configuration.options.connectionIdleTimeout = .seconds(10)
        configuration.options.keepAliveBehavior = nil
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        challengeInserts = Self.challengeBatcher(client)
        assertionContexts = Self.assertionContextBatcher(client)
        signIns = Self.signInBatcher(client)
        rateCounts = Self.rateBatcher(client)
    }

    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await Self.connected(client) { connection in
            try await runTransaction(on: connection.sql(queryLogLevel: .trace), begin: "BEGIN", body)
        }
    }

    public func read<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await Self.connected(client) { connection in try await body(connection.sql(queryLogLevel: .trace)) }
    }

    /// Runs `body` on a pooled connection. When no connection can be had within `leaseLimit` (the
    /// pool cannot connect, or its circuit breaker is open after repeated failures) or the connection
    /// is lost under the body, the error is ``StoreUnavailable``: the database is away, not the
    /// request wrong, and the request is answered at once instead of waiting out the pool's backoff.
    /// The pool keeps trying to connect in the background, so service resumes on its own.
    static func connected<R: Sendable>(
        _ client: PostgresClient, leaseLimit: Duration = .seconds(5), _ body: @Sendable (PostgresConnection) async throws -> R
    ) async throws -> R {
        let leased = LeaseFlag()
        do {
            return try await withoutActuallyEscaping(body) { body in
                try await withThrowingTaskGroup(of: LeaseOutcome<R>.self) { group in
                    group.addTask {
                        .done(try await client.withConnection { connection in
                            leased.set()
                            return try await body(connection)
                        })
                    }
                    group.addTask {
                        try await Task.sleep(for: leaseLimit)
                        return .limitReached
                    }
                    while let next = try await group.next() {
                        switch next {
                        case .done(let result):
                            group.cancelAll()
                            return result
                        case .limitReached where !leased.isSet:
                            group.cancelAll()
                            throw StoreUnavailable(underlying: "no database connection within \(leaseLimit)")
                        case .limitReached:
                            continue  // the body runs: it takes the time it needs
                        }
                    }
                    throw CancellationError()
                }
            }
        } catch let error as PSQLError where [.connectionError, .serverClosedConnection, .clientClosedConnection].contains(error.code) {
            throw StoreUnavailable(underlying: String(describing: error.code))
        } catch let error as StoreUnavailable {
            throw error
        } catch {
            if !leased.isSet, !(error is CancellationError) { throw StoreUnavailable(underlying: String(reflecting: error)) }
            throw error
        }
    }

    public func write<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await read(body)
    }

    /// Runs the pool until cancelled (as a service).
    public func runClient() async { await client.run() }

    /// Runs `body` while the pool runs, for commands that have no service group (migrate, admin).
    public func withRunningClient<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            group.addTask { try await body() }
            var result: R?
            while let next = try await group.next() {
                if let next {
                    result = next
                    group.cancelAll()
                }
            }
            guard let result else { throw SQLStoreError.invalidURL }
            return result
        }
    }
}

/// Whether a pool lease reached its body (set once, read after the lease ends, in the same task).
private final class LeaseFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// How a lease race ended: the body's result, or the lease limit passing first.
private enum LeaseOutcome<R: Sendable>: Sendable {
    case done(R)
    case limitReached
}
