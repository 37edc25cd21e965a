import CBOR
/// A JSON value from the strict parser, or one being built for output.
///
/// Objects keep their members in order and, when parsed, never hold a key twice.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A number, kept as its exact source text (or as written for output).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A number value from an integer.
    public static func int(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }

    /// The string, when this is a string.
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The members, when this is an object.
    public var object: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    /// The elements, when this is an array.
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    /// The boolean, when this is `true` or `false`.
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The number as an integer, when it is written as one (no fraction or exponent) and fits.
    public var int64: Int64? { if case .number(let n) = self { return Int64(n) } else { return nil } }
}

/// An ordered JSON object.
public struct JSONObject: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    /// The members in order.
    public private(set) var members: [(key: String, value: JSONValue)]

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        members = elements.map { (key: $0.0, value: $0.1) }
    }
    init(uniqueMembers: [(key: String, value: JSONValue)]) { members = uniqueMembers }
    /// An object with `members` in order, whose keys the caller knows to be distinct (no search for repeats).
    package init(distinctMembers members: [(key: String, value: JSONValue)]) { self.members = members }
    /// An object with `members` in order (a later member with an earlier one's name replaces it).
    package init(_ members: [(String, JSONValue)]) {
        self.members = []
        for (key, value) in members { self[key] = value }
    }
    /// An empty object.
    public init() { members = [] }

    /// The member named `key`.
    public subscript(key: String) -> JSONValue? {
        get {
            for member in members where member.key == key { return member.value }
            return nil
        }
        set {
            if let index = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
    public func hash(into hasher: inout Hasher) {
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}
