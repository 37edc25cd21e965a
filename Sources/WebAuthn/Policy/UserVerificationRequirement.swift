import CBOR
/// The relying party's user verification requirement (§5.8.6).
///
/// A struct over a private enum, so that cases can be added without breaking callers.
public struct UserVerificationRequirement: Hashable, Sendable, CustomStringConvertible {
    enum Base: String, CaseIterable, Hashable, Sendable { case required, preferred, discouraged }
    let base: Base

    /// UV must be set, or the ceremony fails.
    public static let required = UserVerificationRequirement(base: .required)
    /// UV is asked for but not enforced.
    public static let preferred = UserVerificationRequirement(base: .preferred)
    /// UV is not asked for.
    public static let discouraged = UserVerificationRequirement(base: .discouraged)

    /// Parses the WebAuthn JSON spelling.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }
    init(base: Base) { self.base = base }

    /// The WebAuthn JSON spelling.
    public var rawValue: String { base.rawValue }
    public var description: String { base.rawValue }
    /// Every requirement.
    public static var allCases: [UserVerificationRequirement] { Base.allCases.map(UserVerificationRequirement.init(base:)) }
    /// Whether UV must be present.
    public var isRequired: Bool { base == .required }
}
