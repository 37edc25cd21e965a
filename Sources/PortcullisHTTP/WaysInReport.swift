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

    public init(_ ways: [WayIn], allowWeakWaysIn: Bool? = nil) {
        waysIn = ways.map(WayInView.init)
        self.allowWeakWaysIn = allowWeakWaysIn
    }

    /// The report as JSON.
    public var json: JSONValue { (try? JSONValueEncoder().encode(self)) ?? .null }
}
