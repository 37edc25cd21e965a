import Foundation

/// A user's recovery set-up: how many contacts must approve, the hash of their recovery code, where
/// to notify them, and whether new cases are blocked (after a "this wasn't me").
public struct RecoverySettings: Sendable, Hashable {
    /// The account these settings belong to.
    public var userID: UUID
    /// M of the user's N accepted contacts.
    public var threshold: Int
    /// SHA-256 of the current recovery code; `nil` when there is none.
    public var codeHash: [UInt8]?
    /// When the current code was made.
    public var codeCreatedAt: Date?
    /// Addresses that hear about security events (at least two are recommended).
    public var addresses: [String]
    /// The addresses whose owner opened the verification link sent to them: only these hear about
    /// security events, so a mistyped address tells a stranger nothing (and gives them no cancel link).
    public var verifiedAddresses: [String]
    /// No new case may start before this time.
    public var blockedUntil: Date?

    /// M when the user has not chosen one.
    public static let defaultThreshold = 2

    /// Settings with the defaults: a threshold of ``defaultThreshold``, no code, no addresses, not blocked.
    public init(userID: UUID, threshold: Int = RecoverySettings.defaultThreshold, codeHash: [UInt8]? = nil, codeCreatedAt: Date? = nil, addresses: [String] = [],
                verifiedAddresses: [String] = [], blockedUntil: Date? = nil) {
        self.userID = userID
        self.threshold = threshold
        self.codeHash = codeHash
        self.codeCreatedAt = codeCreatedAt
        self.addresses = addresses
        self.verifiedAddresses = verifiedAddresses
        self.blockedUntil = blockedUntil
    }
}

/// Another user of this server who may vouch for the owner in a recovery case.
public struct RecoveryContact: Sendable, Hashable {
    /// Stable identifier (of the invitation and, once accepted, of the contact).
    public var id: UUID
    /// The account that may be recovered with this contact's help.
    public var ownerID: UUID
    /// The user who vouches.
    public var contactID: UUID
    /// Invited contacts count only once they accept with their own passkey.
    public var accepted: Bool
    /// When the owner invited them.
    public var createdAt: Date

    /// A contact record.
    public init(id: UUID, ownerID: UUID, contactID: UUID, accepted: Bool, createdAt: Date) {
        self.id = id
        self.ownerID = ownerID
        self.contactID = contactID
        self.accepted = accepted
        self.createdAt = createdAt
    }
}

/// One piece of evidence in a recovery case.
public struct RecoveryProof: Sendable, Hashable {
    /// What kind of proof.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        package enum Base: String, CaseIterable, Sendable { case contact, code, admin }
        /// The kind, for exhaustive switches inside this package.
        package let base: Base
        package init(_ base: Base) { self.base = base }
        /// Parses the stored spelling; nil for anything else.
        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }
        /// An accepted recovery contact approved with a fresh passkey assertion.
        public static let contact = Kind(.contact)
        /// The recovery code was entered on the requesting device.
        public static let code = Kind(.code)
        /// An admin approved (with their passkey, or one through the operator command line).
        public static let admin = Kind(.admin)
        /// The stored spelling.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every kind.
        public static var allCases: [Kind] { Base.allCases.map(Kind.init) }
    }

    /// What kind of proof it is.
    public var kind: Kind
    /// Who gave it: the contact or admin user; `nil` for the code. A case holds one proof per (kind, actor).
    public var actorID: UUID?
    /// `passkey` or `cli` (admin proofs only: at most one of a rule's admin proofs may come from the command line).
    public var via: String
    /// When it was given.
    public var at: Date

    /// A proof; `via` is `passkey` unless an admin gave it through the command line.
    public init(kind: Kind, actorID: UUID?, via: String = "passkey", at: Date) {
        self.kind = kind
        self.actorID = actorID
        self.via = via
        self.at = at
    }
}

