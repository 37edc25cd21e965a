import Accounts
import Foundation
import Testing

@Suite struct UUIDTextTests {
    /// The same text as Foundation's (and in lower case), for every kind of UUID the server makes.
    @Test func writesWhatFoundationWritesInLowerCase() {
        let random = SystemRandomSource()
        var samples = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                       UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        for _ in 0..<200 { samples += [random.uuid(), random.timeOrderedUUID(at: Date()), UUID()] }
        for id in samples {
            #expect(id.lowercaseText == id.uuidString.lowercased())
            #expect(id.uppercaseText == id.uuidString)
            #expect(UUID(text: id.lowercaseText) == id)
            #expect(UUID(text: id.uuidString) == id)
            #expect(UUID(text: ("{" + id.lowercaseText + "}").dropFirst().dropLast()) == id)  // a Substring
        }
    }

    @Test(arguments: [
        "",
        "01a250cd26bc73ca91a992eddab268b0",  // no hyphens
        "01a250cd-26bc-73ca-91a9-92eddab268b",  // one digit short
        "01a250cd-26bc-73ca-91a9-92eddab268b00",  // one digit long
        "01a250cd-26bc-73ca-91a9-92eddab268b0-",
        "01a250cd-26bc-73ca-91a992-eddab268b0",  // a hyphen out of place
        "01a250cd-26bc-73ca-91a9_92eddab268b0",
        "01a250cd-26bc-73ca-91a9-92eddab268bg",  // not hexadecimal
        "{01a250cd-26bc-73ca-91a9-92eddab268b0}",
        " 01a250cd-26bc-73ca-91a9-92eddab268b0",
        "01a250cd-26bc-73ca-91a9-92eddab268b0\n",
        "01a250cd-26bc-73ca-91a9-92eddab268b\u{0660}",  // ARABIC-INDIC DIGIT ZERO
        "01a250cd-26bc-73ca-91a9-92eddab268bＡ",  // FULLWIDTH A
        "01a250cd-26bc-73ca-91a9-92eddab268b0\u{0301}",
    ])
    func refusesEverythingElse(text: String) {
        #expect(UUID(text: text) == nil)
    }
}
