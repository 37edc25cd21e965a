import SQLKit

/// One statement's SQL written once, with its values as PostgreSQL's numbered parameters (`$1`,
/// `$2`, ...): PostgreSQL prepares the text as it is, and every other database gets it through
/// sql-kit with each `$N` replaced by a bound value in its own dialect. The text is split when the
/// template is made, never when it runs.
struct SQLTemplate: Sendable {
    enum Piece: Sendable {
        case text(String)
        /// The value at this index (0-based) of the values given to ``query(_:)``.
        case value(Int)
    }

    /// The text with `$N` parameters, for PostgreSQL.
    let text: String
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
