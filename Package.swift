// swift-tools-version:6.1
// Portcullis: a passkey-only identity server.
//
// This manifest is the architecture diagram. Dependencies point one way:
//
//   CBOR -> WebAuthn -> Accounts -> OIDC -> SQLStore ----------------------.
//                              \        \-> Notifications -----------------+-> PortcullisApp -> PortcullisCommands -> portcullis
//                               \        \-> PortcullisHTTP -> PortcullisPages'
//                                                    QRCode ----------'
//   IPPlaces -> PortcullisApp
//
// * CBOR has no dependencies at all, so it can be audited and fuzzed alone. Neither has QRCode, the
//   encoder behind the pages' QR codes, nor IPPlaces, which reads the operator's IP-range file.
// * WebAuthn is pure: no I/O, no clock and no randomness reads. Time and trust anchors are passed in.
// * Accounts is the domain (users, passkeys, ceremonies, sessions, events) with the store protocol
//   and an in-memory store. SQLStore implements the store on SQLite and PostgreSQL.
// * Notifications tells owners: the outbox dispatcher, webhooks and e-mail.
// * PortcullisHTTP is the JSON API; it sees the domain only (never SQL, TLS, HTTP clients or
//   configuration files). PortcullisPages serves pages on the API's middleware; the API never
//   depends on it. PortcullisApp is the composition root: configuration, the store factory and the
//   application. The OpenID Connect provider slots in as its own target on Accounts.
// * Traces: PortcullisHTTP opens a span per request through swift-distributed-tracing's API; only
//   the composition root knows the exporter behind it (swift-otel, OTLP over HTTP).
// * PortcullisTesting holds the shared fixtures (virtual authenticator, test PKI, fixed clock). Tests
//   use it, and so does `portcullis-bench` (PortcullisBench), whose load generator needs a software
//   authenticator; the production `portcullis` links neither.
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
        .executable(name: "portcullis-bench", targets: ["portcullis-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.15.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.32.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.0"),
        // Exact: SQLStore imports VaporCSQLite, the SQLite C library sqlite-nio vendors, which sqlite-nio
        // does not export as a product. Any version bump must be a deliberate edit here, rebuilt and
        // tested, because a new release may rename or reshape that module without breaking its API.
        .package(url: "https://github.com/vapor/sqlite-nio.git", exact: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.14.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
        // OTLP over HTTP only: the gRPC exporter's packages would double the build for nothing here.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Strict, bounded CBOR (RFC 8949, CTAP2 canonical subset). Zero dependencies.
        .target(name: "CBOR", swiftSettings: swiftSettings),

        // A QR code encoder (ISO/IEC 18004) for the pages' links. Zero dependencies.
        .target(name: "QRCode", swiftSettings: swiftSettings),

        // Places of IP addresses from an operator's IP-range file (DB-IP Lite CSV), for the pages'
        // sessions and device requests. Zero dependencies.
        .target(name: "IPPlaces", swiftSettings: swiftSettings),

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

        // The account domain: users, passkeys, ceremonies, sessions, security events, and the store
        // protocol with an in-memory implementation. No I/O of its own; clock and randomness injected.
        .target(
            name: "Accounts",
            dependencies: [
                "WebAuthn",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // The OpenID Connect provider: clients, authorization requests, codes, consent, tokens and
        // signing keys, with the store protocol they live in. No HTTP; clock and randomness injected.
        .target(
            name: "OIDC",
            dependencies: [
                "Accounts", "WebAuthn",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),

        // The SQL store: one sql-kit implementation over SQLite (embedded default) and PostgreSQL.
        // SQLite statements run through the SQLite library that sqlite-nio vendors (its VaporCSQLite
        // module), called on the caller's thread: measured faster than a thread-pool hop per statement.
        .target(
            name: "SQLStore",
            dependencies: [
                "Accounts", "OIDC",
                "WebAuthn",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),

        // Notifications: the outbox dispatcher, webhooks (Standard Webhooks), e-mail and its SMTP client.
        .target(
            name: "Notifications",
            dependencies: [
                "Accounts", "OIDC", "WebAuthn",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The JSON API (Hummingbird 2). It reaches the store only through the domain: no SQLStore, no
        // swift-nio-ssl, no AsyncHTTPClient, no swift-configuration (HTTPSettings is all it is told).
        .target(
            name: "PortcullisHTTP",
            dependencies: [
                "Accounts", "OIDC", "WebAuthn",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),

        // The pages for people, on the API's middleware and controller. The API never depends on it.
        // Templates, script and style are files under Resources/, compiled into the binary, so the
        // server is still one file to install.
        .target(
            name: "PortcullisPages",
            dependencies: [
                "Accounts", "OIDC", "PortcullisHTTP", "QRCode", "WebAuthn",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [
                .embedInCode("Resources/layout.mustache"), .embedInCode("Resources/home.mustache"),
                .embedInCode("Resources/recovery-cancel.mustache"), .embedInCode("Resources/recovery-cancelled.mustache"),
                .embedInCode("Resources/app.js"), .embedInCode("Resources/app.css"),
                .embedInCode("Resources/authorize.mustache"), .embedInCode("Resources/consent.mustache"),
                .embedInCode("Resources/oidc-error.mustache"), .embedInCode("Resources/logout.mustache"),
                .embedInCode("Resources/authorize.js"), .embedInCode("Resources/error.mustache"), .embedInCode("Resources/common.js"),
                .embedInCode("Resources/admin.mustache"), .embedInCode("Resources/admin.js"), .embedInCode("Resources/address-verify.mustache"),
            ],
            swiftSettings: swiftSettings
        ),

        // The composition root: configuration, the store factory, the application with its services.
        .target(
            name: "PortcullisApp",
            dependencies: [
                "Accounts", "IPPlaces", "OIDC", "SQLStore", "WebAuthn", "Notifications", "PortcullisHTTP", "PortcullisPages",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),

        // The logic of every `portcullis` command, kept out of the executable so it is testable.
        .target(
            name: "PortcullisCommands",
            dependencies: [
                "CBOR",
                "WebAuthn",
                "PortcullisApp",
                "PortcullisHTTP",
                "SQLStore",
                "Accounts",
                "OIDC",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
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

        // The measurements (`portcullis-bench verify|login|store`): a program of their own, so the
        // production `portcullis` does not link the test fixtures their load generator needs.
        .target(
            name: "PortcullisBench",
            dependencies: [
                "Accounts", "OIDC", "WebAuthn", "SQLStore", "PortcullisApp", "PortcullisCommands", "PortcullisTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "portcullis-bench",
            dependencies: ["PortcullisBench", "PortcullisCommands"],
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
                "Accounts",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "CBORTests", dependencies: ["CBOR"], swiftSettings: swiftSettings),
        .testTarget(name: "IPPlacesTests", dependencies: ["IPPlaces"], swiftSettings: swiftSettings),
        .testTarget(name: "QRCodeTests", dependencies: ["QRCode", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
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
        // The domain, over the in-memory store: no SQL, no HTTP.
        .testTarget(
            name: "AccountsTests",
            dependencies: [
                "Accounts", "PortcullisTesting", "WebAuthn",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SQL store and its drivers, on SQLite files and the throwaway PostgreSQL cluster.
        .testTarget(
            name: "SQLStoreTests",
            dependencies: [
                "SQLStore", "Accounts", "OIDC", "WebAuthn", "PortcullisTesting", "PortcullisBench",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The API and the pages, through the application buildServer assembles (on memory:).
        .testTarget(
            name: "PortcullisHTTPTests",
            dependencies: [
                "PortcullisApp", "PortcullisHTTP", "PortcullisPages", "OIDC", "Notifications", "Accounts", "SQLStore", "PortcullisTesting", "WebAuthn",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The OpenID Connect provider, over its in-memory store: no SQL, no HTTP.
        .testTarget(
            name: "OIDCTests",
            dependencies: [
                "OIDC", "Accounts", "PortcullisTesting", "WebAuthn",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PortcullisCommandsTests",
            dependencies: [
                "PortcullisCommands", "PortcullisBench", "PortcullisTesting", "WebAuthn", "CBOR", "Accounts", "SQLStore", "OIDC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
