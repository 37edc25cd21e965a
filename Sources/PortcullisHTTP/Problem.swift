import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import WebAuthn

/// An RFC 9457 problem: `application/problem+json` with a stable `code`. It never carries a stack
/// trace, SQL, or the reason a WebAuthn verification failed.
public struct Problem: HTTPResponseError, Encodable {
    public let status: HTTPResponse.Status
    public let code: String
    public let title: String
    public let extra: [String: String]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, title: String, extra: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.title = title
        self.extra = extra
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        fields[.cacheControl] = "no-store"
        let body = try JSONValueEncoder().encode(self)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: StrictJSON.serializedBytes(body))))
    }

    /// The problem document (RFC 9457 §3): `type`, `title`, `status`, the stable `code`, then any
    /// extra members sorted by name.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONMemberKey.self)
        try container.encode("about:blank", forKey: JSONMemberKey("type"))
        try container.encode(title, forKey: JSONMemberKey("title"))
        try container.encode(Int(status.code), forKey: JSONMemberKey("status"))
        try container.encode(code, forKey: JSONMemberKey("code"))
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: JSONMemberKey(key)) }
    }

    /// The problem a domain refusal is for the client: every code has its status here, and a new code
    /// does not compile until it has one.
    package static func from(_ error: AccountsError) -> Problem {
        let status: HTTPResponse.Status = switch error.code.base {
        case .invalidRequest, .challengeInvalid, .verificationFailed, .recoveryCodeInvalid, .comparisonCodeMismatch, .numberMismatch: .badRequest
        case .unknownCredential, .unauthenticated: .unauthorized
        case .inviteRequired, .authenticatorNotAllowed, .reauthenticationRequired, .sessionNotAllowed, .userDisabled, .recoveryCodeDisabled,
             .tooManyAttempts, .recoveryNotReleased, .adminRequired, .ownCase, .linkInvalid:
            .forbidden
        case .notFound: .notFound
        case .usernameTaken, .credentialExists, .lastPasskey, .conflict: .conflict
        }
        return Problem(status, code: error.code.rawValue, title: error.title, extra: error.extra)
    }

    static let malformedJSON = Problem(.badRequest, code: "malformed_json", title: "The body is not a JSON object.")
    static let notFound = Problem(.notFound, code: "not_found", title: "Not found.")
    package static let tooLarge = Problem(.contentTooLarge, code: "body_too_large", title: "The body is over 64 KiB.")
    static let originRefused = Problem(.forbidden, code: "origin_not_allowed", title: "This request must come from an allowed origin.")
    static let internalError = Problem(.internalServerError, code: "internal_error", title: "Something went wrong on our side.")
    static let unavailable = Problem(.serviceUnavailable, code: "unavailable", title: "The database is not reachable.")
    package static func invalid(_ title: String) -> Problem { Problem(.badRequest, code: "invalid_request", title: title) }
    static func rateLimited(retryAfter: Int) -> Problem {
        var problem = Problem(.tooManyRequests, code: "rate_limited", title: "Too many requests; try again later.")
        problem.headers[.retryAfter] = String(retryAfter)
        return problem
    }
}

/// Turns every error into a problem response, and logs what the client is not told.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Renders a problem as an HTML page when the request is a browser's asking for one (the pages
    /// target supplies it); nil keeps the problem document.
    var page: (@Sendable (Request, Problem) -> Response?)? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError where !(error is Problem) && !(error is HTTPError) {
            // Already answered by an inner middleware (CORS adds its headers to an inner ProblemMiddleware's problem).
            throw error
        } catch {
            let problem = Self.problem(error, logger: context.logger)
            if let page, let response = page(request, problem) { return response }
            throw problem
        }
    }

    /// The problem an error is for the client: never its internal detail.
    static func problem(_ error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as AccountsError:
            if error.underlying != nil { logger.info("refused: \(error.debugDescription)") }
            return Problem.from(error)
        case let error as StoreUnavailable:
            logger.warning("refused: \(error)")
            return Problem.unavailable
        case let error as HTTPParserError:
            // The connection ended before the body did (the client went away, or was cut off for
            // stalling), or the body broke HTTP/1.1 (a bad chunk): the client's doing, not the server's.
            logger.info("refused: the request's body is not whole HTTP/1.1", metadata: ["error.type": "\(error)"])
            return Problem.invalid(error == .invalidEOFState ? "The request ended before its body did." : "The request is not valid HTTP/1.1.")
        case let error as HTTPError:
            switch error.status {
            case .unauthorized: return Problem.from(AccountsError.unauthenticated())  // requireIdentity() without a session
            case .notFound: return Problem.notFound
            case .contentTooLarge: return Problem.tooLarge
            case .methodNotAllowed: return Problem(.methodNotAllowed, code: "method_not_allowed", title: "Method not allowed.")
            default: return Problem(error.status, code: "http_error", title: error.status.reasonPhrase)
            }
        default:
            logger.error("internal error: \(String(reflecting: error))")
            return Problem.internalError
        }
    }
}

/// Header names HTTPTypes does not define, made once (each is a valid token, so the initializer
/// cannot fail).
extension HTTPField.Name {
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let xRequestID = HTTPField.Name("X-Request-ID")!
}
