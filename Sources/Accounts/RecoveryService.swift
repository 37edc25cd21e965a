import Crypto
import Foundation
import WebAuthn

/// A user's recovery set-up and how ready it is.
public struct RecoveryReadiness: Sendable {
    /// How many passkeys the user has.
    public var passkeys: Int
    /// Distinct AAGUIDs: passkeys from one provider can be lost together.
    public var providers: Int
    /// Whether one of them cannot be synced (a security key, for example).
    public var hasDeviceBoundPasskey: Bool
    /// Contacts who accepted, and invitations not yet accepted.
    public var acceptedContacts: Int
    public var invitedContacts: Int
    /// The user's M.
    public var threshold: Int
    /// Whether a recovery code is set (and codes are allowed).
    public var hasCode: Bool
    /// How many notification addresses are set and confirmed by their link.
    public var addresses: Int
    /// The recovery rules this user's own set-up can satisfy (admin rules excluded).
    public var selfServiceRules: [RecoveryRule]
    /// What to add next, most useful first.
    public var next: [String]
    /// Losing one device does not lock the user out: passkeys from two providers, or a rule they can satisfy.
    public var canRecoverWithoutAdmins: Bool {
        providers >= 2 || !selfServiceRules.isEmpty
    }
}

/// What the requesting browser sees of its case. A decoy case (unknown username) looks the same.
public struct RecoveryCaseView: Sendable {
    /// The case.
    public var recoveryCase: RecoveryCase
    /// When the case is or will be released, by the earliest satisfied rule.
    public var releaseAt: Date?
    /// Whether the new passkey may be registered now.
    public var released: Bool
    /// Whether the case is past its expiry.
    public var expired: Bool
}

/// Recovery as strong as a passkey: the owner's set-up (contacts, threshold, recovery code,
/// notification addresses), cases started from a browser that has lost its passkeys, the proofs
/// that release them (contacts' and admins' passkey approvals, the code, each with its wait), the
/// owner's "this wasn't me", and the new passkey every recovery ends in. It depends on the stores
/// it reads and writes, on ``SessionAuthority`` for freshness and rights, and on the passkey
/// ceremonies (``PasskeyService``) for the new passkey's registration and the server secret that
/// signs cancel links.
public struct RecoveryService: CeremonyBacked {
    let store: any RecoveryStore & UserStore & PasskeyStore & EventStore
    let ceremonies: PasskeyService

    /// Recovery over `store`, with `ceremonies`' policy, sessions, clock and random source.
    public init(store: any RecoveryStore & UserStore & PasskeyStore & EventStore, ceremonies: PasskeyService) {
        self.store = store
        self.ceremonies = ceremonies
    }

    // MARK: - Set-up (the owner, signed in)

    /// The user's settings, or the defaults when they have none yet.
    public func recoverySettings(userID: UUID) async throws -> RecoverySettings {
        try await store.recoverySettings(userID: userID) ?? RecoverySettings(userID: userID)
    }

    /// How ready the user is to recover, and what to add next.
    public func recoveryReadiness(userID: UUID) async throws -> RecoveryReadiness {
        readiness(passkeys: try await store.passkeys(userID: userID), contacts: try await store.recoveryContacts(ownerID: userID),
                  settings: try await recoverySettings(userID: userID))
    }

    /// A user's settings, contacts (with their users) and readiness, each read once.
    public func recoveryOverview(userID: UUID) async throws
        -> (settings: RecoverySettings, contacts: [(contact: RecoveryContact, user: User)], readiness: RecoveryReadiness)
    {
        let settings = try await recoverySettings(userID: userID)
        let contacts = try await recoveryContacts(userID: userID)
        let passkeys = try await store.passkeys(userID: userID)
        return (settings, contacts, readiness(passkeys: passkeys, contacts: contacts.map(\.contact), settings: settings))
    }

