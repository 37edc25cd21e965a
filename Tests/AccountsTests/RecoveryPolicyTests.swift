import Accounts
import Foundation
import PortcullisTesting
import Testing

@Suite struct RecoveryPolicyTests {
    static let t0 = FixedClock.now
    static let (bob, carol, dave, erin) = (UUID(), UUID(), UUID(), UUID())

    static func contact(_ id: UUID, _ seconds: TimeInterval) -> RecoveryProof { RecoveryProof(kind: .contact, actorID: id, at: t0.addingTimeInterval(seconds)) }
    static func code(_ seconds: TimeInterval) -> RecoveryProof { RecoveryProof(kind: .code, actorID: nil, at: t0.addingTimeInterval(seconds)) }
    static func admin(_ id: UUID, _ seconds: TimeInterval, via: String = "passkey") -> RecoveryProof {
        RecoveryProof(kind: .admin, actorID: id, via: via, at: t0.addingTimeInterval(seconds))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let proofs: [RecoveryProof]
        let threshold: Int
        /// Seconds after t0 the case is released; nil when it never is.
        let release: TimeInterval?
        var testDescription: String { name }
    }

    /// The default rules: M contacts 24 h, code 72 h, code + contact 1 h, two admins at once.
    static let cases: [Case] = [
        Case(name: "nothing", proofs: [], threshold: 2, release: nil),
        Case(name: "one contact when M = 2", proofs: [contact(bob, 10)], threshold: 2, release: nil),
        Case(name: "the same contact twice counts once", proofs: [contact(bob, 10), contact(bob, 20)], threshold: 2, release: nil),
        Case(name: "two contacts when M = 2", proofs: [contact(bob, 10), contact(carol, 100)], threshold: 2, release: 100 + 86400),
        Case(name: "one contact when M = 1", proofs: [contact(bob, 10)], threshold: 1, release: 10 + 86400),
        Case(name: "the code alone", proofs: [code(5)], threshold: 2, release: 5 + 72 * 3600),
        Case(name: "the code and a contact", proofs: [code(5), contact(bob, 50)], threshold: 2, release: 50 + 3600),
        Case(name: "one admin", proofs: [admin(dave, 5)], threshold: 2, release: nil),
        Case(name: "two admins", proofs: [admin(dave, 5), admin(erin, 9)], threshold: 2, release: 9),
        Case(name: "two admins from the command line count once", proofs: [admin(dave, 5, via: "cli"), admin(erin, 9, via: "cli")], threshold: 2, release: nil),
        Case(name: "one from the command line, one with a passkey", proofs: [admin(dave, 5, via: "cli"), admin(erin, 9)], threshold: 2, release: 9),
        Case(name: "a contact is not an admin", proofs: [contact(dave, 5), admin(erin, 9)], threshold: 2, release: nil),
    ]

    @Test(arguments: cases)
    func defaultRulesRelease(_ c: Case) {
        let release = RecoveryPolicy().release(of: c.proofs, threshold: c.threshold)
        #expect(release?.at == c.release.map { Self.t0.addingTimeInterval($0) })
    }

    @Test func switchingCodesOffDropsTheirRules() {
        var policy = RecoveryPolicy()
        policy.codeEnabled = false
        #expect(policy.effectiveRules.allSatisfy { !$0.code })
        #expect(policy.release(of: [Self.code(5)], threshold: 2) == nil)
    }

    @Test(arguments: [
        ("contacts:24h, code:3d, code+contact:1h, admins:0", ["contacts:24h", "code:3d", "contact+code:1h", "admins:0"]),
        ("2contacts:90m", ["2contacts:90m"]),
        ("contact+code:45s", ["contact+code:45s"]),
    ])
    func rulesParse(text: String, expected: [String]) throws {
        #expect(try RecoveryPolicy.parseRules(text, adminApprovals: 2).map(\.description) == expected)
    }

    @Test(arguments: ["", "code", "code:", "code:1w", "code:-1h", "passwords:1h", "code+code:1h", "contacts+contact:1h", "0contacts:1h",
                      "code:1h:2h", "admins+:1h", ":1h"])
    func badRulesAreRefused(text: String) {
        #expect(throws: RecoveryPolicy.RuleError.self) { try RecoveryPolicy.parseRules(text, adminApprovals: 2) }
    }

    @Test func theFloorFindsASingleUnwatchedProof() throws {
        let defaults = WaysIn.report(recovery: RecoveryPolicy(), externalChannels: [])
        #expect(defaults.allSatisfy { !$0.belowFloor })
        #expect(defaults.first?.name == "passkey-sign-in" && defaults.first?.phishingResistant == true)
        #expect(defaults.contains { $0.name == "recovery:admins" && $0.proofCount == 2 && $0.wait == 0 })

        let weak = RecoveryPolicy(rules: try RecoveryPolicy.parseRules("code:0, admins:0", adminApprovals: 1))
        let report = WaysIn.report(recovery: weak, externalChannels: [])
        #expect(report.filter(\.belowFloor).map(\.name) == ["recovery:code", "recovery:admins"])
        // An out-of-band notification lifts a single proof above the floor.
        #expect(WaysIn.report(recovery: weak, externalChannels: ["webhook"]).allSatisfy { !$0.belowFloor })
    }
}
