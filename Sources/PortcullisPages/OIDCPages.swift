import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OIDC
import PortcullisHTTP
import WebAuthn

/// The OpenID Connect endpoints a person's browser visits: the authorization endpoint (Core §3.1.2,
/// GET and POST), its sign-in and consent pages, and RP-initiated logout. Requests that cannot go back
/// to the app (an unknown client, a bad redirect URI) end on an error page, never in a redirect
/// (RFC 6749 §4.1.2.1).
package struct OIDCPages: Sendable {
    let kit: APIToolkit
    let library: PageLibrary
    let site: SiteView
    var provider: OIDCProvider { kit.oidc }

    func register(on router: RouterGroup<AppRequestContext>) {
        let pages = router.group().add(middleware: kit.authenticator)
        let authorize = RouterPath(String(OIDCPaths.authorize.dropFirst()))
        pages.get(authorize, use: authorizeRequest)
        pages.post(authorize, use: authorizeRequest)
        pages.get(RouterPath(String(OIDCPaths.resume.dropFirst())), use: resume)
        pages.post(RouterPath(String(OIDCPaths.consent.dropFirst())), use: consent)
        let logout = RouterPath(String(OIDCPaths.logout.dropFirst()))
        pages.get(logout, use: logoutRequest)
        pages.post(logout, use: logoutRequest)
        pages.post(RouterPath(String(OIDCPaths.logout.dropFirst()) + "/confirm"), use: confirmLogout)
    }

    // MARK: Authorization

    @Sendable func authorizeRequest(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let pairs = try await OAuthForm.parameters(request) else {
            return errorPage("The request's parameters are not valid form encoding.")
        }
        do {
            let outcome = try await provider.authorize(pairs, auth: context.identity, preparing: { await signInOptions(request, context) })
            return try await self.outcome(outcome, request: request, context: context)
        } catch let error as AuthorizationPageError {
            return errorPage(error.message)
        }
    }

    @Sendable func resume(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let pairs = OAuthForm.parse(Substring(request.uri.query ?? "")), let values = AuthorizationRequestParser.unique(pairs),
              let id = values["interaction"]
        else { return errorPage("This link is not complete. Go back to the app and start again.") }
        do {
            let outcome = try await provider.resume(interactionID: id, auth: context.identity, preparing: { await signInOptions(request, context) })
            return try await self.outcome(outcome, request: request, context: context)
        } catch let error as AuthorizationPageError {
            return errorPage(error.message)
        }
    }

    @Sendable func consent(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let pairs = try await OAuthForm.parameters(request), let values = AuthorizationRequestParser.unique(pairs),
              let id = values["interaction"], let token = values["token"], let decision = values["decision"], ["allow", "deny"].contains(decision)
        else { return errorPage("The consent form is not complete. Go back to the app and start again.") }
        guard let auth = context.identity else { return errorPage("You are no longer signed in. Go back to the app and start again.") }
        do {
            // An unticked box sends no field: allowed this once.
            let remember = values["remember"] == "yes"
            return try await outcome(try await provider.consent(interactionID: id, auth: auth, approve: decision == "allow", remember: remember,
                                                          formToken: token), request: request, context: context)
        } catch let error as AuthorizationPageError {
            return errorPage(error.message)
        }
    }

    func outcome(_ outcome: OIDCProvider.AuthorizationOutcome, request: Request, context: AppRequestContext) async throws -> Response {
        switch outcome {
        case .redirect(let location):
            // RFC 9700 §4.12: 303, so that a POSTed request's body is never re-sent to the client.
            return Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        case .signIn(let prompt):
            var options = prompt.prepared
            if options == nil { options = await signInOptions(request, context) }
            let view = SignInView(
                siteName: site.siteName, clientName: prompt.client.name, interactionID: prompt.interactionID, loginHint: prompt.loginHint ?? "",
                reasonFresh: prompt.reason == .fresh, reasonDeviceBound: prompt.reason == .deviceBound, reasonPasskey: prompt.reason == .passkey,
                options: options ?? "")
            return Self.withPolicy(library.page(library.signIn.body(view.values, flags: view.flagValues)))
        case .consent(let prompt):
            // The answer is a redirect to the app (or, declined, to its error): form-action must allow its origin.
            return html("consent", ConsentView(
                siteName: site.siteName, clientName: prompt.client.name, username: context.identity?.user.username ?? "",
                scopes: prompt.scopes.map(Self.describe), interactionID: prompt.interactionID, formToken: prompt.formToken),
                formTarget: Self.origin(prompt.redirectURI))
        }
    }

    /// The options of a passkey sign-in with any of the person's passkeys (a discoverable credential,
    /// WebAuthn Level 3 §5.5), as `POST /api/v1/login/options` answers them without a username, for
    /// the sign-in page to carry: the browser asks for the passkey at once, without a round trip
    /// first. Counted against the address's limit as that request is; when the limit is spent (or
    /// the challenge cannot be stored) the page carries none and asks the API, which answers the
    /// refusal in words. Empty when there are none.
    ///
    /// The JSON comes escaped for an attribute value (``attributeEscaped(_:)``): the template writes it
    /// as it is, sparing Mustache's escaping, which looks up every character of it in a dictionary.
    func signInOptions(_ request: Request, _ context: AppRequestContext) async -> String {
        do {
            return Self.attributeEscaped(StrictJSON.serializedBytes(try await kit.loginOptions(username: nil, request, context)))
        } catch {
            return ""
        }
    }

    /// UTF-8 text as a double-quoted HTML attribute value (``HTMLText/escaped(_:)``).
    package static func attributeEscaped(_ bytes: [UInt8]) -> String {
        HTMLText.escaped(bytes)
    }

    /// A scope in words.
    static func describe(_ scope: String) -> String {
        switch scope {
        case "openid": "Your account's identifier, and how you signed in"
        case "profile": "Your name and username"
        case "offline_access": "Access while you are not using the app, until you disconnect it"
        default: scope
        }
    }

    /// The sign-in page's values, which ``PageLibrary/signIn`` puts into the page rendered ahead of
    /// time: it is the page every sign-in into an app shows.
    struct SignInView {
        let siteName: String
        let clientName: String
        let interactionID: String
        let loginHint: String
        let reasonFresh: Bool
        let reasonDeviceBound: Bool
        let reasonPasskey: Bool
        /// The JSON of ``signInOptions(_:_:)``, escaped for the attribute already, or empty.
        let options: String

        /// The template's text values by name, in one order for ``fields`` and ``values``.
        static let textFields: [(name: String, value: any KeyPath<SignInView, String> & Sendable)] = [
            ("siteName", \.siteName), ("clientName", \.clientName), ("interactionID", \.interactionID), ("loginHint", \.loginHint),
            ("options", \.options),
        ]
        /// Its sections that are on or off by name, in one order for ``flags`` and ``flagValues``.
        static let flagFields: [(name: String, value: any KeyPath<SignInView, Bool> & Sendable)] = [
            ("reasonFresh", \.reasonFresh), ("reasonDeviceBound", \.reasonDeviceBound), ("reasonPasskey", \.reasonPasskey),
        ]
        static var fields: [String] { textFields.map(\.name) }
        static var flags: [String] { flagFields.map(\.name) }
        var values: [String] { Self.textFields.map { self[keyPath: $0.value] } }
        var flagValues: [Bool] { Self.flagFields.map { self[keyPath: $0.value] } }
    }

    struct ConsentView {
        let siteName: String
        let clientName: String
        let username: String
        let scopes: [String]
        let interactionID: String
        let formToken: String
    }

    func errorPage(_ message: String) -> Response {
        html("oidc-error", ErrorView(siteName: site.siteName, message: message), status: .badRequest)
    }

    /// A page under the pages' policy, with `formTarget` added to its form-action.
    func html(_ template: String, _ view: Any, status: HTTPResponse.Status = .ok, formTarget: String? = nil) -> Response {
        Self.withPolicy(library.page(template, view, status: status), formTarget: formTarget)
    }

    /// `response` under the pages' policy, with `formTarget` added to its form-action.
    static func withPolicy(_ response: Response, formTarget: String? = nil) -> Response {
        var response = response
        response.headers[.contentSecurityPolicy] = formTarget.map { Pages.contentSecurityPolicy(formTarget: $0).description } ?? Pages.contentSecurityPolicyText
        return response
    }

    /// The origin of `uri` (scheme, host, port), for a CSP source.
    static func origin(_ uri: String?) -> String? {
        guard let uri, let components = URLComponents(string: uri), let scheme = components.scheme, let host = components.host else { return nil }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    struct ErrorView {
        let siteName: String
        let message: String
    }

    // MARK: Logout (RP-Initiated Logout 1.0)

    @Sendable func logoutRequest(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let pairs = try await OAuthForm.parameters(request), let values = AuthorizationRequestParser.unique(pairs) else {
            return errorPage("The sign-out request's parameters are not valid.")
        }
        do {
            switch try await provider.logout(values, auth: context.identity) {
            case .signOut(let redirect): return try await signOut(request, context: context, then: redirect)
            case .signedOut(let redirect): return finished(redirect)
            case .confirm(let prompt):
                return html("logout", LogoutView(
                    siteName: site.siteName, confirm: true, clientName: prompt.clientName, username: context.identity?.user.username ?? "",
                    clientID: prompt.clientID ?? "", postLogoutRedirectURI: prompt.postLogoutRedirectURI ?? "", state: prompt.state ?? "",
                    formToken: prompt.formToken), formTarget: Self.origin(prompt.postLogoutRedirectURI))
            }
        } catch let error as AuthorizationPageError {
            return errorPage(error.message)
        }
    }

    @Sendable func confirmLogout(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let pairs = try await OAuthForm.parameters(request), var values = AuthorizationRequestParser.unique(pairs) else {
            return errorPage("The sign-out form is not complete.")
        }
        guard let auth = context.identity else { return finished(nil) }
        for name in ["client_id", "post_logout_redirect_uri", "state"] where values[name]?.isEmpty == true { values[name] = nil }
        do {
            let redirect = try await provider.confirmLogout(values, auth: auth)
            return try await signOut(request, context: context, then: redirect)
        } catch let error as AuthorizationPageError {
            return errorPage(error.message)
        }
    }

    /// Ends the browser's session, recorded like any sign-out. Its tokens stop working at once (every
    /// use checks that the session lives); the outbox marks them revoked and tells the apps.
    func signOut(_ request: Request, context: AppRequestContext, then redirect: String?) async throws -> Response {
        if let auth = context.identity {
            try await kit.service.account.revokeSession(auth, sessionID: auth.session.id, info: kit.info(request, context))
        }
        var response = finished(redirect)
        response.setCookie(kit.expiredCookie())
        return response
    }

    func finished(_ redirect: String?) -> Response {
        if let redirect { return Response(status: .seeOther, headers: [.location: redirect, .cacheControl: "no-store"]) }
        return html("logout", LogoutView(siteName: site.siteName, confirm: false, clientName: nil, username: "", clientID: "",
                                                 postLogoutRedirectURI: "", state: "", formToken: ""))
    }

    struct LogoutView {
        let siteName: String
        let confirm: Bool
        let clientName: String?
        let username: String
        let clientID: String
        let postLogoutRedirectURI: String
        let state: String
        let formToken: String
    }
}
