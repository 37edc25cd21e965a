import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisHTTP

/// The "this wasn't me" link that every notice about an open recovery case carries: a page (opening
/// the link changes nothing: mail scanners fetch links), whose button posts the form that cancels
/// the case and blocks new ones. The form's post carries the page's own origin (the responses are
/// `Referrer-Policy: same-origin`), which the Origin check requires like any other post.
package struct RecoveryCancelPage: Sendable {
    let api: APIController

    package init(api: APIController) { self.api = api }

    package func register(on router: Router<AppRequestContext>) {
        router.get("recovery/cancel", use: page)
        router.post("recovery/cancel", use: cancel)
    }

    /// The link in a notification, as `https://origin/recovery/cancel?case=ID&sig=SIG`.
    package static func link(origin: String, caseID: UUID, signature: String) -> String {
        "\(origin)/recovery/cancel?case=\(caseID.uuidString.lowercased())&sig=\(signature)"
    }

    /// Opening the link only shows a page (mail scanners fetch links); the page's button POSTs.
    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        guard let caseText = query["case"].map(String.init), let caseID = UUID(uuidString: caseText),
              let signature = query["sig"].map(String.init)
        else { throw Problem.from(AccountsError.linkInvalid()) }
        let target = try await api.service.checkCancelLink(caseID: caseID, signature: signature)
        let open = target.status == .open
        let body = open
            ? """
              <p>Someone asked to recover your account on \(Self.escape(ISO8601DateFormatter().string(from: target.createdAt))) from \(Self.escape(target.ip)).</p>
              <form method="post" action="/recovery/cancel">
              <input type="hidden" name="case" value="\(Self.escape(caseText))"><input type="hidden" name="sig" value="\(Self.escape(signature))">
              <button type="submit">This wasn't me: cancel it</button></form>
              <p>Cancelling also blocks new recovery requests on your account for a day.</p>
              """
            : "<p>This recovery request is \(target.status.rawValue); nothing to do.</p>"
        return Self.html(title: "Recovery request", body: body)
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 4096) } catch is NIOTooManyBytesError { throw Problem.tooLarge }
        let form = FormFields(String(buffer: buffer))
        guard let caseText = form["case"], let caseID = UUID(uuidString: caseText), let signature = form["sig"] else {
            throw Problem.from(AccountsError.linkInvalid())
        }
        try await api.service.cancelRecoveryByLink(caseID: caseID, signature: signature, info: api.info(request, context))
        return Self.html(title: "Recovery cancelled", body: "<p>The recovery request is cancelled, and new ones are blocked for a day. Your passkeys still work.</p>")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }

    static func html(title: String, body: String) -> Response {
        let text = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title></head><body><h1>\(escape(title))</h1>\(body)</body></html>
            """
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// `application/x-www-form-urlencoded` fields (the first of each name).
struct FormFields {
    private var fields: [String: String] = [:]
    init(_ body: String) {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), fields[name] == nil else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
    }
    subscript(name: String) -> String? { fields[name] }
}
