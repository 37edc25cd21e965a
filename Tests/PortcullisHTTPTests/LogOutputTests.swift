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
        ("plain", "k=plain"), ("two words", #"k="two words""#), ("a=b", #"k="a=b""#), ("line\nbreak", #"k="line\nbreak""#), ("", #"k="""#), ("Zoë", "k=Zoë"),
        ("a\u{2028}b", #"k="a\u2028b""#), ("tab\there", #"k="tab\there""#),
    ])
    func textValuesThatCouldForgeAFieldAreQuoted(value: String, written: String) throws {
        let (logger, lines) = logger(.text)
        logger.warning("delivery failed", metadata: ["k": .string(value)])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix(" warning delivery failed " + written + " request_id=r1\n"), "\(line)")
    }

    @Test(arguments: [
        (0, 0, "1970-01-01T00:00:00.000Z"), (951_782_400, 7, "2000-02-29T00:00:00.007Z"), (1_796_526_123, 456, "2026-12-06T03:02:03.456Z"),
        (4_102_444_799, 999, "2099-12-31T23:59:59.999Z"), (4_107_542_400, 1, "2100-03-01T00:00:00.001Z"), (1_709_164_800, 0, "2024-02-29T00:00:00.000Z"),
    ])
    func timestampsAreUTCToTheMillisecond(seconds: Int, milliseconds: Int, written: String) {
        #expect(LineLogHandler.timestamp(seconds: seconds, milliseconds: milliseconds) == written)
        let foundation = Date(timeIntervalSince1970: Double(seconds) + Double(milliseconds) / 1000 + 0.0001)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        #expect(foundation == written)
    }

    /// Hummingbird's own request number is not written: `request_id` names the request.
    @Test(arguments: [LogConfiguration.Format.text, .json])
    func hummingbirdsRequestNumberIsLeftOut(format: LogConfiguration.Format) throws {
        var (logger, lines) = logger(format)
        logger[metadataKey: "hb.request.id"] = "12345"
        logger.info("request", metadata: ["route": "/a"])
        let line = try #require(lines.all.first)
        #expect(!line.contains("hb.request.id") && !line.contains("12345") && line.contains("r1") && line.contains("/a"))
    }

    @Test func textFieldsAreInKeyOrder() throws {
        let (logger, lines) = logger(.text)
        logger.info("request", metadata: ["status": "200", "method": "GET", "b": "2", "a": "1"])
        #expect(lines.all.first?.hasSuffix(" info request a=1 b=2 method=GET request_id=r1 status=200\n") == true)
    }

    @Test func recordsBelowTheLevelAreNotWritten() {
        var (logger, lines) = logger(.text)
        logger.logLevel = .warning
        logger.info("request")
        logger.error("internal error")
        #expect(lines.all.count == 1 && lines.all[0].contains(" error internal error"))
    }
}
