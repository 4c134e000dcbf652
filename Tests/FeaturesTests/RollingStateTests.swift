import Events
@testable import Features
import Testing

/// Epoch ms of a UTC date-time.
func ms(_ text: String) -> Int64 {
    guard let value = Timestamp.parse(text) else { fatalError("bad test timestamp \(text)") }
    return value
}

func pageView(_ ts: String, _ page: String = "/") -> Event {
    Event(eventID: "e", type: "page_view", customerID: "C", timestamp: ms(ts), page: page)
}

func event(_ type: String, _ ts: String) -> Event {
    Event(eventID: "e", type: type, customerID: "C", timestamp: ms(ts), page: nil)
}

@Suite("Profile and rolling state")
struct RollingStateTests {
    @Test("an empty profile has zero counts, 30 days since the last visit and no as-of time")
    func empty() {
        let profile = Profile(customerID: "C")
        #expect(profile.asOf == nil)
        #expect(profile.features() == FeatureVector(tenureDays: 0, plan: "basic", monthlyCharges: 0, pageViews30d: 0,
                                                    pricingViews30d: 0, cancelViews30d: 0, supportCalls30d: 0,
                                                    complaints30d: 0, daysSinceLastVisit: 30))
        #expect(FeatureVector.fieldNames == ["tenure_days", "plan", "monthly_charges", "page_views_30d", "pricing_views_30d",
                                             "cancel_views_30d", "support_calls_30d", "complaints_30d", "days_since_last_visit"])
        #expect(profile.features().values.count == FeatureVector.fieldNames.count)
        #expect(StaticAttributes.unknownCustomer == StaticAttributes(tenureDays: 0, plan: "basic", monthlyCharges: 0))
    }

    @Test("irrelevant types return false and change nothing")
    func irrelevant() {
        var profile = Profile(customerID: "C")
        profile.apply(pageView("2026-02-01T10:00:00Z"))
        let before = profile
        for type in ["login", "order", "search", "logout", "Page_View"] {
            let changed = profile.apply(event(type, "2026-02-20T10:00:00Z"))
            #expect(!changed)
        }
        #expect(profile == before)
        #expect(profile.asOf == ms("2026-02-01T10:00:00Z"))
    }

    @Test("window: UTC dates [date − 29, date]; last ms of date − 30 out, first ms of date − 29 in")
    func windowBoundaries() {
        var profile = Profile(customerID: "C")
        profile.apply(pageView("2026-01-01T23:59:59.999Z")) // date − 30 of 2026-01-31
        profile.apply(pageView("2026-01-02T00:00:00.000Z")) // date − 29
        profile.apply(event("support_call", "2026-01-15T12:00:00Z"))
        profile.apply(event("complaint", "2026-01-31T00:00:00.000Z"))
        #expect(profile.features().pageViews30d == 1)
        #expect(profile.features().supportCalls30d == 1 && profile.features().complaints30d == 1)
        profile.apply(event("support_call", "2026-02-01T00:00:00Z")) // 2026-01-02 leaves the window
        #expect(profile.features().pageViews30d == 0)
        #expect(profile.features().supportCalls30d == 2)
        profile.apply(event("complaint", "2026-03-30T00:00:00Z")) // everything leaves
        #expect(profile.features() .pageViews30d == 0 && profile.features().supportCalls30d == 0 && profile.features().complaints30d == 1)
    }

    @Test("page prefix rules are literal and case-sensitive")
    func prefixes() {
        var profile = Profile(customerID: "C")
        for page in ["/pricing", "/pricing/enterprise", "/pricing?plan=premium", "/Pricing", "/account/cancel",
                     "/account/cancellation-policy", "/account/cancel/confirm", "/account", "/help/cancel-subscription", "pricing"] {
            profile.apply(pageView("2026-02-01T10:00:00Z", page))
        }
        let features = profile.features()
        #expect(features.pageViews30d == 10 && features.pricingViews30d == 3 && features.cancelViews30d == 3)
    }

    @Test("days since last visit: previous page view strictly before the newest event, capped at 30")
    func daysSinceLastVisit() {
        var profile = Profile(customerID: "C")
        profile.apply(pageView("2026-02-01T00:00:00Z"))
        #expect(profile.features().daysSinceLastVisit == 30) // no earlier page view
        profile.apply(pageView("2026-02-01T00:00:00Z"))      // tie: not strictly before
        #expect(profile.features().daysSinceLastVisit == 30)
        profile.apply(event("support_call", "2026-02-01T12:00:00Z"))
        #expect(profile.features().daysSinceLastVisit == 0.5)
        profile.apply(pageView("2026-02-02T00:00:00Z"))
        #expect(profile.features().daysSinceLastVisit == 1)
        profile.apply(event("complaint", "2026-02-02T00:00:00Z")) // same time as the newest page view
        #expect(profile.features().daysSinceLastVisit == 1)
        profile.apply(event("complaint", "2026-04-01T00:00:00Z"))
        #expect(profile.features().daysSinceLastVisit == 30)
    }

    @Test("late events count in the window they fall in and can become the previous page view")
    func lateEvents() {
        var profile = Profile(customerID: "C")
        profile.apply(pageView("2026-02-01T00:00:00Z"))
        profile.apply(event("support_call", "2026-02-10T00:00:00Z"))
        #expect(profile.features().daysSinceLastVisit == 9)
        profile.apply(pageView("2026-02-08T00:00:00Z", "/pricing")) // late
        #expect(profile.asOf == ms("2026-02-10T00:00:00Z"))           // as-of does not move back
        #expect(profile.features().daysSinceLastVisit == 2)
        #expect(profile.features().pageViews30d == 2 && profile.features().pricingViews30d == 1)
        profile.apply(pageView("2026-02-05T00:00:00Z"))               // late but older than the previous one
        #expect(profile.features().daysSinceLastVisit == 2 && profile.features().pageViews30d == 3)
        profile.apply(event("complaint", "2026-01-05T00:00:00Z"))     // late, outside the window
        #expect(profile.features().complaints30d == 0)
        // A late page view outside the counting window can still be the previous page view (< 30 days).
        var other = Profile(customerID: "D")
        other.apply(event("support_call", "2026-03-02T00:00:00Z"))
        other.apply(pageView("2026-01-31T23:00:00Z"))                 // date − 30: not counted
        #expect(other.features().pageViews30d == 0)
        #expect(abs(other.features().daysSinceLastVisit - (29 + 1.0 / 24)) < 1e-12)
        // And then moves forward correctly.
        other.apply(pageView("2026-03-03T00:00:00Z"))
        #expect(abs(other.features().daysSinceLastVisit - 30) < 1e-12)
        other.apply(event("support_call", "2026-03-03T06:00:00Z"))
        #expect(other.features().daysSinceLastVisit == 0.25 && other.features().pageViews30d == 1)
    }

    @Test("memory is bounded: at most 30 day buckets whatever the history")
    func bounded() throws {
        var state = RollingState()
        var ts = ms("2025-01-01T00:00:00Z")
        var all: [Int64] = [] // brute-force reference
        for _ in 0..<2_000 {
            state.apply(kind: .pageView, page: "/", timestamp: ts)
            state.apply(kind: .supportCall, page: nil, timestamp: ts - 40 * Timestamp.millisPerDay) // very late
            all.append(ts)
            ts += 7 * 3_600_000
        }
        let newestDay = Timestamp.utcDay(all[all.count - 1])
        #expect(state.counters.pageViews == all.filter { Timestamp.utcDay($0) >= newestDay - 29 }.count)
        #expect(state.counters.supportCalls == 0)
        #expect(state.encoded().count < 200)
        #expect(try RollingState(decoding: state.encoded()) == state)
    }

    @Test("binary encoding: round trip, version byte, and corrupt blobs rejected")
    func encoding() throws {
        #expect(try RollingState(decoding: RollingState().encoded()) == RollingState())
        var state = RollingState()
        state.apply(kind: .pageView, page: "/pricing", timestamp: ms("2026-02-01T10:00:00Z"))
        state.apply(kind: .complaint, page: nil, timestamp: ms("2026-02-03T10:00:00Z"))
        state.apply(kind: .pageView, page: "/account/cancel", timestamp: ms("2026-01-20T10:00:00Z"))
        state.apply(kind: .pageView, page: "/x", timestamp: ms("1969-12-01T10:00:00Z"))
        let blob = state.encoded()
        #expect(blob.first == RollingState.formatVersion)
        let restored = try RollingState(decoding: blob)
        #expect(restored == state && restored.counters == state.counters && restored.daysSinceLastVisit == state.daysSinceLastVisit)
        #expect(try RollingState(decoding: blob[...]) == state)
        #expect(throws: RollingStateDecodingError.truncated) { try RollingState(decoding: [UInt8]()) }
        #expect(throws: RollingStateDecodingError.unsupportedVersion) { try RollingState(decoding: [99] + blob.dropFirst()) }
        #expect(throws: RollingStateDecodingError.trailingBytes) { try RollingState(decoding: blob + [0]) }
        for cut in 1..<blob.count {
            #expect(throws: RollingStateDecodingError.self) { try RollingState(decoding: blob.prefix(cut)) }
        }
        // Random corruption never crashes: either an error or some consistent state, whose features can be
        // computed and which takes further events.
        var generator = SystemRandomNumberGenerator()
        let now = ms("2026-11-30T12:00:00Z")
        for _ in 0..<2_000 {
            var corrupt = blob
            corrupt[Int.random(in: 1..<corrupt.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            if var decoded = try? RollingState(decoding: corrupt) { exercise(&decoded, now: now) }
        }
    }

    /// Everything the engine does with a loaded state: features as of its newest event and as of now, and a
    /// new event.
    func exercise(_ state: inout RollingState, now: Int64) {
        _ = state.counters
        _ = state.daysSinceLastVisit
        _ = state.counters(asOf: now)
        _ = state.daysSinceLastVisit(asOf: now)
        state.apply(kind: .pageView, page: "/", timestamp: now)
        _ = state.daysSinceLastVisit
    }

    @Test("a stored state with times no event can have is rejected (its features would overflow and trap)")
    func implausibleTimes() throws {
        let now = ms("2026-11-30T12:00:00Z")
        // newest = Int64.min (zig-zag of all ones), the latest page view the same, no buckets.
        let minimum: [UInt8] = [1, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0]
        #expect(throws: RollingStateDecodingError.invalidValue) { try RollingState(decoding: minimum) }
        // Each time at and just beyond the ends of what the event decoder accepts, newest or page views.
        func blob(newest: Int64, latestDelta: UInt64? = nil, previousDelta: UInt64? = nil) -> [UInt8] {
            var out: [UInt8] = [1, 1 | (latestDelta == nil ? 0 : 2) | (previousDelta == nil ? 0 : 4)]
            Varint.put(Varint.zigzag(newest), into: &out)
            if let latestDelta { Varint.put(latestDelta, into: &out) }
            if let previousDelta { Varint.put(previousDelta, into: &out) }
            out.append(0)
            return out
        }
        let range = Timestamp.parseableRange
        for newest in [range.lowerBound, range.upperBound, 0, now] {
            var state = try RollingState(decoding: blob(newest: newest, latestDelta: 0))
            exercise(&state, now: now)
        }
        #expect(throws: RollingStateDecodingError.invalidValue) { try RollingState(decoding: blob(newest: range.upperBound + 1)) }
        #expect(throws: RollingStateDecodingError.invalidValue) { try RollingState(decoding: blob(newest: range.lowerBound - 1)) }
        #expect(throws: RollingStateDecodingError.invalidValue) { try RollingState(decoding: blob(newest: Int64.max, latestDelta: 0)) }
        let span = UInt64(range.upperBound - range.lowerBound)
        var widest = try RollingState(decoding: blob(newest: range.upperBound, latestDelta: span, previousDelta: span))
        exercise(&widest, now: now)
        #expect(throws: RollingStateDecodingError.invalidValue) {
            try RollingState(decoding: blob(newest: range.upperBound, latestDelta: span + 1, previousDelta: span + 1))
        }
        #expect(throws: RollingStateDecodingError.invalidValue) { try RollingState(decoding: blob(newest: 0, latestDelta: UInt64(Int64.max))) }
    }
}
