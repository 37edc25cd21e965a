import Foundation

/// A sign-in request from a device that cannot do passkeys, approved from one that can (RFC 8628
/// style). The device holds the device code (only its hash is stored); a person types the user code on
/// a device where they are signed in with a passkey and approves or denies.
///
/// The flow is kept apart from the HTTP layer so that the OpenID Connect device grant can reuse it.
public struct DeviceRequest: Sendable, Hashable {
    /// Where a request is.
    public struct Status: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public init?(rawValue: String) {
            guard ["pending", "approved", "denied", "consumed"].contains(rawValue) else { return nil }
            self.rawValue = rawValue
        }
        public static let pending = Status("pending")
        public static let approved = Status("approved")
        public static let denied = Status("denied")
        /// Approved, and the device has received its session.
        public static let consumed = Status("consumed")
        public var description: String { rawValue }
    }

    /// SHA-256 of the device code.
    public var deviceCodeHash: [UInt8]
    /// The normalized user code (upper-case consonants, no separators).
    public var userCode: String
    public var status: Status
    public var createdAt: Date
    public var expiresAt: Date
    /// The minimum seconds between polls.
    public var interval: Int
    public var lastPolledAt: Date?
    /// Who asked: shown to the approving person.
    public var ip: String
    public var userAgent: String
    /// Who approved or denied.
    public var decidedBy: UUID?
    /// The approving session's passkey, recorded in the new session's birth.
    public var approvingCredentialID: [UInt8]?

    public init(deviceCodeHash: [UInt8], userCode: String, status: Status, createdAt: Date, expiresAt: Date, interval: Int,
                lastPolledAt: Date? = nil, ip: String, userAgent: String, decidedBy: UUID? = nil, approvingCredentialID: [UInt8]? = nil) {
        self.deviceCodeHash = deviceCodeHash
        self.userCode = userCode
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.interval = interval
        self.lastPolledAt = lastPolledAt
        self.ip = ip
        self.userAgent = userAgent
        self.decidedBy = decidedBy
        self.approvingCredentialID = approvingCredentialID
    }
}

/// User codes: 10 characters from 20 consonants (43 bits), shown as `BCDF-GHJKL`.
public enum UserCode {
    /// The alphabet: consonants only, no vowels (no words), no look-alikes.
    public static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ")

    /// A new code from `random`, by rejection sampling (no modulo bias).
    public static func generate(using random: any RandomSource) -> String {
        var characters: [Character] = []
        while characters.count < 10 {
            for byte in random.bytes(16) where byte < 240 && characters.count < 10 {
                characters.append(alphabet[Int(byte) % 20])
            }
        }
        return String(characters)
    }

    /// Upper-cases and drops separators and spaces; `nil` unless 10 characters of the alphabet remain.
    public static func normalize(_ text: String) -> String? {
        let cleaned = text.uppercased().filter { $0 != "-" && $0 != " " }
        guard cleaned.count == 10, cleaned.allSatisfy(alphabet.contains) else { return nil }
        return cleaned
    }

    /// `BCDFG-HJKLM` for people.
    public static func display(_ code: String) -> String { String(code.prefix(5)) + "-" + String(code.dropFirst(5)) }
}
