#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an IP address is, in words, from an IP-range database the operator supplies, so a person
/// looking at their sessions or at a device asking to sign in sees "Amsterdam, North Holland,
/// Netherlands" rather than an address.
///
/// The file is CSV (RFC 4180: commas, double-quoted fields with `""` for a quote, LF or CRLF line
/// ends), one address range per line, both ends inclusive and of one family, in either of the two
/// shapes of DB-IP's free "Lite" databases:
/// - 3 columns, `first,last,country` (IP to Country Lite): the place is the country's name;
/// - 8 columns, `first,last,continent,country,region,city,latitude,longitude` (IP to City Lite):
///   the place is "city, region, country".
///
/// A country is an ISO 3166-1 alpha-2 code (`ZZ`, unknown, gives no place); `countryNames` turns it
/// into a name. Ranges may come in any order but must not overlap. Anything else in the file is
/// refused with its line number: a wrong table would put people in the wrong place.
public struct PlaceTable: Sendable {
    /// Why a file was refused, and on which line (1-based).
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    private struct Ranges<Address: Comparable & Sendable>: Sendable {
        var firsts: [Address] = []
        var lasts: [Address] = []
        var places: [Int32] = []
        var lines: [Int] = []

        /// Sorts by first address and refuses overlaps, naming the later line of the first overlap.
        mutating func seal() throws(Invalid) {
            let order = firsts.indices.sorted { firsts[$0] < firsts[$1] }
            firsts = order.map { firsts[$0] }
            lasts = order.map { lasts[$0] }
            places = order.map { places[$0] }
            lines = order.map { lines[$0] }
            for index in firsts.indices.dropFirst() where firsts[index] <= lasts[index - 1] {
                throw Invalid(line: max(lines[index], lines[index - 1]),
                              reason: "this range overlaps the range on line \(min(lines[index], lines[index - 1]))")
            }
            lines = []
        }

        /// The place index of the range holding `address`, if any (binary search on the sorted firsts).
        func find(_ address: Address) -> Int32? {
            var low = 0
            var high = firsts.count
            while low < high {
                let middle = (low + high) / 2
                if firsts[middle] <= address { low = middle + 1 } else { high = middle }
            }
            guard low > 0, address <= lasts[low - 1] else { return nil }
            return places[low - 1]
        }
    }

    private var v4 = Ranges<UInt32>()
    private var v6 = Ranges<IPAddress.V6>()
    private var names: [String] = []

    /// How many ranges the table holds.
    public var count: Int { v4.firsts.count + v6.firsts.count }

    /// Reads a table from the bytes of a CSV file. `countryNames` gives a country's name for its
    /// code, or nil to show the code itself.
    public init(csv bytes: [UInt8], countryNames: (String) -> String? = { _ in nil }) throws(Invalid) {
        var index: [String: Int32] = [:]
        var line = 0
        var reader = CSVReader(bytes: bytes)
        while let fields = try reader.nextRecord() {
            line += 1
            if fields == [""] { continue }
            let place: String?
            switch fields.count {
            case 3: place = try Self.country(fields[2], line: line, countryNames)
            case 8:
                let country = try Self.country(fields[3], line: line, countryNames)
                var parts: [String] = []
                for part in [fields[5], fields[4], country ?? ""] where !part.isEmpty && !parts.contains(part) { parts.append(part) }
                place = parts.isEmpty ? nil : parts.joined(separator: ", ")
            default:
                throw Invalid(line: line, reason: "\(fields.count) columns; expected 3 (first,last,country) or 8 (first,last,continent,country,region,city,latitude,longitude)")
            }
            guard let place else { continue }
            let slot: Int32
            if let known = index[place] { slot = known } else {
                slot = Int32(names.count)
                names.append(place)
                index[place] = slot
            }
            switch (IPAddress(fields[0]), IPAddress(fields[1])) {
            case (.v4(let first), .v4(let last)) where first <= last:
                v4.firsts.append(first); v4.lasts.append(last); v4.places.append(slot); v4.lines.append(line)
            case (.v6(let first), .v6(let last)) where first <= last:
                v6.firsts.append(first); v6.lasts.append(last); v6.places.append(slot); v6.lines.append(line)
            case (nil, _): throw Invalid(line: line, reason: "\"\(fields[0].prefix(64))\" is not an IP address")
            case (_, nil): throw Invalid(line: line, reason: "\"\(fields[1].prefix(64))\" is not an IP address")
            case (.v4, .v4), (.v6, .v6): throw Invalid(line: line, reason: "the range ends before it starts")
            default: throw Invalid(line: line, reason: "the range starts in one address family and ends in the other")
            }
        }
        guard !v4.firsts.isEmpty || !v6.firsts.isEmpty else { throw Invalid(line: max(line, 1), reason: "the file places no address range") }
        try v4.seal()
        try v6.seal()
    }

