import Foundation

/// The live dashboard served at `GET /`: one self-contained page (inline style and script, no external
/// assets), kept in `Resources/dashboard.html` and declared as a resource of this target.
///
/// - Important: the page is read once, on first use (`HTTPAPI.router` touches it while the server is
///   being built, so a missing page stops start-up instead of failing the first visit). The resource bundle
///   `StreamScore_HTTPAPI.resources` must sit next to the executable (or stay in the build folder).
enum DashboardPage {
    /// The file name in the resource bundle.
    static let resourceName = "dashboard.html"

    /// The page's text.
    static let html: String = {
        switch load() {
        case .success(let text): return text
        case .failure(let problem): fatalError(problem.description)
        }
    }()

    /// Why the page could not be read.
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads the page from the module's resource bundle.
    static func load(bundle: Bundle = .module) -> Result<String, Missing> {
        let fix = "rebuild with `swift build` and deploy StreamScore_HTTPAPI.resources next to the streamscore executable"
        guard let url = bundle.url(forResource: "dashboard", withExtension: "html") else {
            return .failure(Missing(description: "\(resourceName) is missing from the resource bundle \(bundle.bundlePath); \(fix)"))
        }
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            return .failure(Missing(description: "\(url.path) is unreadable, empty or not UTF-8; \(fix)"))
        }
        return .success(text)
    }
}