/// A request to recover an account, bound to the browser that started it.
public struct RecoveryCase: Sendable, Hashable {
    /// Where a case stands (expiry is read from ``expiresAt``, not stored).
    public struct Status: Hashable, Sendable, CustomStringConvertible {
        /// The stored spelling.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        /// Parses the stored spelling.
        public init?(rawValue: String) {
            guard ["open", "cancelled", "completed"].contains(rawValue) else { return nil }
            self.rawValue = rawValue
        }
        /// Gathering proofs or waiting.
        public static let open = Status("open")
        /// Cancelled by the owner (a passkey, or the "this wasn't me" link).
        public static let cancelled = Status("cancelled")
        /// A new passkey was registered.
        public static let completed = Status("completed")
        public var description: String { rawValue }
    }

    /// Stable identifier, shown to the requester and to approvers.
    public var id: UUID
    /// The account; `nil` for the decoy case an unknown or blocked username gets (it can never progress).
    public var userID: UUID?
    /// SHA-256 of the secret the requesting browser holds.
    public var secretHash: [UInt8]
    /// Read aloud by the requester to contacts and admins, who type it: binds their approval to this case.
    public var comparisonCode: String
    /// Open, cancelled or completed.
    public var status: Status
    /// When the requester started it.
    public var createdAt: Date
    /// It takes no proof and cannot complete after this (7 days by default).
    public var expiresAt: Date
    /// The requesting device as seen when it started the case (shown to the owner and approvers).
    public var ip: String
    public var userAgent: String
    /// The proofs gathered so far, oldest first.
    public var proofs: [RecoveryProof]
    /// Wrong recovery codes entered on this case.
    public var codeAttempts: Int

    /// A case record.
    public init(id: UUID, userID: UUID?, secretHash: [UInt8], comparisonCode: String, status: Status, createdAt: Date, expiresAt: Date,
                ip: String, userAgent: String, proofs: [RecoveryProof] = [], codeAttempts: Int = 0) {
        self.id = id
        self.userID = userID
        self.secretHash = secretHash
        self.comparisonCode = comparisonCode
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.ip = ip
        self.userAgent = userAgent
        self.proofs = proofs
        self.codeAttempts = codeAttempts
    }
}

/// A set of proofs that releases a case after a waiting period.
public struct RecoveryRule: Sendable, Hashable, CustomStringConvertible {
    /// The contacts needed: `nil` for none, `.threshold` for the user's own M.
    public enum Contacts: Sendable, Hashable {
        case threshold
        case exactly(Int)
    }

    /// The contacts needed, if any.
    public var contacts: Contacts?
    /// Whether the recovery code is needed.
    public var code: Bool
    /// Distinct admins needed (0 for none).
    public var admins: Int
    /// Seconds between the proof that satisfies the rule and the release.
    public var wait: TimeInterval

    /// A rule needing the given proofs.
    public init(contacts: Contacts? = nil, code: Bool = false, admins: Int = 0, wait: TimeInterval) {
        self.contacts = contacts
        self.code = code
        self.admins = admins
        self.wait = wait
    }

    /// The proofs, spelled as in configuration: `contacts`, `contact`, `2contacts`, `code`, `admins`.
    public var proofs: String {
        var parts: [String] = []
        switch contacts {
        case .threshold: parts.append("contacts")
        case .exactly(1): parts.append("contact")
        case .exactly(let n): parts.append("\(n)contacts")
        case nil: break
        }
        if code { parts.append("code") }
        if admins > 0 { parts.append("admins") }
        return parts.joined(separator: "+")
    }

    /// `PROOFS:WAIT`, as in configuration.
    public var description: String { "\(proofs):\(RecoveryPolicy.format(wait))" }

    /// How many separate proofs the rule needs at least (a threshold counts as at least one).
    public func proofCount(threshold: Int = 1) -> Int {
        let contactCount: Int
        switch contacts {
        case .threshold: contactCount = max(1, threshold)
        case .exactly(let n): contactCount = n
        case nil: contactCount = 0
        }
        return contactCount + (code ? 1 : 0) + admins
    }

