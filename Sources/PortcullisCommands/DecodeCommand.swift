import ArgumentParser
import CBOR
import Foundation
import WebAuthn
import X509

/// `portcullis webauthn decode`: shows what a response contains, verifying nothing.
struct DecodeCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Print what a RegistrationResponseJSON or AuthenticationResponseJSON contains, without verifying it."
    )

    @Argument(help: "The response JSON file, or - for standard input.")
    var file: String?

    func run(io: CommandIO) async throws -> Int32 {
        let input = try io.readInput(file)
        var out: JSONObject = [:]
        do {
            let value: JSONValue
            do { value = try StrictJSON.parse(input) } catch {
                throw WebAuthnError(.malformedResponse, "\(error)")
            }
            guard let object = value.object, let response = object["response"]?.object else {
                throw WebAuthnError(.malformedResponse, "not a PublicKeyCredential JSON object with a response member")
            }
            if response["attestationObject"] != nil {
                let registration = try RegistrationResponse(value: value)
                out["kind"] = .string("registration")
                out["credentialId"] = .string(Base64URL.encode(registration.credential.rawID))
                out["clientData"] = Self.clientData(registration.clientDataJSON)
                let attestation = try AttestationObject(bytes: registration.attestationObject)
                out["authenticatorData"] = .object(Self.authenticatorData(attestation.authenticatorData))
                out["attestation"] = .object(Self.attestation(attestation))
                out["transports"] = .array(registration.transports.map(JSONValue.string))
            } else {
                let authentication = try AuthenticationResponse(value: value)
                out["kind"] = .string("authentication")
                out["credentialId"] = .string(Base64URL.encode(authentication.credential.rawID))
                out["clientData"] = Self.clientData(authentication.clientDataJSON)
                out["authenticatorData"] = .object(Self.authenticatorData(try AuthenticatorData(bytes: authentication.authenticatorData)))
                out["userHandle"] = authentication.userHandle.map { .string(Base64URL.encode($0)) } ?? .null
                out["signature"] = .string(Base64URL.encode(authentication.signature))
            }
            io.out(StrictJSON.serialize(.object(out)) + "\n")
            return 0
        } catch let error as WebAuthnError {
            out["error"] = .string(error.code.rawValue)
            out["detail"] = .string(error.detail)
            io.out(StrictJSON.serialize(.object(out)) + "\n")
            return 1
        }
    }

    static func clientData(_ bytes: [UInt8]) -> JSONValue {
        do {
            let c = try CollectedClientData(bytes: bytes)
            var object: JSONObject = ["type": .string(c.type), "challenge": .string(c.challenge), "origin": .string(c.origin)]
            if let crossOrigin = c.crossOrigin { object["crossOrigin"] = .bool(crossOrigin) }
            if let topOrigin = c.topOrigin { object["topOrigin"] = .string(topOrigin) }
            return .object(object)
        } catch let error as WebAuthnError {
            return .object(["error": .string(error.code.rawValue), "detail": .string(error.detail)])
        } catch {
            return .object(["error": .string("malformed_client_data")])
        }
    }

    static func authenticatorData(_ data: AuthenticatorData) -> JSONObject {
        let f = data.flags
        var out: JSONObject = [
            "rpIdHash": .string(data.rpIDHash.hexString),
            "flags": .object([
                "userPresent": .bool(f.contains(.userPresent)), "userVerified": .bool(f.contains(.userVerified)),
                "backupEligible": .bool(f.contains(.backupEligible)), "backedUp": .bool(f.contains(.backedUp)),
                "attestedCredentialData": .bool(f.contains(.attestedCredentialData)), "extensionData": .bool(f.contains(.extensionData)),
            ]),
            "signCount": .int(data.signCount),
        ]
        if let attested = data.attestedCredentialData {
            out["aaguid"] = .string(attested.aaguid.description)
            out["provider"] = KnownAuthenticators.name(for: attested.aaguid).map(JSONValue.string) ?? .null
            out["credentialId"] = .string(Base64URL.encode(attested.credentialID))
            var key: JSONObject = ["cose": .string(Base64URL.encode(attested.publicKeyBytes))]
            do {
                let parsed = try CredentialPublicKey(cose: attested.publicKeyCOSE)
                key["algorithm"] = .int(parsed.algorithm.rawValue)
                key["algorithmName"] = .string(parsed.algorithm.name)
                key["keyType"] = .string(parsed.keyTypeName)
                for name in ["x", "y", "n", "e"] {
                    if let component = parsed.components[name] { key[name] = .string(Base64URL.encode(component)) }
                }
            } catch let error as WebAuthnError {
                key["error"] = .string(error.code.rawValue)
                key["detail"] = .string(error.detail)
            } catch {}
            out["publicKey"] = .object(key)
        }
        if let extensions = data.extensions { out["extensions"] = json(.map(extensions)) }
        return out
    }

    static func attestation(_ object: AttestationObject) -> JSONObject {
        var certificates: [JSONValue] = []
        func collect(_ statement: CBORValue) {
            if let items = statement.array {
                for item in items { if let sub = item.map?[text: "attStmt"] { collect(sub) } }
            }
            for item in statement.map?[text: "x5c"]?.array ?? [] {
                guard let der = item.bytes, let certificate = try? X509CertificateBox(der: der) else {
                    certificates.append(.object(["error": .string("not a certificate")]))
                    continue
                }
                certificates.append(.object([
                    "subject": .string(certificate.certificate.subject.description),
                    "issuer": .string(certificate.certificate.issuer.description),
                    "notValidBefore": .string(ISO8601DateFormatter().string(from: certificate.certificate.notValidBefore)),
                    "notValidAfter": .string(ISO8601DateFormatter().string(from: certificate.certificate.notValidAfter)),
                ]))
            }
        }
        collect(object.statement)
        return ["format": .string(object.format), "certificates": .array(certificates)]
    }

    /// Renders CBOR for people: byte strings as base64url, map keys as text.
    static func json(_ value: CBORValue) -> JSONValue {
        switch value {
        case .unsigned, .negative: return .number(value.int64.map(String.init) ?? "0")
        case .bytes(let b): return .string(Base64URL.encode(b))
        case .text(let t): return .string(t)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .array(let items): return .array(items.map(json))
        case .map(let map):
            var object: JSONObject = [:]
            for entry in map {
                let key: String = entry.key.text ?? entry.key.int64.map(String.init) ?? "?"
                object[key] = json(entry.value)
            }
            return .object(object)
        }
    }
}
