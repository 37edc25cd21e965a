import Foundation
import SQLKit

/// A statement parameter's value, typed, NULLs included: PostgreSQL wants a type for every
/// parameter, and SQLite binds these without the dynamic casts an `Encodable` needs.
enum SQLValue: Sendable, Equatable {
    case integer(Int64?)
    case text(String?)
    case blob([UInt8]?)

    /// Whether this is a NULL.
    var isNull: Bool {
        switch self {
        case .integer(let value): value == nil
        case .text(let value): value == nil
        case .blob(let value): value == nil
        }
    }

    /// The value as sql-kit binds it (a present value unwrapped, a NULL as a typed nil).
    var encodable: any Encodable & Sendable {
        switch self {
        case .integer(let value?): value
        case .integer(nil): Int64?.none
        case .text(let value?): value
        case .text(nil): String?.none
        case .blob(let value?): Data(value)
        case .blob(nil): Data?.none
        }
    }
}

/// Runs ``SQLTemplate`` statements: through sql-kit on any database, or straight on an SQLite
/// connection. Code written against it is the same on both paths.
protocol TemplateRunner {
    /// Runs `template` with `values`; returns how many rows it answered.
    @discardableResult
    func count(_ template: SQLTemplate, _ values: [SQLValue]) async throws -> Int
}

/// A sql-kit database as a ``TemplateRunner``.
struct SQLKitRunner: TemplateRunner {
    let db: any SQLDatabase
    init(_ db: any SQLDatabase) { self.db = db }

    @discardableResult
    func count(_ template: SQLTemplate, _ values: [SQLValue]) async throws -> Int {
        try await db.raw("\(template.query(values))").all().count
    }
}

extension DirectSQLiteConnection: TemplateRunner {
    @discardableResult
    func count(_ template: SQLTemplate, _ values: [SQLValue]) throws -> Int {
        var rows = 0
        try execute(template.sqliteText, values: values) { _ in rows += 1 }
        return rows
    }
}

/// One statement's SQL written once, with its values as PostgreSQL's numbered parameters (`$1`,
/// `$2`, ...): PostgreSQL prepares the text as it is, SQLite runs it directly with `?N` in their
/// place, and sql-kit gets each `$N` replaced by a bound value in its dialect. The text is split
/// and rewritten when the template is made, never when it runs.
struct SQLTemplate: Sendable {
    enum Piece: Sendable {
        case text(String)
        /// The value at this index (0-based) of the values given to ``query(_:)``.
        case value(Int)
    }

    /// The text with `$N` parameters, for PostgreSQL.
    let text: String
    /// The text with SQLite's `?N` for each `$N`.
    let sqliteText: String
    let pieces: [Piece]
    /// How many values the text names.
    let parameterCount: Int

    init(_ text: String) {
        self.text = text
        var pieces: [Piece] = []
        var literal = ""
        var highest = 0
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "$", next < text.endIndex, text[next].isASCII, text[next].isNumber {
                var end = next
                while end < text.endIndex, text[end].isASCII, text[end].isNumber { end = text.index(after: end) }
                // Digits only, so the conversion cannot fail; a `$0` would be a programming error.
                let number = Int(text[next..<end]) ?? 0
                precondition(number > 0, "SQL parameters count from $1")
                if !literal.isEmpty { pieces.append(.text(literal)) }
                literal = ""
                pieces.append(.value(number - 1))
                highest = max(highest, number)
                index = end
            } else {
                literal.append(character)
                index = next
            }
        }
        if !literal.isEmpty { pieces.append(.text(literal)) }
        self.pieces = pieces
        parameterCount = highest
        sqliteText = pieces.map { piece in
            switch piece {
            case .text(let text): text
            case .value(let index): "?\(index + 1)"
            }
        }.joined()
    }

    /// The statement with typed `values` bound, for sql-kit.
    func query(_ values: [SQLValue]) -> some SQLExpression {
        query(values.map(\.encodable))
    }

    /// The statement with `values` bound, for sql-kit: `values[N-1]` wherever the text says `$N`.
    func query(_ values: [any Encodable & Sendable]) -> some SQLExpression {
        precondition(values.count == parameterCount, "\(parameterCount) values expected, \(values.count) given")
        return Bound(pieces: pieces, values: values)
    }

    struct Bound: SQLExpression {
        let pieces: [Piece]
        let values: [any Encodable & Sendable]

        func serialize(to serializer: inout SQLSerializer) {
            for piece in pieces {
                switch piece {
                case .text(let text): serializer.write(text)
                case .value(let index): serializer.write(bind: values[index])
                }
            }
        }
    }
}

/// The type of a column, as ``SQLValue`` has them.
enum SQLColumnType: Sendable { case text, blob, integer }

/// One column of a ``ColumnTable``: its name, its type, and how a record gives its value. Made only
/// through ``text(_:_:)``, ``blob(_:_:)`` and ``integer(_:_:)``, so the value always has the type.
struct Column<Record>: Sendable {
    let name: String
    let type: SQLColumnType
    let value: @Sendable (Record) -> SQLValue

    static func text(_ name: String, _ get: @escaping @Sendable (Record) -> String?) -> Column {
        Column(name: name, type: .text) { .text(get($0)) }
    }
    static func blob(_ name: String, _ get: @escaping @Sendable (Record) -> [UInt8]?) -> Column {
        Column(name: name, type: .blob) { .blob(get($0)) }
    }
    static func integer(_ name: String, _ get: @escaping @Sendable (Record) -> Int64?) -> Column {
        Column(name: name, type: .integer) { .integer(get($0)) }
    }
}

/// A table's columns, each with its type and how it takes its value from a record: one list, so
/// that a column, its type and its bound value cannot drift apart, and every `$N` is computed from it.
struct ColumnTable<Record>: Sendable {
    let table: String
    let columns: [Column<Record>]

    init(_ table: String, _ columns: [Column<Record>]) {
        self.table = table
        self.columns = columns
    }

    /// The column names, in order.
    var names: [String] { columns.map(\.name) }

    /// The column types, in order.
    var types: [SQLColumnType] { columns.map(\.type) }

    /// The record's values, in the columns' order.
    func values(_ record: Record) -> [SQLValue] { columns.map { $0.value(record) } }

    /// `$first, $first+1, ...`: one parameter per column.
    func parameters(from first: Int = 1) -> String {
        (first..<(first + columns.count)).map { "$\($0)" }.joined(separator: ", ")
    }

    /// The parameter that holds column `name` when the values start at `$first`.
    func parameter(_ name: String, from first: Int = 1) -> String {
        guard let index = columns.firstIndex(where: { $0.name == name }) else {
            preconditionFailure("\(table) has no column \(name)")  // a statement written against another schema
        }
        return "$\(first + index)"
    }

    /// `INSERT INTO table (columns) VALUES ($1, ...)`.
    var insert: String { "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(parameters()))" }
}
