import Events

/// One customer's profile: static CRM attributes plus the rolling state behind the features.
///
/// A pure value type without I/O; the pipeline owns persistence (``RollingState/encoded()``).
public struct Profile: Sendable, Equatable, Hashable {
    /// The customer.
    public let customerID: String
    /// Static attributes (``StaticAttributes/unknownCustomer`` if not in the CRM export).
    public var attributes: StaticAttributes
    /// The rolling counters.
    public var state: RollingState

    /// Creates a profile, by default with no events yet.
    public init(customerID: String, attributes: StaticAttributes = .unknownCustomer, state: RollingState = RollingState()) {
        self.customerID = customerID
        self.attributes = attributes
        self.state = state
    }

    /// Adds an event of this customer. Returns `false` and changes nothing for a type that is not
    /// relevant for prediction (only `page_view`, `support_call` and `complaint` are).
    ///
    /// - Important: The caller routes events by customer; `event.customerID` is not re-checked.
    @discardableResult
    public mutating func apply(_ event: Event) -> Bool {
        state.apply(kind: event.kind, page: event.page, timestamp: event.timestamp)
    }

    /// Time (epoch ms) of the newest relevant event: the as-of time of ``features()`` and the
    /// `scored_at` of its score; `nil` before the first relevant event.
    public var asOf: Int64? { state.newest }

    /// The model features as of a time `t` at or after the newest relevant event (CONTRACT §6): windows
    /// for date(t), days since the newest page view measured to `t`.
    public func features(asOf t: Int64) -> FeatureVector {
        let counters = state.counters(asOf: t)
        return FeatureVector(
            tenureDays: attributes.tenureDays, plan: attributes.plan, monthlyCharges: attributes.monthlyCharges,
            pageViews30d: counters.pageViews, pricingViews30d: counters.pricingViews,
            cancelViews30d: counters.cancelViews, supportCalls30d: counters.supportCalls,
            complaints30d: counters.complaints, daysSinceLastVisit: state.daysSinceLastVisit(asOf: t))
    }

    /// The model features as of the newest relevant event.
    public func features() -> FeatureVector {
        let counters = state.counters
        return FeatureVector(
            tenureDays: attributes.tenureDays, plan: attributes.plan, monthlyCharges: attributes.monthlyCharges,
            pageViews30d: counters.pageViews, pricingViews30d: counters.pricingViews,
            cancelViews30d: counters.cancelViews, supportCalls30d: counters.supportCalls,
            complaints30d: counters.complaints, daysSinceLastVisit: state.daysSinceLastVisit)
    }
}
