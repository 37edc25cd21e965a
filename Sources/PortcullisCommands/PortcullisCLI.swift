import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import WebAuthn

/// A command that runs against a ``CommandIO`` and returns its exit status.
package protocol IOCommand {
    func run(io: CommandIO) async throws -> Int32
}

/// The `portcullis` command line.
public enum PortcullisCLI {
    /// Makes SwiftNIO's event loops run Swift Concurrency's jobs too, so that a request's handler runs
    /// on the thread that read it instead of hopping to the cooperative pool and back for every
    /// request and response. Call it first thing on the main thread, before any task starts; the
    /// process then has one set of worker threads (one per core) instead of two.
    public static func prepareProcess() {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// The whole of an executable's main: prepares the process, runs `command` on the process's
    /// arguments and standard input, writes what it printed, and exits with its status.
    public static func main(_ command: (_ arguments: [String], _ io: CommandIO) async -> Int32) async -> Never {
        prepareProcess()
        let io = CommandIO(stdin: { Array(FileHandle.standardInput.readDataToEndOfFile()) })
        let status = await command(Array(CommandLine.arguments.dropFirst()), io)
        FileHandle.standardOutput.write(Data(io.stdout.utf8))
        FileHandle.standardError.write(Data(io.stderr.utf8))
        exit(status)
    }

    /// Runs `portcullis` with `arguments` (without the program name).
    /// - Returns: the exit status. 0 success; for `webauthn verify-*`: 1 rejected, 2 usage error.
    public static func run(arguments: [String], io: CommandIO) async -> Int32 {
        await run(Portcullis.self, arguments: arguments, io: io)
    }

    /// Runs the command line whose root command is `root` (`portcullis`, or `portcullis-bench`).
    package static func run(_ root: any ParsableCommand.Type, arguments: [String], io: CommandIO) async -> Int32 {
        let command: any ParsableCommand
        do {
            command = try root.parseAsRoot(arguments)
        } catch {
            let code = root.exitCode(for: error)
            if code == .success {
                io.out(root.fullMessage(for: error) + "\n")
                return 0
            }
            return usage(root.message(for: error), arguments: arguments, io: io)
        }
        guard let runnable = command as? any IOCommand else {
            // Command groups and the built-in help command: their run() asks for help.
            do {
                var other = command
                try other.run()
                return 0
            } catch {
                io.out(root.fullMessage(for: error) + "\n")
                return root.exitCode(for: error).rawValue
            }
        }
        do {
            return try await runnable.run(io: io)
        } catch let error as UsageError {
            return usage(error.description, arguments: arguments, io: io)
        } catch let failure as CommandFailure {
            io.err("\(failure)\n")
            return failure.kind.rawValue
        } catch {
            io.err("error: \(error)\n")
            return 1
        }
    }

    static func usage(_ message: String, arguments: [String], io: CommandIO) -> Int32 {
        io.err("usage error: \(message)\n")
        if arguments.first == "webauthn" {
            io.out(StrictJSON.serialize(.object(["verified": .bool(false), "error": .string("usage"), "detail": .string(message)])) + "\n")
        }
        return 2
    }
}

/// The root command.
struct Portcullis: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "A passkey-only identity server.",
        subcommands: [ServeCommand.self, MigrateCommand.self, BackupCommand.self, RestoreCommand.self, UserCommand.self, EventsCommand.self, InviteCommand.self, AdminCommand.self, ClientCommand.self, KeysCommand.self, CheckConfigCommand.self, WebAuthnCommand.self]
    )
}

/// `portcullis webauthn ...`
struct WebAuthnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webauthn",
        abstract: "Inspect and verify WebAuthn responses (RegistrationResponseJSON / AuthenticationResponseJSON).",
        subcommands: [VerifyRegistrationCommand.self, VerifyAuthenticationCommand.self, DecodeCommand.self]
    )
}
