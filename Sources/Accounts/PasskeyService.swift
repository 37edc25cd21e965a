import Crypto
import Foundation
import WebAuthn

/// A session token handed to the browser once; only its hash is stored.
public struct IssuedSession: Sendable {
    /// The token for the cookie.
    public let token: String
    /// The stored session.
    public let session: Session

    /// The session just issued to `user`, as an authenticated request would carry it; nil for
    /// another user's session.
    public func authenticated(_ user: User) -> Authenticated? {
        user.id == session.userID ? Authenticated(user: user, session: session) : nil
    }
}

/// An authenticated request: the user and the session that carries them.
public struct Authenticated: Sendable {
    public let user: User
    public let session: Session
}

/// Sign-up and sign-in, and the passkey ceremonies the other services run through (options,
/// challenges, verification, what an assertion records). Every session is made by ``sessions`` (the
/// ``SessionAuthority``), from a passkey ceremony verified here. The other parts of the domain are
/// services of their own, reached from here with this service's store, policy, clock and random
/// source: ``account`` (``AccountService``: the signed-in user's passkeys, sessions and timeline),
/// ``deviceApproval`` (``DeviceApprovalService``), ``enrolments`` (``EnrolmentService``),
/// ``recovery`` (``RecoveryService``) and ``operatorActions`` (``OperatorActions``).
public struct PasskeyService: Sendable {
    let store: any AccountStore
    public let policy: AccountsPolicy
    /// Where every session this service starts is made, and checked.
    public let sessions: SessionAuthority
    let random: any RandomSource
    let clock: @Sendable () -> Date
    /// Keys the fake credential IDs shown for unknown usernames (no account enumeration).
    var enumerationSecret: SecretBox

    /// - Parameters:
    ///   - enumerationSecret: a server secret shared by every node, so an unknown username gets the
    ///     same fake credentials from any node.
    public init(store: any AccountStore, policy: AccountsPolicy, random: any RandomSource = SystemRandomSource(),
                enumerationSecret: [UInt8], clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.policy = policy
        self.random = random
        self.clock = clock
        self.enumerationSecret = SecretBox(enumerationSecret)
        sessions = SessionAuthority(store: store, policy: policy, random: random, clock: clock)
    }

    /// The same service reading its enumeration secret from `box`, which is filled in later (after the
    /// store is migrated and the deployment's shared secret is read from it).
    public func withSecret(_ box: SecretBox) -> PasskeyService {
        var copy = self
        copy.enumerationSecret = box
        return copy
    }

    // MARK: - Usernames

