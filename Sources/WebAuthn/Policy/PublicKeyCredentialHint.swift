/// A hint to the client about how to find or make a credential (WebAuthn Level 3 §5.8.7,
/// `PublicKeyCredentialHint`): put in options' `hints`, in order of preference.
///
/// A struct over an enum, as ``UserVerificationRequirement`` is.
public struct PublicKeyCredentialHint: Hashable, Sendable, CustomStringConvertible {
    enum Base: String, CaseIterable, Sendable {
        case securityKey = "security-key", clientDevice = "client-device", hybrid
    }
    let base: Base
    init(_ base: Base) { self.base = base }

    /// A physical security key.
    public static let securityKey = PublicKeyCredentialHint(.securityKey)
    /// A platform authenticator on the device in use.
    public static let clientDevice = PublicKeyCredentialHint(.clientDevice)
    /// A general-purpose authenticator such as a phone, reached across devices.
    public static let hybrid = PublicKeyCredentialHint(.hybrid)

    /// Parses the WebAuthn JSON spelling; nil for anything else.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }

    /// The WebAuthn JSON spelling.
    public var rawValue: String { base.rawValue }
    public var description: String { base.rawValue }
    /// Every hint.
    public static var allCases: [PublicKeyCredentialHint] { Base.allCases.map(PublicKeyCredentialHint.init) }
}
