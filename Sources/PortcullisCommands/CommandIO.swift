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
