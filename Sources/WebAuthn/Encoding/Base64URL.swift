import CBOR
/// Strict base64url (RFC 4648 §5) without padding, as WebAuthn's JSON encodings use.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes with the URL alphabet and no padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        // One pass over contiguous memory: called through the generic Collection interface (from
        // another module, unspecialized) every byte cost an iterator call.
        if let encoded = bytes.withContiguousStorageIfAvailable({ encode(UnsafeRawBufferPointer($0)) }) { return encoded }
        return Array(bytes).withUnsafeBytes { encode($0) }
    }

    static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        let count = bytes.count
        let length = count / 3 * 4 + (count % 3 == 0 ? 0 : count % 3 + 1)
        return alphabet.withUnsafeBufferPointer { alphabet in
            String(unsafeUninitializedCapacity: length) { out in
                var i = 0, o = 0
                while i + 3 <= count {
                    let b0 = bytes[i], b1 = bytes[i + 1], b2 = bytes[i + 2]
                    out[o] = alphabet[Int(b0 >> 2)]
                    out[o + 1] = alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)]
                    out[o + 2] = alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)]
                    out[o + 3] = alphabet[Int(b2 & 0x3F)]
                    i += 3
                    o += 4
                }
                if count - i == 1 {
                    let b0 = bytes[i]
                    out[o] = alphabet[Int(b0 >> 2)]
                    out[o + 1] = alphabet[Int((b0 & 0x03) << 4)]
                    o += 2
                } else if count - i == 2 {
                    let b0 = bytes[i], b1 = bytes[i + 1]
                    out[o] = alphabet[Int(b0 >> 2)]
                    out[o + 1] = alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)]
                    out[o + 2] = alphabet[Int((b1 & 0x0F) << 2)]
                    o += 3
                }
                return o
            }
        }
    }

    /// Decodes strict base64url: URL alphabet only, no padding, no white space, and unused bits
    /// in the last character zero (so every byte string has exactly one accepted encoding).
    /// - Returns: `nil` for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var string = String(text)
        return string.withUTF8 { decode(utf8: $0) }
    }

    /// Decodes strict base64url from UTF-8 code units.
    static func decode(utf8 chars: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = chars.count
        if count % 4 == 1 { return nil }
        return decodeTable.withUnsafeBufferPointer { table -> [UInt8]? in
            let outputCount = count / 4 * 3 + (count % 4 == 0 ? 0 : count % 4 - 1)
            var failed = false
            let out = [UInt8](unsafeUninitializedCapacity: outputCount) { buffer, initialized in
                var o = 0
                var i = 0
                while i + 4 <= count {
                    let a = table[Int(chars[i])], b = table[Int(chars[i + 1])], c = table[Int(chars[i + 2])], d = table[Int(chars[i + 3])]
                    if (a | b | c | d) & 0xC0 != 0 {
                        failed = true
                        break
                    }
                    let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    buffer[o] = UInt8(truncatingIfNeeded: n >> 16)
                    buffer[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                    buffer[o + 2] = UInt8(truncatingIfNeeded: n)
                    o += 3
                    i += 4
                }
                if !failed, i < count {
                    let rest = count - i
                    let a = table[Int(chars[i])], b = table[Int(chars[i + 1])]
                    let c = rest == 3 ? table[Int(chars[i + 2])] : 0
                    if (a | b | c) & 0xC0 != 0 {
                        failed = true
                    } else if rest == 2 {
                        // One byte; the low 4 bits of b must be zero.
                        if b & 0x0F != 0 { failed = true } else { buffer[o] = a << 2 | b >> 4; o += 1 }
                    } else {
                        // Two bytes; the low 2 bits of c must be zero.
                        if c & 0x03 != 0 { failed = true } else {
                            buffer[o] = a << 2 | b >> 4
                            buffer[o + 1] = (b & 0x0F) << 4 | c >> 2
                            o += 2
                        }
                    }
                }
                initialized = failed ? 0 : o
            }
            return failed ? nil : out
        }
    }
}
