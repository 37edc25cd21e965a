/// How a client may reach an authenticator (WebAuthn Level 3 §5.8.4, `AuthenticatorTransport`).
///
/// An open vocabulary, unlike the others in this module: the specification lets clients report
/// values it does not list yet, and a relying party stores what it was given and hands it back in
/// `allowCredentials` and `excludeCredentials` (clients ignore values they do not know). So any
/// non-empty spelling is kept; the known ones are named.
public struct AuthenticatorTransport: Hashable, Sendable, CustomStringConvertible {
    /// The spelling the client reported.
    public let rawValue: String

    /// A transport as reported; nil for an empty string.
    public init?(rawValue: String) {
        guard !rawValue.isEmpty else { return nil }
        self.rawValue = rawValue
    }
    private init(known: String) { rawValue = known }

    /// Removable USB.
    public static let usb = AuthenticatorTransport(known: "usb")
    /// Near Field Communication.
    public static let nfc = AuthenticatorTransport(known: "nfc")
    /// Bluetooth Low Energy.
    public static let ble = AuthenticatorTransport(known: "ble")
    /// An ISO/IEC 7816 smart card with contacts.
    public static let smartCard = AuthenticatorTransport(known: "smart-card")
    /// Another device, reached through the hybrid (cross-device) transport.
    public static let hybrid = AuthenticatorTransport(known: "hybrid")
    /// A platform authenticator: part of the client device.
    public static let `internal` = AuthenticatorTransport(known: "internal")

    public var description: String { rawValue }
}
