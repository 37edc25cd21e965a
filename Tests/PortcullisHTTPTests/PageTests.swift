import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PortcullisApp
import PortcullisPages
import Testing
import WebAuthn

/// The page machinery: templates, static files and the Content-Security-Policy, seen over HTTP.
@Suite struct PageTests {
    typealias H = ServerHarness

    static func get(_ client: any TestClientProtocol, _ path: String, headers: HTTPFields = [:]) async throws -> (HTTPResponse.Status, HTTPFields, String) {
        try await client.execute(uri: path, method: .get, headers: headers) { response in
            (response.status, response.headers, String(buffer: response.body))
        }
    }

    /// A browser asking for a page gets its errors as pages; the same request from an API client
    /// (no HTML in `Accept`), and any request under `/api/`, keeps the problem document.
    @Test(arguments: [
        ("GET", "/no-such-page", 404, "Page not found"),
        ("GET", "/static/missing.js", 404, "Page not found"),
        ("POST", "/recovery/cancel", 403, "Not allowed"),  // a form posted from another origin
        ("GET", "/api/v1/me", 401, nil),
        ("GET", "/api/v1/no-such-thing", 404, nil),
        ("POST", "/oauth2/token", 400, nil),
    ] as [(String, String, Int, String?)])
    func browsersSeeErrorsAsPagesAndAPIClientsAsProblems(method: String, path: String, status: Int, heading: String?) async throws {
        try await H().run { client in
            let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
            let (pageStatus, pageHeaders, page) = try await client.execute(
                uri: path, method: HTTPRequest.Method(method)!, headers: [.accept: html, .origin: "https://elsewhere.example"]
            ) { response in (response.status, response.headers, String(buffer: response.body)) }
            #expect(Int(pageStatus.code) == status)
            if let heading {
                #expect(pageHeaders[.contentType] == "text/html; charset=utf-8")
                #expect(page.contains("<h1>\(heading)</h1>") && page.contains("Go to Portcullis Test"))
                #expect(pageHeaders[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            } else {
                #expect(pageHeaders[.contentType]?.hasPrefix("application/") == true && !page.contains("<html"))
            }
            // Without HTML in Accept (what fetch() sends), the problem document.
            let (apiStatus, apiHeaders) = try await client.execute(
                uri: path, method: HTTPRequest.Method(method)!, headers: [.accept: "*/*", .origin: "https://elsewhere.example"]
            ) { response in (response.status, response.headers) }
            #expect(Int(apiStatus.code) == status && apiHeaders[.contentType]?.hasPrefix("application/") == true)
        }
    }

