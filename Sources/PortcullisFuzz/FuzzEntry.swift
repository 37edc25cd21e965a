import Foundation

#if FUZZING
import CFuzzerDriver

/// Built with `-sanitize=fuzzer -DFUZZING`: libFuzzer drives the harness.
@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            guard let data else { return 0 }
            FuzzHarness.run(Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
    }
}
#else
/// Without the fuzzer: `portcullis-fuzz seeds DIR` writes a seed corpus, and
/// `portcullis-fuzz replay FILE...` runs inputs (a corpus, or a crash reproducer) through the harness.
@main
struct FuzzReplay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "seeds":
            guard arguments.count == 2 else { throw ReplayUsage() }
            try FuzzHarness.writeSeeds(to: arguments[1])
        case "replay":
            var count = 0
            for path in arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                let files = isDirectory.boolValue
                    ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).map { "\(path)/\($0)" }
                    : [path]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    FuzzHarness.run(Array(data))
                    count += 1
                }
            }
            print("replayed \(count) inputs")
        default:
            throw ReplayUsage()
        }
    }
}

struct ReplayUsage: Error, CustomStringConvertible {
    var description: String { "usage: portcullis-fuzz seeds DIR | replay FILE_OR_DIR..." }
}
#endif
