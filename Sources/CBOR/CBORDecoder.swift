/// A strict, bounded CBOR decoder.
///
/// It accepts the CTAP2 canonical subset of RFC 8949 and refuses everything else with a typed
/// ``CBORError``: truncation, a declared length or count beyond the input (checked before anything
/// is allocated), nesting deeper than ``maximumDepth``, indefinite lengths, tags, duplicate map keys,
/// integers, lengths and counts not in their shortest form, invalid UTF-8, floats and simple values
/// other than `false`, `true` and `null`, and (for ``decode(_:)``) bytes after the top-level item.
public struct CBORDecoder: Sendable {
    /// The deepest nesting of arrays and maps accepted. WebAuthn structures need 4 at most.
    public static let maximumDepth = 16

    /// Decodes exactly one item that must span all of `bytes`.
    /// - Throws: ``CBORError`` on any malformation, including trailing bytes.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> CBORValue {
        let array = Array(bytes)
        var reader = Reader(bytes: array[...])
        let value = try reader.readItem(depth: 0)
        guard reader.remaining.isEmpty else {
            throw CBORError(.trailingBytes, at: reader.offset, "\(reader.remaining.count) bytes after the item")
        }
        return value
    }

    /// Decodes the first item of `bytes` and reports how many bytes it took.
    ///
    /// This is how a COSE key inside authenticator data is measured: by the bytes its encoding
    /// consumed, never by re-encoding it.
    /// - Throws: ``CBORError`` on any malformation of that first item.
    public static func decodePrefix(_ bytes: ArraySlice<UInt8>) throws -> (value: CBORValue, consumed: Int) {
        var reader = Reader(bytes: bytes)
        let value = try reader.readItem(depth: 0)
        return (value, reader.offset)
    }
}

extension CBORDecoder {
    struct Reader {
        private(set) var remaining: ArraySlice<UInt8>
        private let start: Int

        init(bytes: ArraySlice<UInt8>) {
            self.remaining = bytes
            self.start = bytes.startIndex
        }

        var offset: Int { remaining.startIndex - start }

        mutating func readByte() throws -> UInt8 {
            guard let byte = remaining.popFirst() else { throw CBORError(.truncated, at: offset, "input ended") }
            return byte
        }

        /// Reads the argument that follows an initial byte, enforcing the shortest form.
        mutating func readArgument(_ info: UInt8) throws -> UInt64 {
            let at = offset
            switch info {
            case 0..<24:
                return UInt64(info)
            case 24:
                let value = UInt64(try readByte())
                guard value >= 24 else { throw CBORError(.nonShortestEncoding, at: at, "1-byte argument \(value)") }
                return value
            case 25, 26, 27:
                let width = 1 << Int(info - 24)  // 2, 4 or 8 bytes
                guard remaining.count >= width else { throw CBORError(.truncated, at: at, "argument needs \(width) bytes") }
                var value: UInt64 = 0
                for byte in remaining.prefix(width) { value = value << 8 | UInt64(byte) }
                remaining = remaining.dropFirst(width)
                let floor: UInt64 = width == 2 ? 0x100 : width == 4 ? 0x1_0000 : 0x1_0000_0000
                guard value >= floor else { throw CBORError(.nonShortestEncoding, at: at, "\(width)-byte argument \(value)") }
                return value
            case 31:
                throw CBORError(.indefiniteLength, at: at)
            default:
                throw CBORError(.reservedAdditionalInformation, at: at, "additional information \(info)")
            }
        }

        mutating func readLength(_ info: UInt8, minimumItemSize: Int) throws -> Int {
            let at = offset
            let argument = try readArgument(info)
            // Checked before allocating: each element needs at least `minimumItemSize` bytes.
            guard let length = Int(exactly: argument),
                  length <= remaining.count / minimumItemSize
            else {
                throw CBORError(.lengthBeyondInput, at: at, "declared \(argument), \(remaining.count) bytes left")
            }
            return length
        }

        mutating func readItem(depth: Int) throws -> CBORValue {
            let at = offset
            let initial = try readByte()
            let major = initial >> 5
            let info = initial & 0x1F
            switch major {
            case 0:
                return .unsigned(try readArgument(info))
            case 1:
                return .negative(try readArgument(info))
            case 2:
                let length = try readLength(info, minimumItemSize: 1)
                let value = Array(remaining.prefix(length))
                remaining = remaining.dropFirst(length)
                return .bytes(value)
            case 3:
                let length = try readLength(info, minimumItemSize: 1)
                let raw = remaining.prefix(length)
                remaining = remaining.dropFirst(length)
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw CBORError(.invalidUTF8, at: at)
                }
                return .text(text)
            case 4:
                guard depth < CBORDecoder.maximumDepth else { throw CBORError(.nestingTooDeep, at: at) }
                let count = try readLength(info, minimumItemSize: 1)
                var items: [CBORValue] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try readItem(depth: depth + 1)) }
                return .array(items)
            case 5:
                guard depth < CBORDecoder.maximumDepth else { throw CBORError(.nestingTooDeep, at: at) }
                let count = try readLength(info, minimumItemSize: 2)
                var entries: [(key: CBORValue, value: CBORValue)] = []
                entries.reserveCapacity(count)
                var seen = Set<CBORValue>()
                for _ in 0..<count {
                    let keyOffset = offset
                    let key = try readItem(depth: depth + 1)
                    guard seen.insert(key).inserted else {
                        throw CBORError(.duplicateMapKey, at: keyOffset)
                    }
                    let value = try readItem(depth: depth + 1)
                    entries.append((key, value))
                }
                return .map(CBORMap(uncheckedEntries: entries))
            case 6:
                throw CBORError(.tagNotAllowed, at: at)
            default:  // 7: simple values and floats
                switch info {
                case 20: return .bool(false)
                case 21: return .bool(true)
                case 22: return .null
                case 31: throw CBORError(.indefiniteLength, at: at, "break outside an indefinite item")
                case 28, 29, 30: throw CBORError(.reservedAdditionalInformation, at: at)
                default:
                    throw CBORError(.unsupportedSimpleValue, at: at, "simple value or float, info \(info)")
                }
            }
        }
    }
}
