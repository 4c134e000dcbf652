@testable import Pipeline
import Scoring
import Testing
import TestSupport

@Suite("Model figures (no tasks)")
struct ModelStatsTests {
    @Test("a regression member's values outside [0, 1], however large, go to the histogram's end bins (no trap)")
    func valuesOutsideTheUnitInterval() throws {
        let model = try CompiledModel.load(contentsOf: Shared.model("logreg.pmml"))
        let set = ModelSet.single(model, path: Shared.model("logreg.pmml").path)
        let stats = ModelStats()
        stats.record(set, probabilities: [[0.05, 1e300, -1e300, .infinity, -.infinity, .nan, 0.95, 0.5]], served: [0, 0, 0, 0, 0, 0, 0, 0])
        let figures = stats.figures(set.champion.name)
        #expect(figures.scored == 7 && figures.served == 8)
        #expect(figures.histogram == [3, 0, 0, 0, 0, 1, 0, 0, 0, 3])
    }
}
