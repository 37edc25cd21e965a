/// A decoded CBOR data item, limited to what the CTAP2 canonical subset allows:
/// integers, byte and text strings, arrays, maps, `false`, `true` and `null`.
public enum CBORValue: Hashable, Sendable {
    /// An unsigned integer (major type 0).
    case unsigned(UInt64)
    /// A negative integer (major type 1) holding `n`, for the value `-1 - n`.
    case negative(UInt64)
    /// A byte string (major type 2).
    case bytes([UInt8])
    /// A text string (major type 3), valid UTF-8.
    case text(String)
    /// An array (major type 4).
    case array([CBORValue])
    /// A map (major type 5), in the order its entries were encoded. Keys are unique.
    case map(CBORMap)
    /// `false` or `true`.
    case bool(Bool)
    /// `null`.
    case null

    /// Builds an integer item from a signed value.
    public static func int(_ value: Int64) -> CBORValue {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-1 - value))
    }

    /// The value as a signed 64-bit integer, when it is an integer that fits.
    public var int64: Int64? {
        switch self {
        case .unsigned(let n): return n <= UInt64(Int64.max) ? Int64(n) : nil
        case .negative(let n): return n <= UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: return nil
        }
    }

    /// The bytes of a byte string.
    public var bytes: [UInt8]? { if case .bytes(let b) = self { return b } else { return nil } }
    /// The text of a text string.
    public var text: String? { if case .text(let t) = self { return t } else { return nil } }
    /// The entries of a map.
    public var map: CBORMap? { if case .map(let m) = self { return m } else { return nil } }
    /// The elements of an array.
    public var array: [CBORValue]? { if case .array(let a) = self { return a } else { return nil } }
}

/// An ordered CBOR map with unique keys.
public struct CBORMap: Hashable, Sendable, Sequence {
    /// The entries, in encoded order.
    public private(set) var entries: [(key: CBORValue, value: CBORValue)]

    /// An empty map.
    public init() { entries = [] }

    /// A map from entries; a later duplicate key replaces nothing and is dropped, so build maps for
    /// encoding only from unique keys.
    public init(_ entries: [(CBORValue, CBORValue)]) {
        self.entries = []
        for (k, v) in entries where self[k] == nil { self.entries.append((k, v)) }
    }

    init(uncheckedEntries: [(key: CBORValue, value: CBORValue)]) { self.entries = uncheckedEntries }

    /// The number of entries.
    public var count: Int { entries.count }
    /// Whether the map has no entries.
    public var isEmpty: Bool { entries.isEmpty }

    /// The value stored under `key`.
    public subscript(key: CBORValue) -> CBORValue? {
        for entry in entries where entry.key == key { return entry.value }
        return nil
    }
    /// The value stored under an integer key.
    public subscript(int key: Int64) -> CBORValue? { self[.int(key)] }
    /// The value stored under a text key.
    public subscript(text key: String) -> CBORValue? { self[.text(key)] }

    public func makeIterator() -> IndexingIterator<[(key: CBORValue, value: CBORValue)]> { entries.makeIterator() }

    public static func == (lhs: CBORMap, rhs: CBORMap) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}
