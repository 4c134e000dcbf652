import Foundation
import Testing
@testable import Scoring

/// Helpers shared by the model-set suites.
private enum Sets {
    /// Parses `json` as `models.json`.
    static func parse(_ json: String) throws -> ModelSetFile {
        try ModelSetFile.parse(Data(json.utf8), file: "models.json")
    }

    /// The `ModelSetError` thrown while parsing `json`, if any.
    static func error(_ json: String) -> ModelSetError? {
        do {
            _ = try parse(json)
            return nil
        } catch let e as ModelSetError {
            return e
        } catch {
            return nil
        }
    }

    /// `{"models":[…]}` around the given entry objects.
    static func models(_ entries: String...) -> String {
        "{\"models\":[" + entries.joined(separator: ",") + "]}"
    }

    static let champion = #"{"name":"champ","path":"a.pmml","role":"champion"}"#

    /// A fresh temporary folder.
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelset-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `text` to `url`, creating folders.
    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Copies the reference logistic-regression model to `url`.
    static func copyLogreg(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: SharedModels.url("logreg.pmml"), to: url)
    }

    /// Bucket of `id`, written independently of `CustomerBucket`: FNV-1a-64 straight from the definition.
    static func referenceBucket(_ id: String) -> Int {
        var h: UInt64 = 14_695_981_039_346_656_037 // 0xcbf29ce484222325
        for byte in Array(id.utf8) {
            h = h ^ UInt64(byte)
            h = h.multipliedReportingOverflow(by: 1_099_511_628_211).partialValue // 0x100000001b3
        }
        return Int(h % 100)
    }
}

@Suite("Model-set file validation")
struct ModelSetFileTests {
    /// Asserts the error's rule, that it is one line naming the file and `entry`.
    func expectError(_ json: String, _ code: ModelSetError.Code, entry: String?,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        guard let e = Sets.error(json) else {
            Issue.record("expected \(code), but the file was accepted", sourceLocation: sourceLocation)
            return
        }
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        #expect(e.file == "models.json", sourceLocation: sourceLocation)
        #expect(e.entry == entry, "\(e)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix("model set 'models.json': "), "\(e)", sourceLocation: sourceLocation)
        if let entry {
            #expect(e.description.contains(": \(entry): "), "\(e)", sourceLocation: sourceLocation)
        }
        #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
    }

    @Test func validFileKeepsOrderAndFields() throws {
        let f = try Sets.parse(Sets.models(
            #"{"name":"b","path":"m/b.pmml","role":"challenger","percent":20}"#,
            Sets.champion,
            #"{"path":"/abs/s.pmml","role":"shadow","name":"s"}"#,
            #"{"name":"c","path":"c.pmml","role":"challenger","percent":79}"#))
        #expect(f.models == [
            .init(name: "b", path: "m/b.pmml", role: .challenger, percent: 20),
            .init(name: "champ", path: "a.pmml", role: .champion),
            .init(name: "s", path: "/abs/s.pmml", role: .shadow),
            .init(name: "c", path: "c.pmml", role: .challenger, percent: 79),
        ])
        #expect(f.champion.name == "champ")
        #expect(f.file == "models.json")
    }