    /// Whether `proofs` satisfy the rule for a user whose threshold is `threshold`.
    public func isSatisfied(by proofs: [RecoveryProof], threshold: Int) -> Bool {
        let contactCount = Set(proofs.filter { $0.kind == .contact }.compactMap(\.actorID)).count
        switch contacts {
        case .threshold: if contactCount < max(1, threshold) { return false }
        case .exactly(let n): if contactCount < n { return false }
        case nil: break
        }
        if code, !proofs.contains(where: { $0.kind == .code }) { return false }
        if admins > 0 {
            let adminProofs = proofs.filter { $0.kind == .admin }
            let viaPasskey = Set(adminProofs.filter { $0.via == "passkey" }.compactMap(\.actorID))
            let viaCLI = Set(adminProofs.filter { $0.via != "passkey" }.compactMap(\.actorID)).subtracting(viaPasskey)
            // At most one admin proof from the command line counts: the others approved with their own passkeys.
            if viaPasskey.count + min(viaCLI.count, 1) < admins { return false }
        }
        return true
    }
}

/// The operator's recovery policy: which proofs release a case after how long.
public struct RecoveryPolicy: Sendable, Hashable {
    /// Sets of proofs and their waiting periods. A case is released when one is satisfied and its wait has passed.
    public var rules: [RecoveryRule]
    /// Whether users may hold a recovery code.
    public var codeEnabled: Bool
    /// A recovered passkey's sessions have fewer rights for this long.
    public var coolingPeriod: TimeInterval
    /// A case expires this long after it starts.
    public var caseLifetime: TimeInterval
    /// How long a "this wasn't me" blocks new cases.
    public var blockAfterCancel: TimeInterval
    /// Wrong recovery codes accepted per case before code entry stops.
    public var maxCodeAttempts: Int
    /// Recovery code attempts one IP address may make per 10 minutes, across cases.
    public var codeAttemptsPerIP: Int
    /// Cases one IP address may start for one username per hour: what stops a stranger spending an
    /// owner's starts is that the owner's own address has its own allowance.
    public var startsPerUsernameAndIP: Int
    /// Cases one IP address may start per hour, across usernames.
    public var startsPerIP: Int
    /// Cases all addresses together may start for one username per hour: a ceiling that only a
    /// distributed attack reaches.
    public var startsPerUsername: Int

    /// Distinct admins that an admin rule needs (`recovery.admin_approvals`, 2 by default).
    public static let defaultAdminApprovals = 2

    /// A policy; every default is the safe one described on its property.
    public init(rules: [RecoveryRule] = RecoveryPolicy.defaultRules(adminApprovals: RecoveryPolicy.defaultAdminApprovals),
                codeEnabled: Bool = true, coolingPeriod: TimeInterval = 86400, caseLifetime: TimeInterval = 7 * 86400,
                blockAfterCancel: TimeInterval = 86400, maxCodeAttempts: Int = 5, codeAttemptsPerIP: Int = 10,
                startsPerUsernameAndIP: Int = 5, startsPerIP: Int = 20, startsPerUsername: Int = 100) {
        self.rules = rules
        self.codeEnabled = codeEnabled
        self.coolingPeriod = coolingPeriod
        self.caseLifetime = caseLifetime
        self.blockAfterCancel = blockAfterCancel
        self.maxCodeAttempts = maxCodeAttempts
        self.codeAttemptsPerIP = codeAttemptsPerIP
        self.startsPerUsernameAndIP = startsPerUsernameAndIP
        self.startsPerIP = startsPerIP
        self.startsPerUsername = startsPerUsername
    }

    /// The limits every recovery rule runs under, in words (the ways-in report).
    public var limits: [String] {
        [
            "\(startsPerUsernameAndIP) case starts per username and IP address per hour, \(startsPerIP) per IP address, \(startsPerUsername) per username from all addresses",
            "\(maxCodeAttempts) wrong recovery codes per case, \(codeAttemptsPerIP) code attempts per IP address per 10 minutes",
            "a case expires after \(Self.format(caseLifetime)); \"this wasn't me\" blocks new cases for \(Self.format(blockAfterCancel))",
        ]
    }

