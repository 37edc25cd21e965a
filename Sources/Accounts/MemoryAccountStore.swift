import Foundation

/// An in-memory ``AccountStore`` for unit tests. Each method is atomic (an actor).
public actor MemoryAccountStore: AccountStore {
    var challenges: [String: CeremonyChallenge] = [:]
    var users: [UUID: User] = [:]
    var passkeysByID: [[UInt8]: Passkey] = [:]
    var sessionsByID: [UUID: Session] = [:]
    var eventLog: [SecurityEvent] = []
    var invites: [[UInt8]: Invite] = [:]

    public init() {}

    public func ping() async throws {}

    public func saveChallenge(_ challenge: CeremonyChallenge) async throws { challenges[challenge.challenge] = challenge }

    public func challenge(_ challenge: String) async throws -> CeremonyChallenge? { challenges[challenge] }

    /// Checks that the challenge can be used up; the caller removes it once every other check passed.
    func checkChallenge(_ challenge: String, kind: CeremonyKind, now: Date) throws {
        guard let stored = challenges[challenge], stored.kind == kind, stored.expiresAt > now else { throw StoreError.challengeGone }
    }

    public func sweepExpiredChallenges(now: Date) async throws -> Int {
        let expired = challenges.filter { $0.value.expiresAt <= now }.map(\.key)
        for key in expired { challenges[key] = nil }
        return expired.count
    }

    public func user(id: UUID) async throws -> User? { users[id] }
    public func user(username: String) async throws -> User? { users.values.first { $0.username == username.lowercased() } }
    public func user(handle: [UInt8]) async throws -> User? { users.values.first { $0.handle == handle } }
    public func listUsers(limit: Int) async throws -> [User] { Array(users.values.sorted { $0.createdAt < $1.createdAt }.prefix(limit)) }
    public func users(usernamePrefix prefix: String, limit: Int) async throws -> [User] {
        Array(users.values.filter { $0.username.hasPrefix(prefix) }.sorted { $0.username < $1.username }.prefix(limit))
    }

    public func createUser(_ user: User, passkey: Passkey, session: Session, event: SecurityEvent, inviteHash: [UInt8]?, challenge: String, now: Date) async throws {
        try checkChallenge(challenge, kind: .signup, now: now)
        if users.values.contains(where: { $0.username == user.username }) { throw StoreError.usernameTaken }
        if passkeysByID[passkey.credentialID] != nil { throw StoreError.credentialExists }
        if let inviteHash {
            guard let invite = invites[inviteHash], invite.usedAt == nil, invite.expiresAt > now else { throw StoreError.inviteInvalid }
            invites[inviteHash]?.usedAt = now
        }
        challenges[challenge] = nil
        users[user.id] = user
        passkeysByID[passkey.credentialID] = passkey
        sessionsByID[session.id] = session
        eventLog.append(event)
    }

    public func setDisabled(userID: UUID, disabled: Bool, event: SecurityEvent?) async throws {
        guard users[userID] != nil else { throw StoreError.notFound }
        users[userID]?.disabled = disabled
        if disabled { sessionsByID = sessionsByID.filter { $0.value.userID != userID } }
        if let event { eventLog.append(event) }
    }

    public func deleteUser(id: UUID) async throws {
        guard users.removeValue(forKey: id) != nil else { throw StoreError.notFound }
        recoverySettingsByUser[id] = nil
        contacts = contacts.filter { $0.value.ownerID != id && $0.value.contactID != id }
        cases = cases.filter { $0.value.userID != id }
        passkeysByID = passkeysByID.filter { $0.value.userID != id }
        sessionsByID = sessionsByID.filter { $0.value.userID != id }
        eventLog.removeAll { $0.userID == id }
        challenges = challenges.filter { $0.value.userID != id }
    }

    public func passkeys(userID: UUID) async throws -> [Passkey] {
        passkeysByID.values.filter { $0.userID == userID }.sorted { $0.createdAt < $1.createdAt }
    }
    public func passkey(credentialID: [UInt8]) async throws -> Passkey? { passkeysByID[credentialID] }
    public func credential(id: [UInt8], now: Date) async throws -> CredentialOwner? {
        guard let passkey = passkeysByID[id], let user = users[passkey.userID] else { return nil }
        return CredentialOwner(passkey: passkey, user: user,
                               openRecoveryCases: cases.values.filter { $0.userID == user.id && $0.status == .open && $0.expiresAt > now }.count)
    }

    public func addPasskey(_ passkey: Passkey, event: SecurityEvent, challenge: String, now: Date) async throws {
        try checkChallenge(challenge, kind: .add, now: now)
        guard passkeysByID[passkey.credentialID] == nil else { throw StoreError.credentialExists }
        guard users[passkey.userID] != nil else { throw StoreError.notFound }
        challenges[challenge] = nil
        passkeysByID[passkey.credentialID] = passkey
        eventLog.append(event)
    }

    public func renamePasskey(credentialID: [UInt8], userID: UUID, name: String, event: SecurityEvent) async throws {
        guard passkeysByID[credentialID]?.userID == userID else { throw StoreError.notFound }
        passkeysByID[credentialID]?.name = name
        eventLog.append(event)
    }

    @discardableResult
    public func deletePasskey(credentialID: [UInt8], userID: UUID, event: SecurityEvent) async throws -> [UUID] {
        guard passkeysByID[credentialID]?.userID == userID else { throw StoreError.notFound }
        guard passkeysByID.values.filter({ $0.userID == userID }).count > 1 else { throw StoreError.lastPasskey }
        passkeysByID[credentialID] = nil
        let ended = sessionsByID.values.filter { $0.userID == userID && $0.birth.credentialID == credentialID }.map(\.id).sorted { $0.uuidString < $1.uuidString }
        for id in ended { sessionsByID[id] = nil }
        for (hash, request) in deviceRequests where request.status == .approved && request.approvingCredentialID == credentialID {
            deviceRequests[hash]?.status = .denied
        }
        var recorded = event
        recorded.detail[SecurityEvent.sessionsEndedDetail] = String(ended.count)
        eventLog.append(recorded)
        return ended
    }

    public func recordAssertion(
        credentialID: [UInt8], expectedSignCount: UInt32, newSignCount: UInt32, backedUp: Bool, uvInitialized: Bool,
        newSession: Session?, reauthenticatedSession: (id: UUID, newTokenHash: [UInt8])?, event: SecurityEvent,
        challenge: String, kind: CeremonyKind, now: Date
    ) async throws {
        try checkChallenge(challenge, kind: kind, now: now)
        guard var passkey = passkeysByID[credentialID] else { throw StoreError.notFound }
        guard passkey.signCount == expectedSignCount else { throw StoreError.conflict }
        if let reauthenticatedSession, sessionsByID[reauthenticatedSession.id] == nil { throw StoreError.notFound }
        challenges[challenge] = nil
        passkey.signCount = newSignCount
        passkey.backedUp = backedUp
        passkey.uvInitialized = passkey.uvInitialized || uvInitialized
        passkey.lastUsedAt = now
        passkeysByID[credentialID] = passkey
        if let newSession { sessionsByID[newSession.id] = newSession }
        if let reauthenticatedSession {
            sessionsByID[reauthenticatedSession.id]?.authenticatedAt = now
            sessionsByID[reauthenticatedSession.id]?.tokenHash = reauthenticatedSession.newTokenHash
        }
        eventLog.append(event)
    }

    public func session(tokenHash: [UInt8]) async throws -> Session? { sessionsByID.values.first { $0.tokenHash == tokenHash } }
    public func session(id: UUID) async throws -> Session? { sessionsByID[id] }
    public func sessions(userID: UUID) async throws -> [Session] {
        sessionsByID.values.filter { $0.userID == userID }.sorted { $0.createdAt < $1.createdAt }
    }
    public func touchSession(id: UUID, at: Date) async throws { sessionsByID[id]?.lastSeenAt = at }
    public func rotateSession(id: UUID, newTokenHash: [UInt8]) async throws {
        guard sessionsByID[id] != nil else { throw StoreError.notFound }
        sessionsByID[id]?.tokenHash = newTokenHash
    }
    public func deleteSession(id: UUID, userID: UUID, event: SecurityEvent?) async throws {
        guard sessionsByID[id]?.userID == userID else { throw StoreError.notFound }
        sessionsByID[id] = nil
        if let event { eventLog.append(event) }
    }
    public func sweepExpiredSessions(now: Date, idleTimeout: TimeInterval) async throws -> Int {
        let expired = sessionsByID.values.filter { !$0.isLive(at: now, idleTimeout: idleTimeout) }.map(\.id)
        for id in expired { sessionsByID[id] = nil }
        return expired.count
    }
    public func countSessions() async throws -> Int { sessionsByID.count }

    public func appendEvent(_ event: SecurityEvent) async throws { eventLog.append(event) }
    public func events(userID: UUID, limit: Int) async throws -> [SecurityEvent] {
        Array(eventLog.filter { $0.userID == userID }.sorted { $0.at > $1.at }.prefix(limit))
    }
    public func adminEvents(limit: Int) async throws -> [SecurityEvent] {
        Array(eventLog.filter { SecurityEvent.Kind.adminActions.contains($0.kind) }.sorted { $0.at > $1.at }.prefix(limit))
    }
    public func deleteEvents(before cutoff: Date, limit: Int) async throws -> Int {
        let old = Set(eventLog.filter { $0.at < cutoff }.sorted { $0.at < $1.at }.prefix(limit).map(\.id))
        eventLog.removeAll { old.contains($0.id) }
        return old.count
    }
    public func createInvite(_ invite: Invite) async throws { invites[invite.codeHash] = invite }

    var deviceRequests: [[UInt8]: DeviceRequest] = [:]

    public func createDeviceRequest(_ request: DeviceRequest) async throws {
        guard !deviceRequests.values.contains(where: { $0.userCode == request.userCode }) else { throw StoreError.conflict }
        deviceRequests[request.deviceCodeHash] = request
    }
    public func deviceRequest(userCode: String) async throws -> DeviceRequest? { deviceRequests.values.first { $0.userCode == userCode } }
    public func deviceRequest(deviceCodeHash: [UInt8]) async throws -> DeviceRequest? { deviceRequests[deviceCodeHash] }
    public func pendingDeviceRequests(targetUserID: UUID, now: Date) async throws -> [DeviceRequest] {
        Array(deviceRequests.values.filter { $0.targetUserID == targetUserID && $0.status == .pending && $0.expiresAt > now }
            .sorted { ($0.createdAt, $0.userCode) > ($1.createdAt, $1.userCode) }.prefix(20))
    }
    public func transitionDeviceRequest(deviceCodeHash: [UInt8], from: DeviceRequest.Status, to: DeviceRequest.Status, decidedBy: UUID?,
                                        approvingCredentialID: [UInt8]?, session: Session?, event: SecurityEvent?, now: Date) async throws {
        guard var request = deviceRequests[deviceCodeHash], request.status == from, request.expiresAt > now else { throw StoreError.conflict }
        request.status = to
        if let decidedBy { request.decidedBy = decidedBy }
        if let approvingCredentialID { request.approvingCredentialID = approvingCredentialID }
        deviceRequests[deviceCodeHash] = request
        if let session { sessionsByID[session.id] = session }
        if let event { eventLog.append(event) }
    }
    public func touchDeviceRequest(deviceCodeHash: [UInt8], polledAt: Date) async throws { deviceRequests[deviceCodeHash]?.lastPolledAt = polledAt }

    var enrolments: [UUID: Enrolment] = [:]

    public func createEnrolment(_ enrolment: Enrolment, event: SecurityEvent) async throws {
        enrolments[enrolment.id] = enrolment
        eventLog.append(event)
    }
    public func enrolment(id: UUID) async throws -> Enrolment? { enrolments[id] }
    public func enrolment(tokenHash: [UInt8]) async throws -> Enrolment? { enrolments.values.first { $0.tokenHash == tokenHash } }
    public func updateEnrolment(_ enrolment: Enrolment, from: Enrolment.Status, event: SecurityEvent?, now: Date) async throws {
        guard let stored = enrolments[enrolment.id], stored.status == from, stored.expiresAt > now else { throw StoreError.conflict }
        enrolments[enrolment.id] = enrolment
        if let event { eventLog.append(event) }
    }
    public func completeEnrolment(id: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date) async throws {
        let claimable = enrolments[id].map { $0.status == .confirmed && $0.expiresAt > now } ?? false
        try registerCompleting(challenge: challenge, kind: .enrol, claimable: claimable, passkey: passkey, session: session, event: event, now: now) {
            enrolments[id]?.status = .used
        }
    }

    /// Uses up the challenge and, when the record is `claimable`, claims it and adds the passkey, the
    /// session and the event; all or nothing, as ``SQLAccountStore`` does in one transaction.
    func registerCompleting(challenge: String, kind: CeremonyKind, claimable: Bool, passkey: Passkey, session: Session, event: SecurityEvent,
                            now: Date, claim: () -> Void) throws {
        try checkChallenge(challenge, kind: kind, now: now)
        guard claimable else { throw StoreError.conflict }
        guard passkeysByID[passkey.credentialID] == nil else { throw StoreError.credentialExists }
        challenges[challenge] = nil
        claim()
        passkeysByID[passkey.credentialID] = passkey
        sessionsByID[session.id] = session
        eventLog.append(event)
    }

    struct Delivery { var attempts = 0; var next: Date?; var delivered: Date? }
    var deliveries: [UUID: Delivery] = [:]

    public func claimUndeliveredEvents(now: Date, lease: TimeInterval, limit: Int, kinds: Set<SecurityEvent.Kind>?) async throws
        -> [(event: SecurityEvent, attempts: Int)]
    {
        var claimed: [(event: SecurityEvent, attempts: Int)] = []
        for event in eventLog.sorted(by: { $0.at < $1.at }) where claimed.count < limit && (kinds?.contains(event.kind) ?? true) {
            var delivery = deliveries[event.id] ?? Delivery(next: event.at)
            guard delivery.delivered == nil, let next = delivery.next, next <= now else { continue }
            delivery.next = now.addingTimeInterval(lease)
            deliveries[event.id] = delivery
            claimed.append((event, delivery.attempts))
        }
        return claimed
    }
    public func markEventDelivered(id: UUID, at: Date) async throws { deliveries[id, default: Delivery()].delivered = at }
    public func recordEventDeliveryFailure(id: UUID, attempts: Int, nextAttempt: Date?) async throws {
        deliveries[id, default: Delivery()].attempts = attempts
        deliveries[id, default: Delivery()].next = nextAttempt
    }

    var secrets: [String: [UInt8]] = [:]
    public func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] {
        if let stored = secrets[name] { return stored }
        secrets[name] = candidate
        return candidate
    }

    // MARK: Recovery

    var recoverySettingsByUser: [UUID: RecoverySettings] = [:]
    var contacts: [UUID: RecoveryContact] = [:]
    var cases: [UUID: RecoveryCase] = [:]

    public func recoverySettings(userID: UUID) async throws -> RecoverySettings? { recoverySettingsByUser[userID] }
    public func saveRecoverySettings(_ settings: RecoverySettings, event: SecurityEvent) async throws {
        guard users[settings.userID] != nil else { throw StoreError.notFound }
        recoverySettingsByUser[settings.userID] = settings
        eventLog.append(event)
    }
    public func recoveryContacts(ownerID: UUID) async throws -> [RecoveryContact] {
        contacts.values.filter { $0.ownerID == ownerID }.sorted { $0.createdAt < $1.createdAt }
    }
    public func recoveryContacts(contactID: UUID) async throws -> [RecoveryContact] {
        contacts.values.filter { $0.contactID == contactID }.sorted { $0.createdAt < $1.createdAt }
    }
    public func addRecoveryContact(_ contact: RecoveryContact, event: SecurityEvent) async throws {
        guard users[contact.ownerID] != nil, users[contact.contactID] != nil else { throw StoreError.notFound }
        guard !contacts.values.contains(where: { $0.ownerID == contact.ownerID && $0.contactID == contact.contactID }) else { throw StoreError.conflict }
        contacts[contact.id] = contact
        eventLog.append(event)
    }
    public func acceptRecoveryContact(id: UUID, contactID: UUID, event: SecurityEvent) async throws {
        guard let contact = contacts[id], contact.contactID == contactID, !contact.accepted else { throw StoreError.notFound }
        contacts[id]?.accepted = true
        eventLog.append(event)
    }
    public func deleteRecoveryContact(id: UUID, ownerID: UUID, event: SecurityEvent) async throws {
        guard contacts[id]?.ownerID == ownerID else { throw StoreError.notFound }
        contacts[id] = nil
        eventLog.append(event)
    }
    public func createRecoveryCase(_ recoveryCase: RecoveryCase, event: SecurityEvent?) async throws {
        cases[recoveryCase.id] = recoveryCase
        if let event { eventLog.append(event) }
    }
    public func recoveryCase(id: UUID) async throws -> RecoveryCase? { cases[id] }
    public func recoveryCases(userID: UUID) async throws -> [RecoveryCase] {
        Array(cases.values.filter { $0.userID == userID }.sorted { $0.createdAt > $1.createdAt }.prefix(50))
    }
    public func openRecoveryCases(userID: UUID, now: Date) async throws -> [RecoveryCase] {
        let open = cases.values.filter { $0.userID == userID && $0.status == .open && $0.expiresAt > now }
        let ordered = open.sorted { a, b in
            if a.proofs.isEmpty != b.proofs.isEmpty { return !a.proofs.isEmpty }
            return a.createdAt > b.createdAt
        }
        return Array(ordered.prefix(openRecoveryCasesShown))
    }
    public func openRecoveryCases(userID: UUID, comparisonCode: String, now: Date) async throws -> [RecoveryCase] {
        cases.values.filter { $0.userID == userID && $0.status == .open && $0.expiresAt > now && $0.comparisonCode == comparisonCode }
    }
    public func addRecoveryProof(caseID: UUID, proof: RecoveryProof, event: SecurityEvent, now: Date) async throws {
        guard let stored = cases[caseID], stored.status == .open, stored.expiresAt > now,
              !stored.proofs.contains(where: { $0.kind == proof.kind && $0.actorID == proof.actorID })
        else { throw StoreError.conflict }
        cases[caseID]?.proofs.append(proof)
        eventLog.append(event)
    }
    public func recordRecoveryCodeFailure(caseID: UUID, event: SecurityEvent?) async throws -> Int {
        guard let stored = cases[caseID], stored.status == .open else { throw StoreError.conflict }
        cases[caseID]?.codeAttempts += 1
        if let event { eventLog.append(event) }
        return stored.codeAttempts + 1
    }
    public func cancelRecoveryCase(id: UUID, blockUntil: Date?, event: SecurityEvent?, now: Date) async throws {
        guard let stored = cases[id], stored.status == .open else { throw StoreError.conflict }
        cases[id]?.status = .cancelled
        if let blockUntil, let userID = stored.userID {
            recoverySettingsByUser[userID, default: RecoverySettings(userID: userID)].blockedUntil = blockUntil
        }
        if let event { eventLog.append(event) }
    }
    public func completeRecovery(caseID: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date) async throws {
        let claimable = cases[caseID].map { $0.status == .open && $0.expiresAt > now && $0.userID == passkey.userID } ?? false
        try registerCompleting(challenge: challenge, kind: .recover, claimable: claimable, passkey: passkey, session: session, event: event, now: now) {
            cases[caseID]?.status = .completed
            // A recovery code is used up by the recovery it proved.
            if cases[caseID]?.proofs.contains(where: { $0.kind == .code }) == true {
                recoverySettingsByUser[passkey.userID]?.codeHash = nil
                recoverySettingsByUser[passkey.userID]?.codeCreatedAt = nil
            }
        }
    }

    // MARK: Admins

    public func setAdmin(userID: UUID, admin: Bool, event: SecurityEvent) async throws {
        guard users[userID] != nil else { throw StoreError.notFound }
        users[userID]?.isAdmin = admin
        eventLog.append(event)
    }
    public func admins() async throws -> [User] { users.values.filter(\.isAdmin).sorted { $0.username < $1.username } }
}
