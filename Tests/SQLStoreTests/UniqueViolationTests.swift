import Foundation
import Logging
import PortcullisTesting
import SQLKit
import Testing
@testable import SQLStore

/// A duplicate key is recognised by the database's own codes (SQLSTATE 23505, SQLite's extended
/// result codes), not by searching an error's text; other refusals are not taken for it.
@Suite struct UniqueViolationTests {
    static func errors(_ backend: any SQLBackend) async throws -> (duplicate: any Error, notNull: any Error) {
        let id = UUID().uuidString.lowercased()
        let name = "dup-\(id.prefix(8))"
        // Handles are unique too: each row gets its own, so only the username is ever duplicated.
        @Sendable func handle() -> Data { Data((0..<16).map { _ in UInt8.random(in: 0...255) }) }
        try await backend.write { db in
            try await db.raw("INSERT INTO users (id, username, display_name, handle, created_at) VALUES (\(bind: id), \(bind: name), 'D', \(bind: handle()), 0)").run()
        }
        var duplicate: (any Error)?
        do {
            try await backend.write { db in
                try await db.raw("INSERT INTO users (id, username, display_name, handle, created_at) VALUES (\(bind: UUID().uuidString), \(bind: name), 'D', \(bind: handle()), 0)").run()
            }
        } catch { duplicate = error }
        var notNull: (any Error)?
        do {
            try await backend.write { db in
                try await db.raw("INSERT INTO users (id, username, display_name, handle, created_at) VALUES (\(bind: UUID().uuidString), NULL, 'D', \(bind: handle()), 0)").run()
            }
        } catch { notNull = error }
        return (try #require(duplicate), try #require(notNull))
    }

    @Test func onSQLite() async throws {
        let path = NSTemporaryDirectory() + "portcullis-unique-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        do {
            try await SQLAccountStore(backend: backend).migrate()
            let (duplicate, notNull) = try await Self.errors(backend)
            #expect(SQLAccountStore.isUniqueViolation(duplicate))
            #expect(!SQLAccountStore.isUniqueViolation(notNull))
        } catch {
            try await backend.close()
            throw error
        }
        try await backend.close()
    }

    @Test func onPostgreSQL() async throws {
        guard let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"] else { return }
        let backend = try PostgresBackend(url: url, logger: Logger(label: "test"))
        try await backend.withRunningClient {
            try await SQLAccountStore(backend: backend).migrate()
            let (duplicate, notNull) = try await Self.errors(backend)
            #expect(SQLAccountStore.isUniqueViolation(duplicate))
            #expect(!SQLAccountStore.isUniqueViolation(notNull))
        }
    }
}
