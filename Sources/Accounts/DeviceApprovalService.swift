import Crypto
import Foundation
import WebAuthn

/// What a device hears when it polls (RFC 8628 §3.5).
public enum DevicePollOutcome: Sendable {
    /// Not yet decided: poll again after the interval.
    case authorizationPending
    /// Polled too fast: add 5 seconds to the interval.
    case slowDown
    /// The person denied it.
    case accessDenied
    /// The request expired.
    case expiredToken
    /// Unknown or already used device code.
    case invalidGrant
    /// Approved: a session born `device-approval`.
    case approved(user: User, issued: IssuedSession)
}

/// Sign-in on a device without passkeys, approved from a signed-in device that holds one (RFC 8628
/// style, the device's side in §3.2 and §3.4-3.5). It depends on the device requests and users it
/// reads and on ``SessionAuthority`` for the approver's freshness and the one session it makes.
public struct DeviceApprovalService: Sendable {
    let store: any DeviceRequestStore & UserStore
    let sessions: SessionAuthority
    let policy: DeviceApprovalPolicy
    let random: any RandomSource
    let clock: @Sendable () -> Date

    /// Device approval over `store` under `policy`, making sessions through `sessions`.
    public init(store: any DeviceRequestStore & UserStore, sessions: SessionAuthority, policy: DeviceApprovalPolicy,
                random: any RandomSource = SystemRandomSource(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.sessions = sessions
        self.policy = policy
        self.random = random
        self.clock = clock
    }

    /// The polling interval given to devices.
    public static let devicePollInterval = 5
    /// A device-approval session lives this long (12 hours).
    public static let deviceSessionLifetime: TimeInterval = 12 * 3600
    /// How recent the approver's passkey assertion must be.
    public static let deviceApprovalWindow: TimeInterval = 60

    /// A started request: what the device keeps and shows.
    public struct Started: Sendable {
        /// Secret, for the device only.
        public let deviceCode: String
        /// For a person to type on the approving device.
        public let userCode: String
        /// The number the device shows, which the approver picks when the request was pushed.
        public let matchNumber: Int
        public let expiresIn: Int
        public let interval: Int
    }

    /// Starts a request from a device without passkeys.
    /// - Parameter username: the account the person says it is for, if they typed it: the request is
    ///   then shown to that account's signed-in sessions, and only that account may approve it. An
    ///   unknown or disabled username starts a request that nobody is shown, answered the same way,
    ///   so that the answer does not tell who has an account.
    public func start(info: RequestInfo, username: String? = nil) async throws -> Started {
        let now = clock()
        var target: UUID?
        if let username, let user = try await store.user(username: try PasskeyService.normalize(username: username)), !user.disabled {
            target = user.id
        }
        for _ in 0..<5 {
            let deviceCode = Base64URL.encode(random.bytes(32))
            let userCode = UserCode.generate(using: random)
            let request = DeviceRequest(
                deviceCodeHash: sha256(deviceCode), userCode: userCode, status: .pending, createdAt: now,
                expiresAt: now.addingTimeInterval(policy.requestLifetime), interval: Self.devicePollInterval, ip: info.ip, userAgent: info.userAgent,
                targetUserID: target, matchNumber: DeviceRequest.drawMatchNumber(using: random))
            do {
                try await store.createDeviceRequest(request)
                return Started(deviceCode: deviceCode, userCode: userCode, matchNumber: request.matchNumber,
                               expiresIn: Int(policy.requestLifetime), interval: Self.devicePollInterval)
            } catch let error as StoreError where error == .conflict {
                continue  // a user code collision: draw again
            }
        }
        throw AccountsError.conflict()
    }

    /// The pending requests that name the signed-in account, newest first: what its sessions show at
    /// once. Each carries ``DeviceRequest/choices`` for number matching.
    public func pending(_ auth: Authenticated) async throws -> [DeviceRequest] {
        try await store.pendingDeviceRequests(targetUserID: auth.user.id, now: clock())
    }

    /// Finds a pending request by its user code, for the approver to check the device's details. A
    /// request that names an account is found by that account only.
    public func lookup(_ auth: Authenticated, userCode text: String) async throws -> DeviceRequest {
        // The approver holds a full-rights session with a passkey assertion at most a minute old.
        try sessions.requireFresh(auth, within: Self.deviceApprovalWindow)
        guard let code = UserCode.normalize(text), let request = try await store.deviceRequest(userCode: code),
              request.status == .pending, request.expiresAt > clock(), request.targetUserID.map({ $0 == auth.user.id }) ?? true
        else { throw AccountsError.notFound() }
        return request
    }

    /// Approves or denies a pending request. A request that names an account is approved only with
    /// `number`, the one its device shows; a wrong number denies it (the device is told), because the
    /// person picking was not looking at that device.
    public func decide(_ auth: Authenticated, userCode text: String, approve: Bool, number: Int? = nil, info: RequestInfo) async throws {
        let request = try await lookup(auth, userCode: text)
        let now = clock()
        let mismatch = approve && request.targetUserID != nil && number != request.matchNumber
        let approved = approve && !mismatch
        var detail = ["device_ip": request.ip, "device_user_agent": String(request.userAgent.prefix(200))]
        if mismatch { detail["reason"] = "wrong_number" }
        let event = SecurityEvent(
            id: random.timeOrderedUUID(at: now), userID: auth.user.id, kind: approved ? .deviceApproved : .deviceDenied, at: now, ip: info.ip,
            userAgent: info.userAgent, detail: detail)
        do {
            try await store.transitionDeviceRequest(
                deviceCodeHash: request.deviceCodeHash, from: .pending, to: approved ? .approved : .denied, decidedBy: auth.user.id,
                approvingCredentialID: auth.session.birth.credentialID, session: nil, event: event, now: now)
        } catch let error as StoreError where error == .conflict {
            throw AccountsError.notFound()
        }
        if mismatch { throw AccountsError.numberMismatch() }
    }

    /// Answers a device's poll; an approved request yields its session exactly once.
    public func poll(deviceCode: String, info: RequestInfo) async throws -> DevicePollOutcome {
        guard deviceCode.utf8.count <= 64, let request = try await store.deviceRequest(deviceCodeHash: sha256(deviceCode)) else {
            return .invalidGrant
        }
        let now = clock()
        if request.expiresAt <= now { return request.status == .consumed ? .invalidGrant : .expiredToken }
        let tooFast = request.lastPolledAt.map { now.timeIntervalSince($0) < TimeInterval(request.interval) } ?? false
        try await store.touchDeviceRequest(deviceCodeHash: request.deviceCodeHash, polledAt: now)
        switch request.status {
        case .pending: return tooFast ? .slowDown : .authorizationPending
        case .denied: return .accessDenied
        case .consumed: return .invalidGrant
        default: break
        }
        guard let userID = request.decidedBy, let user = try await store.user(id: userID), !user.disabled else { return .accessDenied }
        let issued = sessions.issue(
            userID: user.id,
            birth: SessionBirth(kind: .deviceApproval, credentialID: request.approvingCredentialID ?? [], userVerified: false, deviceBound: false),
            lifetime: Self.deviceSessionLifetime, info: info, now: now)
        let event = SecurityEvent(id: random.timeOrderedUUID(at: now), userID: user.id, kind: .signinDeviceApproval, at: now, ip: info.ip, userAgent: info.userAgent)
        do {
            try await store.transitionDeviceRequest(
                deviceCodeHash: request.deviceCodeHash, from: .approved, to: .consumed, decidedBy: nil, approvingCredentialID: nil,
                session: issued.session, event: event, now: now)
        } catch let error as StoreError where error == .conflict {
            return .invalidGrant  // another poll took it first
        }
        return .approved(user: user, issued: issued)
    }
}

extension PasskeyService {
    /// Sign-in by approval from another device.
    public var deviceApproval: DeviceApprovalService {
        DeviceApprovalService(store: store, sessions: sessions, policy: policy.deviceApproval, random: random, clock: clock)
    }
}
