import Foundation
import WebAuthn

/// A refusal from the account domain, with a stable code that is safe to show a client.
///
/// The shape of swift-asn1's and jwt-kit's errors: a struct whose ``code`` is a struct over an enum
/// (new codes do not break callers), with the file and line that threw it. Equality compares the
/// code only. The domain says what went wrong, never how HTTP should say it: the JSON API maps each
/// code to a status. The WebAuthn reason of a failed ceremony is kept in ``underlying`` for logs;
/// clients get only `verification_failed`.
public struct AccountsError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The stable, snake_case code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package enum Base: String, CaseIterable, Sendable {
            case invalidRequest = "invalid_request", usernameTaken = "username_taken", inviteRequired = "invite_required"
            case challengeInvalid = "challenge_invalid", verificationFailed = "verification_failed"
            case unknownCredential = "unknown_credential", credentialExists = "credential_exists"
            case authenticatorNotAllowed = "authenticator_not_allowed", unauthenticated
            case reauthenticationRequired = "reauthentication_required", sessionNotAllowed = "session_not_allowed"
            case notFound = "not_found", lastPasskey = "last_passkey", userDisabled = "user_disabled"
            case recoveryCodeDisabled = "recovery_code_disabled", recoveryCodeInvalid = "recovery_code_invalid"
            case tooManyAttempts = "too_many_attempts", comparisonCodeMismatch = "comparison_code_mismatch"
            case recoveryNotReleased = "recovery_not_released", adminRequired = "admin_required", ownCase = "own_case"
            case linkInvalid = "link_invalid", numberMismatch = "number_mismatch", conflict
        }
        /// The code, for exhaustive switches inside this package (the HTTP mapping).
        package let base: Base
        package init(_ base: Base) { self.base = base }
        /// The spelling clients see.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }

        public static let notFound = Code(.notFound)
        public static let unauthenticated = Code(.unauthenticated)
        public static let sessionNotAllowed = Code(.sessionNotAllowed)
        public static let adminRequired = Code(.adminRequired)
        public static let conflict = Code(.conflict)
    }

    /// What went wrong.
    public let code: Code
    /// A short text for the client.
    public let title: String
    /// Extra members for the client (for example the unknown credential's ID).
    public let extra: [String: String]
    /// The underlying reason, for logs only.
    public let underlying: String?
    /// Where it was thrown, for logs only.
    public let file: String
    public let line: Int

    init(_ base: Code.Base, _ title: String, extra: [String: String] = [:], underlying: String? = nil, file: String, line: Int) {
        self.code = Code(base)
        self.title = title
        self.extra = extra
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public static func == (lhs: AccountsError, rhs: AccountsError) -> Bool { lhs.code == rhs.code }
    public var description: String { "AccountsError.\(code)" }
    public var debugDescription: String { "AccountsError.\(code) at \(file):\(line)" + (underlying.map { " (\($0))" } ?? "") }

    static func invalid(_ title: String, file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.invalidRequest, title, file: file, line: line)
    }
    static func usernameTaken(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.usernameTaken, "That username is taken.", file: file, line: line)
    }
    static func signupClosed(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.inviteRequired, "Sign-up needs a valid invite: ask the site's administrator for an invite link.", file: file, line: line)
    }
    static func challengeGone(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.challengeInvalid, "The ceremony expired or was already completed; start again.", file: file, line: line)
    }
    static func verificationFailed(_ error: any Error, file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.verificationFailed, "The passkey response could not be verified.", underlying: "\(error)", file: file, line: line)
    }
    static func unknownCredential(_ id: String, file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.unknownCredential, "This passkey is not registered here.", extra: ["credentialId": id], file: file, line: line)
    }
    static func credentialExists(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.credentialExists, "This passkey is already registered.", file: file, line: line)
    }
    static func authenticatorNotAllowed(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.authenticatorNotAllowed, "This kind of authenticator is not allowed here.", file: file, line: line)
    }
    /// No valid session.
    public static func unauthenticated(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.unauthenticated, "Sign in first.", file: file, line: line)
    }
    static func reauthenticationRequired(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.reauthenticationRequired, "Confirm with your passkey first.", file: file, line: line)
    }
    /// A session whose birth does not allow account changes, saying why, what to do, and (for a
    /// recovered session in its cooling period) until when, as `until` for the page to show in local time.
    static func sessionNotAllowed(_ birth: SessionBirth? = nil, file: String = #fileID, line: Int = #line) -> AccountsError {
        switch birth?.kind {
        case .deviceApproval?:
            return AccountsError(.sessionNotAllowed, "This device was signed in by approval from another device, so it cannot change the account. "
                + "Make the change on a device where you sign in with a passkey, or enrol this device from there to give it a passkey of its own.",
                file: file, line: line)
        case .recovered?:
            guard let until = birth?.coolingUntil else { break }
            return AccountsError(.sessionNotAllowed, "This session comes from an account recovery, so for your safety it cannot change the account yet. "
                + "Wait until the time shown, or sign in with one of your passkeys.", extra: ["until": until.formatted(.iso8601)], file: file, line: line)
        default:
            break
        }
        return AccountsError(.sessionNotAllowed, "This session may not do that.", file: file, line: line)
    }
    static func notFound(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.notFound, "Not found.", file: file, line: line)
    }
    static func lastPasskey(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.lastPasskey, "You cannot delete your only passkey.", file: file, line: line)
    }
    static func userDisabled(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.userDisabled, "This account is disabled.", file: file, line: line)
    }
    static func recoveryCodeDisabled(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.recoveryCodeDisabled, "Recovery codes are switched off here.", file: file, line: line)
    }
    static func recoveryCodeInvalid(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.recoveryCodeInvalid, "That recovery code is not right.", file: file, line: line)
    }
    static func tooManyAttempts(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.tooManyAttempts, "Too many wrong codes on this case.", file: file, line: line)
    }
    static func comparisonCodeMismatch(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.comparisonCodeMismatch, "That is not the code shown on the device asking for recovery.", file: file, line: line)
    }
    static func notReleased(_ at: String?, file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.recoveryNotReleased, "This recovery case is not released yet.", extra: at.map { ["releaseAt": $0] } ?? [:], file: file, line: line)
    }
    public static func adminRequired(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.adminRequired, "Only an admin may do that.", file: file, line: line)
    }
    static func ownCase(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.ownCase, "You cannot approve your own recovery.", file: file, line: line)
    }
    public static func linkInvalid(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.linkInvalid, "This link does not work: it has expired, it was already used, or it is not complete.", file: file, line: line)
    }
    static func numberMismatch(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.numberMismatch, "That is not the number the other device shows, so its request is denied. If it is your device, start again there.",
                      file: file, line: line)
    }
    static func conflict(file: String = #fileID, line: Int = #line) -> AccountsError {
        AccountsError(.conflict, "Another request changed this first; try again.", file: file, line: line)
    }
}
