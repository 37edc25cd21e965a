import Accounts
import Hummingbird
import PortcullisHTTP
import QRCode

/// `POST /qr`: the QR code of one of this server's own links (a device-approval link, an enrolment
/// link), for a page to draw beside the link so a phone's camera can open it. The link travels in
/// the body, not the URL, because an enrolment link carries its secret in the fragment and URLs end
/// up in logs. Only links on the server's public origin are drawn: the server is not a QR service
/// for anyone else's addresses.
struct QRCodeRoute: Sendable {
    let kit: APIToolkit

    /// The longest link drawn: far more than any link of this server needs.
    static let maximumLength = 512

    struct Ask: Decodable { let link: String }
    /// The symbol as an SVG path, one unit per module, to be drawn with a four-module quiet zone.
    struct Drawn: Encodable { let size: Int; let path: String }

    func register(on router: RouterGroup<AppRequestContext>) {
        router.post("qr", use: draw)
    }

    @Sendable func draw(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await kit.limit(ip: kit.info(request, context).ip)
        let link = try await kit.decode(Ask.self, request).link
        guard link.utf8.count <= Self.maximumLength, link.hasPrefix(kit.publicOrigin + "/") else {
            throw Problem.invalid("link must be one of this server's own links, at most \(Self.maximumLength) bytes.")
        }
        // Quartile: a quarter of the symbol may be smudged or glared and it still reads.
        let code = try QRCode.encode(Array(link.utf8), errorCorrection: .quartile)
        return try kit.json(Drawn(size: code.size, path: code.svgPath))
    }
}