    /// The configured accent colour and logo reach every page through `/static/brand.css`.
    @Test func brandingComesFromConfiguration() async throws {
        let logo = NSTemporaryDirectory() + "portcullis-logo-\(UUID().uuidString).png"
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]
        try Data(png).write(to: URL(fileURLWithPath: logo))
        defer { try? FileManager.default.removeItem(atPath: logo) }
        try await H { $0.pages.accentColor = "#aa3300"; $0.pages.logoFile = logo }.run { client in
            let (_, _, home) = try await Self.get(client, "/")
            #expect(home.contains("<link rel=\"stylesheet\" href=\"/static/brand.css\">") && home.contains("<div class=\"brand\""))
            let (status, headers, css) = try await Self.get(client, "/static/brand.css")
            #expect(status == .ok && headers[.contentType] == "text/css; charset=utf-8")
            #expect(css.contains("--accent: #aa3300;") && css.contains("url(\"/static/logo\")"))
            let served = try await client.execute(uri: "/static/logo", method: .get) { ($0.headers[.contentType], Array(buffer: $0.body)) }
            #expect(served.0 == "image/png" && served.1 == png)
        }
        try await H().run { client in
            let (_, _, css) = try await Self.get(client, "/static/brand.css")
            #expect(css.contains("--accent: #1d4ed8;") && !css.contains("logo"))
            let (status, _, _) = try await Self.get(client, "/static/logo")
            #expect(status == .notFound)
        }
    }

    @Test(arguments: ["/", "/device", "/enrol", "/recover"])
    func everyPageIsTemplatedWithNoInlineScriptOrStyle(path: String) async throws {
        try await H().run { client in
            let (status, headers, html) = try await Self.get(client, path)
            #expect(status == .ok)
            #expect(headers[.contentType] == "text/html; charset=utf-8")
            #expect(headers[.cacheControl] == "no-store")
            let policy = try #require(headers[.contentSecurityPolicy])
            #expect(headers[values: .contentSecurityPolicy].count == 1)
            for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
                #expect(policy.contains(directive), "\(directive) missing from \(policy)")
            }
            #expect(!policy.contains("unsafe-inline"))
            #expect(headers[values: HTTPField.Name("X-Content-Type-Options")!] == ["nosniff"])
            // The layout and the body were both rendered, with the relying party's name.
            #expect(html.hasPrefix("<!doctype html>"))
            #expect(html.contains("<title>Portcullis Test</title>"))
            #expect(html.contains("<h1>Portcullis Test</h1>"))
            #expect(html.contains("<script src=\"/static/app.js\"></script>"))
            #expect(html.contains("<link rel=\"stylesheet\" href=\"/static/app.css\">"))
            #expect(!html.contains("<style"))
            #expect(!html.contains(" style="))
            #expect(!html.contains("<script>"))
            #expect(!html.contains(" onclick="))
            #expect(!html.contains("{{"))
        }
    }

    @Test(arguments: [("/static/app.js", "text/javascript; charset=utf-8", "\"use strict\";"), ("/static/app.css", "text/css; charset=utf-8", ".hidden")])
    func staticFilesAreServedWithAnETagAndRevalidated(path: String, type: String, content: String) async throws {
        try await H().run { client in
            let (status, headers, body) = try await Self.get(client, path)
            #expect(status == .ok)
            #expect(headers[.contentType] == type)
            #expect(headers[.cacheControl] == "no-cache")
            #expect(body.contains(content))
            let etag = try #require(headers[.eTag])
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count > 10)
            let (again, againHeaders, againBody) = try await Self.get(client, path, headers: [.ifNoneMatch: "\"other\", \(etag)"])
            #expect(again == .notModified)
            #expect(againBody.isEmpty)
            #expect(againHeaders[.eTag] == etag)
            let (changed, _, changedBody) = try await Self.get(client, path, headers: [.ifNoneMatch: "\"other\""])
            #expect(changed == .ok)
            #expect(changedBody == body)
        }
    }

    /// `POST /qr` draws this server's own links only; the drawn path covers exactly a QR symbol's size.
    @Test(arguments: [
        ("http://localhost:8080/device?user_code=BCDFG-HJKLM", 200, nil),
        ("http://localhost:8080/enrol#" + String(repeating: "A", count: 43), 200, nil),
        ("https://evil.example/device", 400, "invalid_request"),
        ("http://localhost:8080.evil.example/", 400, "invalid_request"),
        ("http://localhost:8080/" + String(repeating: "a", count: 600), 400, "invalid_request"),
    ] as [(String, Int, String?)])
    func qrCodesOfOwnLinksOnly(link: String, status: Int, code: String?) async throws {
        let harness = try await H()
        try await harness.run { client in
            let reply = try await H.send(client, .post, "/qr", json: .object(["link": .string(link)]))
            #expect(reply.status.code == status)
            if let code {
                #expect(reply.object["code"] == .string(code))
            } else {
                let size = try #require(reply.object["size"]?.int64)
                #expect(size >= 21 && (size - 17) % 4 == 0)
                #expect(reply.object["path"]?.string?.hasPrefix("M0 0h7") == true)  // the top-left finder's first row
            }
        }
    }

    @Test func anUnknownStaticFileIsNotFound() async throws {
        try await H().run { client in
            for path in ["/static/../Package.swift", "/static/app.json", "/app.js"] {
                let (status, _, _) = try await Self.get(client, path)
                #expect(status == .notFound, "\(path)")
            }
        }
    }
}

