import Foundation
import PortcullisBench
import PortcullisCommands

PortcullisCLI.prepareProcess()
let io = CommandIO(stdin: { Array(FileHandle.standardInput.readDataToEndOfFile()) })
let status = await PortcullisBenchCLI.run(arguments: Array(CommandLine.arguments.dropFirst()), io: io)
FileHandle.standardOutput.write(Data(io.stdout.utf8))
FileHandle.standardError.write(Data(io.stderr.utf8))
exit(status)
