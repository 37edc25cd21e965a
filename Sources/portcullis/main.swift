import PortcullisCommands

await PortcullisCLI.main(PortcullisCLI.run(arguments:io:))