/// Templates escape what they show: values reach the page as text, never as markup.
@Suite struct PageTemplateTests {
    @Test func valuesAreEscapedForHTML() throws {
        let hostile = "\"><script>alert(1)</script>&'"
        let library = try PageLibrary()
        let html = try #require(library.render("recovery-cancel", [
            "siteName": hostile, "open": true, "createdAt": hostile, "ip": hostile, "caseID": hostile, "signature": hostile,
        ] as [String: Any]))
        #expect(!html.contains("<script>"))
        #expect(!html.contains("\"><script"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;"))
        #expect(html.contains("value=\"&quot;&gt;&lt;script&gt;"))
        #expect(html.contains("<form method=\"post\" action=\"/recovery/cancel\">"))
    }

    /// A character that must be escaped stays escaped when a combining mark, a joiner or a variation
    /// selector follows it (one Character to Swift, two code points to the HTML tokenizer), or a
    /// prepended mark precedes it, in a page's own template and in the layout's blocks.
    @Test(arguments: ["\"\u{301}", "'\u{301}", "<\u{301}", ">\u{20DD}", "&\u{301}", "\"\u{200D}", "\"\u{FE0F}", "\u{600}\""])
    func aJoinedCharacterIsStillEscaped(_ joined: String) throws {
        let hostile = "a" + joined + " data-injected=\"1"
        let library = try PageLibrary()
        for (template, view) in [
            ("authorize", ["siteName": hostile, "clientName": hostile, "interactionID": "i", "loginHint": hostile, "options": ""]),
            ("recovery-cancel", ["siteName": hostile, "open": true, "createdAt": hostile, "ip": hostile, "caseID": hostile, "signature": hostile]),
        ] as [(String, [String: Any])] {
            let html = try #require(library.render(template, view))
            // Mustache's own escaping left the first quote (joined to its mark) as it was: the attribute ended there.
            let escaped = HTMLText.escaped(hostile)
            let raw = "a" + joined
            #expect(html.contains(escaped), "\(template)")
            #expect(!html.contains(raw), "\(template)")
        }
        // The sign-in page as requests get it, rendered ahead of time.
        let signIn = String(decoding: library.signIn.render([hostile, hostile, "i", hostile, ""], flags: [true, true, true]), as: UTF8.self)
        #expect(signIn.contains(HTMLText.escaped(hostile)) && !signIn.contains("a" + joined))
    }

    @Test func aClosedCaseShowsItsStatusAndNoForm() throws {
        let library = try PageLibrary()
        let html = try #require(library.render("recovery-cancel", ["siteName": "X", "open": false, "status": "cancelled"] as [String: Any]))
        #expect(html.contains("This recovery request is cancelled; nothing to do."))
        #expect(!html.contains("<form"))
    }

    @Test func anUnknownTemplateRendersNothing() throws {
        let library = try PageLibrary()
        #expect(library.render("no-such-page", [:] as [String: Any]) == nil)
    }
}

