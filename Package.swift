// swift-tools-version:6.1
// Portcullis: a passkey-only identity server.
//
// This manifest is the architecture diagram. Dependencies point one way:
//
//   CBOR  ->  WebAuthn  ->  PortcullisCommands  ->  portcullis (executable)
//
// * CBOR has no dependencies at all, so it can be audited and fuzzed alone.
// * WebAuthn is pure: no I/O, no clock and no randomness reads. Time and trust anchors are passed in.
// * PortcullisTesting holds the shared fixtures (virtual authenticator, test PKI, fixed clock). Tests
//   use it, and so does `portcullis bench`, whose load generator needs a software authenticator.
// * Later layers (Accounts, SQLStore, OIDC, PortcullisServer) slot in between WebAuthn and the
//   commands without changing the layers below them.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "portcullis",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "WebAuthn", targets: ["WebAuthn"]),
        .executable(name: "portcullis", targets: ["portcullis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.15.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
    ],
    targets: [
        // Strict, bounded CBOR (RFC 8949, CTAP2 canonical subset). Zero dependencies.
        .target(name: "CBOR", swiftSettings: swiftSettings),

        // The WebAuthn Level 3 relying-party verifier. Pure.
        .target(
            name: "WebAuthn",
            dependencies: [
                "CBOR",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),

        // The logic of every `portcullis` command, kept out of the executable so it is testable.
        .target(
            name: "PortcullisCommands",
            dependencies: [
                "CBOR",
                "WebAuthn",
                "PortcullisTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // The thin executable.
        .executableTarget(
            name: "portcullis",
            dependencies: ["PortcullisCommands"],
            swiftSettings: swiftSettings
        ),

        // The fuzz harness: a corpus replayer normally; a libFuzzer target when built with
        // -sanitize=fuzzer -DFUZZING (see README "Fuzzing").
        .executableTarget(
            name: "portcullis-fuzz",
            dependencies: [
                "CBOR", "WebAuthn", "PortcullisTesting", "CFuzzerDriver",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/PortcullisFuzz",
            swiftSettings: swiftSettings
        ),

        // Declares libFuzzer's driver for the fuzz harness.
        .target(name: "CFuzzerDriver"),

        // Shared fixtures: virtual authenticator, test PKI, fixed clock. Used by tests and by `bench`.
        .target(
            name: "PortcullisTesting",
            dependencies: [
                "CBOR",
                "WebAuthn",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "CBORTests", dependencies: ["CBOR"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WebAuthnTests",
            dependencies: [
                "CBOR", "WebAuthn", "PortcullisTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PortcullisCommandsTests",
            dependencies: [
                "PortcullisCommands", "PortcullisTesting", "WebAuthn", "CBOR",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
