import Accounts
import WebAuthn

/// One way into an account, as the ways-in report shows it (the admin endpoint and
/// `portcullis check-config`): its proofs, wait, who is notified, phishing resistance, whether it is
/// below the floor, what session it yields and its limits.
public struct WayInView: Encodable, Sendable {
    public let name: String
    public let proofs: [String]
    public let proofCount: Int
    public let wait: String
    public let waitSeconds: Int
    public let notified: [String]
    public let phishingResistant: Bool
    public let belowFloor: Bool
    public let yields: String
    public let limits: [String]

    public init(_ way: WayIn) {
        name = way.name
        proofs = way.proofs
        proofCount = way.proofCount
        wait = RecoveryPolicy.format(way.wait)
        waitSeconds = Int(way.wait)
        notified = way.notified
        phishingResistant = way.phishingResistant
        belowFloor = way.belowFloor
        yields = way.yields
        limits = way.limits
    }
}

/// The ways-in report: every way in, and whether the operator allowed ways below the floor.
public struct WaysInReport: Encodable, Sendable {
    public let waysIn: [WayInView]
    /// Present in `check-config`'s report; the admin endpoint reports the running server's ways only.
    public let allowWeakWaysIn: Bool?
    /// Whether the OpenID Connect signing keys are sealed with a key-encryption secret
    /// (`oidc.key_secret`): if not, whoever reads the database can sign tokens every app trusts.
    public let signingKeysSealed: Bool
    /// What to do about it, when they are not.
    public let signingKeysNote: String?

    public init(_ ways: [WayIn], allowWeakWaysIn: Bool? = nil, signingKeysSealed: Bool) {
        waysIn = ways.map(WayInView.init)
        self.allowWeakWaysIn = allowWeakWaysIn
        self.signingKeysSealed = signingKeysSealed
        signingKeysNote = signingKeysSealed ? nil : Self.unsealedNote
    }

    static let unsealedNote = "The OpenID Connect signing keys are stored unsealed: anyone who reads the database or a backup can sign "
        + "ID tokens every app trusts, a way in beside the passkeys. Set oidc.key_secret (or oidc.key_secret_file): the server seals them when it next starts."

    /// The report as JSON.
    public var json: JSONValue { (try? JSONValueEncoder().encode(self)) ?? .null }
}
