import Foundation
import Logging
import PortcullisApp
import Synchronization
import Testing

/// The log lines: one per record, text or JSON, with values escaped so no value can forge a field
/// or a line of its own.
@Suite struct LogOutputTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    func logger(_ format: LogConfiguration.Format) -> (Logger, Lines) {
        let lines = Lines()
        let output = LineLogHandler.Output { line in lines.lines.withLock { $0.append(line) } }
        var logger = Logger(label: "test") { _ in LineLogHandler(format: format, output: output) }
        logger[metadataKey: "request_id"] = "r1"
        return (logger, lines)
    }

    @Test func jsonLinesAreObjectsWithEveryFieldAsAString() throws {
        let (logger, lines) = logger(.json)
        logger.info("request", metadata: ["route": "/api/v1/me", "status": .stringConvertible(200), "note": "a \"quoted\"\nline\u{1}"])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["message"] == "request" && object["level"] == "info" && object["request_id"] == "r1")
        #expect(object["route"] == "/api/v1/me" && object["status"] == "200" && object["note"] == "a \"quoted\"\nline\u{1}")
        #expect(object["time"].flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) } != nil)
    }

    @Test(arguments: [
        ("plain", "k=plain"), ("two words", #"k="two words""#), ("a=b", #"k="a=b""#), ("line\nbreak", #"k="line\nbreak""#), ("", #"k="""#),
    ])
    func textValuesThatCouldForgeAFieldAreQuoted(value: String, written: String) throws {
        let (logger, lines) = logger(.text)
        logger.warning("delivery failed", metadata: ["k": .string(value)])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix(" warning delivery failed " + written + " request_id=r1\n"), "\(line)")
    }

    @Test func recordsBelowTheLevelAreNotWritten() {
        var (logger, lines) = logger(.text)
        logger.logLevel = .warning
        logger.info("request")
        logger.error("internal error")
        #expect(lines.all.count == 1 && lines.all[0].contains(" error internal error"))
    }
}
