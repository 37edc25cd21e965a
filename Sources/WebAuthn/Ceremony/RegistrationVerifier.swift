import CBOR
import Crypto
import Foundation

/// What a registration ceremony expects (from the options the server issued and its policy).
public struct RegistrationExpectations: Sendable {
    /// The challenge the server issued for this ceremony.
    public var challenge: [UInt8]
    /// The relying party.
    public var relyingParty: RelyingParty
    /// The user verification requirement.
    public var userVerification: UserVerificationRequirement
    /// The algorithms offered in `pubKeyCredParams`.
    public var allowedAlgorithms: [COSEAlgorithm]
    /// Credential IDs listed in `excludeCredentials`; a response creating one of them is refused.
    public var excludedCredentialIDs: Set<[UInt8]>
    /// Whether an attestation that does not chain to a trust anchor is refused.
    public var requireTrustedAttestation: Bool

    /// Creates expectations.
    public init(
        challenge: [UInt8],
        relyingParty: RelyingParty,
        userVerification: UserVerificationRequirement = .required,
        allowedAlgorithms: [COSEAlgorithm] = [.edDSA, .es256, .rs256],
        excludedCredentialIDs: Set<[UInt8]> = [],
        requireTrustedAttestation: Bool = false
    ) {
        self.challenge = challenge
        self.relyingParty = relyingParty
        self.userVerification = userVerification
        self.allowedAlgorithms = allowedAlgorithms
        self.excludedCredentialIDs = excludedCredentialIDs
        self.requireTrustedAttestation = requireTrustedAttestation
    }
}

/// A registration that passed every check: what a credential record is made of (§7.1 step 27).
public struct VerifiedRegistration: Sendable {
    /// The credential ID.
    public let credentialID: [UInt8]
    /// The validated credential public key.
    public let publicKey: CredentialPublicKey
    /// The COSE_Key bytes exactly as they stood in authenticator data: store these.
    public let publicKeyBytes: [UInt8]
    /// The key's algorithm.
    public let algorithm: COSEAlgorithm
    /// The initial signature counter.
    public let signCount: UInt32
    /// The authenticator model.
    public let aaguid: AAGUID
    /// The attestation statement format.
    public let attestationFormat: String
    /// The attestation type established.
    public let attestationType: AttestationType
    /// Whether the attestation chains to a trust anchor.
    public let trusted: Bool
    /// The attestation certificate path, attestation certificate first.
    public let trustPath: [X509CertificateBox]
    /// UV was set.
    public let userVerified: Bool
    /// BE was set: the credential may be synced.
    public let backupEligible: Bool
    /// BS was set: the credential is backed up now.
    public let backedUp: Bool
    /// Transports as the client reported them.
    public let transports: [String]
    /// The credProps client extension's `rk`, when the client reported it.
    public let residentKey: Bool?
    /// The authenticator extension outputs.
    public let authenticatorExtensions: CBORMap?
    /// The parsed authenticator data.
    public let authenticatorData: AuthenticatorData
}

/// Verifies registration ceremonies (§7.1). Pure: the time and the trust configuration are inputs.
public struct RegistrationVerifier: Sendable {
    /// The trust configuration used for step 25.
    public var trust: AttestationTrust

    /// Creates a verifier.
    public init(trust: AttestationTrust = .none) { self.trust = trust }

