import CBOR
import X509

/// Edits of COSE keys for malformed-key fixtures.
public enum COSEKeyEdits {
    /// The key with the value under `label` replaced (or added at the end), encoded.
    public static func replacing(_ key: CBORValue, label: Int64, with value: CBORValue) -> [UInt8] {
        guard let map = key.map else { return CBOREncoder.encode(key) }
        var entries = map.entries.map { ($0.key, $0.key == .int(label) ? value : $0.value) }
        if map[int: label] == nil { entries.append((.int(label), value)) }
        return CBOREncoder.encode(.map(CBORMap(entries)))
    }

    /// The key without `label`, encoded.
    public static func removing(_ key: CBORValue, label: Int64) -> [UInt8] {
        guard let map = key.map else { return CBOREncoder.encode(key) }
        return CBOREncoder.encode(.map(CBORMap(map.entries.filter { $0.key != .int(label) }.map { ($0.key, $0.value) })))
    }
}

/// Subjects for packed certificate-requirement fixtures.
public enum DistinguishedNameFixtures {
    /// A subject with the given parts; `nil` leaves a part out.
    public static func subject(
        country: String? = "AA",
        organization: String? = "Portcullis Test",
        ou: String? = "Authenticator Attestation",
        commonName: String? = "Portcullis Virtual Authenticator"
    ) throws -> DistinguishedName {
        var attributes: [RelativeDistinguishedName.Attribute] = []
        if let country { attributes.append(try .init(type: .RDNAttributeType.countryName, printableString: country)) }
        if let organization { attributes.append(.init(type: .RDNAttributeType.organizationName, utf8String: organization)) }
        if let ou { attributes.append(.init(type: .RDNAttributeType.organizationalUnitName, utf8String: ou)) }
        if let commonName { attributes.append(.init(type: .RDNAttributeType.commonName, utf8String: commonName)) }
        return DistinguishedName(attributes.map { RelativeDistinguishedName($0) })
    }
}