    /// Reads a table from a file (see ``init(csv:countryNames:)``); a file that cannot be read is
    /// refused on its line 0.
    public init(contentsOfFile path: String, countryNames: (String) -> String? = { _ in nil }) throws(Invalid) {
        guard let file = fopen(path, "rb") else { throw Invalid(line: 0, reason: "cannot read \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if read > 0 { bytes.append(contentsOf: chunk[..<read]) }
            if read < chunk.count { break }
        }
        guard ferror(file) == 0 else { throw Invalid(line: 0, reason: "cannot read \(path)") }
        try self.init(csv: bytes, countryNames: countryNames)
    }

    /// A country's name for its code; `ZZ` (unknown) is no place. Refuses anything but two capital letters.
    private static func country(_ code: String, line: Int, _ countryNames: (String) -> String?) throws(Invalid) -> String? {
        guard code.utf8.count == 2, code.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
            throw Invalid(line: line, reason: "\"\(code.prefix(16))\" is not a country code (two capital letters)")
        }
        guard code != "ZZ" else { return nil }
        return countryNames(code) ?? code
    }

    /// Where `address` (IPv4 dotted, or IPv6 text; an IPv4-mapped IPv6 address counts as its IPv4
    /// address) is, or nil when the table does not say or the text is not an address.
    public func place(of address: String) -> String? {
        switch IPAddress(address) {
        case .v4(let value): return v4.find(value).map { names[Int($0)] }
        case .v6(let value):
            if value.high == 0, value.low >> 32 == 0xFFFF { return v4.find(UInt32(truncatingIfNeeded: value.low)).map { names[Int($0)] } }
            return v6.find(value).map { names[Int($0)] }
        case nil: return nil
        }
    }
}

/// An address parsed by the C library's `inet_pton`, the same parser the network stack uses.
enum IPAddress: Equatable {
    case v4(UInt32)
    case v6(V6)

    /// An IPv6 address as a 128-bit number in two halves, ordered as the number.
    struct V6: Comparable, Sendable {
        var high: UInt64
        var low: UInt64
        static func < (a: V6, b: V6) -> Bool { (a.high, a.low) < (b.high, b.low) }
    }

    init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        if text.contains(":") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
            let value = withUnsafeBytes(of: &raw) { bytes in
                V6(high: bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, low: bytes.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            }
            self = .v6(value)
        } else {
            var raw = in_addr()
            guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
            let value = withUnsafeBytes(of: &raw) { bytes in bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
            self = .v4(value)
        }
    }
}

/// RFC 4180 records from bytes: fields split by commas, optionally double-quoted (a quote inside
/// written twice), records ended by LF or CRLF. Fields must be UTF-8.
struct CSVReader {
    let bytes: [UInt8]
    var position = 0
    var record = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The next record's fields, or nil at the end of the bytes.
    mutating func nextRecord() throws(PlaceTable.Invalid) -> [String]? {
        guard position < bytes.count else { return nil }
        record += 1
        var fields: [String] = []
        var field: [UInt8] = []
        while true {
            if position < bytes.count, bytes[position] == UInt8(ascii: "\"") {
                position += 1
                while true {
                    guard position < bytes.count else { throw PlaceTable.Invalid(line: record, reason: "a quoted field is not closed") }
                    let byte = bytes[position]
                    position += 1
                    if byte == UInt8(ascii: "\"") {
                        if position < bytes.count, bytes[position] == UInt8(ascii: "\"") { field.append(byte); position += 1 } else { break }
                    } else {
                        field.append(byte)
                    }
                }
                if position < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(bytes[position]) {
                    throw PlaceTable.Invalid(line: record, reason: "text follows a quoted field")
                }
            } else {
                while position < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(bytes[position]) {
                    if bytes[position] == UInt8(ascii: "\"") { throw PlaceTable.Invalid(line: record, reason: "a quote inside an unquoted field") }
                    field.append(bytes[position])
                    position += 1
                }
            }
            guard let text = String(validating: field, as: UTF8.self) else {
                throw PlaceTable.Invalid(line: record, reason: "a field is not UTF-8")
            }
            fields.append(text)
            field = []
            guard position < bytes.count else { return fields }
            let separator = bytes[position]
            position += 1
            if separator == UInt8(ascii: ",") { continue }
            if separator == UInt8(ascii: "\r") {
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\n") else {
                    throw PlaceTable.Invalid(line: record, reason: "a carriage return not followed by a line feed")
                }
                position += 1
            }
            return fields
        }
    }
}
