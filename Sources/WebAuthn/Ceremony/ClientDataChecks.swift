import CBOR
/// The checks on collected client data that registration and authentication share.
enum ClientDataChecks {
    /// §7.1 steps 7–11 / §7.2 steps 10–14.
    static func verify(_ clientData: CollectedClientData, type expectedType: String, challenge: [UInt8], relyingParty: RelyingParty) throws {
        // §7.1 step 7 / §7.2 step 10: the type must be exactly the expected one, byte for byte.
        guard clientData.type.utf8.elementsEqual(expectedType.utf8) else {
            throw WebAuthnError(.clientDataTypeMismatch, "clientData.type is \"\(clientData.type)\", expected \"\(expectedType)\"")
        }
        // §7.1 step 8 / §7.2 step 11: the challenge must be the base64url encoding of the expected
        // bytes, compared as exact text in constant time: a padded or standard-alphabet spelling of the
        // same bytes is refused.
        guard ConstantTime.equal(Array(clientData.challenge.utf8), Array(Base64URL.encode(challenge).utf8)) else {
            throw WebAuthnError(.challengeMismatch, "clientData.challenge is not the expected challenge")
        }
        // §7.1 step 9 / §7.2 step 12: the origin must be one the relying party allows, compared as an
        // exact string (byte for byte, not up to canonical equivalence) with the configured serialized origins.
        guard relyingParty.allows(origin: clientData.origin) else {
            throw WebAuthnError(.originMismatch, "clientData.origin \"\(clientData.origin)\" is not an allowed origin")
        }
        // §7.1 step 10 / §7.2 step 13: crossOrigin true only where the RP expects to be embedded.
        if clientData.crossOrigin == true, relyingParty.allowedTopOrigins.isEmpty {
            throw WebAuthnError(.crossOriginNotAllowed, "clientData.crossOrigin is true but embedding is not allowed")
        }
        // §7.1 step 11 / §7.2 step 14: a topOrigin must be one the RP expects to be embedded in, and
        // only makes sense together with crossOrigin true.
        if let topOrigin = clientData.topOrigin {
            guard clientData.crossOrigin == true else {
                throw WebAuthnError(.crossOriginNotAllowed, "clientData.topOrigin is present without crossOrigin true")
            }
            guard relyingParty.allows(topOrigin: topOrigin) else {
                throw WebAuthnError(.crossOriginNotAllowed, "clientData.topOrigin \"\(topOrigin)\" is not allowed")
            }
        }
    }


    /// §7.1 steps 14–17 / §7.2 steps 15–18: rpIdHash, UP, UV and BS ⇒ BE.
    static func verifyFlags(_ authData: AuthenticatorData, relyingParty: RelyingParty, userVerification: UserVerificationRequirement) throws {
        // §7.1 step 14 / §7.2 step 15.
        guard ConstantTime.equal(Array(authData.rpIDHash), relyingParty.idHash) else {
            throw WebAuthnError(.rpIDHashMismatch, "rpIdHash is not SHA-256(\"\(relyingParty.id)\")")
        }
        // §7.1 step 15 / §7.2 step 16: user presence, always.
        guard authData.flags.contains(.userPresent) else {
            throw WebAuthnError(.userPresenceMissing, "the UP flag is not set")
        }
        // §7.1 step 16 / §7.2 step 17: user verification when required.
        if userVerification.isRequired, !authData.flags.contains(.userVerified) {
            throw WebAuthnError(.userVerificationMissing, "user verification is required but the UV flag is not set")
        }
        // §7.1 step 17 / §7.2 step 18: BS may be set only with BE.
        if authData.flags.contains(.backedUp), !authData.flags.contains(.backupEligible) {
            throw WebAuthnError(.backupStateInvalid, "BS is set without BE")
        }
    }
}
