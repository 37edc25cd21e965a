/// Encodes ``CBORValue`` items in their shortest form, map entries in the order given.
///
/// Used for fixtures and tests, and for building structures the server itself signs; never to
/// re-encode something a client sent before verifying it.
public enum CBOREncoder {
    /// The encoding of `value`.
    public static func encode(_ value: CBORValue) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out)
        return out
    }

    /// Appends the encoding of `value` to `out`.
    public static func encode(_ value: CBORValue, into out: inout [UInt8]) {
        switch value {
        case .unsigned(let n): writeHead(major: 0, argument: n, into: &out)
        case .negative(let n): writeHead(major: 1, argument: n, into: &out)
        case .bytes(let b):
            writeHead(major: 2, argument: UInt64(b.count), into: &out)
            out.append(contentsOf: b)
        case .text(let t):
            let utf8 = Array(t.utf8)
            writeHead(major: 3, argument: UInt64(utf8.count), into: &out)
            out.append(contentsOf: utf8)
        case .array(let items):
            writeHead(major: 4, argument: UInt64(items.count), into: &out)
            for item in items { encode(item, into: &out) }
        case .map(let map):
            writeHead(major: 5, argument: UInt64(map.count), into: &out)
            for entry in map.entries {
                encode(entry.key, into: &out)
                encode(entry.value, into: &out)
            }
        case .bool(let b): out.append(b ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        }
    }

    /// Writes an initial byte and its argument in the shortest form.
    public static func writeHead(major: UInt8, argument: UInt64, into out: inout [UInt8]) {
        let m = major << 5
        switch argument {
        case 0..<24: out.append(m | UInt8(argument))
        case 24...0xFF: out += [m | 24, UInt8(argument)]
        case 0x100...0xFFFF: out += [m | 25, UInt8(argument >> 8), UInt8(argument & 0xFF)]
        case 0x1_0000...0xFFFF_FFFF:
            out.append(m | 26)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8((argument >> UInt64(shift)) & 0xFF)) }
        default:
            out.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((argument >> UInt64(shift)) & 0xFF)) }
        }
    }
}
