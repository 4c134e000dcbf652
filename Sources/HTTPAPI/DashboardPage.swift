enum DashboardPage {
    static let html = "<!doctype html><title>StreamScore</title><p>dashboard loading</p>"
}
