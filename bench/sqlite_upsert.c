/*
 * sqlite_upsert.c — steady-state profile upserts into SQLite, without the engine (docs/benchmarks.md).
 *
 * Builds a table shaped like `profiles` with 100,000 rows, then upserts skewed existing rows (customer
 * index = 100,000 × u², like the synthetic stream) in transactions of BATCH rows, WAL mode,
 * synchronous=NORMAL, 128 MiB page cache, as the engine configures SQLite, except checkpoints: here
 * SQLite's automatic one every 16,384 pages (the engine copies the log back from a thread of its own).
 *
 *   cc -O2 -o bench/sqlite_upsert bench/sqlite_upsert.c -lsqlite3
 *   bench/sqlite_upsert [BATCH=3000] [WITHOUT_ROWID=0] [PAGE_SIZE=4096] [SORTED=0]
 *
 * SORTED=1 upserts each transaction's rows in key order, as the engine's SQLite store does.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int by_key(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void bind_row(sqlite3_stmt *st, int i) {
    char id[16];
    static const unsigned char blob[42] = {7};
    snprintf(id, sizeof id, "C%06d", i);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, 100);
    sqlite3_bind_text(st, 3, "basic", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, 20.5);
    sqlite3_bind_double(st, 5, rand() / (double)RAND_MAX);
    sqlite3_bind_text(st, 6, "logreg.pmml-93e57ef4e1cf", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, "2026-02-01T00:00:00.000Z", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, "2026-02-01T00:00:00.000Z", -1, SQLITE_STATIC);
    for (int k = 9; k <= 13; k++) sqlite3_bind_int(st, k, k);
    sqlite3_bind_double(st, 14, 3.5);
    sqlite3_bind_blob(st, 15, blob, sizeof blob, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, "main", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 17, "champion", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 18, "2026-02-01T00:00:00.000Z", -1, SQLITE_STATIC);
    sqlite3_bind_null(st, 19);
    if (sqlite3_step(st) != SQLITE_DONE) { fprintf(stderr, "step failed\n"); exit(1); }
    sqlite3_reset(st);
}

int main(int argc, char **argv) {
    int batch = argc > 1 ? atoi(argv[1]) : 3000, without = argc > 2 ? atoi(argv[2]) : 0, page = argc > 3 ? atoi(argv[3]) : 4096, sorted = argc > 4 ? atoi(argv[4]) : 0;
    const char *path = "/tmp/sqlite_upsert.db";
    unlink(path); unlink("/tmp/sqlite_upsert.db-wal"); unlink("/tmp/sqlite_upsert.db-shm");
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) return 1;
    char sql[2048];
    snprintf(sql, sizeof sql, "PRAGMA page_size=%d; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-131072; PRAGMA wal_autocheckpoint=16384", page);
    sqlite3_exec(db, sql, 0, 0, 0);
    snprintf(sql, sizeof sql, "CREATE TABLE profiles (customer_id TEXT PRIMARY KEY NOT NULL, tenure_days INTEGER, plan TEXT, monthly_charges REAL,"
             " churn_score REAL, model_version TEXT, scored_at TEXT, updated_at TEXT, page_views_30d INTEGER, pricing_views_30d INTEGER,"
             " cancel_views_30d INTEGER, support_calls_30d INTEGER, complaints_30d INTEGER, days_since_last_visit REAL, rolling_state BLOB,"
             " model_name TEXT, arm TEXT, features_as_of TEXT, reasons TEXT)%s", without ? " WITHOUT ROWID" : "");
    sqlite3_exec(db, sql, 0, 0, 0);
    const char *upsert = "INSERT INTO profiles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (customer_id) DO UPDATE SET"
        " churn_score = COALESCE(excluded.churn_score, profiles.churn_score), model_version = excluded.model_version, scored_at = excluded.scored_at,"
        " updated_at = excluded.updated_at, page_views_30d = excluded.page_views_30d, pricing_views_30d = excluded.pricing_views_30d,"
        " cancel_views_30d = excluded.cancel_views_30d, support_calls_30d = excluded.support_calls_30d, complaints_30d = excluded.complaints_30d,"
        " days_since_last_visit = excluded.days_since_last_visit, rolling_state = excluded.rolling_state, model_name = excluded.model_name,"
        " arm = excluded.arm, features_as_of = excluded.features_as_of";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, upsert, -1, &st, 0) != SQLITE_OK) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 1; }
    srand(1);
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    for (int i = 0; i < 100000; i++) bind_row(st, i);
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    int total = 300000, n = 0;
    int *keys = malloc(sizeof(int) * batch);
    double t = now();
    for (int b = 0; b < total / batch; b++) {
        for (int r = 0; r < batch; r++) {
            double u = rand() / (double)RAND_MAX;
            int i = (int)(100000 * u * u);
            keys[r] = i > 99999 ? 99999 : i;
        }
        if (sorted) qsort(keys, batch, sizeof(int), by_key);
        sqlite3_exec(db, "BEGIN", 0, 0, 0);
        for (int r = 0; r < batch; r++) { bind_row(st, keys[r]); n++; }
        sqlite3_exec(db, "COMMIT", 0, 0, 0);
    }
    free(keys);
    double dt = now() - t;
    printf("batch %d, %s, page %d, %s: %.0f rows/s (%.2f us/row)\n", batch, without ? "WITHOUT ROWID" : "rowid", page, sorted ? "key order" : "random order", n / dt, dt / n * 1e6);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}
