import Hummingbird
import NIOCore
import WebAuthn

/// The files native apps and browsers fetch from the RP ID's origin.
struct WellKnown: Sendable {
    let settings: HTTPSettings

    static func json(_ view: some Encodable) -> Response {
        // These views hold only strings: encoding cannot fail.
        let value = (try? JSONValueEncoder().encode(view)) ?? .null
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: StrictJSON.serializedBytes(value))))
    }

    /// `/.well-known/webauthn` (WebAuthn L3 §5.11.1).
    struct RelatedOrigins: Encodable { let origins: [String] }
    /// The part of `apple-app-site-association` that passkeys read.
    struct AppleAssociation: Encodable {
        struct Apps: Encodable { let apps: [String] }
        let webcredentials: Apps
    }
    /// One Digital Asset Links statement: the app may use this site's credentials.
    struct AssetLink: Encodable {
        struct Target: Encodable {
            let namespace = "android_app"
            let package_name: String
            let sha256_cert_fingerprints: [String]
        }
        let relation = ["delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"]
        let target: Target
    }

    func register(on router: Router<AppRequestContext>) {
        let relatedOrigins = settings.relatedOrigins
        let appleApps = settings.appleAppIDs
        let androidApps = settings.androidApps
        // Related Origin Requests (WebAuthn L3 §5.11).
        router.get(".well-known/webauthn") { _, _ in Self.json(RelatedOrigins(origins: relatedOrigins)) }
        router.get(".well-known/apple-app-site-association") { _, _ in
            Self.json(AppleAssociation(webcredentials: .init(apps: appleApps)))
        }
        router.get(".well-known/assetlinks.json") { _, _ in
            Self.json(androidApps.map { app in
                let parts = app.split(separator: ":", maxSplits: 1).map(String.init)
                return AssetLink(target: .init(package_name: parts.first ?? "", sha256_cert_fingerprints: [parts.count > 1 ? parts[1] : ""]))
            })
        }
    }
}
