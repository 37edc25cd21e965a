import HTTPTypes
import Hummingbird
import OIDC
import PortcullisHTTP

/// Errors as pages for people: a browser that asks for a page (its `Accept` names HTML) and gets a
/// refusal, an unknown path, an expired link or a failure sees a page in the product's look that says
/// what happened and what to do next. The JSON API (`/api/`, the OAuth endpoints, the well-known
/// files) and every client that does not ask for HTML keep the problem document.
package struct ErrorPages: Sendable {
    let library: PageLibrary
    let site: SiteView

    package init(library: PageLibrary, siteName: String) {
        self.library = library
        site = SiteView(siteName: siteName)
    }

    /// The page for `problem`, or nil when the request is not a browser's request for a page.
    package func page(_ request: Request, _ problem: Problem) -> Response? {
        guard Self.wantsPage(request) else { return nil }
        let words = Self.words(problem)
        var response = library.page("error", View(siteName: site.siteName, status: Int(problem.status.code), heading: words.heading,
                                                  message: problem.title, next: words.next), status: problem.status)
        response.headers[.contentSecurityPolicy] = Pages.contentSecurityPolicyText
        if let retry = problem.headers[.retryAfter] { response.headers[.retryAfter] = retry }
        return response
    }

    /// A navigation or a form's post from a browser: it accepts HTML, and the path is not an API's.
    static func wantsPage(_ request: Request) -> Bool {
        guard [.get, .head, .post].contains(request.method) else { return false }
        let path = request.uri.path
        if path.hasPrefix("/api/") || path.hasPrefix("/.well-known/") || apiPaths.contains(path) { return false }
        return request.headers[values: .accept].contains { $0.lowercased().contains("text/html") }
    }

    /// The OAuth endpoints that answer clients in JSON (the authorization and logout endpoints are pages).
    static let apiPaths: Set<String> = [OIDCPaths.token, OIDCPaths.userinfo, OIDCPaths.jwks, OIDCPaths.revoke, OIDCPaths.introspect,
                                        OIDCPaths.par, OIDCPaths.deviceAuthorization]

    /// A heading and a next step for each kind of failure; the problem's own title says what happened.
    static func words(_ problem: Problem) -> (heading: String, next: String) {
        if problem.code == "link_invalid" {
            return ("This link does not work", "Links in our messages work for a limited time. Open your account on this site to ask for a new one.")
        }
        return switch problem.status.code {
        case 404: ("Page not found", "Check the address, or start again from the home page.")
        case 401: ("Sign in first", "Sign in with your passkey, then try again.")
        case 403: ("Not allowed", "If a link brought you here, it may have expired or come from another site: start again from this site's own pages.")
        case 409: ("Already done", "Reload the page to see where things stand.")
        case 413: ("Too much at once", "Send less, then try again.")
        case 429: ("Too many attempts", "Wait a minute, then try again.")
        case 500...: ("Something went wrong on our side", "Nothing was changed. Try again in a moment.")
        default: ("That did not work", "Go back, check what you entered, and try again.")
        }
    }

    struct View {
        let siteName: String
        let status: Int
        let heading: String
        let message: String
        let next: String
    }
}
