import Foundation
import Testing
import WebAuthn

@Suite struct JSONValueCodingTests {
    struct Inner: Codable, Equatable { let flag: Bool; let count: UInt32 }
    struct View: Codable, Equatable {
        let name: String
        let id: UUID
        let at: Date
        let note: String?
        let items: [Inner]
        let raw: JSONValue
    }

    @Test func viewsEncodeInOrderWithNullsAndStandardSpellings() throws {
        let id = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        let view = View(name: "a", id: id, at: Date(timeIntervalSince1970: 0), note: nil, items: [Inner(flag: true, count: 7)],
                        raw: .object(["x": .array([.int(1), .null])]))
        let value = try JSONValueEncoder().encode(view)
        #expect(StrictJSON.serialize(value)
            == #"{"name":"a","id":"e621e1f8-c36c-495a-93fc-0c247a3e6e5f","at":"1970-01-01T00:00:00Z","note":null,"items":[{"flag":true,"count":7}],"raw":{"x":[1,null]}}"#)
    }

    /// Dates are UTC to the second, as ISO8601DateFormatter wrote them before.
    @Test func datesAreISO8601InUTCToTheSecond() throws {
        for seconds in [0, 1.5, 1_764_939_600.999] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(try JSONValueEncoder().encode(date) == .string(ISO8601DateFormatter().string(from: date)))
        }
        #expect(try JSONValueEncoder().encode(Date(timeIntervalSince1970: 1_764_939_600)) == .string("2025-12-05T13:00:00Z"))
    }

    @Test func requestsDecodeStrictlyFromParsedJSON() throws {
        let text = #"{"flag": true, "count": 12, "unknown": "ignored"}"#
        let value = try StrictJSON.parse(Array(text.utf8))
        #expect(try JSONValueDecoder().decode(Inner.self, from: value) == Inner(flag: true, count: 12))
    }

    @Test(arguments: [
        #"{"flag": "true", "count": 1}"#,  // a string is not a boolean
        #"{"flag": true, "count": "1"}"#,  // nor a number
        #"{"flag": true, "count": 1.5}"#,  // an integer has no fraction
        #"{"flag": true, "count": -1}"#,  // and fits its type
        #"{"flag": true, "count": 4294967296}"#,
        #"{"flag": true}"#,  // a required member is required
        #"{"flag": null, "count": 1}"#,
        #"[true, 1]"#,
    ])
    func wrongShapesAreRefused(text: String) throws {
        let value = try StrictJSON.parse(Array(text.utf8))
        #expect(throws: DecodingError.self) { try JSONValueDecoder().decode(Inner.self, from: value) }
    }

    @Test func duplicateKeysNeverReachTheDecoder() {
        #expect(throws: (any Error).self) { try StrictJSON.parse(Array(#"{"flag": true, "flag": false, "count": 1}"#.utf8)) }
    }

    @Test func aJSONValueMemberIsPassedThroughAsIs() throws {
        struct Request: Decodable { let credential: JSONValue; let name: String? }
        let value = try StrictJSON.parse(Array(#"{"credential": {"id": "abc", "n": 1e3, "list": [null]}}"#.utf8))
        let decoded = try JSONValueDecoder().decode(Request.self, from: value)
        #expect(decoded.credential == value.object?["credential"])
        #expect(decoded.name == nil)
    }

    @Test func nonFiniteNumbersAreRefused() {
        struct Number: Encodable { let value: Double }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Number(value: .infinity)) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Number(value: .nan)) }
    }
}
