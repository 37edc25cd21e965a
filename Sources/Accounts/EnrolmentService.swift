import Foundation
import WebAuthn

/// Enrolling a new device's own passkey from a signed-in device: a link, a code the new device
/// shows and the signed-in one confirms, then a passkey registered on the new device. It depends on
/// the enrolments and users it reads, on ``SessionAuthority`` for freshness, and on the passkey
/// ceremonies (``PasskeyService``) to issue and verify the new passkey's registration.
public struct EnrolmentService: CeremonyBacked {
    let store: any EnrolmentStore & UserStore
    let ceremonies: PasskeyService

    /// Enrolments over `store`, registering passkeys through `ceremonies` (whose sessions, clock
    /// and random source it uses).
    public init(store: any EnrolmentStore & UserStore, ceremonies: PasskeyService) {
        self.store = store
        self.ceremonies = ceremonies
    }

    /// How long an enrolment link lives (at most 10 minutes).
    public static let lifetime: TimeInterval = 600

    /// Creates an enrolment link for a new device (fresh passkey session needed).
    /// - Returns: the enrolment and the link's token (shown once, as a link and a QR payload).
    public func create(_ auth: Authenticated, info: RequestInfo) async throws -> (enrolment: Enrolment, token: String) {
        try sessions.requireFresh(auth)
        let now = clock()
        let token = Base64URL.encode(random.bytes(32))
        let enrolment = Enrolment(id: random.uuid(), tokenHash: sha256(token), userID: auth.user.id, status: .created, createdAt: now,
                                  expiresAt: now.addingTimeInterval(Self.lifetime))
        try await store.createEnrolment(enrolment, event: SecurityEvent(
            id: newEventID(), userID: auth.user.id, kind: .enrolmentCreated, at: now, ip: info.ip, userAgent: info.userAgent))
        return (enrolment, token)
    }

    /// The new device opens the link: it gets a confirmation code to show, and a secret its browser keeps.
    public func open(token: String, info: RequestInfo) async throws -> (enrolment: Enrolment, confirmationCode: String, browserSecret: String) {
        let now = clock()
        guard token.utf8.count <= 64, var enrolment = try await store.enrolment(tokenHash: sha256(token)),
              enrolment.status == .created, enrolment.expiresAt > now
        else { throw AccountsError.notFound() }
        let code = ComparisonCode.generate(using: random)
        let secret = Base64URL.encode(random.bytes(32))
        enrolment.status = .opened
        enrolment.confirmationCode = code
        enrolment.browserSecretHash = sha256(secret)
        enrolment.openedIP = info.ip
        enrolment.openedUserAgent = info.userAgent
        do {
            try await store.updateEnrolment(enrolment, from: .created, event: SecurityEvent(
                id: newEventID(), userID: enrolment.userID, kind: .enrolmentOpened, at: now, ip: info.ip, userAgent: info.userAgent), now: now)
        } catch let error as StoreError where error == .conflict {
            throw AccountsError.notFound()
        }
        return (enrolment, code, secret)
    }

    /// One of the signed-in user's enrolments.
    public func enrolment(_ auth: Authenticated, id: UUID) async throws -> Enrolment {
        guard let enrolment = try await store.enrolment(id: id), enrolment.userID == auth.user.id else { throw AccountsError.notFound() }
        return enrolment
    }

    /// The signed-in device confirms the code the new device shows. A wrong code cancels the enrolment.
    public func confirm(_ auth: Authenticated, id: UUID, confirmationCode: String, info: RequestInfo) async throws {
        try sessions.requireFresh(auth)
        var enrolment = try await enrolment(auth, id: id)
        let now = clock()
        guard enrolment.status == .opened, enrolment.expiresAt > now, let expected = enrolment.confirmationCode else { throw AccountsError.notFound() }
        let matches = ConstantTime.equal(confirmationCode.trimmingCharacters(in: .whitespaces), expected)
        enrolment.status = matches ? .confirmed : .cancelled
        do {
            try await store.updateEnrolment(enrolment, from: .opened, event: SecurityEvent(
                id: newEventID(), userID: auth.user.id, kind: matches ? .enrolmentConfirmed : .enrolmentCancelled, at: now, ip: info.ip,
                userAgent: info.userAgent, detail: ["device_ip": enrolment.openedIP ?? "", "device_user_agent": String((enrolment.openedUserAgent ?? "").prefix(200))]),
                now: now)
        } catch let error as StoreError where error == .conflict {
            throw AccountsError.notFound()
        }
        guard matches else { throw AccountsError.invalid("The confirmation code does not match; the enrolment is cancelled.") }
    }

    /// The enrolment the new device's browser may continue, checked against its secret.
    func confirmedEnrolment(id: UUID, browserSecret: String) async throws -> Enrolment {
        guard let enrolment = try await store.enrolment(id: id), enrolment.status == .confirmed, enrolment.expiresAt > clock(),
              let hash = enrolment.browserSecretHash, ConstantTime.equal(hash, sha256(browserSecret))
        else { throw AccountsError.notFound() }
        return enrolment
    }

    /// Creation options for the new device's own passkey.
    public func passkeyOptions(id: UUID, browserSecret: String) async throws -> JSONValue {
        let enrolment = try await confirmedEnrolment(id: id, browserSecret: browserSecret)
        guard let user = try await store.user(id: enrolment.userID), !user.disabled else { throw AccountsError.notFound() }
        return try await ceremonies.newPasskeyOptions(for: user, kind: .enrol, boundTo: enrolment.id)
    }

    /// Registers the new device's passkey and signs it in with a `passkey` session.
    public func passkeyVerify(id: UUID, browserSecret: String, credential: JSONValue, name: String?, info: RequestInfo) async throws
        -> (user: User, passkey: Passkey, issued: IssuedSession)
    {
        let enrolment = try await confirmedEnrolment(id: id, browserSecret: browserSecret)
        guard let user = try await store.user(id: enrolment.userID), !user.disabled else { throw AccountsError.notFound() }
        let now = clock()
        let (passkey, verified, challenge) = try await ceremonies.verifyNewPasskey(
            for: user, kind: .enrol, boundTo: enrolment.id, credential: credential, name: name, now: now)
        let issued = ceremonies.newSession(userID: user.id, passkey: passkey, userVerified: verified.userVerified, info: info, now: now)
        let event = SecurityEvent(id: newEventID(), userID: user.id, kind: .passkeyAdded, at: now, ip: info.ip, userAgent: info.userAgent,
                                  detail: ["passkey": passkey.name, "via": "enrolment"])
        do {
            try await store.completeEnrolment(id: enrolment.id, passkey: passkey, session: issued.session, event: event, challenge: challenge, now: now)
        } catch let error as StoreError {
            throw ceremonies.map(error)
        }
        return (user, passkey, issued)
    }
}

extension PasskeyService {
    /// Enrolling a new device's own passkey.
    public var enrolments: EnrolmentService { EnrolmentService(store: store, ceremonies: self) }
}