    func readiness(passkeys: [Passkey], contacts: [RecoveryContact], settings: RecoverySettings) -> RecoveryReadiness {
        let accepted = contacts.filter(\.accepted).count
        let hasCode = settings.codeHash != nil && policy.recovery.codeEnabled
        let selfService = policy.recovery.effectiveRules.filter { rule in
            guard rule.admins == 0 else { return false }
            if rule.code && !hasCode { return false }
            switch rule.contacts {
            case .threshold: return accepted >= max(1, settings.threshold)
            case .exactly(let n): return accepted >= n
            case nil: return true
            }
        }
        let providers = Set(passkeys.map(\.aaguid)).count
        var next: [String] = []
        if providers < 2 { next.append("Add a passkey from a second provider or device.") }
        if accepted < max(1, settings.threshold) { next.append("Invite recovery contacts until \(max(1, settings.threshold)) have accepted.") }
        if policy.recovery.codeEnabled && !hasCode { next.append("Create a recovery code and keep it somewhere safe.") }
        if settings.addresses.count < 2 { next.append("Add at least two notification addresses.") }
        if settings.verifiedAddresses.count < settings.addresses.count {
            next.append("Confirm your notification addresses: open the link sent to each. Until then they are told nothing.")
        }
        if !passkeys.contains(where: \.isDeviceBound) { next.append("Consider a device-bound passkey (a security key) as a backup.") }
        return RecoveryReadiness(
            passkeys: passkeys.count, providers: providers, hasDeviceBoundPasskey: passkeys.contains(where: \.isDeviceBound),
            acceptedContacts: accepted, invitedContacts: contacts.count - accepted, threshold: settings.threshold, hasCode: hasCode,
            addresses: settings.verifiedAddresses.count, selfServiceRules: selfService, next: next)
    }

    /// Changes the threshold and/or the notification addresses (full rights and a fresh assertion needed).
    public func updateRecovery(_ auth: Authenticated, threshold: Int?, addresses: [String]?, info: RequestInfo) async throws -> RecoverySettings {
        try sessions.requireFresh(auth)
        var settings = try await recoverySettings(userID: auth.user.id)
        if let threshold {
            guard (1...20).contains(threshold) else { throw AccountsError.invalid("The threshold is 1 to 20 contacts.") }
            settings.threshold = threshold
        }
        if let addresses {
            let cleaned = try addresses.map(PasskeyService.normalize(address:))
            // Two or more, so that one lost or hijacked mailbox does not silence the alarms (or none at all).
            guard cleaned.isEmpty || (2...10).contains(cleaned.count), Set(cleaned).count == cleaned.count else {
                throw AccountsError.invalid("Give 2 to 10 distinct notification addresses (or none).")
            }
            settings.addresses = cleaned
            // A removed address is no longer verified; one added again must be verified again.
            settings.verifiedAddresses = settings.verifiedAddresses.filter(cleaned.contains)
        }
        let previous = try await store.recoverySettings(userID: auth.user.id)?.addresses ?? []
        try await store.saveRecoverySettings(settings, event: SecurityEvent(
            id: newEventID(), userID: auth.user.id, kind: .recoverySettingsChanged, at: clock(), ip: info.ip, userAgent: info.userAgent,
            detail: ["threshold": String(settings.threshold), "addresses": String(settings.addresses.count)]))
        // Each new address gets its verification link (the event's notice goes to that address alone).
        for address in settings.addresses where !previous.contains(address) && !settings.verifiedAddresses.contains(address) {
            try await store.appendEvent(SecurityEvent(
                id: newEventID(), userID: auth.user.id, kind: .addressVerificationSent, at: clock(), ip: info.ip, userAgent: info.userAgent,
                detail: ["address": address]))
        }
        return settings
    }

    /// How long an address's verification link works.
    public static let addressLinkLifetime: TimeInterval = 7 * 86400

