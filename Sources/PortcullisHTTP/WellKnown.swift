import Hummingbird
import NIOCore
import WebAuthn

/// The files native apps and browsers fetch from the RP ID's origin.
struct WellKnown: Sendable {
    let settings: HTTPSettings

    static func json(_ value: JSONValue) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: StrictJSON.serializedBytes(value))))
    }

    func register(on router: Router<AppRequestContext>) {
        let relatedOrigins = settings.relatedOrigins
        let appleApps = settings.appleAppIDs
        let androidApps = settings.androidApps
        // Related Origin Requests (WebAuthn L3 §5.11).
        router.get(".well-known/webauthn") { _, _ in Self.json(.object(["origins": .array(relatedOrigins.map(JSONValue.string))])) }
        router.get(".well-known/apple-app-site-association") { _, _ in
            Self.json(.object(["webcredentials": .object(["apps": .array(appleApps.map(JSONValue.string))])]))
        }
        router.get(".well-known/assetlinks.json") { _, _ in
            Self.json(.array(androidApps.map { app in
                let parts = app.split(separator: ":", maxSplits: 1).map(String.init)
                return .object([
                    "relation": .array([.string("delegate_permission/common.handle_all_urls"), .string("delegate_permission/common.get_login_creds")]),
                    "target": .object([
                        "namespace": .string("android_app"), "package_name": .string(parts.first ?? ""),
                        "sha256_cert_fingerprints": .array([.string(parts.count > 1 ? parts[1] : "")]),
                    ]),
                ])
            }))
        }
    }
}