    /// M contacts: 24 h; the code alone: 72 h; the code and one contact: 1 h; admins: no wait.
    public static func defaultRules(adminApprovals: Int) -> [RecoveryRule] {
        [
            RecoveryRule(contacts: .threshold, wait: 24 * 3600),
            RecoveryRule(code: true, wait: 72 * 3600),
            RecoveryRule(contacts: .exactly(1), code: true, wait: 3600),
            RecoveryRule(admins: adminApprovals, wait: 0),
        ]
    }

    /// The rules that can apply: rules that need a code are dropped when codes are switched off.
    public var effectiveRules: [RecoveryRule] { rules.filter { codeEnabled || !$0.code } }

    /// When the case is released, and by which rule: for each rule, the moment its proofs became
    /// sufficient plus its wait; the earliest wins. `nil` while no rule is satisfied.
    public func release(of proofs: [RecoveryProof], threshold: Int) -> (rule: RecoveryRule, at: Date)? {
        let ordered = proofs.sorted { $0.at < $1.at }
        var best: (rule: RecoveryRule, at: Date)?
        for rule in effectiveRules {
            var prefix: [RecoveryProof] = []
            for proof in ordered {
                prefix.append(proof)
                if rule.isSatisfied(by: prefix, threshold: threshold) {
                    let at = proof.at.addingTimeInterval(rule.wait)
                    if best.map({ at < $0.at }) ?? true { best = (rule, at) }
                    break
                }
            }
        }
        return best
    }

    /// Parses `recovery.rules`: comma-separated `PROOFS:WAIT`, where PROOFS joins `contacts` (the user's
    /// threshold), `contact`, `Ncontacts`, `code` and `admins` with `+`, and WAIT is `0` or a number
    /// with `s`, `m`, `h` or `d`. Example: `contacts:24h, code:72h, code+contact:1h, admins:0`.
    public static func parseRules(_ text: String, adminApprovals: Int) throws -> [RecoveryRule] {
        var rules: [RecoveryRule] = []
        for item in text.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let wait = parseDuration(String(parts[1])) else {
                throw RuleError("'\(item.trimmingCharacters(in: .whitespaces))' is not PROOFS:WAIT (for example code+contact:1h)")
            }
            var rule = RecoveryRule(wait: wait)
            for proof in parts[0].split(separator: "+", omittingEmptySubsequences: false) {
                switch proof {
                case "contacts" where rule.contacts == nil: rule.contacts = .threshold
                case "contact" where rule.contacts == nil: rule.contacts = .exactly(1)
                case "code" where !rule.code: rule.code = true
                case "admins" where rule.admins == 0: rule.admins = adminApprovals
                case _ where proof.hasSuffix("contacts") && rule.contacts == nil:
                    guard let n = Int(proof.dropLast("contacts".count)), (1...20).contains(n) else {
                        throw RuleError("'\(proof)' is not a proof (contacts, contact, Ncontacts, code, admins)")
                    }
                    rule.contacts = .exactly(n)
                default:
                    throw RuleError("'\(proof)' is not a proof or is repeated (contacts, contact, Ncontacts, code, admins)")
                }
            }
            rules.append(rule)
        }
        guard !rules.isEmpty else { throw RuleError("at least one rule is needed") }
        return rules
    }

    /// A rule that could not be read.
    public struct RuleError: Error, CustomStringConvertible {
        /// What is wrong, naming the offending part.
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// A wait as written in the rules and on the command line: `0`, or a number with `s`, `m`, `h` or `d`.
    public static func parseDuration(_ text: String) -> TimeInterval? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "0" { return 0 }
        guard let unit = trimmed.last, let value = Int(trimmed.dropLast()), value >= 0, value <= 100_000 else { return nil }
        switch unit {
        case "s": return TimeInterval(value)
        case "m": return TimeInterval(value) * 60
        case "h": return TimeInterval(value) * 3600
        case "d": return TimeInterval(value) * 86400
        default: return nil
        }
    }

    /// A wait as people read it: `0`, `90s`, `15m`, `24h`, `3d`.
    public static func format(_ seconds: TimeInterval) -> String {
        let s = Int(seconds)
        if s == 0 { return "0" }
        if s % 86400 == 0 && s >= 86400 * 2 { return "\(s / 86400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
