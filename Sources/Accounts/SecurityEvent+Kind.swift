extension SecurityEvent {
    /// What happened: the one list of security events, with their stored spellings (also the
    /// webhook `type` after `portcullis.`).
    ///
    /// A struct over an enum, as ``UserVerificationRequirement`` is: callers outside this package see
    /// named values and can be given new ones without breaking; inside it, ``base`` lets the
    /// notifications switch over every kind exhaustively, so a new kind cannot go unnoticed.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        package enum Base: String, CaseIterable, Sendable {
            case signup, signin, reauthenticated, logout
            case signinDeviceApproval = "signin_device_approval"
            case sessionRevoked = "session_revoked"
            case passkeyAdded = "passkey_added", passkeyRenamed = "passkey_renamed", passkeyRemoved = "passkey_removed"
            case deviceApproved = "device_approved", deviceDenied = "device_denied"
            case enrolmentCreated = "enrolment_created", enrolmentOpened = "enrolment_opened"
            case enrolmentConfirmed = "enrolment_confirmed", enrolmentCancelled = "enrolment_cancelled"
            case recoverySettingsChanged = "recovery_settings_changed", recoveryCodeCreated = "recovery_code_created"
            case recoveryContactInvited = "recovery_contact_invited", recoveryContactAccepted = "recovery_contact_accepted"
            case recoveryContactRemoved = "recovery_contact_removed"
            case recoveryStarted = "recovery_started", recoveryApproved = "recovery_approved", recoveryCodeFailed = "recovery_code_failed"
            case recoveryCancelled = "recovery_cancelled", recoveryCompleted = "recovery_completed"
            case adminGranted = "admin_granted", adminRevoked = "admin_revoked"
            case userDisabled = "admin_disabled", userEnabled = "admin_enabled"
            /// On the acting admin's own timeline: the deleted account's own events go with it.
            case userDeleted = "admin_deleted_user"
            /// A notification address was added: a verification link goes to it (and only to it).
            case addressVerificationSent = "address_verification_sent"
            case addressVerified = "address_verified"
        }
        /// The kind, for exhaustive switches inside this package.
        package let base: Base

        package init(_ base: Base) { self.base = base }

        /// Parses a stored spelling; nil for anything not in the list.
        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }

        /// The stored spelling.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every kind.
        public static var allCases: [Kind] { Base.allCases.map(Kind.init) }

        /// An account was created with its first passkey.
        public static let signup = Kind(.signup)
        /// A passkey sign-in.
        public static let signin = Kind(.signin)
        /// A session re-authenticated with a passkey.
        public static let reauthenticated = Kind(.reauthenticated)
        /// A session signed itself out.
        public static let logout = Kind(.logout)
        /// A device without passkeys signed in by approval from another device.
        public static let signinDeviceApproval = Kind(.signinDeviceApproval)
        /// A session was revoked from another one.
        public static let sessionRevoked = Kind(.sessionRevoked)
        public static let passkeyAdded = Kind(.passkeyAdded)
        public static let passkeyRenamed = Kind(.passkeyRenamed)
        /// A passkey was removed, with the sessions born from it (``SecurityEvent/sessionsEndedDetail``).
        public static let passkeyRemoved = Kind(.passkeyRemoved)
        /// The user approved, or denied, a device's sign-in.
        public static let deviceApproved = Kind(.deviceApproved)
        public static let deviceDenied = Kind(.deviceDenied)
        /// Enrolment of a new device: the link made, opened, its code confirmed or refused.
        public static let enrolmentCreated = Kind(.enrolmentCreated)
        public static let enrolmentOpened = Kind(.enrolmentOpened)
        public static let enrolmentConfirmed = Kind(.enrolmentConfirmed)
        public static let enrolmentCancelled = Kind(.enrolmentCancelled)
        /// Recovery set-up: threshold or addresses, a new code, contacts.
        public static let recoverySettingsChanged = Kind(.recoverySettingsChanged)
        public static let recoveryCodeCreated = Kind(.recoveryCodeCreated)
        public static let recoveryContactInvited = Kind(.recoveryContactInvited)
        public static let recoveryContactAccepted = Kind(.recoveryContactAccepted)
        public static let recoveryContactRemoved = Kind(.recoveryContactRemoved)
        /// A recovery case: started, given a proof, a wrong code, cancelled, completed with a new passkey.
        public static let recoveryStarted = Kind(.recoveryStarted)
        public static let recoveryApproved = Kind(.recoveryApproved)
        public static let recoveryCodeFailed = Kind(.recoveryCodeFailed)
        public static let recoveryCancelled = Kind(.recoveryCancelled)
        public static let recoveryCompleted = Kind(.recoveryCompleted)
        /// An operator granted or revoked the admin role.
        public static let adminGranted = Kind(.adminGranted)
        public static let adminRevoked = Kind(.adminRevoked)
        /// An operator disabled or enabled the account.
        public static let userDisabled = Kind(.userDisabled)
        public static let userEnabled = Kind(.userEnabled)
        /// An admin deleted an account (recorded on the admin's timeline).
        public static let userDeleted = Kind(.userDeleted)
        /// A verification link went to a new notification address (`address` in the detail).
        public static let addressVerificationSent = Kind(.addressVerificationSent)
        /// A notification address was verified by its link.
        public static let addressVerified = Kind(.addressVerified)
        /// The kinds that record an admin's or operator's action: the audit log.
        public static let adminActions: [Kind] = [.adminGranted, .adminRevoked, .userDisabled, .userEnabled, .userDeleted]

        /// Whether the event concerns a recovery case that may still be open, so that its notice
        /// carries the "this wasn't me" link.
        public var concernsAnOpenRecoveryCase: Bool {
            switch base {
            case .recoveryStarted, .recoveryApproved, .recoveryCodeFailed: true
            default: false
            }
        }
    }
}
