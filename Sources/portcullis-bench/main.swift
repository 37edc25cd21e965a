import PortcullisBench
import PortcullisCommands

await PortcullisCLI.main(PortcullisBenchCLI.run(arguments:io:))
