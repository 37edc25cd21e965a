import Foundation
import Logging
import PortcullisTesting
import SQLKit
@testable import SQLStore
import Testing

/// Statements written once with `$N` parameters: PostgreSQL's text, SQLite's `?N` text, sql-kit's
/// binds, and typed values bound without casts.
@Suite struct SQLTemplateTests {
    @Test(arguments: [
        ("SELECT 1", "SELECT 1", 0),
        ("DELETE FROM t WHERE a = $1 AND b > $2", "DELETE FROM t WHERE a = ?1 AND b > ?2", 2),
        ("INSERT INTO e (id, at, due) VALUES ($1, $2, $2)", "INSERT INTO e (id, at, due) VALUES (?1, ?2, ?2)", 2),
        ("SELECT $2 AS b, $1 AS a, $10 AS j", "SELECT ?2 AS b, ?1 AS a, ?10 AS j", 10),
        ("SELECT '$' || $1 AS price", "SELECT '$' || ?1 AS price", 1),
    ])
    func rendersSQLiteParameters(_ text: String, _ sqlite: String, _ count: Int) {
        let template = SQLTemplate(text)
        #expect(template.text == text)
        #expect(template.sqliteText == sqlite)
        #expect(template.parameterCount == count)
    }

    @Test func nullsKeepTheirTypeForSQLKit() {
        #expect(SQLValue.integer(nil).encodable is Int64?)
        #expect(SQLValue.text(nil).encodable is String?)
        #expect(SQLValue.blob(nil).encodable is Data?)
        #expect(SQLValue.integer(5).encodable as? Int64 == 5)
        #expect(SQLValue.blob([1, 2]).encodable as? Data == Data([1, 2]))
    }

    static func withBackend(_ body: (SQLiteBackend) async throws -> Void) async throws {
        try await DirectSQLiteTests.withBackend(body)
    }

    static let select = SQLTemplate("SELECT $1 AS i, $2 AS t, $3 AS b, $4 AS ni, $5 AS nt, $6 AS nb, $1 AS again")
    static let values: [SQLValue] = [.integer(Int64.min), .text("text é"), .blob([0, 1, 255]), .integer(nil), .text(nil), .blob(nil)]

    @Test func typedValuesRoundTripOnTheDirectPath() async throws {
        try await Self.withBackend { backend in
            var rows: [DirectSQLiteRow] = []
            try backend.readDirect { try $0.execute(Self.select.sqliteText, values: Self.values) { rows.append($0) } }
            let row = try #require(rows.first)
            #expect(rows.count == 1)
            #expect(try row.integer("i") == Int64.min)
            #expect(try row.integer("again") == Int64.min)
            #expect(try row.text("t") == "text é")
            #expect(try row.bytes("b") == [0, 1, 255])
            #expect(try row.optionalInteger("ni") == nil)
            #expect(try row.optionalText("nt") == nil)
            #expect(try row.optionalBytes("nb") == nil)
        }
    }

    @Test func theWrongNumberOfValuesIsRefused() async throws {
        try await Self.withBackend { backend in
            #expect(throws: SQLiteFailure.self) {
                try backend.readDirect { try $0.execute(Self.select.sqliteText, values: Array(Self.values.dropLast())) { _ in } }
            }
        }
    }

    /// Both runners give the same rows for the same template and values.
    @Test func theDirectPathAndSQLKitAgree() async throws {
        try await Self.withBackend { backend in
            try await backend.transaction { db in try await db.raw("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, b BLOB)").run() }
            let insert = SQLTemplate("INSERT INTO t (k, n, b) VALUES ($1, $2, $3) RETURNING k")
            let direct = try await backend.writeDirect { try $0.count(insert, [.text("direct"), .integer(7), .blob(nil)]) }
            let kit = try await backend.write { db in try await SQLKitRunner(db).count(insert, [.text("kit"), .integer(7), .blob(nil)]) }
            #expect(direct == 1 && kit == 1)
            let rows = try await backend.read { db in
                try await db.raw("SELECT k, n, b IS NULL AS empty FROM t ORDER BY k").all()
                    .map { try "\($0.decode(column: "k", as: String.self)) \($0.decode(column: "n", as: Int64.self)) \($0.decode(column: "empty", as: Int64.self))" }
            }
            #expect(rows == ["direct 7 1", "kit 7 1"])
        }
    }
}

/// Column tables: names, types, values and `$N` come from one list.
@Suite struct ColumnTableTests {
    struct Row { let a: String; let b: [UInt8]?; let c: Int64 }
    static let table = ColumnTable<Row>("t", [.text("a") { $0.a }, .blob("b") { $0.b }, .integer("c") { $0.c }])

    @Test func everythingComesFromTheOneList() {
        #expect(Self.table.names == ["a", "b", "c"])
        #expect(Self.table.types == [.text, .blob, .integer])
        #expect(Self.table.values(Row(a: "x", b: nil, c: 3)) == [.text("x"), .blob(nil), .integer(3)])
        #expect(Self.table.insert == "INSERT INTO t (a, b, c) VALUES ($1, $2, $3)")
        #expect(Self.table.parameters(from: 4) == "$4, $5, $6")
        #expect(Self.table.parameter("c", from: 10) == "$12")
    }

    /// The sign-in statement binds as many values as it declares types, each value of its type.
    @Test func theSignInStatementsValuesMatchItsTypes() {
        let user = StoreFixtures.user("alice")
        let passkey = StoreFixtures.passkey(for: user)
        let statement = PostgresBatchTests.signIn(user, passkey, challenge: "c", expected: 0, new: 1)
        let values = statement.values
        #expect(values.count == RecordSignInStatement.elementTypes.count)
        for (value, type) in zip(values, RecordSignInStatement.elementTypes) {
            switch (value, type) {
            case (.text, .text), (.blob, .bytea), (.integer, .int8): break
            default: Issue.record("\(value) bound as \(type)")
            }
        }
        #expect(SQLAccountStore.challengeTable.types.count == InsertChallengesStatement.elementTypes.count)
    }
}
