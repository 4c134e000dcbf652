/// The tables of CONTRACT.md §2 as named, forward-only migrations, shared by both backends.
/// Never edit an applied migration; add a new one (with both dialects, under the same name).
enum SchemaMigrations {
    struct Migration {
        let name: String
        let sqlite: [String]
        /// The same tables in PostgreSQL's dialect: `BYTEA` for blobs, `BIGINT` for counts and offsets, and
        /// `COLLATE "C"` on text keys so that text order (minutes, ties by page or id) is byte order, as in SQLite.
        let postgres: [String]
    }

    static let all: [Migration] = [
        Migration(name: "001_create_tables", sqlite: [
            """
            CREATE TABLE profiles (
                customer_id TEXT PRIMARY KEY NOT NULL,
                tenure_days INTEGER NOT NULL DEFAULT 0,
                plan TEXT NOT NULL DEFAULT 'basic',
                monthly_charges DOUBLE PRECISION NOT NULL DEFAULT 0,
                churn_score DOUBLE PRECISION,
                model_version TEXT,
                scored_at TEXT,
                updated_at TEXT,
                page_views_30d INTEGER NOT NULL DEFAULT 0,
                pricing_views_30d INTEGER NOT NULL DEFAULT 0,
                cancel_views_30d INTEGER NOT NULL DEFAULT 0,
                support_calls_30d INTEGER NOT NULL DEFAULT 0,
                complaints_30d INTEGER NOT NULL DEFAULT 0,
                days_since_last_visit DOUBLE PRECISION NOT NULL DEFAULT 30,
                rolling_state BLOB
            )
            """,
            "CREATE TABLE page_counts (page TEXT PRIMARY KEY NOT NULL, count INTEGER NOT NULL)",
            "CREATE TABLE type_counts (type TEXT PRIMARY KEY NOT NULL, count INTEGER NOT NULL)",
            "CREATE TABLE minute_counts (minute TEXT PRIMARY KEY NOT NULL, count INTEGER NOT NULL)",
            """
            CREATE TABLE subscriber_offsets (
                subscriber TEXT NOT NULL,
                topic TEXT NOT NULL,
                partition INTEGER NOT NULL,
                next_offset INTEGER NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (subscriber, topic, partition)
            )
            """,
        ], postgres: [
            """
            CREATE TABLE profiles (
                customer_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
                tenure_days BIGINT NOT NULL DEFAULT 0,
                plan TEXT NOT NULL DEFAULT 'basic',
                monthly_charges DOUBLE PRECISION NOT NULL DEFAULT 0,
                churn_score DOUBLE PRECISION,
                model_version TEXT,
                scored_at TEXT,
                updated_at TEXT,
                page_views_30d BIGINT NOT NULL DEFAULT 0,
                pricing_views_30d BIGINT NOT NULL DEFAULT 0,
                cancel_views_30d BIGINT NOT NULL DEFAULT 0,
                support_calls_30d BIGINT NOT NULL DEFAULT 0,
                complaints_30d BIGINT NOT NULL DEFAULT 0,
                days_since_last_visit DOUBLE PRECISION NOT NULL DEFAULT 30,
                rolling_state BYTEA
            )
            """,
            "CREATE INDEX profiles_churn_score ON profiles (churn_score DESC, customer_id)",
            "CREATE TABLE page_counts (page TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, count BIGINT NOT NULL)",
            "CREATE TABLE type_counts (type TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, count BIGINT NOT NULL)",
            "CREATE TABLE minute_counts (minute TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, count BIGINT NOT NULL)",
            """
            CREATE TABLE subscriber_offsets (
                subscriber TEXT NOT NULL,
                topic TEXT NOT NULL,
                partition INTEGER NOT NULL,
                next_offset BIGINT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (subscriber, topic, partition)
            )
            """,
        ]),
        // Publish after commit (docs/reliability.md): a batch's churn-scores are recorded here in the
        // batch's transaction and deleted once delivered.
        Migration(name: "002_score_outbox", sqlite: [
            "CREATE TABLE score_outbox (id TEXT PRIMARY KEY NOT NULL, subscriber TEXT NOT NULL, customer_ids BLOB NOT NULL, created_at TEXT NOT NULL)",
        ], postgres: [
            "CREATE TABLE score_outbox (id TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, subscriber TEXT NOT NULL, customer_ids BYTEA NOT NULL, created_at TEXT NOT NULL)",
        ]),
        // Model sets (CONTRACT §5) and as-of scores (§6): which model and arm served the score, and the
        // time its features are as of.
        Migration(name: "003_model_sets", sqlite: [
            "ALTER TABLE profiles ADD COLUMN model_name TEXT",
            "ALTER TABLE profiles ADD COLUMN arm TEXT",
            "ALTER TABLE profiles ADD COLUMN features_as_of TEXT",
            "ALTER TABLE profiles ADD COLUMN reasons TEXT",
        ], postgres: [
            "ALTER TABLE profiles ADD COLUMN model_name TEXT",
            "ALTER TABLE profiles ADD COLUMN arm TEXT",
            "ALTER TABLE profiles ADD COLUMN features_as_of TEXT",
            "ALTER TABLE profiles ADD COLUMN reasons TEXT",
        ]),
        // Settings other commands read (the model in service), and in PostgreSQL a trigger that tells the
        // engines when the CRM changes a customer's static attributes (CONTRACT §6: the score follows).
        Migration(name: "004_settings_and_attribute_trigger", sqlite: [
            "CREATE TABLE engine_settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL)",
        ], postgres: [
            "CREATE TABLE engine_settings (key TEXT COLLATE \"C\" PRIMARY KEY NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL)",
            """
            CREATE OR REPLACE FUNCTION streamscore_attributes_changed() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('streamscore_attributes', NEW.customer_id);
                RETURN NEW;
            END
            $$ LANGUAGE plpgsql
            """,
            """
            CREATE TRIGGER profiles_attributes_changed AFTER UPDATE OF tenure_days, plan, monthly_charges ON profiles
            FOR EACH ROW WHEN (OLD.tenure_days IS DISTINCT FROM NEW.tenure_days OR OLD.plan IS DISTINCT FROM NEW.plan
                               OR OLD.monthly_charges IS DISTINCT FROM NEW.monthly_charges)
            EXECUTE FUNCTION streamscore_attributes_changed()
            """,
        ]),
        // Every stored score changes `churn_score`, so its index made every profile update an index
        // delete and insert and ruled out heap-only updates: the prediction bench into PostgreSQL went from
        // 55 k to 76 k events/s without it (store transaction 454 → 335 ms per group). The at-risk list and
        // the histogram read the table instead (a top-N scan: ~100,000 rows per dashboard refresh).
        Migration(name: "005_drop_churn_score_index", sqlite: [], postgres: [
            "DROP INDEX IF EXISTS profiles_churn_score",
        ]),
    ]

