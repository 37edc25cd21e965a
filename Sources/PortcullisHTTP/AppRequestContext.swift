import Accounts
import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore

/// The request context of every Portcullis route: the core storage, the peer's address, and who is
/// signed in (set by ``SessionCookieAuthenticator`` on the routes that need it; handlers call
/// `requireIdentity()`).
public struct AppRequestContext: AuthRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer, as the server saw it.
    public let remoteAddress: String
    /// The signed-in user and their session (its birth and the time of its last passkey assertion).
    public var identity: Authenticated?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        identity = nil
    }

    /// Bodies are read explicitly, up to 64 KiB.
    public var maxUploadSize: Int { 64 * 1024 }
}
