import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import WebAuthn

/// The templates and static files of the pages, compiled into the binary (the manifest embeds each
/// file of `Resources/` in code), parsed once at start-up. A template that does not parse stops the
/// server from starting instead of failing a request later.
package struct PageLibrary: Sendable {
    let templates: MustacheLibrary
    /// The sign-in page of an app's authorization request (`authorize`), rendered ahead of time:
    /// every sign-in into an app shows it (``OIDCPages/SignInView``).
    package let signIn: PrerenderedPage
    /// The static files, served at `/static/NAME`.
    package let assets: [StaticAsset]

    /// Parses the embedded templates. `accentColor` (`#rrggbb`, checked by the configuration) and the
    /// optional `logo` brand every page through `/static/brand.css`, so that no page needs inline style.
    package init(accentColor: String = "#1d4ed8", logo: (bytes: [UInt8], contentType: String)? = nil) throws {
        var templates = MustacheLibrary()
        HTMLText.register()
        for (name, bytes) in [
            ("layout", PackageResources.layout_mustache), ("home", PackageResources.home_mustache),
            ("recovery-cancel", PackageResources.recovery_cancel_mustache),
            ("recovery-cancelled", PackageResources.recovery_cancelled_mustache),
            ("authorize", PackageResources.authorize_mustache), ("consent", PackageResources.consent_mustache),
            ("oidc-error", PackageResources.oidc_error_mustache), ("logout", PackageResources.logout_mustache),
            ("error", PackageResources.error_mustache), ("admin", PackageResources.admin_mustache),
            ("address-verify", PackageResources.address_verify_mustache),
        ] {
            // Every template, partial and layout escapes with ``HTMLText`` (Mustache starts each one
            // with its own HTML escaping, which misses a quote that a combining mark follows).
            try templates.register(HTMLText.pragma + String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.templates = templates
        signIn = try PrerenderedPage(template: "authorize", fields: OIDCPages.SignInView.fields, flags: OIDCPages.SignInView.flags) {
            templates.render($0, withTemplate: "authorize")
        }
        assets = [
            StaticAsset(name: "app.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.app_js),
            StaticAsset(name: "app.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.app_css),
            StaticAsset(name: "authorize.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.authorize_js),
            StaticAsset(name: "common.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.common_js),
            StaticAsset(name: "admin.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.admin_js),
            StaticAsset(name: "brand.css", contentType: "text/css; charset=utf-8", bytes: Array(Self.brand(accentColor: accentColor, logo: logo != nil).utf8)),
        ] + (logo.map { [StaticAsset(name: "logo", contentType: $0.contentType, bytes: $0.bytes)] } ?? [])
    }

    /// The stylesheet that carries the configured accent colour and, when there is one, the logo.
    static func brand(accentColor: String, logo: Bool) -> String {
        ":root { --accent: \(accentColor); }\n"
            + (logo ? ".brand { display: block; height: 3rem; background: url(\"/static/logo\") left center / contain no-repeat; }\n" : "")
    }

    /// The HTML of `template` rendered with `view`: Mustache escapes every `{{value}}` for HTML.
    /// Nil for a template name that is not registered.
    package func render(_ template: String, _ view: Any) -> String? {
        templates.render(view, withTemplate: template)
    }

    /// `template` rendered with `view`, as a page that no cache keeps.
    package func page(_ template: String, _ view: Any, status: HTTPResponse.Status = .ok) -> Response {
        // Every name passed here is one registered above; a missing one is a programming error that
        // the page tests catch, and it answers with an empty page rather than stopping the server.
        page(ByteBuffer(string: render(template, view) ?? ""), status: status)
    }

    /// A page of HTML that no cache keeps.
    package func page(_ html: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"], body: .init(byteBuffer: html))
    }
}

/// One static file, held in memory, served with a strong `ETag` so that a browser revalidates it
/// cheaply and picks up a new version as soon as the server changes.
package struct StaticAsset: Sendable {
    package let name: String
    let contentType: String
    let body: ByteBuffer
    let etag: String

    init(name: String, contentType: String, bytes: [UInt8]) {
        self.name = name
        self.contentType = contentType
        body = ByteBuffer(bytes: bytes)
        etag = "\"" + Base64URL.encode(Array(SHA256.hash(data: bytes)).prefix(16)) + "\""
    }

    func response(to request: Request) -> Response {
        var headers: HTTPFields = [.contentType: contentType, .cacheControl: "no-cache", .eTag: etag]
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

/// HTML escaping for every value a template shows, as Mustache's content type `PORTCULLIS_HTML`.
///
/// Mustache's own HTML escaping compares whole Characters with `<`, `>`, `&`, `"` and `'`; a quote
/// followed by a combining mark (`"` U+0301) is one Character that equals none of them, so it was
/// written as it is, and a browser, which tokenizes code points (HTML §13.2.5.36: a `"` ends a
/// double-quoted attribute value whatever follows it), ended the attribute there: a `login_hint`
/// could add attributes to the sign-in page's username field. This escapes the five bytes wherever
/// they are in the UTF-8, which is where the HTML tokenizer sees them.
package enum HTMLText {
    /// The name templates select it by.
    static let contentTypeName = "PORTCULLIS_HTML"
    /// The pragma put before every template's text.
    static let pragma = "{{% CONTENT_TYPE: \(contentTypeName)}}\n"

    struct ContentType: MustacheContentType {
        func escapeText(_ text: String) -> String { HTMLText.escaped(text) }
    }

    /// Makes the content type known to Mustache's parser (idempotent).
    static func register() {
        MustacheContentTypes.register(ContentType(), named: contentTypeName)
    }

    /// `text` with `&`, `<`, `>`, `"` and `'` as character references; `text` itself when it has none.
    package static func escaped(_ text: String) -> String {
        var text = text
        let result = text.withUTF8 { bytes -> String? in
            guard bytes.contains(where: needsEscape) else { return nil }
            return escaped(bytes)
        }
        return result ?? text
    }

    /// UTF-8 text as escaped text: every other byte as it is.
    package static func escaped(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        append(escaping: bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends UTF-8 text to `out`, escaped: every other byte as it is.
    static func append(escaping bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): out.append(contentsOf: "&#39;".utf8)
            default: out.append(byte)
            }
        }
    }

    static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }
}
