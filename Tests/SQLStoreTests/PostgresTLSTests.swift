import Foundation
import Logging
import PortcullisTesting
import SQLKit
import SQLStore
import Testing

/// `sslmode` in the PostgreSQL URL: read strictly, and honoured against the throwaway cluster, which
/// speaks TLS as `localhost` with a test CA (`PORTCULLIS_TEST_POSTGRES_CA`). The live tests are
/// skipped without `PORTCULLIS_TEST_POSTGRES_URL`.
@Suite struct PostgresTLSTests {
    typealias Mode = PostgresConnectionSettings.TLSMode

    @Test(arguments: [
        ("postgres://app@db.example.com/portcullis", Mode.verifyFull(rootCertificateFile: nil)),
        ("postgresql://app:secret@db.example.com:6432/portcullis?sslmode=verify-full&sslrootcert=/etc/db-ca.pem",
         .verifyFull(rootCertificateFile: "/etc/db-ca.pem")),
        ("postgres://app@db.example.com/portcullis?sslmode=require", .require),
        ("postgres://app@db.example.com/portcullis?sslmode=disable", .disable),
        ("postgres://app@localhost/portcullis", .disable),
        ("postgres://app@127.0.0.1:5433/portcullis", .disable),
        ("postgres://app@[::1]/portcullis", .disable),
        ("postgres://app@10.1.2.3/portcullis?sslmode=require", .require),
    ])
    func sslmodeIsReadWithASafeDefault(url: String, expected: Mode) throws {
        #expect(try PostgresConnectionSettings(url: url).tls == expected)
    }

    @Test func theRestOfTheURLIsRead() throws {
        let settings = try PostgresConnectionSettings(url: "postgres://app:p%40ss@db.example.com:6432/portcullis?sslmode=require")
        #expect(settings.host == "db.example.com" && settings.port == 6432 && settings.username == "app")
        #expect(settings.password == "p@ss" && settings.database == "portcullis")
    }

    @Test(arguments: [
        "postgres://app@db.example.com/portcullis?sslmode=prefer",  // would fall back to plain text
        "postgres://app@db.example.com/portcullis?sslmode=verify-ca",
        "postgres://app@db.example.com/portcullis?sslmode=",
        "postgres://app@db.example.com/portcullis?sslmode=require&sslmode=disable",
        "postgres://app@db.example.com/portcullis?sslmode=require&sslrootcert=/etc/db-ca.pem",
        "postgres://app@db.example.com/portcullis?application_name=x",
        "postgres://app@10.1.2.3/portcullis",  // remote, so verify-full, which needs a name
        "postgres://app@10.1.2.3/portcullis?sslmode=verify-full",
        "postgres://db.example.com/portcullis",  // no user
        "mysql://app@db.example.com/portcullis",
    ])
    func badTLSSettingsAreRefusedBeforeAnythingConnects(url: String) {
        #expect(throws: SQLStoreError.self) { try PostgresConnectionSettings(url: url) }
    }

    /// Whether the connection `url` makes is encrypted, as the server sees it.
    static func encrypted(_ url: String) async throws -> Bool {
        let backend = try PostgresBackend(url: url, maximumConnections: 1, logger: Logger(label: "test"))
        return try await backend.withRunningClient {
            try await withThrowingTaskGroup(of: Bool?.self) { group in
                group.addTask {
                    try await backend.read { db in
                        try await db.raw("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first()?.decode(column: "ssl", as: Bool.self)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(5))  // a verified connection takes milliseconds here
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw CancellationError() }
                return first
            }
        }
    }

    /// The throwaway cluster's URL with `localhost` for its address and `query` appended.
    static func cluster(_ query: String) -> String? {
        guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"],
              ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_CA"] != nil
        else { return nil }
        return url.replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:") + "?" + query
    }

    @Test func eachModeConnectsAsItSays() async throws {
        guard let ca = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_CA"],
              let verified = Self.cluster("sslmode=verify-full&sslrootcert=\(ca)"),
              let required = Self.cluster("sslmode=require"), let plain = Self.cluster("sslmode=disable")
        else { return }
        #expect(try await Self.encrypted(verified))
        #expect(try await Self.encrypted(required))
        #expect(try await Self.encrypted(plain) == false)
    }

    @Test func verifyFullRefusesAServerItCannotVerify() async throws {
        let otherCA = NSTemporaryDirectory() + "portcullis-other-ca-\(UUID().uuidString).pem"
        #expect(FileManager.default.createFile(atPath: otherCA, contents: Data(TestPKI.pem(TestPKI().root).utf8)))
        defer { try? FileManager.default.removeItem(atPath: otherCA) }
        guard let wrongRoot = Self.cluster("sslmode=verify-full&sslrootcert=\(otherCA)"),
              let systemRoots = Self.cluster("sslmode=verify-full")
        else { return }
        for url in [wrongRoot, systemRoots] {
            await #expect(throws: (any Error).self) { _ = try await Self.encrypted(url) }
        }
    }
}
