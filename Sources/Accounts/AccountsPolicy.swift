import Foundation
import WebAuthn

/// Sign-in by approval from another device (RFC 8628 style): how long a request lives and how fast
/// user codes may be guessed.
public struct DeviceApprovalPolicy: Sendable, Hashable {
    /// Seconds a device request (its device code and user code) lives.
    public var requestLifetime: TimeInterval
    /// User-code look-ups and decisions one IP address may make per minute.
    public var guessesPerIPPerMinute: Int
    /// User-code look-ups and decisions the whole server allows per minute.
    public var guessesPerMinute: Int

    /// A policy; the defaults are 10 minutes, 10 guesses per IP address per minute and 600 in all.
    public init(requestLifetime: TimeInterval = 600, guessesPerIPPerMinute: Int = 10, guessesPerMinute: Int = 600) {
        self.requestLifetime = requestLifetime
        self.guessesPerIPPerMinute = guessesPerIPPerMinute
        self.guessesPerMinute = guessesPerMinute
    }

    /// The limits of device approval, in words (the ways-in report).
    public var limits: [String] {
        [
            "a request and its user code expire after \(RecoveryPolicy.format(requestLifetime))",
            "\(guessesPerIPPerMinute) user-code guesses per IP address per minute, \(guessesPerMinute) across the server",
        ]
    }
}

/// The operator's policy, as the account domain needs it.
public struct AccountsPolicy: Sendable {
    /// Who may create accounts.
    public struct SignupMode: Hashable, Sendable, CustomStringConvertible {
        package enum Base: String, CaseIterable, Sendable { case open, inviteOnly = "invite-only" }
        /// The mode, for exhaustive switches inside this package.
        package let base: Base
        package init(_ base: Base) { self.base = base }
        /// Parses the configured spelling; nil for anything else.
        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }
        /// Anyone may sign up.
        public static let open = SignupMode(.open)
        /// Sign-up needs an invite from an operator.
        public static let inviteOnly = SignupMode(.inviteOnly)
        /// The configured spelling.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every mode.
        public static var allCases: [SignupMode] { Base.allCases.map(SignupMode.init) }
    }

    /// The relying party (RP ID and allowed origins).
    public var relyingParty: RelyingParty
    /// The RP name shown by authenticators.
    public var relyingPartyName: String
    /// User verification, required by default.
    public var userVerification: UserVerificationRequirement
    /// Who may sign up.
    public var signupMode: SignupMode
    /// `none` (the default) or `direct` attestation.
    public var attestationConveyance: AttestationConveyancePreference
    /// Trust anchors and metadata for direct attestation.
    public var attestationTrust: AttestationTrust
    /// Refuse registrations whose attestation is not trusted (only with direct attestation).
    public var requireTrustedAttestation: Bool
    /// When non-empty, only these AAGUIDs may register.
    public var allowedAAGUIDs: Set<String>
    /// These AAGUIDs may never register.
    public var deniedAAGUIDs: Set<String>
    /// Sessions end after this much inactivity.
    public var sessionIdleTimeout: TimeInterval
    /// Sessions end this long after they began, whatever the activity.
    public var sessionAbsoluteLifetime: TimeInterval
    /// Challenges expire after this long.
    public var challengeLifetime: TimeInterval
    /// How recent a passkey assertion must be for a sensitive action.
    public var reauthenticationWindow: TimeInterval
    /// WebAuthn `hints` put in options.
    public var hints: [PublicKeyCredentialHint]
    /// Algorithms offered in pubKeyCredParams, in order of preference.
    public var algorithms: [COSEAlgorithm]
    /// Which proofs recover an account, after how long.
    public var recovery: RecoveryPolicy
    /// Sign-in by approval from another device.
    public var deviceApproval: DeviceApprovalPolicy

    public init(
        relyingParty: RelyingParty,
        relyingPartyName: String,
        userVerification: UserVerificationRequirement = .required,
        signupMode: SignupMode = .open,
        attestationConveyance: AttestationConveyancePreference = .none,
        attestationTrust: AttestationTrust = .none,
        requireTrustedAttestation: Bool = false,
        allowedAAGUIDs: Set<String> = [],
        deniedAAGUIDs: Set<String> = [],
        sessionIdleTimeout: TimeInterval = 7 * 86400,
        sessionAbsoluteLifetime: TimeInterval = 30 * 86400,
        challengeLifetime: TimeInterval = 300,
        reauthenticationWindow: TimeInterval = 300,
        hints: [PublicKeyCredentialHint] = [],
        algorithms: [COSEAlgorithm] = [.edDSA, .es256, .rs256],
        recovery: RecoveryPolicy = RecoveryPolicy(),
        deviceApproval: DeviceApprovalPolicy = DeviceApprovalPolicy()
    ) {
        self.relyingParty = relyingParty
        self.relyingPartyName = relyingPartyName
        self.userVerification = userVerification
        self.signupMode = signupMode
        self.attestationConveyance = attestationConveyance
        self.attestationTrust = attestationTrust
        self.requireTrustedAttestation = requireTrustedAttestation
        self.allowedAAGUIDs = allowedAAGUIDs
        self.deniedAAGUIDs = deniedAAGUIDs
        self.sessionIdleTimeout = sessionIdleTimeout
        self.sessionAbsoluteLifetime = sessionAbsoluteLifetime
        self.challengeLifetime = challengeLifetime
        self.reauthenticationWindow = reauthenticationWindow
        self.hints = hints
        self.algorithms = algorithms
        self.recovery = recovery
        self.deviceApproval = deviceApproval
    }
}

/// Who is asking: recorded on sessions and in the security timeline.
public struct RequestInfo: Sendable, Hashable {
    public var ip: String
    public var userAgent: String
    public init(ip: String, userAgent: String) {
        self.ip = ip
        self.userAgent = String(userAgent.prefix(512))
    }
}
