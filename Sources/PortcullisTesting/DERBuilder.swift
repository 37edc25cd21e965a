/// Minimal DER building for fixtures: tag-length-value with definite, minimal lengths.
public enum DERBuilder {
    /// Encodes a definite length.
    public static func length(_ n: Int) -> [UInt8] {
        if n < 0x80 { return [UInt8(n)] }
        var bytes: [UInt8] = []
        var v = n
        while v > 0 { bytes.insert(UInt8(v & 0xFF), at: 0); v >>= 8 }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
    /// A TLV with the given identifier octets.
    public static func tlv(_ tag: [UInt8], _ content: [UInt8]) -> [UInt8] { tag + length(content.count) + content }
    /// SEQUENCE.
    public static func sequence(_ items: [UInt8]...) -> [UInt8] { tlv([0x30], items.flatMap { $0 }) }
    /// SET.
    public static func set(_ items: [UInt8]...) -> [UInt8] { tlv([0x31], items.flatMap { $0 }) }
    /// OCTET STRING.
    public static func octetString(_ bytes: [UInt8]) -> [UInt8] { tlv([0x04], bytes) }
    /// A small non-negative INTEGER.
    public static func integer(_ value: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var v = value
        repeat { bytes.insert(UInt8(v & 0xFF), at: 0); v >>= 8 } while v > 0
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return tlv([0x02], bytes)
    }
    /// A small non-negative ENUMERATED.
    public static func enumerated(_ value: Int) -> [UInt8] { [0x0A] + Array(integer(value).dropFirst()) }
    /// NULL.
    public static let null: [UInt8] = [0x05, 0x00]
    /// An explicit, constructed, context-specific tag of any number.
    public static func explicit(_ number: Int, _ content: [UInt8]) -> [UInt8] {
        if number < 31 { return tlv([0xA0 | UInt8(number)], content) }
        var base128: [UInt8] = [UInt8(number & 0x7F)]
        var v = number >> 7
        while v > 0 { base128.insert(UInt8(v & 0x7F) | 0x80, at: 0); v >>= 7 }
        return tlv([0xBF] + base128, content)
    }
}