    static let profileColumns = """
        customer_id, tenure_days, plan, monthly_charges, churn_score, model_version, scored_at, updated_at, \
        page_views_30d, pricing_views_30d, cancel_views_30d, support_calls_30d, complaints_30d, days_since_last_visit, \
        model_name, arm, features_as_of, reasons
        """

    /// The update rule of a profile upsert, on both stores: static attributes only on insert; scores kept
    /// when the update has none; everything else replaced.
    static let profileUpsertOnConflict = """
        ON CONFLICT (customer_id) DO UPDATE SET
        churn_score = COALESCE(excluded.churn_score, profiles.churn_score),
        model_version = COALESCE(excluded.model_version, profiles.model_version),
        scored_at = COALESCE(excluded.scored_at, profiles.scored_at),
        model_name = CASE WHEN excluded.churn_score IS NULL THEN profiles.model_name ELSE excluded.model_name END,
        arm = CASE WHEN excluded.churn_score IS NULL THEN profiles.arm ELSE excluded.arm END,
        reasons = CASE WHEN excluded.churn_score IS NULL THEN profiles.reasons ELSE excluded.reasons END,
        features_as_of = excluded.features_as_of,
        updated_at = excluded.updated_at, page_views_30d = excluded.page_views_30d,
        pricing_views_30d = excluded.pricing_views_30d, cancel_views_30d = excluded.cancel_views_30d,
        support_calls_30d = excluded.support_calls_30d, complaints_30d = excluded.complaints_30d,
        days_since_last_visit = excluded.days_since_last_visit, rolling_state = excluded.rolling_state
        """

    /// Insert or update one profile from the pipeline (static attributes included: they came from the
    /// row the pipeline loaded, or the unknown-customer defaults).
    static let profileUpsertSQLite = """
        INSERT INTO profiles (customer_id, tenure_days, plan, monthly_charges, churn_score, model_version, scored_at, \
        updated_at, page_views_30d, pricing_views_30d, cancel_views_30d, support_calls_30d, complaints_30d, \
        days_since_last_visit, rolling_state, model_name, arm, features_as_of, reasons) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

        """ + profileUpsertOnConflict

    /// Import of CRM rows: static attributes only; counters, state and scores are kept. A row whose
    /// attributes are unchanged is not written.
    static let importUpsertSQLite = """
        INSERT INTO profiles (customer_id, tenure_days, plan, monthly_charges, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (customer_id) DO UPDATE SET tenure_days = excluded.tenure_days, plan = excluded.plan,
        monthly_charges = excluded.monthly_charges, updated_at = excluded.updated_at
        WHERE profiles.tenure_days IS NOT excluded.tenure_days OR profiles.plan IS NOT excluded.plan
           OR profiles.monthly_charges IS NOT excluded.monthly_charges
        RETURNING customer_id, churn_score IS NOT NULL
        """
}
