import Accounts
import Foundation
import Hummingbird
import NIOCore
import OIDC
import PortcullisHTTP

/// The link a new notification address receives: a page whose button confirms the address (opening
/// the link changes nothing, because mail scanners fetch links). Until then the address hears
/// nothing about the account. The form's post carries the page's own origin, which the Origin check
/// requires like any other post.
package struct AddressVerifyPage: Sendable {
    let kit: APIToolkit
    let library: PageLibrary
    let site: SiteView

    func register(on router: RouterGroup<AppRequestContext>) {
        router.get("addresses/verify", use: page)
        router.post("addresses/verify", use: verify)
    }

    /// The link, as `https://origin/addresses/verify?user=ID&address=A&expires=T&sig=S`.
    package static func link(origin: String, userID: UUID, address: String, expires: Int, signature: String) -> String {
        "\(origin)/addresses/verify?user=\(userID.lowercaseText)&address=\(formEncode(address))&expires=\(expires)&sig=\(signature)"
    }

    /// The link's query, and the form the page posts: the same four fields.
    struct Link: Decodable {
        let user: UUID
        let address: String
        let expires: Int
        let sig: String
    }

    struct View {
        let siteName: String
        let address: String
        let user: String
        let expires: Int
        let signature: String
        let done: Bool
        let username: String
    }

    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        let link = try decodeLink(request.uri.query ?? "")
        return library.page("address-verify", View(
            siteName: site.siteName, address: link.address, user: link.user.lowercaseText, expires: link.expires, signature: link.sig,
            done: false, username: ""))
    }

    @Sendable func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 4096) } catch is NIOTooManyBytesError { throw Problem.tooLarge }
        let link = try decodeLink(String(buffer: buffer))
        let username = try await kit.service.recovery.verifyAddress(
            userID: link.user, address: link.address, expires: link.expires, signature: link.sig, info: kit.info(request, context))
        return library.page("address-verify", View(
            siteName: site.siteName, address: link.address, user: "", expires: 0, signature: "", done: true, username: username))
    }

    /// A missing, repeated or malformed field is a link that does not work.
    func decodeLink(_ form: String) throws -> Link {
        do { return try URLEncodedFormDecoder().decode(Link.self, from: form) } catch { throw Problem.from(AccountsError.linkInvalid()) }
    }
}
