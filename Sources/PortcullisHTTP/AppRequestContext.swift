import Hummingbird
import Logging
import NIOCore

/// The request context of every Portcullis route: the core storage plus the peer's address.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer, as the server saw it.
    public let remoteAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Bodies are read explicitly, up to 64 KiB.
    public var maxUploadSize: Int { 64 * 1024 }
}