    @Test func exactMessageForBadPercent() {
        let e = Sets.error(Sets.models(Sets.champion, #"{"name":"a","path":"a.pmml","role":"shadow"}"#,
                                       #"{"name":"b","path":"b.pmml","role":"challenger","percent":0}"#))
        #expect(e?.description == #"model set 'models.json': models[2] "b": percent must be an integer 1–99 for a challenger"#)
    }

    @Test(arguments: ["{\"models\":[", "not json", "", "{\"models\":[]} x", "{models:[]}", "{\"models\":[01]}",
                      "{\"models\":[{\"name\":\"a\",}]}", "{\"models\":[{\"name\":\"a\"},]}", "{\"models\":[],}",
                      "{\"models\":[\"a\\x\"]}", "{\"models\":[\"\\ud800\"]}", "{\"models\":[\"tab\there\"]}",
                      "{\"models\":[-]}", "{\"models\":[1.]}", "{\"models\":[tru]}", "{\"models\":[NaN]}",
                      "{\"models\":[]} // comment", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
    func malformedJSON(json: String) {
        expectError(json, .malformedJSON, entry: nil)
    }

    @Test func malformedJSONNamesLineAndColumn() {
        let e = Sets.error("{\n  \"models\": [\n    {\"name\": \"a\", \"path\": \"a.pmml\", \"role\": \"champion\",}\n  ]\n}")
        #expect(e?.code == .malformedJSON)
        #expect(e?.description == "model set 'models.json': not valid JSON: line 3, column 56: trailing comma before '}'; fix the syntax")
    }

    @Test func duplicateKeyRejected() {
        // Foundation would silently keep one of the two roles.
        let json = "{\"models\":[\n{\"name\":\"a\",\"path\":\"a.pmml\",\"role\":\"shadow\",\"role\":\"champion\"}]}"
        expectError(json, .malformedJSON, entry: nil)
        #expect(Sets.error(json)?.description.contains("line 2, column 45: duplicate key \"role\"") == true, "\(String(describing: Sets.error(json)))")
    }

    @Test func byteOrderMarkAndWhitespaceAccepted() throws {
        let f = try ModelSetFile.parse(Data([0xef, 0xbb, 0xbf]) + Data(" \r\n\t\(Sets.models(Sets.champion)) \n".utf8), file: "m.json")
        #expect(f.models.count == 1)
    }

    @Test(arguments: ["[]", "\"models\"", "42", "null"])
    func topLevelMustBeAnObject(json: String) {
        expectError(json, .notAnObject, entry: nil)
    }

    @Test(arguments: ["{}", "{\"models\":{}}", "{\"models\":null}"])
    func modelsMustBeAnArray(json: String) {
        expectError(json, .missingModels, entry: nil)
    }

    @Test func unknownTopLevelKey() {
        expectError(#"{"models":[{"name":"a","path":"a.pmml","role":"champion"}],"version":2}"#, .unknownKey, entry: nil)
        #expect(Sets.error(#"{"models":[],"version":2}"#)?.description.contains("\"version\"") == true)
    }

    @Test func unknownEntryKey() {
        let json = Sets.models(Sets.champion, #"{"name":"b","path":"b.pmml","role":"shadow","weight":3}"#)
        expectError(json, .unknownKey, entry: #"models[1] "b""#)
        #expect(Sets.error(json)?.description.contains("\"weight\"") == true)
    }

    @Test func entryMustBeAnObject() {
        expectError(Sets.models(Sets.champion, "\"b.pmml\""), .entryNotAnObject, entry: "models[1]")
    }

    @Test func noChampion() {
        expectError(Sets.models(#"{"name":"s","path":"s.pmml","role":"shadow"}"#), .noChampion, entry: nil)
        expectError(Sets.models(), .noChampion, entry: nil)
    }

    @Test func secondChampion() {
        let json = Sets.models(Sets.champion, #"{"name":"b","path":"b.pmml","role":"champion"}"#)
        expectError(json, .secondChampion, entry: #"models[1] "b""#)
        #expect(Sets.error(json)?.description.contains(#"models[0] "champ""#) == true)
    }

    @Test(arguments: ["", #","percent":0"#, #","percent":100"#, #","percent":-5"#, #","percent":2.5"#,
                      #","percent":"20""#, #","percent":true"#, #","percent":null"#, #","percent":1e30"#,
                      #","percent":20.0"#, #","percent":2e1"#, #","percent":99999999999999999999"#])
    func challengerNeedsIntegerPercent1to99(percent: String) {
        let json = Sets.models(Sets.champion, "{\"name\":\"b\",\"path\":\"b.pmml\",\"role\":\"challenger\"\(percent)}")
        expectError(json, .invalidPercent, entry: #"models[1] "b""#)
    }

    @Test(arguments: [1, 99])
    func percentBoundsAccepted(percent: Int) throws {
        let f = try Sets.parse(Sets.models(Sets.champion,
                                           "{\"name\":\"b\",\"path\":\"b.pmml\",\"role\":\"challenger\",\"percent\":\(percent)}"))
        #expect(f.models[1].percent == percent)
    }

    @Test func challengerPercentsSumAtMost99() throws {
        let ok = Sets.models(Sets.champion,
                             #"{"name":"b","path":"b.pmml","role":"challenger","percent":50}"#,
                             #"{"name":"c","path":"c.pmml","role":"challenger","percent":49}"#)
        #expect(try Sets.parse(ok).models.compactMap(\.percent).reduce(0, +) == 99)
        let json = Sets.models(#"{"name":"b","path":"b.pmml","role":"challenger","percent":50}"#,
                               #"{"name":"c","path":"c.pmml","role":"challenger","percent":49}"#,
                               Sets.champion,
                               #"{"name":"d","path":"d.pmml","role":"challenger","percent":1}"#)
        expectError(json, .percentSumTooLarge, entry: #"models[3] "d""#)
        #expect(Sets.error(json)?.description.contains("100") == true)
    }

    @Test func championMustNotHavePercent() {
        let json = Sets.models(#"{"name":"a","path":"a.pmml","role":"champion","percent":50}"#)
        expectError(json, .percentNotAllowed, entry: #"models[0] "a""#)
        #expect(Sets.error(json)?.description.contains("remove it") == true)
    }

    @Test func shadowMustNotHavePercent() {
        expectError(Sets.models(Sets.champion, #"{"name":"s","path":"s.pmml","role":"shadow","percent":10}"#),
                    .percentNotAllowed, entry: #"models[1] "s""#)
    }

    @Test(arguments: ["", "a b", "a/b", "é", "a\\nb", String(repeating: "x", count: 65)])
    func invalidName(name: String) {
        // `name` is inserted in JSON source, so "a\\nb" is a name with a newline in it.
        let json = Sets.models(Sets.champion, "{\"name\":\"\(name)\",\"path\":\"b.pmml\",\"role\":\"shadow\"}")
        guard let e = Sets.error(json) else { Issue.record("accepted name \(name)"); return }
        #expect(e.code == .invalidName, "\(e)")
        #expect(e.entry?.hasPrefix("models[1] \"") == true, "\(e)")
        #expect(!e.description.contains("\n"))
    }

    @Test func longestAndOddNamesAccepted() throws {
        let name = String(repeating: "x", count: 63) + "-"
        let f = try Sets.parse(Sets.models(Sets.champion,
                                           "{\"name\":\"\(name)\",\"path\":\"b.pmml\",\"role\":\"shadow\"}",
                                           #"{"name":"A.b_9-z","path":"c.pmml","role":"shadow"}"#))
        #expect(f.models.map(\.name) == ["champ", name, "A.b_9-z"])
    }

    @Test func missingOrNonStringName() {
        expectError(Sets.models(Sets.champion, #"{"path":"b.pmml","role":"shadow"}"#), .missingName, entry: "models[1]")
        expectError(Sets.models(Sets.champion, #"{"name":7,"path":"b.pmml","role":"shadow"}"#), .missingName, entry: "models[1]")
    }

    @Test func duplicateName() {
        let json = Sets.models(Sets.champion, #"{"name":"b","path":"b.pmml","role":"shadow"}"#,
                               #"{"name":"b","path":"c.pmml","role":"shadow"}"#)
        expectError(json, .duplicateName, entry: #"models[2] "b""#)
        #expect(Sets.error(json)?.description.contains("models[1]") == true)
    }

    @Test func unknownRole() {
        let json = Sets.models(Sets.champion, #"{"name":"b","path":"b.pmml","role":"canary"}"#)
        expectError(json, .unknownRole, entry: #"models[1] "b""#)
        #expect(Sets.error(json)?.description.contains("\"canary\"") == true)
    }

    @Test func missingRole() {
        expectError(Sets.models(Sets.champion, #"{"name":"b","path":"b.pmml"}"#), .missingRole, entry: #"models[1] "b""#)
    }

    @Test func missingOrEmptyPath() {
        expectError(Sets.models(Sets.champion, #"{"name":"b","role":"shadow"}"#), .missingPath, entry: #"models[1] "b""#)
        expectError(Sets.models(Sets.champion, #"{"name":"b","path":"","role":"shadow"}"#), .missingPath, entry: #"models[1] "b""#)
    }

    @Test func initValidatesTypedEntries() {
        #expect(throws: ModelSetError.self) {
            try ModelSetFile(models: [.init(name: "a", path: "a.pmml", role: .challenger, percent: 10)], file: "x.json")
        }
        #expect(throws: ModelSetError.self) {
            try ModelSetFile(models: [.init(name: "a", path: "a.pmml", role: .champion, percent: 10)], file: "x.json")
        }
    }
}

@Suite("Model-set file writing and promotion")
struct ModelSetFileTransformTests {
    let file: ModelSetFile

    init() throws {
        file = try Sets.parse(Sets.models(
            #"{"name":"b","path":"b.pmml","role":"challenger","percent":20}"#,
            Sets.champion,
            #"{"name":"s","path":"s.pmml","role":"shadow"}"#,
            #"{"name":"c","path":"c.pmml","role":"challenger","percent":10}"#))
    }

    @Test func encodedShape() {
        let expected = """
        {
          "models": [
            {"name": "b", "path": "b.pmml", "role": "challenger", "percent": 20},
            {"name": "champ", "path": "a.pmml", "role": "champion"},
            {"name": "s", "path": "s.pmml", "role": "shadow"},
            {"name": "c", "path": "c.pmml", "role": "challenger", "percent": 10}
          ]
        }

        """
        #expect(String(decoding: file.encoded(), as: UTF8.self) == expected)
    }

    @Test func encodedRoundTripsOddPaths() throws {
        let odd = try ModelSetFile(models: [
            .init(name: "a", path: "dir with \"quotes\"/back\\slash/tab\there\nnewline\u{1}/日本.pmml", role: .champion),
            .init(name: "b", path: "/abs/b.pmml", role: .challenger, percent: 99),
        ], file: "odd.json")
        let again = try ModelSetFile.parse(odd.encoded(), file: "odd.json")
        #expect(again == odd)
        // And Foundation reads the same JSON.
        let object = try JSONSerialization.jsonObject(with: odd.encoded()) as? [String: [[String: Any]]]
        #expect(object?["models"]?.first?["path"] as? String == odd.models[0].path)
    }

    @Test func promoteChallenger() throws {
        let p = try file.promoting("b")
        #expect(p.models == [
            .init(name: "b", path: "b.pmml", role: .champion),
            .init(name: "champ", path: "a.pmml", role: .shadow),
            .init(name: "s", path: "s.pmml", role: .shadow),
            .init(name: "c", path: "c.pmml", role: .challenger, percent: 10),
        ])
        #expect(p.file == file.file)
    }

    @Test func promoteShadow() throws {
        let p = try file.promoting("s")
        #expect(p.champion.name == "s")
        #expect(p.models.map(\.role) == [.challenger, .shadow, .champion, .challenger])
        #expect(p.models.map(\.percent) == [20, nil, nil, 10])
    }

    @Test func rollbackIsPromotingThePreviousChampion() throws {
        let back = try file.promoting("b").promoting("champ")
        #expect(back.champion == .init(name: "champ", path: "a.pmml", role: .champion))
        #expect(back.models.first { $0.name == "b" }?.role == .shadow)
    }

    @Test func promoteUnknownName() {
        do {
            _ = try file.promoting("nope")
            Issue.record("promoted an unknown model")
        } catch let e as ModelSetError {
            #expect(e.code == .unknownModel)
            #expect(e.description.contains("\"nope\""))
            #expect(e.description.contains("models.json"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func promoteChampionThrows() {
        do {
            _ = try file.promoting("champ")
            Issue.record("promoted the champion")
        } catch let e as ModelSetError {
            #expect(e.code == .alreadyChampion)
            #expect(e.entry == #"models[1] "champ""#)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("Strict JSON parser")
struct StrictJSONParserTests {
    /// Converts Foundation's parse result (strings, arrays, objects, null) to `JSONValue`.
    func fromFoundation(_ any: Any) -> JSONValue? {
        switch any {
        case is NSNull: return .null
        case let s as String: return .string(s)
        case let a as [Any]:
            let items = a.compactMap(fromFoundation)
            return items.count == a.count ? .array(items) : nil
        case let d as [String: Any]:
            var out: [String: JSONValue] = [:]
            for (k, v) in d { guard let j = fromFoundation(v) else { return nil }; out[k] = j }
            return .object(out)
        default: return nil // numbers and booleans are checked by `scalars` instead
        }
    }

    @Test(arguments: [
        #"{"a":"plain","b":"esc \" \\ \/ \b \f \n \r \t","c":"\u00e9\u65e5\ud83d\ude00","d":"日本 é 😀"}"#,
        #"[[],{},[{}],"",null]"#,
        #"{"nested":{"deeper":[{"k":["v",null,"w"]}]}}"#,
        " \t\r\n{ \"spaced\" : [ \"x\" , \"y\" ] } \n",
    ])
    func agreesWithFoundation(json: String) throws {
        let ours = try StrictJSONParser.parse(Data(json.utf8))
        let theirs = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        #expect(ours == fromFoundation(theirs))
    }

    @Test(arguments: [
        ("0", JSONValue.int(0)), ("-0", .int(0)), ("42", .int(42)), ("-7", .int(-7)),
        ("20.0", .number(20)), ("2e1", .number(20)), ("-1.5E-3", .number(-0.0015)),
        ("9223372036854775807", .int(Int.max)), ("9223372036854775808", .number(9_223_372_036_854_775_808)),
        ("true", .bool(true)), ("false", .bool(false)), ("null", .null),
    ])
    func scalars(text: String, value: JSONValue) throws {
        #expect(try StrictJSONParser.parse(Data(text.utf8)) == value)
    }

    @Test func invalidUTF8Rejected() {
        #expect(throws: StrictJSONParser.Failure.self) {
            try StrictJSONParser.parse(Data([UInt8(ascii: "\""), 0xff, UInt8(ascii: "\"")]))
        }
    }
}

@Suite("Customer buckets")
struct CustomerBucketTests {
    // Hard-coded values computed outside Swift with python3:
    //   def b(s):
    //       h = 0xcbf29ce484222325
    //       for x in s.encode("utf-8"): h ^= x; h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    //       return h, h % 100
    // ("" and "a" are also the published FNV-1a-64 test vectors.)
    @Test(arguments: [
        ("c-000001", 0xf9f6_6750_07e4_1752 as UInt64, 38), // CONTRACT §5 example
        ("c-000002", 0xf9f6_6650_07e4_159f, 27),
        ("", 0xcbf2_9ce4_8422_2325, 37),
        ("a", 0xaf63_dc4c_8601_ec8c, 96),
        ("customer-42", 0x1e1b_8c70_eb18_f59e, 86),
        ("ü-ß-日本", 0x8936_8810_0712_ff8a, 6),
        ("c-999999", 0xcc8c_8622_63c8_d053, 47),
    ])
    func knownValues(id: String, hash: UInt64, bucket: Int) {
        #expect(CustomerBucket.fnv1a64(id) == hash)
        #expect(CustomerBucket.bucket(id) == bucket)
    }

    @Test func matchesReferenceLoop() {
        var seen = Set<Int>()
        for n in 0..<5_000 {
            let id = "c-" + String(n) + (n % 7 == 0 ? "-ñ" : "")
            let b = CustomerBucket.bucket(id)
            #expect(b == Sets.referenceBucket(id), "\(id)")
            seen.insert(b)
        }
        #expect(seen.count == 100) // every bucket is reachable
    }
}

@Suite("Loaded model sets")
struct ModelSetLoadTests {
    @Test func loadResolvesRelativeAndAbsolutePaths() throws {
        let dir = try Sets.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Sets.copyLogreg(to: dir.appendingPathComponent("conf/models/champ.pmml"))
        try Sets.copyLogreg(to: dir.appendingPathComponent("other/chall.pmml"))
        let absolute = SharedModels.url("logreg.pmml").standardizedFileURL.path
        let setURL = dir.appendingPathComponent("conf/models.json")
        try Sets.write(Sets.models(
            #"{"name":"chall","path":"../other/chall.pmml","role":"challenger","percent":30}"#,
            #"{"name":"champ","path":"models/champ.pmml","role":"champion"}"#,
            "{\"name\":\"shadow\",\"path\":\"\(absolute)\",\"role\":\"shadow\"}"), to: setURL)

        let set = try ModelSet.load(file: setURL)
        let root = dir.standardizedFileURL.path
        #expect(set.members.map(\.name) == ["chall", "champ", "shadow"])
        #expect(set.members.map(\.path) == [root + "/other/chall.pmml", root + "/conf/models/champ.pmml", absolute])
        #expect(set.members.map(\.role) == [.challenger, .champion, .shadow])
        #expect(set.members.map(\.percent) == [30, nil, nil])
        #expect(set.championIndex == 1)
        #expect(set.champion.name == "champ")
        #expect(set.file == setURL.standardizedFileURL.path)
        #expect(set.members[1].model.name == "champ.pmml")
        #expect(set.member(named: "shadow")?.path == absolute)
        #expect(set.member(named: "nope") == nil)
        #expect((0..<30).allSatisfy { set.servedIndex(bucket: $0) == 0 })
        #expect((30..<100).allSatisfy { set.servedIndex(bucket: $0) == 1 })
    }

    @Test func missingModelNamesSetMemberAndPath() throws {
        let dir = try Sets.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A long folder name: paths in messages are never shortened.
        let setURL = dir.appendingPathComponent(String(repeating: "long-folder-", count: 8) + "/models.json")
        try Sets.copyLogreg(to: setURL.deletingLastPathComponent().appendingPathComponent("champ.pmml"))
        try Sets.write(Sets.models(#"{"name":"champ","path":"champ.pmml","role":"champion"}"#,
                                   #"{"name":"ghost","path":"missing/ghost.pmml","role":"shadow"}"#), to: setURL)
        do {
            _ = try ModelSet.load(file: setURL)
            Issue.record("loaded a set with a missing model")
        } catch let e as ModelSetError {
            #expect(e.code == .modelLoadFailed)
            #expect(e.entry == #"models[1] "ghost""#)
            #expect(e.description.contains("model set '\(setURL.path)'"), "\(e)")
            let folder = setURL.deletingLastPathComponent().standardizedFileURL.path
            #expect(e.description.contains("cannot load model '\(folder)/missing/ghost.pmml'"), "\(e)")
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func brokenModelFailsTheWholeSet() throws {
        let dir = try Sets.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Sets.copyLogreg(to: dir.appendingPathComponent("champ.pmml"))
        try Sets.write("<PMML><oops", to: dir.appendingPathComponent("bad.pmml"))
        let setURL = dir.appendingPathComponent("models.json")
        try Sets.write(Sets.models(#"{"name":"champ","path":"champ.pmml","role":"champion"}"#,
                                   #"{"name":"bad","path":"bad.pmml","role":"challenger","percent":5}"#), to: setURL)
        do {
            _ = try ModelSet.load(file: setURL)
            Issue.record("loaded a set with a broken model")
        } catch let e as ModelSetError {
            #expect(e.code == .modelLoadFailed)
            #expect(e.entry == #"models[1] "bad""#)
            #expect(e.description.contains("bad.pmml"))
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func invalidOrMissingSetFile() throws {
        let dir = try Sets.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let setURL = dir.appendingPathComponent("models.json")
        let missing = #expect(throws: ModelSetError.self) { try ModelSet.load(file: setURL) }
        #expect(missing?.code == .unreadable)
        #expect(missing?.description.contains(setURL.path) == true)
        try Sets.write(Sets.models(#"{"name":"a","path":"a.pmml","role":"shadow"}"#), to: setURL)
        let invalid = #expect(throws: ModelSetError.self) { try ModelSet.load(file: setURL) }
        #expect(invalid?.code == .noChampion)
        #expect(invalid?.description.hasPrefix("model set '\(setURL.path)': ") == true)
    }

    @Test func singleModelSet() throws {
        let url = SharedModels.url("logreg.pmml")
        let model = try CompiledModel.load(contentsOf: url)
        let set = ModelSet.single(model, path: url.path)
        #expect(set.members.count == 1)
        #expect(set.champion.name == "logreg.pmml")
        #expect(set.champion.role == .champion)
        #expect(set.champion.percent == nil)
        #expect(set.champion.path == url.standardizedFileURL.path)
        #expect(set.file == nil)
        #expect(set.member(named: "logreg.pmml") != nil)
        for id in ["c-000001", "c-000002", "x"] {
            let served = set.served(for: id)
            #expect(served.index == 0 && served.arm == .champion)
        }
    }

    /// Two challengers (20% then 10%) around a shadow and the champion: buckets 0–19 → first challenger,
    /// 20–29 → second, 30–99 → champion; checked against an independent computation over many ids.
    @Test func armTableTwoChallengers() throws {
        let dir = try Sets.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Sets.copyLogreg(to: dir.appendingPathComponent("m.pmml"))
        let setURL = dir.appendingPathComponent("models.json")
        try Sets.write(Sets.models(#"{"name":"shadow","path":"m.pmml","role":"shadow"}"#,
                                   #"{"name":"first","path":"m.pmml","role":"challenger","percent":20}"#,
                                   #"{"name":"champ","path":"m.pmml","role":"champion"}"#,
                                   #"{"name":"second","path":"m.pmml","role":"challenger","percent":10}"#),
                       to: setURL)
        let set = try ModelSet.load(file: setURL)
        // Expected member index per bucket, from the contract's ranges written out by hand.
        func expectedIndex(_ bucket: Int) -> Int {
            if bucket < 20 { return 1 }
            if bucket < 30 { return 3 }
            return 2
        }
        for b in 0..<100 {
            #expect(set.servedIndex(bucket: b) == expectedIndex(b), "bucket \(b)")
        }
        var counts = [Arm: Int]()
        for n in 0..<20_000 {
            let id = String(format: "c-%06d", n)
            let served = set.served(for: id)
            let want = expectedIndex(Sets.referenceBucket(id))
            #expect(served.index == want, "\(id)")
            #expect(served.arm == (want == 2 ? .champion : .challenger), "\(id)")
            counts[served.arm, default: 0] += 1
        }
        // Roughly 30% of customers on challengers.
        #expect((5_400...6_600).contains(counts[.challenger] ?? 0), "\(counts)")
        #expect(set.served(for: "c-000001") == (2, .champion)) // bucket 38
    }
}
