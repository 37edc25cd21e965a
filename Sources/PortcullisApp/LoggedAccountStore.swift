import Accounts
import Foundation
import Logging
import PortcullisHTTP

/// The account store the domain is given in a running server: every call goes to the opened store,
/// and each security event a write committed is then logged, one line each (its kind, the user, the
/// client's address, its details and the request it came from), as are the operator's actions that
/// leave no event of their own (deleting a user, creating an invite). A write that throws logs
/// nothing: it changed nothing. The store keeps the events; the log is for the operator's tools.
struct LoggedAccountStore: AccountStore {
    let base: any AccountStore
    let log: SecurityEventLog

    func ping() async throws { try await base.ping() }

    func secret(named name: String, candidate: [UInt8]) async throws -> [UInt8] { try await base.secret(named: name, candidate: candidate) }

    func saveChallenge(_ challenge: CeremonyChallenge) async throws { try await base.saveChallenge(challenge) }

    func challenge(_ challenge: String) async throws -> CeremonyChallenge? { try await base.challenge(challenge) }

    func sweepExpiredChallenges(now: Date) async throws -> Int { try await base.sweepExpiredChallenges(now: now) }

    func user(id: UUID) async throws -> User? { try await base.user(id: id) }

    func user(username: String) async throws -> User? { try await base.user(username: username) }

    func user(handle: [UInt8]) async throws -> User? { try await base.user(handle: handle) }

    func listUsers(limit: Int) async throws -> [User] { try await base.listUsers(limit: limit) }

    func users(usernamePrefix prefix: String, limit: Int) async throws -> [User] {
        try await base.users(usernamePrefix: prefix, limit: limit)
    }

    func createUser(
        _ user: User, passkey: Passkey, session: Session, event: SecurityEvent, inviteHash: [UInt8]?, challenge: String, now: Date
    ) async throws {
        try await base.createUser(user, passkey: passkey, session: session, event: event, inviteHash: inviteHash, challenge: challenge,
            now: now)
        log.recorded(event)
    }

    func setDisabled(userID: UUID, disabled: Bool, event: SecurityEvent?) async throws {
        try await base.setDisabled(userID: userID, disabled: disabled, event: event)
        log.recorded(event)
    }

    func deleteUser(id: UUID) async throws {
        try await base.deleteUser(id: id)
        log.adminAction("user_deleted", user: id)
    }

    func createInvite(_ invite: Invite) async throws {
        try await base.createInvite(invite)
        log.adminAction("invite_created", user: nil)
    }

    func setAdmin(userID: UUID, admin: Bool, event: SecurityEvent) async throws {
        try await base.setAdmin(userID: userID, admin: admin, event: event)
        log.recorded(event)
    }

    func admins() async throws -> [User] { try await base.admins() }

    func passkeys(userID: UUID) async throws -> [Passkey] { try await base.passkeys(userID: userID) }

    func passkey(credentialID: [UInt8]) async throws -> Passkey? { try await base.passkey(credentialID: credentialID) }

    func credential(id: [UInt8], now: Date) async throws -> CredentialOwner? { try await base.credential(id: id, now: now) }

    func assertionContext(
        challenge: String, credentialID: [UInt8], now: Date
    ) async throws -> (challenge: CeremonyChallenge?, credential: CredentialOwner?) {
        try await base.assertionContext(challenge: challenge, credentialID: credentialID, now: now)
    }

    func addPasskey(_ passkey: Passkey, event: SecurityEvent, challenge: String, now: Date) async throws {
        try await base.addPasskey(passkey, event: event, challenge: challenge, now: now)
        log.recorded(event)
    }

    func renamePasskey(credentialID: [UInt8], userID: UUID, name: String, event: SecurityEvent) async throws {
        try await base.renamePasskey(credentialID: credentialID, userID: userID, name: name, event: event)
        log.recorded(event)
    }

    @discardableResult
    func deletePasskey(credentialID: [UInt8], userID: UUID, event: SecurityEvent) async throws -> [UUID] {
        let result = try await base.deletePasskey(credentialID: credentialID, userID: userID, event: event)
        log.recorded(event)
        return result
    }

    func recordAssertion(
        credentialID: [UInt8], expectedSignCount: UInt32, newSignCount: UInt32, backedUp: Bool, uvInitialized: Bool,
        newSession: Session?, reauthenticatedSession: (id: UUID, newTokenHash: [UInt8])?, event: SecurityEvent, challenge: String,
        kind: CeremonyKind, now: Date
    ) async throws {
        try await base.recordAssertion(credentialID: credentialID, expectedSignCount: expectedSignCount, newSignCount: newSignCount,
            backedUp: backedUp, uvInitialized: uvInitialized, newSession: newSession, reauthenticatedSession: reauthenticatedSession,
            event: event, challenge: challenge, kind: kind, now: now)
        log.recorded(event)
    }