    /// Verifies a registration response.
    /// - Parameters:
    ///   - response: the decoded RegistrationResponseJSON.
    ///   - expectations: what the server expects.
    ///   - now: the time to evaluate certificate validity and timestamps at.
    /// - Returns: the verified registration.
    /// - Throws: ``WebAuthnError``; nothing is returned unless every step passed.
    public func verify(_ response: RegistrationResponse, expecting expectations: RegistrationExpectations, at now: Date) async throws -> VerifiedRegistration {
        let rp = expectations.relyingParty
        // §7.1 steps 5–6: decode and parse clientDataJSON.
        let clientData = try CollectedClientData(bytes: response.clientDataJSON)
        // §7.1 steps 7–11.
        try ClientDataChecks.verify(clientData, type: "webauthn.create", challenge: expectations.challenge, relyingParty: rp)
        // §7.1 step 12: hash the exact bytes received.
        let clientDataHash = Array(SHA256.hash(data: response.clientDataJSON))
        // §7.1 step 13: CBOR-decode the attestation object.
        let attestationObject = try AttestationObject(bytes: response.attestationObject)
        let authData = attestationObject.authenticatorData
        // §7.1 steps 14–17: rpIdHash, UP, UV, BS ⇒ BE.
        try ClientDataChecks.verifyFlags(authData, relyingParty: rp, userVerification: expectations.userVerification)
        guard let attested = authData.attestedCredentialData else {
            throw WebAuthnError(.malformedAuthenticatorData, "registration authenticator data lacks attested credential data (AT)")
        }
        // The credential ID in authenticator data must be the rawId the client reported (and so, the id).
        guard attested.credentialID == response.credential.rawID else {
            throw WebAuthnError(.credentialIDMismatch, "rawId differs from the attested credential ID")
        }
        // §7.1 step 20: the key's algorithm must be one offered in pubKeyCredParams.
        let key = try CredentialPublicKey(cose: attested.publicKeyCOSE)
        guard expectations.allowedAlgorithms.contains(key.algorithm) else {
            throw WebAuthnError(.unsupportedAlgorithm, "credential algorithm \(key.algorithm.name) was not offered")
        }
        // §7.1 step 21: extension outputs are decoded above (ED); unsolicited ones are ignored.
        // §7.1 steps 22–23: the format, matched case-sensitively, and its verification procedure.
        let context = AttestationContext(
            statement: attestationObject.statement,
            authenticatorData: authData,
            attestedCredential: attested,
            credentialKey: key,
            clientDataHash: clientDataHash,
            now: now
        )
        let statement = try AttestationFormats.verify(format: attestationObject.format, context: context)
        // §7.1 steps 24–25: trust anchors and the trust decision, kept apart from verification.
        try trust.checkStatus(of: attested.aaguid)
        let trusted = await trust.isTrusted(statement, aaguid: attested.aaguid, at: now)
        if expectations.requireTrustedAttestation, !trusted {
            throw WebAuthnError(.attestationUntrusted, "the \(attestationObject.format) attestation does not chain to a trust anchor")
        }
        // §7.1 step 26: credential ID length was checked while parsing (1...1023 bytes).
        // Checklist K.105: a credential listed in excludeCredentials is refused. Uniqueness across all
        // users (§7.1 step 27) is the store's job, enforced by a database constraint.
        if expectations.excludedCredentialIDs.contains(attested.credentialID) {
            throw WebAuthnError(.credentialIDMismatch, "the new credential is one of the excluded credentials")
        }
        var residentKey: Bool?
        if let credProps = response.credential.clientExtensionResults["credProps"]?.object {
            residentKey = credProps["rk"]?.bool
        }
        return VerifiedRegistration(
            credentialID: attested.credentialID,
            publicKey: key,
            publicKeyBytes: attested.publicKeyBytes,
            algorithm: key.algorithm,
            signCount: authData.signCount,
            aaguid: attested.aaguid,
            attestationFormat: attestationObject.format,
            attestationType: statement.type,
            trusted: trusted,
            trustPath: statement.trustPath.isEmpty ? (statement.subStatements.first?.result.trustPath ?? []) : statement.trustPath,
            userVerified: authData.flags.contains(.userVerified),
            backupEligible: authData.flags.contains(.backupEligible),
            backedUp: authData.flags.contains(.backedUp),
            transports: response.transports,
            residentKey: residentKey,
            authenticatorExtensions: authData.extensions,
            authenticatorData: authData
        )
    }
}
