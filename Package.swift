// swift-tools-version: 6.1
import PackageDescription

let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    // The tree builds without warnings; keep it that way (our targets only, not the dependencies).
    .unsafeFlags(["-warnings-as-errors"]),
    // Release builds let each module specialise the generics of the modules it uses (the consumer's poll
    // loop for its message type, …): without it the poll thread looked up generic metadata and copied
    // records through value witnesses for every message. Measured 2026-11-30, engine CPU seconds for
    // 1 M events, runs interleaved: counter 1.81–2.16 → 1.57–1.60 (Kafka module alone; every module 1.68–1.89
    // against 1.69–1.83 for that build), prediction mean 14.5 → 13.4 (every module)
    // (docs/benchmarks.md). No effect on debug builds.
    .unsafeFlags(["-cross-module-optimization"]),
]

let package = Package(
    name: "StreamScore",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "streamscore", targets: ["StreamScoreCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: settings
        ),
        .target(name: "Events", swiftSettings: settings),
        .target(name: "Features", dependencies: ["Events"], swiftSettings: settings),
        .target(name: "CSV", swiftSettings: settings),
        .target(name: "Scoring", dependencies: ["CSV"], swiftSettings: settings),
        .target(
            name: "Store",
            dependencies: [
                "Features", "CSV",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "Pipeline",
            dependencies: [
                "Kafka", "Events", "Features", "Scoring", "Store",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "HTTPAPI",
            dependencies: [
                "Pipeline", "Store", "Scoring",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.copy("Resources/dashboard.html")],
            swiftSettings: settings
        ),
        .target(name: "ProcessSupport", swiftSettings: settings),
        .target(
            name: "Bench",
            dependencies: [
                "Kafka", "Events", "Features", "Scoring", "Store", "Pipeline", "ProcessSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "StreamScoreCLI",
            dependencies: [
                "Kafka", "Events", "Features", "Scoring", "Store", "Pipeline", "HTTPAPI", "Bench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: settings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["ProcessSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: settings
        ),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "TestSupport"], swiftSettings: settings),
        .testTarget(name: "EventsTests", dependencies: ["Events", "TestSupport"], resources: [.copy("Fixtures")], swiftSettings: settings),
        .testTarget(name: "FeaturesTests", dependencies: ["Features", "Events", "TestSupport"], swiftSettings: settings),
        .testTarget(name: "CSVTests", dependencies: ["CSV"], swiftSettings: settings),
        .testTarget(name: "ScoringTests", dependencies: ["Scoring", "TestSupport"], swiftSettings: settings),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Features", "TestSupport"], swiftSettings: settings),
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "Pipeline", "Kafka", "Store", "Scoring", "HTTPAPI", "Bench", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: settings
        ),
    ]
)

