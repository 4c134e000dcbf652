/// A customer's static CRM attributes (`customer_id,tenure_days,plan,monthly_charges`).
public struct StaticAttributes: Sendable, Equatable, Hashable {
    /// Days since the customer signed up.
    public var tenureDays: Int
    /// `basic`, `standard` or `premium`.
    public var plan: String
    /// Monthly charges in the CRM's currency.
    public var monthlyCharges: Double

    /// Creates attributes.
    public init(tenureDays: Int, plan: String, monthlyCharges: Double) {
        self.tenureDays = tenureDays
        self.plan = plan
        self.monthlyCharges = monthlyCharges
    }

    /// The contract defaults for a customer missing from the CRM export: `0`, `basic`, `0`.
    public static let unknownCustomer = StaticAttributes(tenureDays: 0, plan: "basic", monthlyCharges: 0)
}

/// The model input features of one customer as of one event (CONTRACT.md §2).
public struct FeatureVector: Sendable, Equatable, Hashable {
    /// `tenure_days` (static).
    public var tenureDays: Int
    /// `plan` (static).
    public var plan: String
    /// `monthly_charges` (static).
    public var monthlyCharges: Double
    /// `page_views_30d`: page views in the trailing 30 UTC days.
    public var pageViews30d: Int
    /// `pricing_views_30d`: page views whose page starts with `/pricing`.
    public var pricingViews30d: Int
    /// `cancel_views_30d`: page views whose page starts with `/account/cancel`.
    public var cancelViews30d: Int
    /// `support_calls_30d`: support calls in the trailing 30 UTC days.
    public var supportCalls30d: Int
    /// `complaints_30d`: complaints in the trailing 30 UTC days.
    public var complaints30d: Int
    /// `days_since_last_visit`: `min(30, days since the previous page view)`, `30` if none.
    public var daysSinceLastVisit: Double

    /// Creates a vector.
    public init(tenureDays: Int, plan: String, monthlyCharges: Double, pageViews30d: Int,
                pricingViews30d: Int, cancelViews30d: Int, supportCalls30d: Int, complaints30d: Int,
                daysSinceLastVisit: Double) {
        self.tenureDays = tenureDays
        self.plan = plan
        self.monthlyCharges = monthlyCharges
        self.pageViews30d = pageViews30d
        self.pricingViews30d = pricingViews30d
        self.cancelViews30d = cancelViews30d
        self.supportCalls30d = supportCalls30d
        self.complaints30d = complaints30d
        self.daysSinceLastVisit = daysSinceLastVisit
    }

    /// The model's field names, in contract order.
    public static let fieldNames: [String] = [
        "tenure_days", "plan", "monthly_charges", "page_views_30d", "pricing_views_30d",
        "cancel_views_30d", "support_calls_30d", "complaints_30d", "days_since_last_visit",
    ]

    /// The value of each field of ``fieldNames`` in the same order: `plan` as `.text`, the rest as
    /// `.number`.
    public var values: [FeatureValue] { Self.fieldNames.indices.map(value(at:)) }

    /// The value of field `index` of ``fieldNames`` (as in ``values``, without building the array).
    @inline(__always)
    public func value(at index: Int) -> FeatureValue {
        switch index {
        case 0: return .number(Double(tenureDays))
        case 1: return .text(plan)
        case 2: return .number(monthlyCharges)
        case 3: return .number(Double(pageViews30d))
        case 4: return .number(Double(pricingViews30d))
        case 5: return .number(Double(cancelViews30d))
        case 6: return .number(Double(supportCalls30d))
        case 7: return .number(Double(complaints30d))
        default:
            precondition(index == 8, "feature index \(index) out of range")
            return .number(daysSinceLastVisit)
        }
    }
}

/// One feature value as the model sees it.
public enum FeatureValue: Sendable, Equatable, Hashable {
    /// A numeric feature.
    case number(Double)
    /// A categorical feature (`plan`).
    case text(String)
}
