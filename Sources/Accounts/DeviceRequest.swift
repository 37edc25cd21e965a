import Crypto
import Foundation

/// A sign-in request from a device that cannot do passkeys, approved from one that can (RFC 8628
/// style). The device holds the device code (only its hash is stored); a person types the user code on
/// a device where they are signed in with a passkey and approves or denies.
///
/// A request may name the account it is for (the person typed their username first). It is then
/// also shown at once to that account's signed-in sessions, and only that account may approve it, by
/// picking the number the requesting device shows among three (number matching): approving a request
/// pushed to you is not enough, you must be looking at the device that asks.
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
    /// The account the request names, when it named one that exists; only it may approve.
    public var targetUserID: UUID?
    /// The number the requesting device shows (10 to 99), which the approver must pick.
    public var matchNumber: Int

    /// The three numbers the approver picks among: ``matchNumber`` and two others, in an order and
    /// with decoys derived from the request (the same on every look, so looking twice tells nothing).
    public var choices: [Int] {
        let seed = Array(SHA256.hash(data: deviceCodeHash + Array("portcullis number matching".utf8)))
        var numbers = [matchNumber]
        for byte in seed.dropLast() where numbers.count < 3 {
            let candidate = 10 + Int(byte) % 90
            if !numbers.contains(candidate) { numbers.append(candidate) }
        }
        var next = matchNumber
        while numbers.count < 3 {  // 31 bytes without two new numbers: never in practice, but never short
            next = next == 99 ? 10 : next + 1
            if !numbers.contains(next) { numbers.append(next) }
        }
        numbers.swapAt(0, Int(seed[seed.count - 1]) % 3)
        return numbers
    }

    public init(deviceCodeHash: [UInt8], userCode: String, status: Status, createdAt: Date, expiresAt: Date, interval: Int,
                lastPolledAt: Date? = nil, ip: String, userAgent: String, decidedBy: UUID? = nil, approvingCredentialID: [UInt8]? = nil,
                targetUserID: UUID? = nil, matchNumber: Int = 0) {
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
        self.targetUserID = targetUserID
        self.matchNumber = matchNumber
    }

    /// A two-digit number (10 to 99) from `random`, by rejection sampling.
    public static func drawMatchNumber(using random: any RandomSource) -> Int {
        while true {
            for byte in random.bytes(8) where byte < 180 { return 10 + Int(byte) % 90 }
        }
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
