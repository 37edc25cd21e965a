import WebAuthn

/// A refusal from the account domain, with a stable code that is safe to show a client.
///
/// The WebAuthn reason of a failed ceremony is kept in ``underlying`` for logs; clients get only
/// `verification_failed`.
public struct AccountsError: Error, Sendable, CustomStringConvertible {
    /// The broad class, which the server maps to an HTTP status.
    public enum Category: Sendable { case badRequest, unauthorized, forbidden, notFound, conflict }

    /// The stable, snake_case code.
    public let code: String
    /// The HTTP-facing class.
    public let category: Category
    /// A short text for the client.
    public let title: String
    /// Extra members for the client (for example the unknown credential's ID).
    public let extra: [String: String]
    /// The underlying reason, for logs only.
    public let underlying: String?

    init(_ code: String, _ category: Category, _ title: String, extra: [String: String] = [:], underlying: String? = nil) {
        self.code = code
        self.category = category
        self.title = title
        self.extra = extra
        self.underlying = underlying
    }

    public var description: String { "AccountsError.\(code)" + (underlying.map { " (\($0))" } ?? "") }

    static func invalid(_ title: String) -> AccountsError { AccountsError("invalid_request", .badRequest, title) }
    static let usernameTaken = AccountsError("username_taken", .conflict, "That username is taken.")
    static let signupClosed = AccountsError("invite_required", .forbidden, "Sign-up needs a valid invite.")
    static let challengeGone = AccountsError("challenge_invalid", .badRequest, "The ceremony expired or was already completed; start again.")
    static func verificationFailed(_ error: any Error) -> AccountsError {
        AccountsError("verification_failed", .badRequest, "The passkey response could not be verified.", underlying: "\(error)")
    }
    static func unknownCredential(_ id: String) -> AccountsError {
        AccountsError("unknown_credential", .unauthorized, "This passkey is not registered here.", extra: ["credentialId": id])
    }
    static let credentialExists = AccountsError("credential_exists", .conflict, "This passkey is already registered.")
    static let authenticatorNotAllowed = AccountsError("authenticator_not_allowed", .forbidden, "This kind of authenticator is not allowed here.")
    /// No valid session.
    public static let unauthenticated = AccountsError("unauthenticated", .unauthorized, "Sign in first.")
    static let reauthenticationRequired = AccountsError("reauthentication_required", .forbidden, "Confirm with your passkey first.")
    static let sessionNotAllowed = AccountsError("session_not_allowed", .forbidden, "This session may not do that.")
    static let notFound = AccountsError("not_found", .notFound, "Not found.")
    static let lastPasskey = AccountsError("last_passkey", .conflict, "You cannot delete your only passkey.")
    static let userDisabled = AccountsError("user_disabled", .forbidden, "This account is disabled.")
    static let recoveryCodeDisabled = AccountsError("recovery_code_disabled", .forbidden, "Recovery codes are switched off here.")
    static let recoveryCodeInvalid = AccountsError("recovery_code_invalid", .badRequest, "That recovery code is not right.")
    static let tooManyAttempts = AccountsError("too_many_attempts", .forbidden, "Too many wrong codes on this case.")
    static let comparisonCodeMismatch = AccountsError(
        "comparison_code_mismatch", .badRequest, "That is not the code shown on the device asking for recovery.")
    static func notReleased(_ at: String?) -> AccountsError {
        AccountsError("recovery_not_released", .forbidden, "This recovery case is not released yet.", extra: at.map { ["releaseAt": $0] } ?? [:])
    }
    public static let adminRequired = AccountsError("admin_required", .forbidden, "Only an admin may do that.")
    static let ownCase = AccountsError("own_case", .forbidden, "You cannot approve your own recovery.")
    public static let linkInvalid = AccountsError("link_invalid", .forbidden, "This link is not valid.")
    static let conflict = AccountsError("conflict", .conflict, "Another request changed this first; try again.")
}
