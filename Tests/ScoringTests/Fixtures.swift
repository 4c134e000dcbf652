import Foundation
@testable import Scoring

/// Helpers for hand-written PMML fixtures.
enum Fixture {
    /// Wraps body elements into a PMML 4.4 document.
    static func pmml(_ body: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <PMML xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable" version="4.4">
        <Header/>
        \(body)
        </PMML>
        """
    }

    /// Compiles a fixture document.
    static func model(_ body: String, name: String = "fixture.pmml") throws -> CompiledModel {
        try CompiledModel(pmml: Data(pmml(body).utf8), name: name)
    }

    /// The error thrown while loading `body`, if any.
    static func loadError(_ body: String, name: String = "fixture.pmml") -> PMMLError? {
        do {
            _ = try model(body, name: name)
            return nil
        } catch let e as PMMLError {
            return e
        } catch {
            return nil
        }
    }
}

extension CompiledModel {
    /// Scores a dictionary of raw values.
    func score(_ values: [String: FieldValue]) throws -> Double {
        try score(makeRow(values))
    }
}
