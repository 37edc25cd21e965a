import Accounts
import Hummingbird
import Mustache
import NIOCore
import PortcullisHTTP

/// The pages for people: sign up, sign in (also through autofill, or by approval from another
/// device), the account (passkeys, recovery set-up, approvals), approving a device (`/device`),
/// enrolling a new device (`/enrol`), recovering an account (`/recover`) and the "this wasn't me"
/// link. HTML comes from Mustache templates, script and style from static files; every page is
/// served under one Content-Security-Policy that allows no inline script or style.
package enum Pages {
    /// Registers the pages on `router`, which must already carry the API's middleware.
    package static func register(on router: Router<AppRequestContext>, kit: APIToolkit, library: PageLibrary) {
        let pages = router.group().add(middleware: ContentSecurityMiddleware(contentSecurityPolicy: contentSecurityPolicy))
        let site = SiteView(siteName: kit.service.policy.relyingPartyName)
        for path in ["/", "device", "enrol", "recover"] {
            pages.get(RouterPath(path)) { _, _ in library.page("home", site) }
        }
        // The admin page is the same for everyone: its data come from the admin API, which only admins may read.
        pages.get("admin") { _, _ in library.page("admin", site) }
        RecoveryCancelPage(kit: kit, library: library, site: site).register(on: pages)
        AddressVerifyPage(kit: kit, library: library, site: site).register(on: pages)
        QRCodeRoute(kit: kit).register(on: router.group())
        // The OpenID Connect pages set the same policy themselves, widening form-action to the app a
        // form's answer is redirected to (Chromium applies form-action to the redirects after a post).
        OIDCPages(kit: kit, library: library, site: site).register(on: router.group())
        for asset in library.assets {
            pages.get(RouterPath("static/\(asset.name)")) { request, _ in asset.response(to: request) }
        }
    }

    /// Script, style, images and fetches from this origin only; no inline script or style, no
    /// plug-ins, no framing, no `<base>`; forms post to this origin only.
    package static let contentSecurityPolicy = contentSecurityPolicy(formTarget: nil)
    /// ``contentSecurityPolicy`` as its header's value, written once.
    package static let contentSecurityPolicyText = contentSecurityPolicy.description

    /// The same policy with `formTarget` (an origin a form's answer redirects to) added to `form-action`.
    package static func contentSecurityPolicy(formTarget: String?) -> ContentSecurityPolicy {
        [
            .defaultSrc(.none), .scriptSrc(.self), .styleSrc(.self), .imgSrc(.self), .connectSrc(.self),
            .baseURI(.none), formTarget.map { .formAction(.self, .uri($0)) } ?? .formAction(.self), .frameAncestors(.none),
        ]
    }
}

/// What every template's layout reads.
package struct SiteView: Sendable {
    /// The relying party's name (`rp.name`), shown in titles and headings.
    package let siteName: String
}