/// The sign-in page writes its options JSON into an attribute itself, past Mustache's escaping.
struct AttributeEscapingTests {
    @Test(arguments: [
        (#"{"a":"b"}"#, "{&quot;a&quot;:&quot;b&quot;}"),
        ("\"\u{301}'\u{301}", "&quot;\u{301}&#39;\u{301}"),
        (#"x"><script>alert('1')</script>&"#, "x&quot;&gt;&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;&amp;"),
        ("&amp; stays text", "&amp;amp; stays text"),
        ("Zoë — ✓", "Zoë — ✓"),
        ("", ""),
    ])
    func escapesWhatCouldEndOrBendTheAttribute(_ text: String, _ escaped: String) {
        #expect(OIDCPages.attributeEscaped(Array(text.utf8)) == escaped)
    }
}

/// The sign-in page is rendered ahead of time (``PrerenderedPage``): what a request gets must be the
/// page Mustache renders for its values, byte for byte, whatever the values hold.
@Suite struct PrerenderedPageTests {
    static let fields = ["siteName", "clientName", "interactionID", "loginHint", "options"]

    @Test(arguments: [
        ["Portcullis", "Notes", "abc_DEF-123", "", "{&quot;publicKey&quot;:{}}"],
        ["", "", "", "", ""],
        ["\"><script>alert(1)</script>&'", "a\"\u{301} data-x=\"1", "<i>", "zoë@example.com", "&amp;"],
        // Values that look like the markers the page was split at stay text.
        ["\u{1}\u{2}0&\u{2}\u{1}", "\u{1}\u{2}4&amp;\u{2}\u{1}", "\u{1}\u{2}", "{{clientName}}", "\u{1}\u{2}1&\u{2}\u{1}"],
        ["Ünïcödé ✓", "名前", "\u{600}\"", "\u{2028}", "<b>raw</b>"],
    ])
    func theSignInPageIsMustachesPage(_ values: [String]) throws {
        let library = try PageLibrary()
        for bits in 0..<8 {
            let flags = (0..<3).map { bits & (1 << $0) != 0 }
            var view: [String: Any] = ["reasonFresh": flags[0], "reasonDeviceBound": flags[1], "reasonPasskey": flags[2]]
            for (name, value) in zip(Self.fields, values) { view[name] = value }
            let expected = try #require(library.render("authorize", view))
            #expect(library.signIn.render(values, flags: flags) == Array(expected.utf8), "flags \(flags)")
        }
    }

    /// The options go in as they come (escaped for the attribute already); every other value is escaped.
    @Test func eachFieldKeepsTheEscapingOfItsPlace() throws {
        let library = try PageLibrary()
        let html = String(decoding: library.signIn.render(["S", "<C>", "I", "\"h", "{&quot;a&quot;:1}"], flags: [false, false, false]), as: UTF8.self)
        #expect(html.contains("data-options=\"{&quot;a&quot;:1}\""))
        #expect(html.contains("Sign in to &lt;C&gt;") && html.contains("value=\"&quot;h\""))
        #expect(!html.contains("\u{1}") && !html.contains("\u{2}"))
    }

    /// A template whose text depends on a value (a field used as a section) cannot be rendered
    /// ahead: making its page fails, so the server does not start rather than show a wrong page.
    @Test func aFieldThatChangesTheTemplateIsRefused() {
        #expect(throws: PrerenderedPage.Mismatch.self) {
            try PrerenderedPage(template: "t", fields: ["name"], flags: []) { view in
                let name = (view as? [String: Any])?["name"] as? String ?? ""
                return name.isEmpty ? "<p>nobody</p>" : "<p>" + HTMLText.escaped(name) + "</p>"
            }
        }
        #expect(throws: PrerenderedPage.Mismatch.self) {
            try PrerenderedPage(template: "t", fields: ["name"], flags: []) { _ in nil }
        }
    }

    @Test func aPageWithItsFlagsAndBothKindsOfFields() throws {
        let page = try PrerenderedPage(template: "t", fields: ["shown", "raw"], flags: ["on"]) { view in
            let view = view as? [String: Any] ?? [:]
            let shown = HTMLText.escaped(view["shown"] as? String ?? ""), raw = view["raw"] as? String ?? ""
            return "<p title=\"\(shown)\">\(raw)</p>" + ((view["on"] as? Bool ?? false) ? "<em>\(shown)</em>" : "")
        }
        #expect(page.render(["<a>", "<b>"], flags: [false]) == Array("<p title=\"&lt;a&gt;\"><b></p>".utf8))
        #expect(page.render(["<a>", "<b>"], flags: [true]) == Array("<p title=\"&lt;a&gt;\"><b></p><em>&lt;a&gt;</em>".utf8))
    }
}