    func session(tokenHash: [UInt8]) async throws -> Session? { try await base.session(tokenHash: tokenHash) }

    func session(id: UUID) async throws -> Session? { try await base.session(id: id) }

    func sessions(userID: UUID) async throws -> [Session] { try await base.sessions(userID: userID) }

    func touchSession(id: UUID, at: Date) async throws { try await base.touchSession(id: id, at: at) }

    func rotateSession(id: UUID, newTokenHash: [UInt8]) async throws { try await base.rotateSession(id: id, newTokenHash: newTokenHash) }

    func deleteSession(id: UUID, userID: UUID, event: SecurityEvent?) async throws {
        try await base.deleteSession(id: id, userID: userID, event: event)
        log.recorded(event)
    }

    func sweepExpiredSessions(now: Date, idleTimeout: TimeInterval) async throws -> Int {
        try await base.sweepExpiredSessions(now: now, idleTimeout: idleTimeout)
    }

    func countSessions() async throws -> Int { try await base.countSessions() }

    func appendEvent(_ event: SecurityEvent) async throws {
        try await base.appendEvent(event)
        log.recorded(event)
    }

    func events(userID: UUID, limit: Int) async throws -> [SecurityEvent] { try await base.events(userID: userID, limit: limit) }

    func adminEvents(limit: Int) async throws -> [SecurityEvent] { try await base.adminEvents(limit: limit) }

    func deleteEvents(before cutoff: Date, limit: Int) async throws -> Int { try await base.deleteEvents(before: cutoff, limit: limit) }

    func claimUndeliveredEvents(
        now: Date, lease: TimeInterval, limit: Int, kinds: Set<SecurityEvent.Kind>?
    ) async throws -> [(event: SecurityEvent, attempts: Int)] {
        try await base.claimUndeliveredEvents(now: now, lease: lease, limit: limit, kinds: kinds)
    }

    func markEventDelivered(id: UUID, at: Date) async throws { try await base.markEventDelivered(id: id, at: at) }

    func recordEventDeliveryFailure(id: UUID, attempts: Int, nextAttempt: Date?) async throws {
        try await base.recordEventDeliveryFailure(id: id, attempts: attempts, nextAttempt: nextAttempt)
    }

    func createDeviceRequest(_ request: DeviceRequest) async throws { try await base.createDeviceRequest(request) }

    func deviceRequest(userCode: String) async throws -> DeviceRequest? { try await base.deviceRequest(userCode: userCode) }

    func deviceRequest(deviceCodeHash: [UInt8]) async throws -> DeviceRequest? {
        try await base.deviceRequest(deviceCodeHash: deviceCodeHash)
    }

    func pendingDeviceRequests(targetUserID: UUID, now: Date) async throws -> [DeviceRequest] {
        try await base.pendingDeviceRequests(targetUserID: targetUserID, now: now)
    }

    func transitionDeviceRequest(
        deviceCodeHash: [UInt8], from: DeviceRequest.Status, to: DeviceRequest.Status, decidedBy: UUID?,
        approvingCredentialID: [UInt8]?, session: Session?, event: SecurityEvent?, now: Date
    ) async throws {
        try await base.transitionDeviceRequest(deviceCodeHash: deviceCodeHash, from: from, to: to, decidedBy: decidedBy,
            approvingCredentialID: approvingCredentialID, session: session, event: event, now: now)
        log.recorded(event)
    }

    func touchDeviceRequest(deviceCodeHash: [UInt8], polledAt: Date) async throws {
        try await base.touchDeviceRequest(deviceCodeHash: deviceCodeHash, polledAt: polledAt)
    }

    func createEnrolment(_ enrolment: Enrolment, event: SecurityEvent) async throws {
        try await base.createEnrolment(enrolment, event: event)
        log.recorded(event)
    }

    func enrolment(id: UUID) async throws -> Enrolment? { try await base.enrolment(id: id) }

    func enrolment(tokenHash: [UInt8]) async throws -> Enrolment? { try await base.enrolment(tokenHash: tokenHash) }

    func updateEnrolment(_ enrolment: Enrolment, from: Enrolment.Status, event: SecurityEvent?, now: Date) async throws {
        try await base.updateEnrolment(enrolment, from: from, event: event, now: now)
        log.recorded(event)
    }

