import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import IPPlaces

/// Rows in the shapes of DB-IP's Lite CSV files (IP to Country, IP to City), a little of each family.
private let cityRows = #"""
    1.0.0.0,1.0.0.255,OC,AU,Queensland,"South Brisbane",-27.4767,153.017
    2.16.0.0,2.16.0.255,EU,NL,"North Holland",Amsterdam,52.3676,4.90414\#r
    10.0.0.0,10.255.255.255,ZZ,ZZ,,,0,0
    "5.6.7.8","5.6.7.8",EU,DE,"Land ""Berlin""",Berlin,52.52,13.405
    9.9.9.0,9.9.9.255,NA,US,"Washington, D.C.","Washington, D.C.",38.9,-77.03
    2001:db8::,2001:db8::ffff,EU,FR,"Île-de-France",Paris,48.85,2.35
    2a00:1450::,2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff,NA,US,California,"Mountain View",37.4,-122.08

    """#

private let names = ["AU": "Australia", "NL": "Netherlands", "DE": "Germany", "US": "United States", "FR": "France"]

@Suite("IP places")
struct PlaceTableTests {
    let table: PlaceTable

    init() throws {
        table = try PlaceTable(csv: Array(cityRows.utf8), countryNames: { names[$0] })
    }

    @Test("Addresses in the City Lite rows are placed as city, region, country", arguments: [
        ("1.0.0.0", "South Brisbane, Queensland, Australia"),
        ("1.0.0.255", "South Brisbane, Queensland, Australia"),
        ("2.16.0.77", "Amsterdam, North Holland, Netherlands"),
        ("5.6.7.8", "Berlin, Land \"Berlin\", Germany"),
        ("9.9.9.9", "Washington, D.C., United States"),
        ("2001:db8::1", "Paris, Île-de-France, France"),
        ("2001:DB8:0:0:0:0:0:ffff", "Paris, Île-de-France, France"),
        ("2a00:1450:4001::200e", "Mountain View, California, United States"),
        ("::ffff:2.16.0.1", "Amsterdam, North Holland, Netherlands"),
    ])
    func placed(address: String, place: String) {
        #expect(table.place(of: address) == place)
        #expect(table.count == 6)
    }

    @Test("Addresses outside every range, unknown (ZZ) ranges and non-addresses have no place", arguments: [
        "0.255.255.255", "1.0.1.0", "2.16.1.0", "5.6.7.7", "5.6.7.9", "10.1.2.3", "127.0.0.1", "255.255.255.255",
        "2001:db8::1:0", "::1", "::", "2a00:1451::", "::ffff:10.0.0.1",
        "", "1.2.3", "1.2.3.4.5", "01.2.3.4x", "256.1.1.1", "2001:db8:::1", "fe80::1%eth0", "unknown",
    ])
    func unplaced(address: String) {
        #expect(table.place(of: address) == nil)
    }

    @Test("The Country Lite shape gives the country; a code without a name is shown as the code")
    func countries() throws {
        let table = try PlaceTable(csv: Array("1.0.0.0,1.0.0.255,AU\n1.0.1.0,1.0.3.255,CN\n::,::ff,ZZ\n".utf8), countryNames: { names[$0] })
        #expect(table.place(of: "1.0.0.9") == "Australia")
        #expect(table.place(of: "1.0.2.0") == "CN")
        #expect(table.place(of: "::1") == nil)
        #expect(table.count == 2)
    }

    @Test("Ranges may come in any order; the closest range below decides")
    func unordered() throws {
        let table = try PlaceTable(csv: Array("9.0.0.0,9.0.0.9,US\n1.0.0.0,1.0.0.9,AU\n5.0.0.0,5.0.0.0,DE\n".utf8))
        #expect(table.place(of: "1.0.0.5") == "AU")
        #expect(table.place(of: "5.0.0.0") == "DE")
        #expect(table.place(of: "5.0.0.1") == nil)
        #expect(table.place(of: "9.0.0.9") == "US")
    }

    @Test("A file that would misplace people is refused with its line", arguments: [
        ("1.0.0.0,1.0.0.255\n", 1, "2 columns"),
        ("1.0.0.0,1.0.0.255,AU,x\n", 1, "4 columns"),
        ("1.0.0.0,1.0.0.255,AU\n1.0.0.x,1.0.1.0,AU\n", 2, "\"1.0.0.x\" is not an IP address"),
        ("1.0.0.0,1.0.0.256,AU\n", 1, "\"1.0.0.256\" is not an IP address"),
        ("1.0.0.9,1.0.0.0,AU\n", 1, "the range ends before it starts"),
        ("1.0.0.0,::1,AU\n", 1, "one address family and ends in the other"),
        ("1.0.0.0,1.0.0.255,Australia\n", 1, "\"Australia\" is not a country code"),
        ("1.0.0.0,1.0.0.255,au\n", 1, "\"au\" is not a country code"),
        ("1.0.0.0,1.0.0.255,AU\n1.0.0.255,1.0.1.0,NL\n", 2, "overlaps the range on line 1"),
        ("2001:db8::,2001:db8::ff,FR\n1.0.0.0,1.0.0.1,AU\n2001:db8::80,2001:db9::,FR\n", 3, "overlaps the range on line 1"),
        ("1.0.0.0,1.0.0.255,\"AU\n", 1, "a quoted field is not closed"),
        ("1.0.0.0,1.0.0.255,\"A\"U\n", 1, "text follows a quoted field"),
        ("1.0.0.0,1.0.0.255,A\"U\n", 1, "a quote inside an unquoted field"),
        ("1.0.0.0,1.0.0.255,AU\r1.0.1.0,1.0.1.1,AU\n", 1, "carriage return"),
        ("\n\n", 2, "places no address range"),
        ("", 1, "places no address range"),
        ("10.0.0.0,10.0.0.1,ZZ\n", 1, "places no address range"),
    ])
    func refused(csv: String, line: Int, reason: String) {
        #expect {
            _ = try PlaceTable(csv: Array(csv.utf8))
        } throws: { error in
            guard let invalid = error as? PlaceTable.Invalid else { return false }
            return invalid.line == line && invalid.reason.contains(reason)
        }
    }

    @Test("Bytes that are not UTF-8 are refused")
    func notUTF8() {
        #expect(throws: PlaceTable.Invalid(line: 1, reason: "a field is not UTF-8")) {
            _ = try PlaceTable(csv: Array("1.0.0.0,1.0.0.255,OC,AU,".utf8) + [0xFF] + Array(",x,0,0\n".utf8))
        }
    }

    @Test("A file is read from disk, and a missing one is refused")
    func file() throws {
        let path = "/tmp/portcullis-places-\(UInt64.random(in: 0...UInt64.max)).csv"
        let handle = try #require(fopen(path, "wb"))
        let bytes = Array(cityRows.utf8)
        #expect(fwrite(bytes, 1, bytes.count, handle) == bytes.count)
        fclose(handle)
        defer { remove(path) }
        #expect(try PlaceTable(contentsOfFile: path).place(of: "2.16.0.1") == "Amsterdam, North Holland, NL")
        #expect(throws: PlaceTable.Invalid(line: 0, reason: "cannot read \(path).missing")) {
            _ = try PlaceTable(contentsOfFile: path + ".missing")
        }
    }
}
