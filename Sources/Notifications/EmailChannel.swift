import Accounts
import Foundation
import Logging

/// E-mail to the owner's notification addresses (their recovery settings). An event for someone
/// with no addresses is delivered by doing nothing.
public struct EmailChannel: NotificationChannel {
    let store: any AccountStore
    let transport: any MailTransport
    let from: String
    let serviceName: String
    let logger: Logger
    public var name: String { "email" }

    /// Mails from `from` through `transport`, reading each user's addresses from `store`.
    public init(store: any AccountStore, transport: any MailTransport, from: String, serviceName: String, logger: Logger) {
        self.store = store
        self.transport = transport
        self.from = from
        self.serviceName = serviceName
        self.logger = logger
    }

    /// What people read for each kind of event (every kind named: a new one must be placed here).
    static func summary(_ kind: SecurityEvent.Kind) -> String {
        switch kind.base {
        case .signup: "Your account was created"
        case .signin: "New sign-in to your account from a new device"
        case .signinDeviceApproval: "A device signed in with your approval"
        case .passkeyAdded: "A passkey was added to your account"
        case .passkeyRemoved: "A passkey was removed from your account"
        case .deviceApproved: "You approved a sign-in on another device"
        case .enrolmentConfirmed: "A new device is being enrolled"
        case .recoveryStarted: "Someone asked to recover your account"
        case .recoveryApproved: "A recovery request for your account was approved"
        case .recoveryCancelled: "A recovery request for your account was cancelled"
        case .recoveryCompleted: "Your account was recovered with a new passkey"
        case .adminGranted, .adminRevoked: "Your admin role changed"
        case .addressVerificationSent: "Confirm this address for notices about your account"
        case .addressVerified: "A notification address was confirmed"
        case .reauthenticated, .logout, .sessionRevoked, .passkeyRenamed, .deviceDenied, .enrolmentCreated, .enrolmentOpened,
             .enrolmentCancelled, .recoverySettingsChanged, .recoveryCodeCreated, .recoveryContactInvited, .recoveryContactAccepted,
             .recoveryContactRemoved, .recoveryCodeFailed, .userDisabled, .userEnabled, .userDeleted:
            "Security activity on your account"
        }
    }

    /// The full message: plain text, base64 body (any characters survive any relay), no secret that
    /// could sign anyone in; recovery notices carry only the "this wasn't me" link, which can only cancel.
    func message(_ event: SecurityEvent, user: User?, links: [String: String], to: [String], messageID: String) -> [UInt8] {
        var text = "\(Self.summary(event.kind)).\n\n"
        if let user { text += "Account: \(user.username)\n" }
        text += "When: \(ISO8601DateFormatter().string(from: event.at))\nFrom: \(event.ip)\nDevice: \(event.userAgent)\n"
        for (key, value) in event.detail.sorted(by: { $0.key < $1.key }) { text += "\(key): \(value)\n" }
        if event.kind == .passkeyRemoved, let ended = event.detail[SecurityEvent.sessionsEndedDetail] {
            text += "\nEvery session that passkey had signed in was signed out (\(ended)).\n"
        }
        if let verify = links["verifyUrl"] {
            text += "\nThis address was added to be told about security events on this account. If you did that, open this link "
                + "and press the button to confirm it (it works for 7 days). If not, ignore this message: nothing more will be sent here.\n\(verify)\n"
        }
        if let cancel = links["cancelUrl"] {
            text += "\nIf this wasn't you, open this link and press the button to cancel the request "
                + "(this also blocks new requests for a day):\n\(cancel)\n"
        }
        text += "\nThis is an automatic notice from \(serviceName). It never asks for a code or a password.\n"
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let encoded = Data(text.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let subject = "\(serviceName): \(Self.summary(event.kind))".filter { $0.isASCII && $0 != "\r" && $0 != "\n" }
        let headers = [
            "From: \(from)", "To: \(to.joined(separator: ", "))", "Subject: \(subject)", "Date: \(formatter.string(from: event.at))",
            "Message-ID: <\(messageID)@portcullis>", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64", "Auto-Submitted: auto-generated",
        ]
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + encoded + "\r\n").utf8)
    }

    /// Whether an event is worth an e-mail: everything that changes how the account can be entered,
    /// and sign-ins from a new device; not routine sign-ins, re-authentications, renames or sign-outs
    /// (webhooks still get every event).
    static func mails(_ event: SecurityEvent) -> Bool {
        switch event.kind.base {
        case .signin: event.detail["new_device"] == "true"
        case .reauthenticated, .logout, .passkeyRenamed, .enrolmentOpened: false
        case .signup, .signinDeviceApproval, .sessionRevoked, .passkeyAdded, .passkeyRemoved, .deviceApproved, .deviceDenied,
             .enrolmentCreated, .enrolmentConfirmed, .enrolmentCancelled, .recoverySettingsChanged, .recoveryCodeCreated,
             .recoveryContactInvited, .recoveryContactAccepted, .recoveryContactRemoved, .recoveryStarted, .recoveryApproved,
             .recoveryCodeFailed, .recoveryCancelled, .recoveryCompleted, .adminGranted, .adminRevoked, .userDisabled, .userEnabled, .userDeleted,
             .addressVerificationSent, .addressVerified:
            true
        }
    }

    public func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool {
        guard Self.mails(event) else { return true }
        guard let settings = try? await store.recoverySettings(userID: event.userID) else { return true }
        // Notices go to verified addresses only; a verification link goes to its own address alone,
        // while that address is still set and not yet verified.
        let addresses: [String]
        if event.kind == .addressVerificationSent {
            guard let address = event.detail["address"], settings.addresses.contains(address), !settings.verifiedAddresses.contains(address) else { return true }
            addresses = [address]
        } else {
            addresses = settings.verifiedAddresses
        }
        guard !addresses.isEmpty else { return true }
        do {
            try await transport.send(from: from, to: addresses, message: message(event, user: user, links: links, to: addresses, messageID: attemptID))
            return true
        } catch {
            logger.warning("e-mail for \(attemptID) failed: \(error)")
            return false
        }
    }
}
