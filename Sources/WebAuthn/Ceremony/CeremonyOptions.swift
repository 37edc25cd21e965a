/// A credential named in options' `excludeCredentials` or `allowCredentials`
/// (`PublicKeyCredentialDescriptorJSON`, WebAuthn Level 3 §5.10.3 and §5.1.x).
public struct PublicKeyCredentialDescriptor: Sendable, Hashable {
    /// The credential ID.
    public var id: [UInt8]
    /// The transports the authenticator reported when the credential was registered (§5.8.4).
    public var transports: [AuthenticatorTransport]

    public init(id: [UInt8], transports: [AuthenticatorTransport] = []) {
        self.id = id
        self.transports = transports
    }

    /// `{"type": "public-key", "id": base64url, "transports": [...]}`; no `transports` member when
    /// none are known.
    public var json: JSONValue {
        var object: JSONObject = ["type": .string("public-key"), "id": .string(Base64URL.encode(id))]
        if !transports.isEmpty { object["transports"] = .array(transports.map { .string($0.rawValue) }) }
        return .object(object)
    }
}

/// How much a relying party wants a client-side discoverable credential (§5.4.6).
public struct ResidentKeyRequirement: Hashable, Sendable, CustomStringConvertible {
    enum Base: String, CaseIterable, Sendable { case discouraged, preferred, required }
    let base: Base
    init(_ base: Base) { self.base = base }

    /// A server-side credential is preferred.
    public static let discouraged = ResidentKeyRequirement(.discouraged)
    /// A discoverable credential is preferred but not required.
    public static let preferred = ResidentKeyRequirement(.preferred)
    /// A discoverable credential is required: a passkey.
    public static let required = ResidentKeyRequirement(.required)

    /// Parses the WebAuthn JSON spelling; nil for anything else.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }
    /// The WebAuthn JSON spelling.
    public var rawValue: String { base.rawValue }
    public var description: String { base.rawValue }
    /// Every requirement.
    public static var allCases: [ResidentKeyRequirement] { Base.allCases.map(ResidentKeyRequirement.init) }
}

/// What the relying party wants to learn about the authenticator that makes a credential (§5.4.7).
public struct AttestationConveyancePreference: Hashable, Sendable, CustomStringConvertible {
    enum Base: String, CaseIterable, Sendable { case none, indirect, direct, enterprise }
    let base: Base
    init(_ base: Base) { self.base = base }

    /// No attestation statement is wanted.
    public static let none = AttestationConveyancePreference(.none)
    /// A statement is wanted, possibly anonymized by the client.
    public static let indirect = AttestationConveyancePreference(.indirect)
    /// The authenticator's own statement is wanted.
    public static let direct = AttestationConveyancePreference(.direct)
    /// An enterprise statement that may identify the device uniquely.
    public static let enterprise = AttestationConveyancePreference(.enterprise)

    /// Parses the WebAuthn JSON spelling; nil for anything else.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }
    /// The WebAuthn JSON spelling.
    public var rawValue: String { base.rawValue }
    public var description: String { base.rawValue }
    /// Every preference.
    public static var allCases: [AttestationConveyancePreference] { Base.allCases.map(AttestationConveyancePreference.init) }
}

/// The options of a registration ceremony (`PublicKeyCredentialCreationOptions`, §5.4), which
/// encode to `PublicKeyCredentialCreationOptionsJSON` (§5.1.x) for the browser's
/// `PublicKeyCredential.parseCreationOptionsFromJSON`, and give the expectations the response is
/// verified against (§7.1), so that what was asked and what is checked cannot drift apart.
public struct PublicKeyCredentialCreationOptions: Sendable {
    /// The relying party's ID and the name authenticators show (§5.4.2).
    public var relyingParty: RelyingParty
    public var relyingPartyName: String
    /// The user handle (at most 64 bytes, no personal information), name and display name (§5.4.3).
    public var userHandle: [UInt8]
    public var userName: String
    public var userDisplayName: String
    public var challenge: [UInt8]
    /// `pubKeyCredParams`, in order of preference.
    public var algorithms: [COSEAlgorithm]
    /// Milliseconds the client should wait.
    public var timeoutMilliseconds: Int?
    /// Credentials the user already has: an authenticator holding one makes no new one.
    public var excludeCredentials: [PublicKeyCredentialDescriptor]
    public var residentKey: ResidentKeyRequirement
    public var userVerification: UserVerificationRequirement
    public var attestation: AttestationConveyancePreference
    public var hints: [PublicKeyCredentialHint]
    /// Whether to ask for the `credProps` extension (whether the credential is discoverable).
    public var credProps: Bool

