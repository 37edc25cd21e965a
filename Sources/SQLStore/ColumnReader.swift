import Accounts
import Foundation
import PostgresNIO
import SQLKit

/// Typed columns of one row, by name: what the store's record decoders read. sql-kit's rows go
/// through ``SQLKitColumns``; SQLite's own rows and PostgreSQL's rows are read directly, without
/// sql-kit's `Decodable` machinery (it was a twentieth of a sign-in's time on PostgreSQL).
///
/// Each getter returns nil for NULL and throws a `DecodingError` for a missing column or a value of
/// another type: a row the store did not write is refused, never read as a guess.
protocol ColumnReader {
    func optionalText(_ column: String) throws -> String?
    func optionalInteger(_ column: String) throws -> Int64?
    func optionalBytes(_ column: String) throws -> [UInt8]?
}

extension ColumnReader {
    func text(_ column: String) throws -> String {
        guard let value = try optionalText(column) else { throw SQLAccountStore.corrupt(column) }
        return value
    }

    func integer(_ column: String) throws -> Int64 {
        guard let value = try optionalInteger(column) else { throw SQLAccountStore.corrupt(column) }
        return value
    }

    func bytes(_ column: String) throws -> [UInt8] {
        guard let value = try optionalBytes(column) else { throw SQLAccountStore.corrupt(column) }
        return value
    }

    /// A 0/1 flag.
    func flag(_ column: String) throws -> Bool { try integer(column) != 0 }

    func date(_ column: String) throws -> Date { SQLAccountStore.date(try integer(column)) }

    func optionalDate(_ column: String) throws -> Date? { try optionalInteger(column).map(SQLAccountStore.date) }

    /// A UUID stored as text.
    func uuid(_ column: String) throws -> UUID {
        guard let id = try optionalUUID(column) else { throw SQLAccountStore.corrupt(column) }
        return id
    }

    /// A UUID stored as text, or nil for NULL.
    func optionalUUID(_ column: String) throws -> UUID? {
        guard let text = try optionalText(column) else { return nil }
        guard let id = UUID(text: text) else { throw SQLAccountStore.corrupt(column) }
        return id
    }
}

/// The columns of any sql-kit row (through its `Decodable` interface); SQLite's rows are read directly.
struct SQLKitColumns: ColumnReader {
    let row: any SQLRow

    /// A reader for `row`: SQLite's own rows need no wrapper.
    static func of(_ row: any SQLRow) -> any ColumnReader {
        if let direct = row as? DirectSQLiteRow { return direct }
        return SQLKitColumns(row: row)
    }

    func optionalText(_ column: String) throws -> String? { try row.decode(column: column, as: String?.self) }
    func optionalInteger(_ column: String) throws -> Int64? { try row.decode(column: column, as: Int64?.self) }
    func optionalBytes(_ column: String) throws -> [UInt8]? { try row.decode(column: column, as: Data?.self).map(Array.init) }
}

extension DirectSQLiteRow: ColumnReader {
    func optionalText(_ column: String) throws -> String? {
        switch try value(column) {
        case .null: return nil
        case .text(let text): return text
        default: throw SQLAccountStore.corrupt(column)
        }
    }

    func optionalInteger(_ column: String) throws -> Int64? {
        switch try value(column) {
        case .null: return nil
        case .integer(let number): return number
        default: throw SQLAccountStore.corrupt(column)
        }
    }

    func optionalBytes(_ column: String) throws -> [UInt8]? {
        switch try value(column) {
        case .null: return nil
        case .blob(let bytes): return bytes
        default: throw SQLAccountStore.corrupt(column)
        }
    }
}

extension PostgresRandomAccessRow: ColumnReader {
    private func cell(_ column: String) throws -> PostgresCell {
        // The subscript by name stops the process for an unknown column: ask first.
        guard contains(column) else { throw SQLAccountStore.corrupt(column) }
        return self[column]
    }

    func optionalText(_ column: String) throws -> String? {
        do { return try cell(column).decode(String?.self) } catch is PostgresDecodingError { throw SQLAccountStore.corrupt(column) }
    }

    func optionalInteger(_ column: String) throws -> Int64? {
        do { return try cell(column).decode(Int64?.self) } catch is PostgresDecodingError { throw SQLAccountStore.corrupt(column) }
    }

    func optionalBytes(_ column: String) throws -> [UInt8]? {
        do {
            return try cell(column).decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
        } catch is PostgresDecodingError {
            throw SQLAccountStore.corrupt(column)
        }
    }
}
