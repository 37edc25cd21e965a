import CBOR
import Testing

@Suite struct CBORDecoderTests {
    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(s.utf8)
        chars.removeAll { $0 == UInt8(ascii: " ") }
        var i = 0
        while i + 1 < chars.count {
            out.append(UInt8(String(decoding: chars[i...i + 1], as: UTF8.self), radix: 16) ?? 0)
            i += 2
        }
        return out
    }

    static let accepted: [(String, CBORValue)] = [
        ("00", .unsigned(0)),
        ("17", .unsigned(23)),
        ("1818", .unsigned(24)),
        ("190100", .unsigned(256)),
        ("1a00010000", .unsigned(65536)),
        ("1b0000000100000000", .unsigned(4_294_967_296)),
        ("20", .int(-1)),
        ("3863", .int(-100)),
        ("40", .bytes([])),
        ("4401020304", .bytes([1, 2, 3, 4])),
        ("6161", .text("a")),
        ("62c3bc", .text("ü")),
        ("80", .array([])),
        ("83010203", .array([.unsigned(1), .unsigned(2), .unsigned(3)])),
        ("a201020304", .map(CBORMap([(.unsigned(1), .unsigned(2)), (.unsigned(3), .unsigned(4))]))),
        ("f4", .bool(false)),
        ("f5", .bool(true)),
        ("f6", .null),
    ]

    @Test(arguments: 0..<accepted.count)
    func decodesAndReencodesCanonicalItems(index: Int) throws {
        let (text, expected) = Self.accepted[index]
        let bytes = Self.hex(text)
        #expect(try CBORDecoder.decode(bytes) == expected)
        #expect(CBOREncoder.encode(expected) == bytes)
    }

    static let rejected: [(String, CBORError.Code, String)] = [
        ("", .truncated, "empty input"),
        ("18", .truncated, "missing 1-byte argument"),
        ("19 01", .truncated, "short 2-byte argument"),
        ("1817", .nonShortestEncoding, "23 in one extra byte"),
        ("1900ff", .nonShortestEncoding, "255 in two bytes"),
        ("1a0000ffff", .nonShortestEncoding, "65535 in four bytes"),
        ("1b00000000ffffffff", .nonShortestEncoding, "2^32-1 in eight bytes"),
        ("5801ff", .nonShortestEncoding, "length 1 in one extra byte"),
        ("44 0102", .lengthBeyondInput, "byte string longer than the input"),
        ("5bffffffffffffffff", .lengthBeyondInput, "huge byte string length"),
        ("9bffffffffffffffff", .lengthBeyondInput, "huge array count"),
        ("bbffffffffffffffff", .lengthBeyondInput, "huge map count"),
        ("a3 01 02", .lengthBeyondInput, "map count beyond the input"),
        ("5f 41 00 ff", .indefiniteLength, "indefinite byte string"),
        ("9f ff", .indefiniteLength, "indefinite array"),
        ("bf ff", .indefiniteLength, "indefinite map"),
        ("ff", .indefiniteLength, "lone break"),
        ("c0 00", .tagNotAllowed, "tag 0"),
        ("d8 18 40", .tagNotAllowed, "tag 24"),
        ("a2 01 02 01 03", .duplicateMapKey, "duplicate integer key"),
        ("a2 61 61 00 61 61 01", .duplicateMapKey, "duplicate text key"),
        ("62 c3 28", .invalidUTF8, "invalid UTF-8"),
        ("61 ff", .invalidUTF8, "0xff in text"),
        ("00 00", .trailingBytes, "bytes after the item"),
        ("f7", .unsupportedSimpleValue, "undefined"),
        ("f9 3c00", .unsupportedSimpleValue, "half float"),
        ("fb 3ff0000000000000", .unsupportedSimpleValue, "double"),
        ("1c", .reservedAdditionalInformation, "reserved additional information 28"),
        ("3e", .reservedAdditionalInformation, "reserved additional information 30"),
    ]

    @Test(arguments: 0..<rejected.count)
    func refusesMalformedInput(index: Int) {
        let (text, code, why) = Self.rejected[index]
        #expect(throws: CBORError.self, "\(why)") { try CBORDecoder.decode(Self.hex(text)) }
        do {
            _ = try CBORDecoder.decode(Self.hex(text))
        } catch let error as CBORError {
            #expect(error.code == code, "\(why): \(error.debugDescription)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func refusesNestingDeeperThanTheCap() throws {
        let ok = [UInt8](repeating: 0x81, count: CBORDecoder.maximumDepth) + [0x00]
        _ = try CBORDecoder.decode(ok)
        let deep = [UInt8](repeating: 0x81, count: CBORDecoder.maximumDepth + 1) + [0x00]
        #expect(throws: CBORError.self) { try CBORDecoder.decode(deep) }
        let veryDeep = [UInt8](repeating: 0x81, count: 100_000) + [0x00]
        #expect(throws: CBORError.self) { try CBORDecoder.decode(veryDeep) }
    }

    @Test func decodePrefixReportsConsumedBytes() throws {
        let bytes = Self.hex("a201020304 ffee")
        let (value, consumed) = try CBORDecoder.decodePrefix(bytes[...])
        #expect(consumed == 5)
        #expect(value.map?[int: 1] == .unsigned(2))
        // An offset slice works too: the count is relative to the slice.
        let slice = ([0xAA] + bytes)[1...]
        #expect(try CBORDecoder.decodePrefix(slice).consumed == 5)
    }

    @Test func everyPrefixOfAValidItemIsRefused() throws {
        let item = CBOREncoder.encode(.map(CBORMap([
            (.int(1), .int(2)), (.int(3), .int(-7)), (.int(-1), .int(1)),
            (.int(-2), .bytes(Array(repeating: 7, count: 32))), (.int(-3), .text("a text value")),
        ])))
        _ = try CBORDecoder.decode(item)
        for length in 0..<item.count {
            #expect(throws: CBORError.self, "prefix \(length)") { try CBORDecoder.decode(item.prefix(length)) }
        }
    }

    @Test func errorsCompareByCodeOnlyAndDescriptionsHideDetail() {
        do {
            _ = try CBORDecoder.decode(Self.hex("1817"))
        } catch let error as CBORError {
            #expect(error == CBORError.unexpectedType("other reason") || error.code == .nonShortestEncoding)
            #expect(error.description == "CBORError.nonShortestEncoding")
            #expect(error.debugDescription.contains("byte"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