    public init(
        relyingParty: RelyingParty, relyingPartyName: String, userHandle: [UInt8], userName: String, userDisplayName: String,
        challenge: [UInt8], algorithms: [COSEAlgorithm] = [.edDSA, .es256, .rs256], timeoutMilliseconds: Int? = nil,
        excludeCredentials: [PublicKeyCredentialDescriptor] = [], residentKey: ResidentKeyRequirement = .required,
        userVerification: UserVerificationRequirement = .required, attestation: AttestationConveyancePreference = .none,
        hints: [PublicKeyCredentialHint] = [], credProps: Bool = true
    ) {
        self.relyingParty = relyingParty
        self.relyingPartyName = relyingPartyName
        self.userHandle = userHandle
        self.userName = userName
        self.userDisplayName = userDisplayName
        self.challenge = challenge
        self.algorithms = algorithms
        self.timeoutMilliseconds = timeoutMilliseconds
        self.excludeCredentials = excludeCredentials
        self.residentKey = residentKey
        self.userVerification = userVerification
        self.attestation = attestation
        self.hints = hints
        self.credProps = credProps
    }

    /// `PublicKeyCredentialCreationOptionsJSON`. `requireResidentKey` is sent as well, for clients
    /// of Level 1 (§5.4.4: true exactly when `residentKey` is `required`).
    public var json: JSONValue {
        var options: JSONObject = [
            "rp": .object(["id": .string(relyingParty.id), "name": .string(relyingPartyName)]),
            "user": .object(["id": .string(Base64URL.encode(userHandle)), "name": .string(userName), "displayName": .string(userDisplayName)]),
            "challenge": .string(Base64URL.encode(challenge)),
            "pubKeyCredParams": .array(algorithms.map { .object(["type": .string("public-key"), "alg": .int($0.rawValue)]) }),
        ]
        if let timeoutMilliseconds { options["timeout"] = .int(timeoutMilliseconds) }
        options["excludeCredentials"] = .array(excludeCredentials.map(\.json))
        options["authenticatorSelection"] = .object([
            "residentKey": .string(residentKey.rawValue), "requireResidentKey": .bool(residentKey == .required),
            "userVerification": .string(userVerification.rawValue),
        ])
        options["attestation"] = .string(attestation.rawValue)
        if credProps { options["extensions"] = .object(["credProps": .bool(true)]) }
        if !hints.isEmpty { options["hints"] = .array(hints.map { .string($0.rawValue) }) }
        return .object(options)
    }

    /// What a response to these options must satisfy (§7.1): this challenge, this relying party,
    /// this user verification requirement, one of these algorithms, none of the excluded credentials.
    public func expectations(requireTrustedAttestation: Bool = false) -> RegistrationExpectations {
        RegistrationExpectations(
            challenge: challenge, relyingParty: relyingParty, userVerification: userVerification, allowedAlgorithms: algorithms,
            excludedCredentialIDs: Set(excludeCredentials.map(\.id)), requireTrustedAttestation: requireTrustedAttestation)
    }
}

/// The options of an authentication ceremony (`PublicKeyCredentialRequestOptions`, §5.5), which
/// encode to `PublicKeyCredentialRequestOptionsJSON` for `parseRequestOptionsFromJSON`, and give
/// the expectations the assertion is verified against (§7.2).
public struct PublicKeyCredentialRequestOptions: Sendable {
    public var challenge: [UInt8]
    /// Milliseconds the client should wait.
    public var timeoutMilliseconds: Int?
    public var relyingParty: RelyingParty
    /// The credentials that may answer; empty for a discoverable credential (any of the user's passkeys).
    public var allowCredentials: [PublicKeyCredentialDescriptor]
    public var userVerification: UserVerificationRequirement
    public var hints: [PublicKeyCredentialHint]

    public init(
        challenge: [UInt8], relyingParty: RelyingParty, timeoutMilliseconds: Int? = nil, allowCredentials: [PublicKeyCredentialDescriptor] = [],
        userVerification: UserVerificationRequirement = .required, hints: [PublicKeyCredentialHint] = []
    ) {
        self.challenge = challenge
        self.timeoutMilliseconds = timeoutMilliseconds
        self.relyingParty = relyingParty
        self.allowCredentials = allowCredentials
        self.userVerification = userVerification
        self.hints = hints
    }

    /// `PublicKeyCredentialRequestOptionsJSON`.
    public var json: JSONValue {
        var options: JSONObject = ["challenge": .string(Base64URL.encode(challenge))]
        if let timeoutMilliseconds { options["timeout"] = .int(timeoutMilliseconds) }
        options["rpId"] = .string(relyingParty.id)
        options["allowCredentials"] = .array(allowCredentials.map(\.json))
        options["userVerification"] = .string(userVerification.rawValue)
        if !hints.isEmpty { options["hints"] = .array(hints.map { .string($0.rawValue) }) }
        return .object(options)
    }

    /// What an assertion answering these options must satisfy (§7.2): this challenge, this relying
    /// party, this user verification requirement, one of the allowed credentials when any are
    /// listed, and a user handle when none are (a discoverable credential names its user, step 6).
    public func expectations() -> AuthenticationExpectations {
        AuthenticationExpectations(
            challenge: challenge, relyingParty: relyingParty, userVerification: userVerification,
            allowedCredentialIDs: Set(allowCredentials.map(\.id)), requireUserHandle: allowCredentials.isEmpty)
    }
}
