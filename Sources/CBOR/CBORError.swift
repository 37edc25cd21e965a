/// An error from decoding CBOR.
///
/// Equality compares the ``code`` only; the reason and the source location are for logs and
/// debugging, never for a client.
public struct CBORError: Error, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What class of malformation was found.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case truncated
            case lengthBeyondInput
            case nestingTooDeep
            case indefiniteLength
            case tagNotAllowed
            case duplicateMapKey
            case nonShortestEncoding
            case invalidUTF8
            case trailingBytes
            case unsupportedSimpleValue
            case reservedAdditionalInformation
            case integerOverflow
            case unexpectedType
        }

        let base: Base

        /// The input ended inside an item.
        public static let truncated = Code(base: .truncated)
        /// A declared length or count is larger than what is left of the input.
        public static let lengthBeyondInput = Code(base: .lengthBeyondInput)
        /// Arrays and maps are nested deeper than the decoder's cap.
        public static let nestingTooDeep = Code(base: .nestingTooDeep)
        /// An indefinite-length item (additional information 31).
        public static let indefiniteLength = Code(base: .indefiniteLength)
        /// A tag (major type 6). Tags are not part of the CTAP2 canonical subset used here.
        public static let tagNotAllowed = Code(base: .tagNotAllowed)
        /// A map holds the same key twice.
        public static let duplicateMapKey = Code(base: .duplicateMapKey)
        /// An integer, length or count is not in its shortest encoding.
        public static let nonShortestEncoding = Code(base: .nonShortestEncoding)
        /// A text string is not valid UTF-8.
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        /// Bytes follow the top-level item.
        public static let trailingBytes = Code(base: .trailingBytes)
        /// A simple value or float other than false, true and null.
        public static let unsupportedSimpleValue = Code(base: .unsupportedSimpleValue)
        /// Additional information 28, 29 or 30, which RFC 8949 reserves.
        public static let reservedAdditionalInformation = Code(base: .reservedAdditionalInformation)
        /// A value does not fit the integer type asked for.
        public static let integerOverflow = Code(base: .integerOverflow)
        /// A well-formed item of another type than the one expected.
        public static let unexpectedType = Code(base: .unexpectedType)

        public var description: String { base.rawValue }
    }

    /// The class of the error.
    public let code: Code
    /// The byte offset at which the problem was found, when known.
    public let offset: Int?
    private let reason: String
    private let file: String
    private let line: UInt

    init(_ code: Code, at offset: Int? = nil, _ reason: String = "", file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.offset = offset
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// Builds an ``CBORError/Code/unexpectedType`` error, for typed readers in other modules.
    public static func unexpectedType(_ reason: String, file: String = #fileID, line: UInt = #line) -> CBORError {
        CBORError(.unexpectedType, reason, file: file, line: line)
    }

    public static func == (lhs: CBORError, rhs: CBORError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "CBORError.\(code)" }
    public var debugDescription: String {
        var text = "CBORError.\(code)"
        if let offset { text += " at byte \(offset)" }
        if !reason.isEmpty { text += ": \(reason)" }
        return text + " (\(file):\(line))"
    }
}
