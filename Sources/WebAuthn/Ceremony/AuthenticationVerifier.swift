import CBOR
import Crypto

/// The stored facts about a credential that an assertion is checked against (§4 credential record).
public struct StoredCredential: Sendable {
    /// The credential ID.
    public var id: [UInt8]
    /// The credential public key, parsed from the stored COSE bytes.
    public var publicKey: CredentialPublicKey
    /// The stored signature counter.
    public var signCount: UInt32
    /// BE as recorded at registration, when recorded.
    public var backupEligible: Bool?
    /// The user handle of the account the credential belongs to.
    public var userHandle: [UInt8]
    /// `uvInitialized`: the credential has been used with user verification, so an assertion without
    /// UV is a downgrade and is refused whatever the ceremony's requirement.
    public var uvInitialized: Bool

    /// Creates a record.
    public init(id: [UInt8], publicKey: CredentialPublicKey, signCount: UInt32, backupEligible: Bool?, userHandle: [UInt8], uvInitialized: Bool = false) {
        self.id = id
        self.publicKey = publicKey
        self.signCount = signCount
        self.backupEligible = backupEligible
        self.userHandle = userHandle
        self.uvInitialized = uvInitialized
    }
}

/// What an authentication ceremony expects.
public struct AuthenticationExpectations: Sendable {
    /// The challenge the server issued.
    public var challenge: [UInt8]
    /// The relying party.
    public var relyingParty: RelyingParty
    /// The user verification requirement.
    public var userVerification: UserVerificationRequirement
    /// `allowCredentials`, when the server listed any (§7.2 step 5). Empty means discoverable.
    public var allowedCredentialIDs: Set<[UInt8]>
    /// Whether the response must carry a user handle (discoverable sign-in, §7.2 step 6).
    public var requireUserHandle: Bool
    /// Whether a change of BE from the recorded value is refused (§7.2 step 19) or only reported.
    public var refuseBackupEligibilityChange: Bool

    /// Creates expectations.
    public init(
        challenge: [UInt8],
        relyingParty: RelyingParty,
        userVerification: UserVerificationRequirement = .required,
        allowedCredentialIDs: Set<[UInt8]> = [],
        requireUserHandle: Bool = false,
        refuseBackupEligibilityChange: Bool = true
    ) {
        self.challenge = challenge
        self.relyingParty = relyingParty
        self.userVerification = userVerification
        self.allowedCredentialIDs = allowedCredentialIDs
        self.requireUserHandle = requireUserHandle
        self.refuseBackupEligibilityChange = refuseBackupEligibilityChange
    }
}

/// An assertion that passed every check.
public struct VerifiedAuthentication: Sendable {
    /// The credential used.
    public let credentialID: [UInt8]
    /// The asserted signature counter: store exactly this value (§7.2 step 24).
    public let newSignCount: UInt32
    /// UV was set.
    public let userVerified: Bool
    /// BE was set.
    public let backupEligible: Bool
    /// BS was set.
    public let backedUp: Bool
    /// BE differs from the recorded value (only possible when such a change is not refused).
    public let backupEligibilityChanged: Bool
    /// The authenticator extension outputs.
    public let authenticatorExtensions: CBORMap?
}

/// Verifies authentication ceremonies (§7.2). Pure.
public struct AuthenticationVerifier: Sendable {
    /// Creates a verifier.
    public init() {}

    /// Verifies an assertion against the stored credential it names.
    /// - Throws: ``WebAuthnError``; nothing is returned unless every step passed.
    public func verify(_ response: AuthenticationResponse, credential: StoredCredential, expecting expectations: AuthenticationExpectations) throws -> VerifiedAuthentication {
        let rp = expectations.relyingParty
        // §7.2 step 5: when allowCredentials was given, the credential must be one of them.
        if !expectations.allowedCredentialIDs.isEmpty, !expectations.allowedCredentialIDs.contains(response.credential.rawID) {
            throw WebAuthnError(.credentialIDMismatch, "the credential was not in allowCredentials")
        }
        // The stored record must be the one the response names.
        guard response.credential.rawID == credential.id else {
            throw WebAuthnError(.credentialIDMismatch, "the response names another credential than the stored one")
        }
        // §7.2 step 6: the user handle, when present, must be the credential owner's; a discoverable
        // sign-in must carry one (an empty one counts as absent).
        if let handle = response.userHandle, !handle.isEmpty {
            guard ConstantTime.equal(handle, credential.userHandle) else {
                throw WebAuthnError(.userHandleMismatch, "userHandle is not the credential owner's")
            }
        } else if expectations.requireUserHandle {
            throw WebAuthnError(.userHandleMismatch, "a discoverable sign-in must return the user handle")
        }
        // §7.2 steps 8–9: decode and parse clientDataJSON.
        let clientData = try CollectedClientData(bytes: response.clientDataJSON)
        // §7.2 steps 10–14.
        try ClientDataChecks.verify(clientData, type: "webauthn.get", challenge: expectations.challenge, relyingParty: rp)
        let authData = try AuthenticatorData(bytes: response.authenticatorData)
        // §6.1: attested credential data appears only in attestation.
        guard authData.attestedCredentialData == nil else {
            throw WebAuthnError(.malformedAuthenticatorData, "assertion authenticator data carries attested credential data (AT)")
        }
        // §7.2 steps 15–18.
        try ClientDataChecks.verifyFlags(authData, relyingParty: rp, userVerification: expectations.userVerification)
        // No UV downgrade: a credential whose record says uvInitialized must keep asserting UV.
        if credential.uvInitialized, !authData.flags.contains(.userVerified) {
            throw WebAuthnError(.userVerificationMissing, "the credential was used with user verification before; UV is now missing")
        }
        // §7.2 step 19: BE must not change from the recorded value.
        let backupEligible = authData.flags.contains(.backupEligible)
        let changed = credential.backupEligible.map { $0 != backupEligible } ?? false
        if changed, expectations.refuseBackupEligibilityChange {
            throw WebAuthnError(.backupEligibilityChanged, "BE is \(backupEligible) but was \(!backupEligible) at registration")
        }
        // §7.2 steps 20–21: the signature over authenticatorData || SHA-256(clientDataJSON), both the
        // exact bytes received, with the stored key.
        let clientDataHash = SHA256.hash(data: response.clientDataJSON)
        var signed = response.authenticatorData
        signed.append(contentsOf: clientDataHash)
        try credential.publicKey.verify(signature: response.signature, over: signed)
        // §7.2 step 22: the counter must grow whenever either value is non-zero.
        if credential.signCount != 0 || authData.signCount != 0, authData.signCount <= credential.signCount {
            throw WebAuthnError(.signCountRegression, "signCount \(authData.signCount) is not above the stored \(credential.signCount)")
        }
        // §7.2 step 23: extension outputs were decoded; none is used for a security decision.
        return VerifiedAuthentication(
            credentialID: credential.id,
            newSignCount: authData.signCount,
            userVerified: authData.flags.contains(.userVerified),
            backupEligible: backupEligible,
            backedUp: authData.flags.contains(.backedUp),
            backupEligibilityChanged: changed,
            authenticatorExtensions: authData.extensions
        )
    }
}
