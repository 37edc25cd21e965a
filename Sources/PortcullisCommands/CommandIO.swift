import Foundation

/// Where a command reads and writes, so commands run the same in the executable and in tests.
public final class CommandIO: @unchecked Sendable {
    /// Everything written to standard output.
    public private(set) var stdout = ""
    /// Everything written to standard error.
    public private(set) var stderr = ""
    let readStandardInput: @Sendable () -> [UInt8]

    /// Creates an IO whose standard input is `stdin`.
    public init(stdin: @escaping @Sendable () -> [UInt8]) { self.readStandardInput = stdin }

    package func out(_ text: String) { stdout += text }
    package func err(_ text: String) { stderr += text }

    /// Reads FILE, or standard input for `-` or no argument.
    package func readInput(_ path: String?) throws -> [UInt8] {
        guard let path, path != "-" else { return readStandardInput() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("cannot read \(path)")
        }
        return Array(data)
    }
}

/// A usage error: a missing or malformed option, an unreadable file. Exit status 2.
package struct UsageError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// A command that was understood but could not be done, with its own exit status and words (not
/// "usage error", which is for arguments the command does not understand). The statuses are
/// documented in the README ("Exit codes").
package struct CommandFailure: Error, CustomStringConvertible {
    /// What kind of failure: its exit status and how the message starts.
    package enum Kind: Int32, Sendable {
        /// The configuration (file, environment) is invalid or below the floor: 3.
        case configuration = 3
        /// The user, client or case named does not exist: 4.
        case notFound = 4
        /// The domain refused the action (not an admin, a wrong code, a replay): 5.
        case refused = 5
        /// The server cannot listen on its address: 6.
        case cannotListen = 6

        var prefix: String {
            switch self {
            case .configuration: "configuration error"
            case .notFound: "not found"
            case .refused: "refused"
            case .cannotListen: "cannot listen"
            }
        }
    }
    package let kind: Kind
    package let message: String
    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    package var description: String { "\(kind.prefix): \(message)" }
}
