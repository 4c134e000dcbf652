import Events

/// The counters of one UTC day.
struct DayBucket: Sendable, Equatable, Hashable {
    /// Days since 1970-01-01 (UTC).
    var day: Int64
    /// Page views that day.
    var pageViews: UInt32 = 0
    /// Page views of `/pricing…` that day.
    var pricingViews: UInt32 = 0
    /// Page views of `/account/cancel…` that day.
    var cancelViews: UInt32 = 0
    /// Support calls that day.
    var supportCalls: UInt32 = 0
    /// Complaints that day.
    var complaints: UInt32 = 0
}

/// The per-customer rolling counter state behind the features (bounded memory).
///
/// Holds at most ``windowDays`` UTC-day buckets (those in `[date(newest) − 29, date(newest)]`,
/// sorted by day), the newest relevant event time, the latest page view time and the latest page
/// view time strictly before the newest event. Late events (older than the newest) are added to
/// their day's bucket if that day is still in the window and may become the previous page view.
/// Serialise with ``encoded()`` / ``init(decoding:)`` to continue exactly after a restart.
public struct RollingState: Sendable, Equatable, Hashable {
    /// Days in the trailing window (the newest event's UTC date and the 29 before it).
    public static let windowDays = 30
    /// Cap of `days_since_last_visit`, and its value when there is no previous page view.
    public static let maxDaysSinceLastVisit = 30.0

    /// Sorted ascending by day, unique days, all within the window of `newest`.
    var buckets: [DayBucket] = []
    /// Time (epoch ms) of the newest relevant event; `nil` before the first.
    public internal(set) var newest: Int64?
    /// Time of the latest page view (any, ≤ `newest`).
    var latestPageView: Int64?
    /// Time of the latest page view strictly before `newest`.
    var previousPageView: Int64?

    /// An empty state (no events yet).
    public init() {}

    /// Adds one relevant event. Irrelevant kinds are ignored and return `false`.
    /// - Parameters:
    ///   - kind: the event kind; only `pageView`, `supportCall` and `complaint` count.
    ///   - page: the page of a page view (prefix rules `/pricing`, `/account/cancel`).
    ///   - timestamp: event time, epoch milliseconds.
    @discardableResult
    public mutating func apply(kind: EventKind, page: String?, timestamp: Int64) -> Bool {
        guard kind.isRelevantForPrediction else { return false }
        let isPageView = kind == .pageView
        if let current = newest, timestamp <= current {
            // Same time or late: the window does not move.
            if isPageView {
                if timestamp < current, previousPageView.map({ timestamp > $0 }) ?? true {
                    previousPageView = timestamp
                }
                if latestPageView.map({ timestamp > $0 }) ?? true { latestPageView = timestamp }
            }
        } else {
            // A new newest event: every earlier page view is strictly before it.
            previousPageView = latestPageView
            if isPageView { latestPageView = timestamp }
            newest = timestamp
            prune()
        }
        count(kind: kind, page: page, day: Timestamp.utcDay(timestamp))
        return true
    }

    /// Adds a relevant event (see ``apply(kind:page:timestamp:)``).
    @discardableResult
    public mutating func apply(_ event: Event) -> Bool {
        apply(kind: event.kind, page: event.page, timestamp: event.timestamp)
    }

    /// The first day inside the window of `newest`.
    private var windowStart: Int64? {
        newest.map { Timestamp.utcDay($0) - Int64(Self.windowDays - 1) }
    }

    private mutating func prune() {
        guard let start = windowStart, let first = buckets.first, first.day < start else { return }
        let keep = buckets.firstIndex { $0.day >= start } ?? buckets.count
        buckets.removeFirst(keep)
    }

    private mutating func count(kind: EventKind, page: String?, day: Int64) {
        guard let start = windowStart, day >= start else { return } // outside every future window
        let index: Int
        if let last = buckets.last, last.day == day {
            index = buckets.count - 1
        } else if let position = buckets.lastIndex(where: { $0.day <= day }) {
            if buckets[position].day == day {
                index = position
            } else {
                buckets.insert(DayBucket(day: day), at: position + 1)
                index = position + 1
            }
        } else {
            buckets.insert(DayBucket(day: day), at: 0)
            index = 0
        }
        @inline(__always) func bump(_ value: inout UInt32) { if value < UInt32.max { value += 1 } }
        switch kind {
        case .pageView:
            bump(&buckets[index].pageViews)
            if let page {
                if page.utf8.starts(with: "/pricing".utf8) { bump(&buckets[index].pricingViews) }
                if page.utf8.starts(with: "/account/cancel".utf8) { bump(&buckets[index].cancelViews) }
            }
        case .supportCall: bump(&buckets[index].supportCalls)
        case .complaint: bump(&buckets[index].complaints)
        case .login, .order, .other: break
        }
    }

    /// The rolling counters as of the newest event.
    public var counters: Counters {
        // Every bucket lies on or before date(newest), so this is the window of date(newest).
        guard let newest else { return Counters() }
        return counters(asOf: newest)
    }

    /// The rolling counters as of a time `t` at or after the newest event (CONTRACT §6): the buckets
    /// whose UTC day lies in `[date(t) − 29, date(t)]`.
    public func counters(asOf t: Int64) -> Counters {
        var result = Counters()
        let start = Timestamp.utcDay(t) - Int64(Self.windowDays - 1)
        let end = Timestamp.utcDay(t)
        for bucket in buckets where bucket.day >= start && bucket.day <= end {
            result.pageViews += Int(bucket.pageViews)
            result.pricingViews += Int(bucket.pricingViews)
            result.cancelViews += Int(bucket.cancelViews)
            result.supportCalls += Int(bucket.supportCalls)
            result.complaints += Int(bucket.complaints)
        }
        return result
    }

    /// `days_since_last_visit` as of a time `t` (CONTRACT §6): `min(30, (t − newest page view) / 1 day)`,
    /// `30` when there was no page view.
    public func daysSinceLastVisit(asOf t: Int64) -> Double {
        guard let latestPageView else { return Self.maxDaysSinceLastVisit }
        return min(Self.maxDaysSinceLastVisit, Double(t - latestPageView) / Double(Timestamp.millisPerDay))
    }

    /// `days_since_last_visit` as of the newest event: `min(30, (newest − previous page view) / 1 day)`,
    /// `30` when there is no page view strictly before the newest event.
    public var daysSinceLastVisit: Double {
        guard let newest, let previousPageView else { return Self.maxDaysSinceLastVisit }
        return min(Self.maxDaysSinceLastVisit, Double(newest - previousPageView) / Double(Timestamp.millisPerDay))
    }

    /// Sums over the trailing 30 UTC days.
    public struct Counters: Sendable, Equatable, Hashable {
        /// `page_views_30d`
        public var pageViews = 0
        /// `pricing_views_30d`
        public var pricingViews = 0
        /// `cancel_views_30d`
        public var cancelViews = 0
        /// `support_calls_30d`
        public var supportCalls = 0
        /// `complaints_30d`
        public var complaints = 0
    }
}