    func completeEnrolment(
        id: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date
    ) async throws {
        try await base.completeEnrolment(id: id, passkey: passkey, session: session, event: event, challenge: challenge, now: now)
        log.recorded(event)
    }

    func recoverySettings(userID: UUID) async throws -> RecoverySettings? { try await base.recoverySettings(userID: userID) }

    func saveRecoverySettings(_ settings: RecoverySettings, event: SecurityEvent) async throws {
        try await base.saveRecoverySettings(settings, event: event)
        log.recorded(event)
    }

    func recoveryContacts(ownerID: UUID) async throws -> [RecoveryContact] { try await base.recoveryContacts(ownerID: ownerID) }

    func recoveryContacts(contactID: UUID) async throws -> [RecoveryContact] { try await base.recoveryContacts(contactID: contactID) }

    func addRecoveryContact(_ contact: RecoveryContact, event: SecurityEvent) async throws {
        try await base.addRecoveryContact(contact, event: event)
        log.recorded(event)
    }

    func acceptRecoveryContact(id: UUID, contactID: UUID, event: SecurityEvent) async throws {
        try await base.acceptRecoveryContact(id: id, contactID: contactID, event: event)
        log.recorded(event)
    }

    func deleteRecoveryContact(id: UUID, ownerID: UUID, event: SecurityEvent) async throws {
        try await base.deleteRecoveryContact(id: id, ownerID: ownerID, event: event)
        log.recorded(event)
    }

    func createRecoveryCase(_ recoveryCase: RecoveryCase, event: SecurityEvent?) async throws {
        try await base.createRecoveryCase(recoveryCase, event: event)
        log.recorded(event)
    }

    func recoveryCase(id: UUID) async throws -> RecoveryCase? { try await base.recoveryCase(id: id) }

    func recoveryCases(userID: UUID) async throws -> [RecoveryCase] { try await base.recoveryCases(userID: userID) }

    func openRecoveryCases(userID: UUID, now: Date) async throws -> [RecoveryCase] {
        try await base.openRecoveryCases(userID: userID, now: now)
    }

    func openRecoveryCases(userID: UUID, comparisonCode: String, now: Date) async throws -> [RecoveryCase] {
        try await base.openRecoveryCases(userID: userID, comparisonCode: comparisonCode, now: now)
    }

    func addRecoveryProof(caseID: UUID, proof: RecoveryProof, event: SecurityEvent, now: Date) async throws {
        try await base.addRecoveryProof(caseID: caseID, proof: proof, event: event, now: now)
        log.recorded(event)
    }

    func recordRecoveryCodeFailure(caseID: UUID, event: SecurityEvent?) async throws -> Int {
        let result = try await base.recordRecoveryCodeFailure(caseID: caseID, event: event)
        log.recorded(event)
        return result
    }

    func cancelRecoveryCase(id: UUID, blockUntil: Date?, event: SecurityEvent?, now: Date) async throws {
        try await base.cancelRecoveryCase(id: id, blockUntil: blockUntil, event: event, now: now)
        log.recorded(event)
    }

    func completeRecovery(
        caseID: UUID, passkey: Passkey, session: Session, event: SecurityEvent, challenge: String, now: Date
    ) async throws {
        try await base.completeRecovery(caseID: caseID, passkey: passkey, session: session, event: event, challenge: challenge, now: now)
        log.recorded(event)
    }
}

/// Writes security events and operator actions as log lines.
struct SecurityEventLog: Sendable {
    let logger: Logger

    /// One line for `event`, at `info`. Event details name passkeys, cases, contacts and admins; none
    /// holds a secret, a token or a credential.
    func recorded(_ event: SecurityEvent?) {
        guard let event else { return }
        var metadata: Logger.Metadata = [
            "event": .string(event.kind.rawValue),
            "event_id": .string(event.id.lowercaseText),
            "user_id": .string(event.userID.lowercaseText),
            "client_ip": .string(event.ip),
        ]
        for (key, value) in event.detail { metadata["detail." + key] = .string(value) }
        if let requestID = RequestScope.requestID { metadata["request_id"] = .string(requestID) }
        logger.info("security event", metadata: metadata)
    }

    /// One line for an operator's action that records no event (the user's events go with the user).
    func adminAction(_ action: String, user: UUID?) {
        var metadata: Logger.Metadata = ["action": .string(action)]
        if let user { metadata["user_id"] = .string(user.lowercaseText) }
        if let requestID = RequestScope.requestID { metadata["request_id"] = .string(requestID) }
        logger.info("admin action", metadata: metadata)
    }
}
