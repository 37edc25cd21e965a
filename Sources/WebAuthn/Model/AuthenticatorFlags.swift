import CBOR
/// The flags byte of authenticator data (§6.1).
public struct AuthenticatorFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// UP: user present.
    public static let userPresent = AuthenticatorFlags(rawValue: 0x01)
    /// UV: user verified.
    public static let userVerified = AuthenticatorFlags(rawValue: 0x04)
    /// BE: backup eligible.
    public static let backupEligible = AuthenticatorFlags(rawValue: 0x08)
    /// BS: backed up.
    public static let backedUp = AuthenticatorFlags(rawValue: 0x10)
    /// AT: attested credential data included.
    public static let attestedCredentialData = AuthenticatorFlags(rawValue: 0x40)
    /// ED: extension data included.
    public static let extensionData = AuthenticatorFlags(rawValue: 0x80)
    /// The reserved bits (RFU1 0x02, RFU2 0x20). Ignored when set.
    public static let reserved = AuthenticatorFlags(rawValue: 0x22)
}
