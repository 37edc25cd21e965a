import Accounts
import WebAuthn

/// The ways-in report as JSON (the admin endpoint and `portcullis check-config`).
public enum WaysInReport {
    /// One object per way in: name, proofs, proof count, wait, who is notified, phishing resistance,
    /// whether it is below the floor, and what session it yields.
    public static func json(_ ways: [WayIn]) -> JSONValue {
        .array(ways.map { way in
            .object([
                "name": .string(way.name),
                "proofs": .array(way.proofs.map(JSONValue.string)),
                "proofCount": .int(way.proofCount),
                "wait": .string(RecoveryPolicy.format(way.wait)),
                "waitSeconds": .int(Int(way.wait)),
                "notified": .array(way.notified.map(JSONValue.string)),
                "phishingResistant": .bool(way.phishingResistant),
                "belowFloor": .bool(way.belowFloor),
                "yields": .string(way.yields),
                "limits": .array(way.limits.map(JSONValue.string)),
            ])
        })
    }
}
