import Foundation
import WebAuthn

extension UUID {
    /// The 8-4-4-4-12 form in lower-case hexadecimal, as identifiers are stored and shown
    /// (RFC 9562 §4). Written byte by byte: Foundation's `uuidString` formats with `snprintf`, and
    /// `lowercased()` then copies it again, on every row a sign-in writes.
    public var lowercaseText: String { text(digits: "0123456789abcdef") }

    /// The 8-4-4-4-12 form in upper case: exactly Foundation's `uuidString` (and so what its
    /// `JSONEncoder` writes), without `snprintf`.
    public var uppercaseText: String { text(digits: "0123456789ABCDEF") }

    private func text(digits: StaticString) -> String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    digits.withUTF8Buffer { hex in
                        out[at] = hex[Int(byte >> 4)]
                        out[at + 1] = hex[Int(byte & 0x0F)]
                    }
                    at += 2
                }
                return at
            }
        }
    }

    /// Parses the 8-4-4-4-12 form (hexadecimal digits of either case, hyphens exactly there, nothing
    /// else); `nil` for any other text. Foundation's `UUID(uuidString:)` parses with `sscanf`.
    public init?(text: some StringProtocol) {
        var bytes = [UInt8](repeating: 0, count: 16)
        var count = 0
        var position = 0
        var high: UInt8?
        for character in text.utf8 {
            defer { position += 1 }
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard character == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard position < 36, let value = hexDigitValue(character) else { return nil }
            if let first = high {
                bytes[count] = first << 4 | value
                count += 1
                high = nil
            } else {
                high = value
            }
        }
        guard position == 36, count == 16 else { return nil }
        self.init(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                         bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
