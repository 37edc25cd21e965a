import Foundation
import WebAuthn

extension UUID {
    /// The 8-4-4-4-12 form in lower-case hexadecimal, as identifiers are stored and shown
    /// (RFC 9562 §4). Written byte by byte: Foundation's `uuidString` formats with `snprintf`, and
    /// `lowercased()` then copies it again, on every row a sign-in writes.
    public var lowercaseText: String { withUnsafeBytes(of: uuid) { uuidForm($0) } }

    /// The 8-4-4-4-12 form in upper case: exactly Foundation's `uuidString` (and so what its
    /// `JSONEncoder` writes), without `snprintf`.
    public var uppercaseText: String { withUnsafeBytes(of: uuid) { uuidForm($0, uppercase: true) } }

    /// Parses the 8-4-4-4-12 form (hexadecimal digits of either case, hyphens exactly there, nothing
    /// else); `nil` for any other text. Foundation's `UUID(uuidString:)` parses with `sscanf`.
    @inlinable
    public init?(text: some StringProtocol) {
        guard let b = uuidFormBytes(text) else { return nil }
        self.init(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}
