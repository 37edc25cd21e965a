import Foundation

/// One way into an account under the current configuration.
public struct WayIn: Sendable, Hashable {
    /// A stable name: `passkey-sign-in`, `device-approval`, `enrolment`, `recovery:PROOFS`.
    public var name: String
    /// What someone must present, in words.
    public var proofs: [String]
    /// How many independent proofs (a threshold of contacts counts as its minimum).
    public var proofCount: Int
    /// Seconds between the last proof and access.
    public var wait: TimeInterval
    /// Who hears of it before or when it happens.
    public var notified: [String]
    /// Whether a phishing site could relay it: true only when every proof is a passkey assertion bound
    /// to this RP's origin.
    public var phishingResistant: Bool
    /// A single proof with neither a waiting period nor an out-of-band notification.
    public var belowFloor: Bool
    /// The session it yields.
    public var yields: String
    /// The limits it runs under (lifetimes, attempts, rates), in words.
    public var limits: [String] = []
}

/// Every way into an account, so an operator sees the weakest.
public enum WaysIn {
    /// - Parameters:
    ///   - externalChannels: the out-of-band notification channels configured (`webhook`, `email`).
    ///   - deviceApproval: the limits of sign-in by approval from another device.
    public static func report(recovery: RecoveryPolicy, deviceApproval: DeviceApprovalPolicy = DeviceApprovalPolicy(), externalChannels: [String]) -> [WayIn] {
        let notified = ["security timeline", "the owner's signed-in sessions"] + externalChannels.map { "owner by \($0)" }
        let outOfBand = !externalChannels.isEmpty
        var ways: [WayIn] = [
            WayIn(name: "passkey-sign-in", proofs: ["passkey assertion (user verification per policy)"], proofCount: 1, wait: 0,
                  notified: notified, phishingResistant: true, belowFloor: false, yields: "passkey session"),
            // The approver's assertion is phishing-resistant, but the user code can be relayed from a
            // phisher's device (the known weakness of RFC 8628); the approver sees the device's IP and user
            // agent, the session is short and cannot change the account. A request that names the account
            // reaches its sessions without a code, so approving it takes picking the number the device shows.
            WayIn(name: "device-approval", proofs: ["passkey assertion at most 1 minute old on a signed-in device",
                                                    "user code typed by that person, or, for a request naming the account, the number the device shows picked among three"],
                  proofCount: 2, wait: 0, notified: notified, phishingResistant: false, belowFloor: false,
                  yields: "device-approval session (12 h, cannot change the account)", limits: deviceApproval.limits),
            WayIn(name: "enrolment", proofs: ["fresh passkey session creates a single-use link", "confirmation code shown on the new device, typed on the signed-in one"],
                  proofCount: 2, wait: 0, notified: notified, phishingResistant: false, belowFloor: false,
                  yields: "new passkey and passkey session"),
        ]
        for rule in recovery.effectiveRules {
            var proofs: [String] = []
            switch rule.contacts {
            case .threshold: proofs.append("the user's threshold M of recovery contacts, each with a fresh passkey assertion and the comparison code")
            case .exactly(let n): proofs.append("\(n) recovery contact\(n == 1 ? "" : "s"), each with a fresh passkey assertion and the comparison code")
            case nil: break
            }
            if rule.code { proofs.append("the recovery code (128 bits) on the requesting device") }
            if rule.admins > 0 { proofs.append("\(rule.admins) distinct admin\(rule.admins == 1 ? "" : "s") with the comparison code (at most one from the command line, the others with their passkeys)") }
            let count = rule.proofCount()
            // People read codes to people and type codes: a determined social engineer can relay any of
            // them, so no recovery rule is phishing-resistant; waits and notifications are the defence.
            let phishingResistant = false
            ways.append(WayIn(
                name: "recovery:\(rule.proofs)", proofs: proofs + ["registering a new passkey from the browser holding the case secret"],
                proofCount: count, wait: rule.wait, notified: notified + ["\"this wasn't me\" link cancels during the wait"],
                phishingResistant: phishingResistant, belowFloor: count <= 1 && rule.wait == 0 && !outOfBand,
                yields: "new passkey and recovered session (cooling period \(RecoveryPolicy.format(recovery.coolingPeriod)))",
                limits: recovery.limits))
        }
        return ways
    }
}
