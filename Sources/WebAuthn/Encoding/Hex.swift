import CBOR
extension Collection<UInt8> {
    /// Lower-case hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array<UInt8> {
    /// Parses hexadecimal text (either case, even length); `nil` otherwise.
    public init?(hex: some StringProtocol) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = hexDigitValue(chars[i]), let lo = hexDigitValue(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }
}

/// The value of one hexadecimal digit (either case); `nil` for any other byte.
@inlinable
public func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// The 16 bytes written in the 8-4-4-4-12 hexadecimal form of UUIDs and AAGUIDs (RFC 9562 §4):
/// digits of either case, hyphens exactly at 8, 13, 18 and 23, nothing else; `nil` for any other
/// text. One pass over the UTF-8, no intermediate strings.
public func uuidFormBytes(_ text: some StringProtocol) -> [UInt8]? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(16)
    var high: UInt8?
    var position = 0
    for c in text.utf8 {
        defer { position += 1 }
        if position == 8 || position == 13 || position == 18 || position == 23 {
            guard c == UInt8(ascii: "-") else { return nil }
            continue
        }
        guard position < 36, let digit = hexDigitValue(c) else { return nil }
        if let pending = high {
            bytes.append(pending << 4 | digit)
            high = nil
        } else {
            high = digit
        }
    }
    guard position == 36, bytes.count == 16 else { return nil }
    return bytes
}

/// 16 bytes in the 8-4-4-4-12 hexadecimal form, lower case unless `uppercase` (Foundation's
/// `uuidString` is upper case); other lengths as plain hexadecimal.
public func uuidForm(_ bytes: some Collection<UInt8>, uppercase: Bool = false) -> String {
    let digits: StaticString = uppercase ? "0123456789ABCDEF" : "0123456789abcdef"
    return digits.withUTF8Buffer { hex in
        String(unsafeUninitializedCapacity: 2 * bytes.count + 4) { out in
            var at = 0
            for (index, byte) in bytes.enumerated() {
                if bytes.count == 16, index == 4 || index == 6 || index == 8 || index == 10 {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                out[at] = hex[Int(byte >> 4)]
                out[at + 1] = hex[Int(byte & 0x0F)]
                at += 2
            }
            return at
        }
    }
}