    /// The signature of an address's verification link: only this server can make one.
    public func addressSignature(userID: UUID, address: String, expires: Int) -> String {
        let key = SymmetricKey(data: ceremonies.enumerationSecret.value)
        let message = "portcullis-address-verify:\(userID.lowercaseText):\(address):\(expires)"
        return Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)))
    }

    /// The verification link's query for `address`, valid from `now` for ``addressLinkLifetime``.
    public func addressLinkQuery(userID: UUID, address: String, now: Date) -> (expires: Int, signature: String) {
        let expires = Int(now.addingTimeInterval(Self.addressLinkLifetime).timeIntervalSince1970)
        return (expires, addressSignature(userID: userID, address: address, expires: expires))
    }

    /// Marks `address` verified: the link's signature and expiry hold, and the address is still one of
    /// the account's. Opening the link changes nothing (mail scanners fetch links); the page posts this.
    /// - Returns: the account's username, for the page.
    public func verifyAddress(userID: UUID, address: String, expires: Int, signature: String, info: RequestInfo) async throws -> String {
        guard signature.utf8.count <= 64, ConstantTime.equal(signature, addressSignature(userID: userID, address: address, expires: expires)),
              Double(expires) > clock().timeIntervalSince1970, let user = try await store.user(id: userID),
              var settings = try await store.recoverySettings(userID: userID), settings.addresses.contains(address)
        else { throw AccountsError.linkInvalid() }
        guard !settings.verifiedAddresses.contains(address) else { return user.username }
        settings.verifiedAddresses.append(address)
        try await store.saveRecoverySettings(settings, event: SecurityEvent(
            id: newEventID(), userID: userID, kind: .addressVerified, at: clock(), ip: info.ip, userAgent: info.userAgent, detail: ["address": address]))
        return user.username
    }

    /// Makes a new recovery code (128 bits or more), replacing the old one. Shown once; only its hash is kept.
    public func newRecoveryCode(_ auth: Authenticated, info: RequestInfo) async throws -> String {
        try sessions.requireFresh(auth)
        guard policy.recovery.codeEnabled else { throw AccountsError.recoveryCodeDisabled() }
        let code = RecoveryCode.generate(using: random)
        var settings = try await recoverySettings(userID: auth.user.id)
        let now = clock()
        settings.codeHash = sha256(RecoveryCode.normalize(code))
        settings.codeCreatedAt = now
        try await store.saveRecoverySettings(settings, event: SecurityEvent(
            id: newEventID(), userID: auth.user.id, kind: .recoveryCodeCreated, at: now, ip: info.ip, userAgent: info.userAgent))
        return code
    }

    /// Invites another user of this server as a recovery contact.
    public func inviteRecoveryContact(_ auth: Authenticated, username raw: String, info: RequestInfo) async throws -> RecoveryContact {
        try sessions.requireFresh(auth)
        let username = try PasskeyService.normalize(username: raw)
        guard let contact = try await store.user(username: username), !contact.disabled else { throw AccountsError.notFound() }
        guard contact.id != auth.user.id else { throw AccountsError.invalid("You cannot be your own recovery contact.") }
        let now = clock()
        let record = RecoveryContact(id: random.uuid(), ownerID: auth.user.id, contactID: contact.id, accepted: false, createdAt: now)
        do {
            try await store.addRecoveryContact(record, event: SecurityEvent(
                id: newEventID(), userID: auth.user.id, kind: .recoveryContactInvited, at: now, ip: info.ip, userAgent: info.userAgent,
                detail: ["contact": contact.username]))
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
        return record
    }

    /// Removes one of the user's contacts.
    public func removeRecoveryContact(_ auth: Authenticated, id: UUID, info: RequestInfo) async throws {
        try sessions.requireFresh(auth)
        guard let contact = try await store.recoveryContacts(ownerID: auth.user.id).first(where: { $0.id == id }) else { throw AccountsError.notFound() }
        let name = try await store.user(id: contact.contactID)?.username ?? ""
        do {
            try await store.deleteRecoveryContact(id: id, ownerID: auth.user.id, event: SecurityEvent(
                id: newEventID(), userID: auth.user.id, kind: .recoveryContactRemoved, at: clock(), ip: info.ip, userAgent: info.userAgent,
                detail: ["contact": name]))
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    /// The user's contacts with their usernames.
    public func recoveryContacts(userID: UUID) async throws -> [(contact: RecoveryContact, user: User)] {
        var result: [(contact: RecoveryContact, user: User)] = []
        for contact in try await store.recoveryContacts(ownerID: userID) {
            if let user = try await store.user(id: contact.contactID) { result.append((contact, user)) }
        }
        return result
    }

    /// Invitations to vouch for others (pending and accepted), with the inviting user.
    public func recoveryInvitations(_ auth: Authenticated) async throws -> [(contact: RecoveryContact, owner: User)] {
        var result: [(contact: RecoveryContact, owner: User)] = []
        for contact in try await store.recoveryContacts(contactID: auth.user.id) {
            if let owner = try await store.user(id: contact.ownerID) { result.append((contact, owner)) }
        }
        return result
    }

    /// Accepts an invitation, with a fresh passkey assertion.
    public func acceptRecoveryInvitation(_ auth: Authenticated, id: UUID, info: RequestInfo) async throws {
        try sessions.requireFresh(auth)
        guard let invitation = try await store.recoveryContacts(contactID: auth.user.id).first(where: { $0.id == id && !$0.accepted }) else {
            throw AccountsError.notFound()
        }
        do {
            // On the owner's timeline: they learn who now vouches for them.
            try await store.acceptRecoveryContact(id: id, contactID: auth.user.id, event: SecurityEvent(
                id: newEventID(), userID: invitation.ownerID, kind: .recoveryContactAccepted, at: clock(), ip: info.ip, userAgent: info.userAgent,
                detail: ["contact": auth.user.username]))
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    // MARK: - Cases (the requesting browser)

    /// Starts a case for `username`, bound to the requesting browser by the returned secret. An unknown,
    /// disabled or blocked account gets a decoy case, answered exactly like a real one, that can never progress.
    public func startRecovery(username raw: String, info: RequestInfo) async throws -> (recoveryCase: RecoveryCase, secret: String) {
        let username = try PasskeyService.normalize(username: raw)
        let now = clock()
        var owner = try await store.user(username: username)
        if let user = owner {
            if user.disabled { owner = nil }
            if let blocked = try await store.recoverySettings(userID: user.id)?.blockedUntil, blocked > now { owner = nil }
        }
        let secret = Base64URL.encode(random.bytes(32))
        let recoveryCase = RecoveryCase(
            id: random.uuid(), userID: owner?.id, secretHash: sha256(secret), comparisonCode: ComparisonCode.generate(using: random),
            status: .open, createdAt: now, expiresAt: now.addingTimeInterval(policy.recovery.caseLifetime), ip: info.ip, userAgent: info.userAgent)
        let event = owner.map {
            SecurityEvent(id: newEventID(), userID: $0.id, kind: .recoveryStarted, at: now, ip: info.ip, userAgent: info.userAgent,
                          detail: ["case": recoveryCase.id.lowercaseText])
        }
        try await store.createRecoveryCase(recoveryCase, event: event)
        return (recoveryCase, secret)
    }

    /// The case the requesting browser holds, checked against its secret.
    func heldCase(id: UUID, secret: String) async throws -> RecoveryCase {
        guard secret.utf8.count <= 64, let stored = try await store.recoveryCase(id: id),
              ConstantTime.equal(stored.secretHash, sha256(secret))
        else { throw AccountsError.notFound() }
        return stored
    }

    func threshold(of recoveryCase: RecoveryCase) async throws -> Int {
        guard let userID = recoveryCase.userID else { return RecoverySettings.defaultThreshold }
        return try await recoverySettings(userID: userID).threshold
    }

    func view(of recoveryCase: RecoveryCase, threshold: Int) -> RecoveryCaseView {
        let now = clock()
        let release = recoveryCase.userID == nil ? nil : policy.recovery.release(of: recoveryCase.proofs, threshold: threshold)
        return RecoveryCaseView(
            recoveryCase: recoveryCase, releaseAt: release?.at, released: recoveryCase.status == .open && (release.map { $0.at <= now } ?? false),
            expired: recoveryCase.expiresAt <= now)
    }

    /// The requester's view of their case's progress.
    public func recoveryCaseView(id: UUID, secret: String) async throws -> RecoveryCaseView {
        let held = try await heldCase(id: id, secret: secret)
        return view(of: held, threshold: try await threshold(of: held))
    }

    /// The recovery code, entered on the requesting device.
    public func enterRecoveryCode(id: UUID, secret: String, code: String, info: RequestInfo) async throws -> RecoveryCaseView {
        let held = try await heldCase(id: id, secret: secret)
        let now = clock()
        guard held.status == .open, held.expiresAt > now else { throw AccountsError.notFound() }
        guard policy.recovery.codeEnabled else { throw AccountsError.recoveryCodeDisabled() }
        guard held.codeAttempts < policy.recovery.maxCodeAttempts else { throw AccountsError.tooManyAttempts() }
        var settings: RecoverySettings?
        if let userID = held.userID { settings = try await recoverySettings(userID: userID) }
        let entered = sha256(RecoveryCode.normalize(code))
        guard let userID = held.userID, let settings, let stored = settings.codeHash, code.utf8.count <= 128, ConstantTime.equal(stored, entered) else {
            let event = held.userID.map {
                SecurityEvent(id: newEventID(), userID: $0, kind: .recoveryCodeFailed, at: now, ip: info.ip, userAgent: info.userAgent,
                              detail: ["case": id.lowercaseText])
            }
            do { _ = try await store.recordRecoveryCodeFailure(caseID: id, event: event) } catch let error as StoreError { throw ceremonies.map(error) }
            throw AccountsError.recoveryCodeInvalid()
        }
        let proof = RecoveryProof(kind: .code, actorID: nil, at: now)
        do {
            try await store.addRecoveryProof(caseID: id, proof: proof, event: SecurityEvent(
                id: newEventID(), userID: userID, kind: .recoveryApproved, at: now, ip: info.ip, userAgent: info.userAgent,
                detail: ["case": id.lowercaseText, "proof": "code"]), now: now)
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
        // The case as stored now, without reading it and the settings again.
        var updated = held
        updated.proofs.append(proof)
        return view(of: updated, threshold: settings.threshold)
    }

    /// A released case, for its completion.
    func releasedCase(id: UUID, secret: String) async throws -> (RecoveryCase, User) {
        let held = try await heldCase(id: id, secret: secret)
        let view = view(of: held, threshold: try await threshold(of: held))
        guard held.status == .open, !view.expired else { throw AccountsError.notFound() }
        guard view.released, let userID = held.userID, let user = try await store.user(id: userID), !user.disabled else {
            throw AccountsError.notReleased(view.releaseAt.map { ISO8601DateFormatter().string(from: $0) })
        }
        return (held, user)
    }

    /// Creation options for the new passkey that completes a released case.
    public func recoveryPasskeyOptions(id: UUID, secret: String) async throws -> JSONValue {
        let (held, user) = try await releasedCase(id: id, secret: secret)
        return try await ceremonies.newPasskeyOptions(for: user, kind: .recover, boundTo: held.id)
    }

    /// Registers the new passkey, completes the case and starts a session born `recovered`.
    public func recoveryPasskeyVerify(id: UUID, secret: String, credential: JSONValue, name: String?, info: RequestInfo) async throws
        -> (user: User, passkey: Passkey, issued: IssuedSession)
    {
        let (held, user) = try await releasedCase(id: id, secret: secret)
        let now = clock()
        let (registered, verified, challenge) = try await ceremonies.verifyNewPasskey(
            for: user, kind: .recover, boundTo: held.id, credential: credential, name: name, now: now)
        var passkey = registered
        passkey.recoveredAt = now
        let issued = ceremonies.newSession(userID: user.id, passkey: passkey, userVerified: verified.userVerified, info: info, now: now)
        let event = SecurityEvent(id: newEventID(), userID: user.id, kind: .recoveryCompleted, at: now, ip: info.ip, userAgent: info.userAgent,
                                  detail: ["case": id.lowercaseText, "passkey": passkey.name])
        do {
            try await store.completeRecovery(caseID: held.id, passkey: passkey, session: issued.session, event: event, challenge: challenge, now: now)
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
        return (user, passkey, issued)
    }

    // MARK: - Approvals and cancels (signed in)

    /// Cases this user may approve (open cases of users who chose them as an accepted contact), and
    /// the user's own open cases.
    public func recoveryRequests(_ auth: Authenticated) async throws -> (approvable: [(recoveryCase: RecoveryCase, owner: User)], own: [RecoveryCase]) {
        let now = clock()
        var approvable: [(recoveryCase: RecoveryCase, owner: User)] = []
        for contact in try await store.recoveryContacts(contactID: auth.user.id) where contact.accepted {
            guard let owner = try await store.user(id: contact.ownerID) else { continue }
            for open in try await store.openRecoveryCases(userID: owner.id, now: now) {
                approvable.append((open, owner))
            }
        }
        let own = try await openCases(userID: auth.user.id)
        return (approvable, own)
    }

    /// A user's open, unexpired cases (shown in every live session of theirs): those holding proofs
    /// first, so a flood of empty cases cannot hide one that is gathering them.
    public func openCases(userID: UUID) async throws -> [RecoveryCase] {
        try await store.openRecoveryCases(userID: userID, now: clock())
    }

    /// A recovery contact approves a case with a fresh passkey assertion and the comparison code the
    /// requester read to them.
    public func approveRecovery(_ auth: Authenticated, caseID: UUID, comparisonCode: String, info: RequestInfo) async throws {
        try sessions.requireFresh(auth)
        let now = clock()
        guard let target = try await store.recoveryCase(id: caseID), let ownerID = target.userID, target.status == .open, target.expiresAt > now,
              try await store.recoveryContacts(contactID: auth.user.id).contains(where: { $0.ownerID == ownerID && $0.accepted })
        else { throw AccountsError.notFound() }
        try checkComparison(comparisonCode, target)
        do {
            try await store.addRecoveryProof(caseID: caseID, proof: RecoveryProof(kind: .contact, actorID: auth.user.id, at: now), event: SecurityEvent(
                id: newEventID(), userID: ownerID, kind: .recoveryApproved, at: now, ip: info.ip, userAgent: info.userAgent,
                detail: ["case": caseID.lowercaseText, "proof": "contact", "by": auth.user.username]), now: now)
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    /// A contact approves the case of `ownerID` whose comparison code the requester read to them,
    /// found among all of that account's open cases: a flood of other cases cannot hide it.
    public func approveRecovery(_ auth: Authenticated, ownerID: UUID, comparisonCode: String, info: RequestInfo) async throws {
        try sessions.requireFresh(auth)
        guard try await store.recoveryContacts(contactID: auth.user.id).contains(where: { $0.ownerID == ownerID && $0.accepted }) else {
            throw AccountsError.notFound()
        }
        let target = try await openCase(ownerID: ownerID, comparisonCode: comparisonCode)
        try await approveRecovery(auth, caseID: target.id, comparisonCode: comparisonCode, info: info)
    }

    /// A contact declines: they were not asked by the account's owner, so the request is likely not
    /// theirs. Every open case of `ownerID` is cancelled (a flood of cases cannot hide one from a
    /// decline), and the owner's timeline and notifications say which contact declined. No block
    /// follows: if it was the owner after all, they speak with that contact and start again.
    /// - Returns: how many cases were cancelled.
    @discardableResult
    public func declineRecovery(_ auth: Authenticated, ownerID: UUID, info: RequestInfo) async throws -> Int {
        try sessions.requireFresh(auth)
        guard try await store.recoveryContacts(contactID: auth.user.id).contains(where: { $0.ownerID == ownerID && $0.accepted }) else {
            throw AccountsError.notFound()
        }
        let now = clock()
        var cancelled = 0
        for open in try await store.openRecoveryCases(userID: ownerID, now: now) {
            do {
                try await store.cancelRecoveryCase(id: open.id, blockUntil: nil, event: SecurityEvent(
                    id: newEventID(), userID: ownerID, kind: .recoveryCancelled, at: now, ip: info.ip, userAgent: info.userAgent,
                    detail: ["case": open.id.lowercaseText, "by": "contact", "contact": auth.user.username]), now: now)
                cancelled += 1
            } catch let error as StoreError where error == .conflict {
                continue  // completed or cancelled meanwhile
            }
        }
        guard cancelled > 0 else { throw AccountsError.notFound() }
        return cancelled
    }

    /// The one open case of `ownerID` with the comparison code `entered`, among all its open cases.
    func openCase(ownerID: UUID, comparisonCode entered: String) async throws -> RecoveryCase {
        let digits = entered.filter(\.isNumber)
        guard digits.count == ComparisonCode.length else { throw AccountsError.comparisonCodeMismatch() }
        let matches = try await store.openRecoveryCases(userID: ownerID, comparisonCode: digits, now: clock())
        // Two open cases with one code (one in a million per pair): neither is approved; the requester starts again.
        guard let target = matches.first, matches.count == 1 else {
            throw matches.isEmpty ? AccountsError.comparisonCodeMismatch() : AccountsError.conflict()
        }
        return target
    }

    func checkComparison(_ entered: String, _ target: RecoveryCase) throws {
        let digits = entered.filter(\.isNumber)
        guard ConstantTime.equal(digits, target.comparisonCode) else { throw AccountsError.comparisonCodeMismatch() }
    }

    /// The owner cancels a case from a session with full rights: born from one of their passkeys, not
    /// a device approval, and not a recovered session in its cooling period. Someone who completed a
    /// recovery with a stolen factor would otherwise cancel every case the real owner starts until the
    /// cooling period ends; the owner's other passkeys and the signed "this wasn't me" link still can.
    public func cancelRecovery(_ auth: Authenticated, caseID: UUID, info: RequestInfo) async throws {
        try sessions.requireFullRights(auth)
        guard let target = try await store.recoveryCase(id: caseID), target.userID == auth.user.id else { throw AccountsError.notFound() }
        do {
            try await store.cancelRecoveryCase(id: caseID, blockUntil: nil, event: SecurityEvent(
                id: newEventID(), userID: auth.user.id, kind: .recoveryCancelled, at: clock(), ip: info.ip, userAgent: info.userAgent,
                detail: ["case": caseID.lowercaseText, "by": "passkey"]), now: clock())
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    /// The signature of a case's "this wasn't me" link: HMAC-SHA256 under the deployment's secret. It
    /// can only cancel; it signs no one in.
    public func cancelSignature(caseID: UUID) -> String {
        let key = SymmetricKey(data: ceremonies.enumerationSecret.value)
        return Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(("portcullis-recovery-cancel:" + caseID.lowercaseText).utf8), using: key)))
    }

    /// Checks a "this wasn't me" link without acting on it (opening the link only shows a page).
    public func checkCancelLink(caseID: UUID, signature: String) async throws -> RecoveryCase {
        guard signature.utf8.count <= 64, ConstantTime.equal(signature, cancelSignature(caseID: caseID)),
              let target = try await store.recoveryCase(id: caseID), target.userID != nil
        else { throw AccountsError.linkInvalid() }
        return target
    }

    /// The "this wasn't me" POST: cancels the case and blocks new cases on the account for a day.
    public func cancelRecoveryByLink(caseID: UUID, signature: String, info: RequestInfo) async throws {
        let target = try await checkCancelLink(caseID: caseID, signature: signature)
        guard let ownerID = target.userID else { throw AccountsError.linkInvalid() }
        let now = clock()
        do {
            try await store.cancelRecoveryCase(id: caseID, blockUntil: now.addingTimeInterval(policy.recovery.blockAfterCancel), event: SecurityEvent(
                id: newEventID(), userID: ownerID, kind: .recoveryCancelled, at: now, ip: info.ip, userAgent: info.userAgent,
                detail: ["case": caseID.lowercaseText, "by": "link"]), now: now)
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    // MARK: - Admins

    /// An admin (fresh passkey assertion) adds an admin proof to another user's case.
    public func adminApproveRecovery(_ auth: Authenticated, caseID: UUID, comparisonCode: String, info: RequestInfo) async throws {
        try sessions.requireFresh(auth)
        guard auth.user.isAdmin else { throw AccountsError.adminRequired() }
        try await addAdminProof(adminID: auth.user.id, adminName: auth.user.username, via: "passkey", caseID: caseID,
                                comparisonCode: comparisonCode, info: info)
    }

    /// The operator's command line adds an admin proof in the name of `admin` (who must hold the role).
    /// At most one such proof counts towards an admin rule; the others need admins' passkeys.
    public func adminEnrol(admin: String, username: String, comparisonCode: String) async throws -> RecoveryCase {
        guard let adminUser = try await store.user(username: try PasskeyService.normalize(username: admin)), adminUser.isAdmin else {
            throw AccountsError.adminRequired()
        }
        guard let user = try await store.user(username: try PasskeyService.normalize(username: username)) else { throw AccountsError.notFound() }
        let target = try await openCase(ownerID: user.id, comparisonCode: comparisonCode)
        try await addAdminProof(adminID: adminUser.id, adminName: adminUser.username, via: "cli", caseID: target.id, comparisonCode: target.comparisonCode,
                                info: RequestInfo(ip: "command line", userAgent: "portcullis admin enrol"))
        return target
    }

    func addAdminProof(adminID: UUID, adminName: String, via: String, caseID: UUID, comparisonCode: String, info: RequestInfo) async throws {
        let now = clock()
        guard let target = try await store.recoveryCase(id: caseID), let ownerID = target.userID, target.status == .open, target.expiresAt > now
        else { throw AccountsError.notFound() }
        guard ownerID != adminID else { throw AccountsError.ownCase() }
        try checkComparison(comparisonCode, target)
        do {
            try await store.addRecoveryProof(caseID: caseID, proof: RecoveryProof(kind: .admin, actorID: adminID, via: via, at: now), event: SecurityEvent(
                id: newEventID(), userID: ownerID, kind: .recoveryApproved, at: now, ip: info.ip, userAgent: info.userAgent,
                detail: ["case": caseID.lowercaseText, "proof": "admin", "by": adminName, "via": via]), now: now)
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
    }

    /// Open cases of a user, for an admin (fresh passkey assertion not needed to look, only to approve).
    public func adminCases(_ auth: Authenticated, username: String) async throws -> [RecoveryCase] {
        try sessions.requireFullRights(auth)
        guard auth.user.isAdmin else { throw AccountsError.adminRequired() }
        guard let user = try await store.user(username: try PasskeyService.normalize(username: username)) else { throw AccountsError.notFound() }
        return try await openCases(userID: user.id)
    }

    /// Accounts that could not recover today without admins (at most `limit` accounts scanned).
    public func unrecoverableAccounts(_ auth: Authenticated, limit: Int = 10_000) async throws -> [(user: User, readiness: RecoveryReadiness)] {
        try sessions.requireFullRights(auth)
        guard auth.user.isAdmin else { throw AccountsError.adminRequired() }
        var result: [(user: User, readiness: RecoveryReadiness)] = []
        for user in try await store.listUsers(limit: limit) where !user.disabled {
            let readiness = try await recoveryReadiness(userID: user.id)
            if !readiness.canRecoverWithoutAdmins { result.append((user, readiness)) }
        }
        return result
    }
}

extension PasskeyService {
    /// An e-mail address: one `@`, a dotted domain, no spaces or control characters, at most 254 bytes.
    /// Checks an e-mail address the way notification addresses are checked.
    public static func validate(address: String) throws -> String { try normalize(address: address) }

    static func normalize(address: String) throws -> String {
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard trimmed.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              trimmed.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && !"<>()[],;:\\\"".unicodeScalars.contains($0) })
        else { throw AccountsError.invalid("'\(trimmed.prefix(64))' is not an e-mail address.") }
        return String(parts[0]) + "@" + parts[1].lowercased()
    }

    /// Account recovery.
    public var recovery: RecoveryService { RecoveryService(store: store, ceremonies: self) }
}

/// Recovery codes: 26 characters of Crockford base32 (130 bits) in groups of five, read and typed by people.
public enum RecoveryCode {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    /// A new code such as `7KQ2M-...`.
    public static func generate(using random: any RandomSource) -> String {
        let bytes = random.bytes(26)
        let chars = bytes.map { alphabet[Int($0 & 31)] }
        return stride(from: 0, to: chars.count, by: 5).map { String(chars[$0..<min($0 + 5, chars.count)]) }.joined(separator: "-")
    }

    /// Upper-cases, drops separators and spaces, and reads the look-alikes I, L as 1 and O as 0.
    public static func normalize(_ text: String) -> String {
        String(text.uppercased().compactMap { c -> Character? in
            switch c {
            case "-", " ": return nil
            case "I", "L": return "1"
            case "O": return "0"
            default: return c
            }
        })
    }
}

/// The short code a requester reads aloud to contacts and admins: six digits.
public enum ComparisonCode {
    /// Six decimal digits.
    public static let length = 6

    public static func generate(using random: any RandomSource) -> String {
        let value = random.bytes(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } % 1_000_000
        return String(format: "%06d", Int(value))
    }
}
