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
///
/// Inlined into the caller, so that `text`'s type is known there: the parse itself is
/// ``uuidFormBytes(utf8:)``, which is not generic. A generic function called from another module
/// runs unspecialized, looking up its types' metadata for every character.
@inlinable
public func uuidFormBytes(_ text: some StringProtocol) -> [UInt8]? {
    if let parsed = text.utf8.withContiguousStorageIfAvailable({ uuidFormBytes(utf8: $0) }) { return parsed }
    return Array(text.utf8).withUnsafeBufferPointer { uuidFormBytes(utf8: $0) }
}

/// ``uuidFormBytes(_:)`` over the text's UTF-8 bytes.
public func uuidFormBytes(utf8 text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
    guard text.count == 36 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(16)
    var position = 0
    while position < 36 {
        if position == 8 || position == 13 || position == 18 || position == 23 {
            guard text[position] == UInt8(ascii: "-") else { return nil }
            position += 1
            continue
        }
        guard let high = hexDigitValue(text[position]), let low = hexDigitValue(text[position + 1]) else { return nil }
        bytes.append(high << 4 | low)
        position += 2
    }
    return bytes
}

/// 16 bytes in the 8-4-4-4-12 hexadecimal form, lower case unless `uppercase` (Foundation's
/// `uuidString` is upper case); other lengths as plain hexadecimal. Not generic, for the reason
/// ``uuidFormBytes(_:)`` gives: it writes every identifier a sign-in stores.
public func uuidForm(_ bytes: UnsafeRawBufferPointer, uppercase: Bool = false) -> String {
    let digits: StaticString = uppercase ? "0123456789ABCDEF" : "0123456789abcdef"
    let hyphens = bytes.count == 16
    return digits.withUTF8Buffer { hex in
        String(unsafeUninitializedCapacity: 2 * bytes.count + 4) { out in
            var at = 0
            for index in 0..<bytes.count {
                if hyphens, index == 4 || index == 6 || index == 8 || index == 10 {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                let byte = bytes[index]
                out[at] = hex[Int(byte >> 4)]
                out[at + 1] = hex[Int(byte & 0x0F)]
                at += 2
            }
            return at
        }
    }
}