    /// Normalizes and validates a username: 1 to 64 characters of letters, digits, `.`, `_`, `-`, `@`,
    /// lowercased and in Unicode Normalization Form C. Without NFC, `café` typed with a precomposed
    /// `é` and with `e` and a combining acute were two accounts that look the same everywhere their
    /// names are shown (a device approval, a recovery contact, the admin page); accounts are stored and
    /// looked up by these bytes.
    public static func normalize(username: String) throws -> String {
        let lowered = username.trimmingCharacters(in: .whitespaces).lowercased().precomposedStringWithCanonicalMapping
        guard (1...64).contains(lowered.count),
              lowered.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "._-@".unicodeScalars.contains($0) })
        else {
            throw AccountsError.invalid("A username is 1 to 64 letters, digits, '.', '_', '-' or '@'.")
        }
        return lowered
    }

    // MARK: - Sign-up

    /// Options for creating an account: `{"publicKey": PublicKeyCredentialCreationOptionsJSON}`.
    public func signupOptions(username rawUsername: String, displayName: String?, invite: String?) async throws -> JSONValue {
        let username = try Self.normalize(username: rawUsername)
        try PlainText.check(displayName, "A display name")
        let display = String((displayName?.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { $0.isEmpty ? nil : $0 } ?? username).prefix(64)
        var inviteHash: [UInt8]?
        if policy.signupMode == .inviteOnly {
            guard let invite, !invite.isEmpty else { throw AccountsError.signupClosed() }
            inviteHash = sha256(invite)
        }
        // The user chose the name: say so here, and only here.
        if try await store.user(username: username) != nil { throw AccountsError.usernameTaken() }
        let handle = random.bytes(32)
        let challenge = random.bytes(32)
        let now = clock()
        try await store.saveChallenge(CeremonyChallenge(
            challenge: Base64URL.encode(challenge), kind: .signup,
            pendingUser: PendingUser(username: username, displayName: String(display), handle: handle, inviteHash: inviteHash),
            expiresAt: now.addingTimeInterval(policy.challengeLifetime)))
        return creationOptions(challenge: challenge, handle: handle, username: username, displayName: String(display), exclude: [])
    }

    /// Verifies a sign-up response and creates the account, its passkey and its first session.
    public func signupVerify(credential: JSONValue, name: String?, info: RequestInfo) async throws -> (user: User, passkey: Passkey, issued: IssuedSession) {
        try PlainText.check(name, "A passkey name")
        let response = try decodeRegistration(credential)
        let stored = try await challenge(for: response.clientDataJSON, kind: .signup)
        guard let pending = stored.pendingUser else { throw AccountsError.challengeGone() }
        let now = clock()
        let verified = try await verifyRegistration(response, challenge: stored.challenge, excluded: [], now: now)
        let user = User(id: random.uuid(), username: pending.username, displayName: pending.displayName, handle: pending.handle, createdAt: now)
        let passkey = makePasskey(verified, userID: user.id, name: name, now: now)
        let issued = newSession(userID: user.id, passkey: passkey, userVerified: verified.userVerified, info: info, now: now)
        let event = SecurityEvent(id: newEventID(), userID: user.id, kind: .signup, at: now, ip: info.ip, userAgent: info.userAgent,
                                  detail: ["passkey": passkey.name])
        do {
            try await store.createUser(user, passkey: passkey, session: issued.session, event: event, inviteHash: pending.inviteHash,
                                       challenge: stored.challenge, now: now)
        } catch let error as StoreError {
            throw map(error)
        }
        return (user, passkey, issued)
    }

    // MARK: - Sign-in

    /// Options for signing in. Without a username: discoverable (empty allowCredentials), which also
    /// serves conditional UI. For an unknown username the answer looks like a known one's.
    public func loginOptions(username rawUsername: String?) async throws -> JSONValue {
        let challenge = random.bytes(32)
        let now = clock()
        var allow: [PublicKeyCredentialDescriptor] = []
        var boundUser: UUID?
        if let rawUsername, !rawUsername.isEmpty {
            let username = try Self.normalize(username: rawUsername)
            if let user = try await store.user(username: username), !user.disabled {
                boundUser = user.id
                allow = try await store.passkeys(userID: user.id).map { PublicKeyCredentialDescriptor(id: $0.credentialID, transports: $0.transports) }
            } else {
                // Bind the challenge to no account at all: nothing can complete it, and the answer is
                // shaped like a real one (credential IDs derived from the username, stable across nodes).
                boundUser = random.uuid()
                allow = fakeCredentials(for: username)
            }
        }
        try await store.saveChallenge(CeremonyChallenge(
            challenge: Base64URL.encode(challenge), kind: .login, userID: boundUser,
            expiresAt: now.addingTimeInterval(policy.challengeLifetime)))
        return requestOptions(challenge: challenge, allow: allow)
    }

    /// Verifies a sign-in response and starts a session born `passkey`.
    /// - Returns: also how many recovery cases are open on the account, which the sign-in must show.
    public func loginVerify(credential: JSONValue, info: RequestInfo) async throws -> (user: User, issued: IssuedSession, openRecoveryCases: Int) {
        let response = try decodeAuthentication(credential)
        let (stored, found) = try await assertionContext(response, kind: .login)
        let (user, passkey, verified, openRecoveryCases) = try verifyAssertion(response, stored: stored, found: found, requireUserHandle: stored.userID == nil)
        let now = clock()
        let issued = newSession(userID: user.id, passkey: passkey, userVerified: verified.userVerified, info: info, now: now)
        // The first sign-in with a passkey is a sign-in from a new device (or a new authenticator).
        var detail = ["passkey": passkey.name, "provider": providerName(passkey.aaguid) ?? "unknown"]
        if passkey.lastUsedAt == nil { detail["new_device"] = "true" }
        let event = SecurityEvent(id: newEventID(), userID: user.id, kind: .signin, at: now, ip: info.ip, userAgent: info.userAgent, detail: detail)
        try await record(verified, passkey: passkey, newSession: issued.session, reauth: nil, event: event, challenge: stored, now: now)
        return (user, issued, openRecoveryCases)
    }

    // MARK: - Signed-in actions

    /// Resolves a session token (``SessionAuthority/authenticate(token:)``).
    public func authenticate(token: String) async throws -> Authenticated? { try await sessions.authenticate(token: token) }

    /// ``SessionAuthority/requireFresh(_:within:)``.
    public func requireFresh(_ auth: Authenticated, within window: TimeInterval? = nil) throws { try sessions.requireFresh(auth, within: window) }

    /// ``SessionAuthority/requireFullRights(_:)``: the single check every account-changing action goes through.
    public func requireFullRights(_ auth: Authenticated) throws { try sessions.requireFullRights(auth) }

    /// Creation options for another passkey of `user` (excluding the ones they have), the challenge
    /// bound to `kind` and to `id` (the asking session, the enrolment or the recovery case).
    func newPasskeyOptions(for user: User, kind: CeremonyKind, boundTo id: UUID) async throws -> JSONValue {
        let challenge = random.bytes(32)
        let existing = try await store.passkeys(userID: user.id)
        try await store.saveChallenge(CeremonyChallenge(
            challenge: Base64URL.encode(challenge), kind: kind, userID: user.id, sessionID: id,
            expiresAt: clock().addingTimeInterval(policy.challengeLifetime)))
        return creationOptions(challenge: challenge, handle: user.handle, username: user.username, displayName: user.displayName,
                               exclude: existing.map { PublicKeyCredentialDescriptor(id: $0.credentialID, transports: $0.transports) })
    }

    /// Verifies a registration answering a challenge from ``newPasskeyOptions(for:kind:boundTo:)``:
    /// the new passkey (not yet stored) and the challenge to use up when it is.
    func verifyNewPasskey(for user: User, kind: CeremonyKind, boundTo id: UUID, credential: JSONValue, name: String?, now: Date) async throws
        -> (passkey: Passkey, verified: VerifiedRegistration, challenge: String)
    {
        try PlainText.check(name, "A passkey name")
        let response = try decodeRegistration(credential)
        let stored = try await challenge(for: response.clientDataJSON, kind: kind)
        guard stored.userID == user.id, stored.sessionID == id else { throw AccountsError.challengeGone() }
        let existing = Set(try await store.passkeys(userID: user.id).map(\.credentialID))
        let verified = try await verifyRegistration(response, challenge: stored.challenge, excluded: existing, now: now)
        return (makePasskey(verified, userID: user.id, name: name, now: now), verified, stored.challenge)
    }

    // MARK: - Helpers


    /// The display name of a passkey provider, when its AAGUID is known.
    public func providerName(_ aaguid: AAGUID) -> String? {
        policy.attestationTrust.metadata?.entries[aaguid]?.description ?? KnownAuthenticators.name(for: aaguid)
    }

    /// A session born from `passkey` (``SessionAuthority``).
    func newSession(userID: UUID, passkey: Passkey, userVerified: Bool, info: RequestInfo, now: Date) -> IssuedSession {
        sessions.issue(userID: userID, passkey: passkey, userVerified: userVerified, info: info, now: now)
    }

    /// The ID of a new security event: time-ordered, so the timeline's rows are appended.
    func newEventID() -> UUID { random.timeOrderedUUID(at: clock()) }

    func decodeRegistration(_ credential: JSONValue) throws -> RegistrationResponse {
        do { return try RegistrationResponse(value: credential) } catch { throw AccountsError.verificationFailed(error) }
    }

    func decodeAuthentication(_ credential: JSONValue) throws -> AuthenticationResponse {
        do { return try AuthenticationResponse(value: credential) } catch { throw AccountsError.verificationFailed(error) }
    }

    /// Finds the stored challenge a response answers, by the challenge its client data names. The
    /// verifier then checks that the client data really carries exactly that challenge.
    func challenge(for clientDataJSON: [UInt8], kind: CeremonyKind) async throws -> CeremonyChallenge {
        guard let name = Self.challengeName(clientDataJSON), let stored = try await store.challenge(name) else { throw AccountsError.challengeGone() }
        return try usable(stored, kind: kind)
    }

    /// The challenge client data names, when it is client data at all and the name is of a sane length.
    static func challengeName(_ clientDataJSON: [UInt8]) -> String? {
        guard let clientData = try? CollectedClientData(bytes: clientDataJSON), clientData.challenge.utf8.count <= 128 else { return nil }
        return clientData.challenge
    }

    /// `stored`, if it is of `kind` and has not expired.
    func usable(_ stored: CeremonyChallenge, kind: CeremonyKind) throws -> CeremonyChallenge {
        guard stored.kind == kind, stored.expiresAt > clock() else { throw AccountsError.challengeGone() }
        return stored
    }

    /// The stored challenge an assertion answers (checked first: an unknown or used challenge is
    /// `challengeGone` whatever the credential) and the passkey it names, read at once.
    func assertionContext(_ response: AuthenticationResponse, kind: CeremonyKind) async throws -> (CeremonyChallenge, CredentialOwner?) {
        guard let name = Self.challengeName(response.clientDataJSON) else { throw AccountsError.challengeGone() }
        let (stored, found) = try await store.assertionContext(challenge: name, credentialID: response.credential.rawID, now: clock())
        guard let stored else { throw AccountsError.challengeGone() }
        return (try usable(stored, kind: kind), found)
    }

    func verifyRegistration(_ response: RegistrationResponse, challenge: String, excluded: Set<[UInt8]>, now: Date) async throws -> VerifiedRegistration {
        guard let challengeBytes = Base64URL.decode(challenge) else { throw AccountsError.challengeGone() }
        let expectations = RegistrationExpectations(
            challenge: challengeBytes, relyingParty: policy.relyingParty, userVerification: policy.userVerification,
            allowedAlgorithms: policy.algorithms, excludedCredentialIDs: excluded,
            requireTrustedAttestation: policy.requireTrustedAttestation)
        let verified: VerifiedRegistration
        do {
            verified = try await RegistrationVerifier(trust: policy.attestationTrust).verify(response, expecting: expectations, at: now)
        } catch {
            throw AccountsError.verificationFailed(error)
        }
        let aaguid = verified.aaguid.description
        if policy.deniedAAGUIDs.contains(aaguid) || (!policy.allowedAAGUIDs.isEmpty && !policy.allowedAAGUIDs.contains(aaguid)) {
            throw AccountsError.authenticatorNotAllowed()
        }
        if try await store.passkey(credentialID: verified.credentialID) != nil { throw AccountsError.credentialExists() }
        return verified
    }

    func verifyAssertion(_ response: AuthenticationResponse, stored: CeremonyChallenge, found: CredentialOwner?, requireUserHandle: Bool) throws
        -> (User, Passkey, VerifiedAuthentication, openRecoveryCases: Int)
    {
        guard let found else {
            throw AccountsError.unknownCredential(Base64URL.encode(response.credential.rawID))
        }
        let (passkey, user) = (found.passkey, found.user)
        // §7.2 step 6: a challenge bound to a user is completed only by that user's passkey.
        if let bound = stored.userID, bound != passkey.userID {
            throw AccountsError.verificationFailed(WebAuthnError(.credentialIDMismatch, "the passkey belongs to another account"))
        }
        if user.disabled { throw AccountsError.userDisabled() }
        guard let challengeBytes = Base64URL.decode(stored.challenge) else { throw AccountsError.challengeGone() }
        do {
            let key = try CredentialPublicKey(coseBytes: passkey.publicKey)
            let record = StoredCredential(
                id: passkey.credentialID, publicKey: key, signCount: passkey.signCount, backupEligible: passkey.backupEligible,
                userHandle: user.handle, uvInitialized: passkey.uvInitialized)
            let verified = try AuthenticationVerifier().verify(
                response, credential: record,
                expecting: AuthenticationExpectations(
                    challenge: challengeBytes, relyingParty: policy.relyingParty, userVerification: policy.userVerification,
                    requireUserHandle: requireUserHandle))
            return (user, passkey, verified, found.openRecoveryCases)
        } catch {
            throw AccountsError.verificationFailed(error)
        }
    }

    func record(_ verified: VerifiedAuthentication, passkey: Passkey, newSession: Session?, reauth: (id: UUID, newTokenHash: [UInt8])?,
                event: SecurityEvent, challenge: CeremonyChallenge, now: Date) async throws {
        do {
            try await store.recordAssertion(
                credentialID: passkey.credentialID, expectedSignCount: passkey.signCount, newSignCount: verified.newSignCount,
                backedUp: verified.backedUp, uvInitialized: verified.userVerified, newSession: newSession, reauthenticatedSession: reauth,
                event: event, challenge: challenge.challenge, kind: challenge.kind, now: now)
        } catch let error as StoreError {
            throw map(error)
        }
    }

    func makePasskey(_ verified: VerifiedRegistration, userID: UUID, name: String?, now: Date) -> Passkey {
        let aaguid = verified.aaguid
        let trimmed = name?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(64)
        let defaultName = providerName(aaguid) ?? "Passkey"
        return Passkey(
            credentialID: verified.credentialID, userID: userID, publicKey: verified.publicKeyBytes, algorithm: verified.algorithm,
            signCount: verified.signCount, aaguid: aaguid, name: trimmed.map(String.init).flatMap { $0.isEmpty ? nil : $0 } ?? defaultName,
            transports: verified.transports.compactMap(AuthenticatorTransport.init(rawValue:)), backupEligible: verified.backupEligible, backedUp: verified.backedUp,
            uvInitialized: verified.userVerified, attestationFormat: verified.attestationFormat, attestationTrusted: verified.trusted,
            createdAt: now)
    }

    /// The domain's refusal for a store's: every store error has one, and a new one does not compile
    /// until it is placed here.
    func map(_ error: StoreError, file: String = #fileID, line: Int = #line) -> AccountsError {
        switch error.base {
        case .usernameTaken: AccountsError.usernameTaken(file: file, line: line)
        case .credentialExists: AccountsError.credentialExists(file: file, line: line)
        case .inviteInvalid: AccountsError.signupClosed(file: file, line: line)
        case .lastPasskey: AccountsError.lastPasskey(file: file, line: line)
        case .challengeGone: AccountsError.challengeGone(file: file, line: line)
        case .conflict: AccountsError.conflict(file: file, line: line)
        case .notFound: AccountsError.notFound(file: file, line: line)
        }
    }

    /// One or two credential IDs of 16 to 64 bytes derived from the username: stable, unguessable
    /// without the server secret, and shaped like real ones.
    func fakeCredentials(for username: String) -> [PublicKeyCredentialDescriptor] {
        let enumerationKey = SymmetricKey(data: enumerationSecret.value)
        let mac = Array(HMAC<SHA256>.authenticationCode(for: Array(("portcullis-fake-credential:" + username).utf8), using: enumerationKey))
        let count = 1 + Int(mac[0] & 1)
        return (0..<count).map { index in
            let block = Array(HMAC<SHA256>.authenticationCode(for: mac + [UInt8(index)], using: enumerationKey))
            let length = 16 + Int(block[0] % 17)
            return PublicKeyCredentialDescriptor(id: Array((block + mac).prefix(length)), transports: [.internal, .hybrid])
        }
    }

    /// `{"publicKey": PublicKeyCredentialCreationOptionsJSON}` for a passkey of this policy.
    func creationOptions(challenge: [UInt8], handle: [UInt8], username: String, displayName: String,
                         exclude: [PublicKeyCredentialDescriptor]) -> JSONValue {
        let options = PublicKeyCredentialCreationOptions(
            relyingParty: policy.relyingParty, relyingPartyName: policy.relyingPartyName, userHandle: handle, userName: username,
            userDisplayName: displayName, challenge: challenge, algorithms: policy.algorithms,
            timeoutMilliseconds: Int(policy.challengeLifetime * 1000), excludeCredentials: exclude, residentKey: .required,
            userVerification: policy.userVerification, attestation: policy.attestationConveyance, hints: policy.hints)
        return .object(["publicKey": options.json])
    }

    /// `{"publicKey": PublicKeyCredentialRequestOptionsJSON}`; `allow` empty for a discoverable credential.
    func requestOptions(challenge: [UInt8], allow: [PublicKeyCredentialDescriptor]) -> JSONValue {
        let options = PublicKeyCredentialRequestOptions(
            challenge: challenge, relyingParty: policy.relyingParty, timeoutMilliseconds: Int(policy.challengeLifetime * 1000),
            allowCredentials: allow, userVerification: policy.userVerification, hints: policy.hints)
        return .object(["publicKey": options.json])
    }
}

/// A service that runs on the passkey ceremonies: it takes their policy, sessions, clock and random
/// source from them rather than holding copies that could differ.
protocol CeremonyBacked: Sendable {
    var ceremonies: PasskeyService { get }
}

extension CeremonyBacked {
    var policy: AccountsPolicy { ceremonies.policy }
    var sessions: SessionAuthority { ceremonies.sessions }
    var random: any RandomSource { ceremonies.random }
    var clock: @Sendable () -> Date { ceremonies.clock }
    /// The ID of a new security event (``PasskeyService/newEventID()``).
    func newEventID() -> UUID { ceremonies.newEventID() }
}
