import Accounts
import Foundation
import Hummingbird
import NIOCore
import PortcullisHTTP

/// The "this wasn't me" link that every notice about an open recovery case carries: a page (opening
/// the link changes nothing: mail scanners fetch links), whose button posts the form that cancels
/// the case and blocks new ones. The form's post carries the page's own origin (the responses are
/// `Referrer-Policy: same-origin`), which the Origin check requires like any other post.
package struct RecoveryCancelPage: Sendable {
    let kit: APIToolkit
    let library: PageLibrary
    let site: SiteView

    func register(on router: RouterGroup<AppRequestContext>) {
        router.get("recovery/cancel", use: page)
        router.post("recovery/cancel", use: cancel)
    }

    /// The link in a notification, as `https://origin/recovery/cancel?case=ID&sig=SIG`.
    package static func link(origin: String, caseID: UUID, signature: String) -> String {
        "\(origin)/recovery/cancel?case=\(caseID.lowercaseText)&sig=\(signature)"
    }

    /// The link's query, and the form the page posts: the same two fields.
    struct Link: Decodable {
        let `case`: UUID
        let sig: String
    }

    struct View {
        let siteName: String
        let open: Bool
        let createdAt: String
        let ip: String
        let status: String
        let caseID: String
        let signature: String
    }

    /// Opening the link only shows a page (mail scanners fetch links); the page's button POSTs.
    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        let link = try decodeLink(request.uri.query ?? "")
        let target = try await kit.service.recovery.checkCancelLink(caseID: link.case, signature: link.sig)
        return library.page("recovery-cancel", View(
            siteName: site.siteName, open: target.status == .open,
            createdAt: ISO8601DateFormatter().string(from: target.createdAt), ip: target.ip,
            status: target.status.rawValue, caseID: link.case.lowercaseText, signature: link.sig))
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 4096) } catch is NIOTooManyBytesError { throw Problem.tooLarge }
        let link = try decodeLink(String(buffer: buffer))
        try await kit.service.recovery.cancelRecoveryByLink(caseID: link.case, signature: link.sig, info: kit.info(request, context))
        return library.page("recovery-cancelled", site)
    }

    /// A missing, repeated or malformed field is a link that does not work, whatever the decoder's
    /// reason (which is not the client's business).
    func decodeLink(_ form: String) throws -> Link {
        do { return try URLEncodedFormDecoder().decode(Link.self, from: form) } catch { throw Problem.from(AccountsError.linkInvalid()) }
    }
}
