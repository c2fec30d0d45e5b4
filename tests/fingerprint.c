/* fingerprint.c — fingerprint.h: FNV-1a over every row of every table of a store's database,
 * read in one snapshot through a read-only connection of its own. Tests only; it must never
 * write, so a test can take a fingerprint while the daemon or other threads use the store. */
#include "fingerprint.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/store.h"

#define BUSY_TIMEOUT_MS 5000

static int fp_err(GsErr *err, sqlite3 *db, const char *what)
{
    return gs_errf(err, "fingerprint: %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

/* FNV-1a, 64 bits: not cryptographic, but any change a test makes shows. */
static void fnv(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ull;
    }
}

static void fnv_u64(uint64_t *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    fnv(h, b, sizeof b);
}

/* "SELECT * FROM table ORDER BY <its primary key, or every column when it has none>"
 * (sqlite3_malloc'd). */
static char *table_query(sqlite3 *db, const char *table, GsErr *err)
{
    static const char *const cols =
        "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 OR NOT EXISTS "
        "(SELECT 1 FROM pragma_table_info(?1) WHERE pk > 0) ORDER BY pk, cid";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, cols, -1, &s, NULL) != SQLITE_OK) {
        fp_err(err, db, "list columns");
        return NULL;
    }
    sqlite3_str *q = sqlite3_str_new(db);
    sqlite3_str_appendf(q, "SELECT * FROM \"%w\" ORDER BY ", table);
    int rc = sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC) ? fp_err(err, db, "bind") : 0;
    int k = 0;
    while (rc == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        sqlite3_str_appendf(q, "%s\"%w\"", k++ ? ", " : "", (const char *)sqlite3_column_text(s, 0));
        rc = 0;
    }
    if (rc != 0 && rc != SQLITE_DONE && rc != -1)
        fp_err(err, db, "list columns");
    sqlite3_finalize(s);
    char *sql = sqlite3_str_finish(q);
    if (rc != SQLITE_DONE || k == 0 || !sql) {
        if (rc == SQLITE_DONE)
            gs_errf(err, "fingerprint: %s: %s", table, sql ? "no columns" : "out of memory");
        sqlite3_free(sql);
        return NULL;
    }
    return sql;
}

static int hash_table(sqlite3 *db, const char *table, uint64_t *h, GsErr *err)
{
    char *sql = table_query(db, table, err);
    if (!sql)
        return -1;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return fp_err(err, db, "prepare");
    fnv(h, table, strlen(table) + 1);
    int ncol = sqlite3_column_count(s);
    fnv_u64(h, (uint64_t)ncol);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fnv(h, "R", 1);
        for (int i = 0; i < ncol; i++) {
            int type = sqlite3_column_type(s, i);
            uint8_t tag = (uint8_t)type;
            fnv(h, &tag, 1);
            if (type == SQLITE_INTEGER) {
                fnv_u64(h, (uint64_t)sqlite3_column_int64(s, i));
            } else if (type == SQLITE_FLOAT) {
                double d = sqlite3_column_double(s, i);
                uint64_t bits;
                memcpy(&bits, &d, sizeof bits);
                fnv_u64(h, bits);
            } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
                const void *p = type == SQLITE_TEXT ? (const void *)sqlite3_column_text(s, i)
                                                    : sqlite3_column_blob(s, i);
                size_t n = (size_t)sqlite3_column_bytes(s, i);
                fnv_u64(h, n);
                if (n && !p) {
                    rc = gs_errf(err, "fingerprint: %s: out of memory", table);
                    break;
                }
                fnv(h, p, n);
            }
        }
        if (rc != SQLITE_ROW)
            break;
    }
    if (rc != SQLITE_DONE && rc != -1)
        fp_err(err, db, "read");
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Every table but SQLite's own (sqlite_sequence remembers ids even after their rows are
 * gone, which is not data a request could change), by name, each in primary-key order. */
static int hash_tables(sqlite3 *db, uint64_t *h, GsErr *err)
{
    static const char *const tables =
        "SELECT name FROM sqlite_schema WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, tables, -1, &s, NULL) != SQLITE_OK)
        return fp_err(err, db, "list tables");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (!name) {
            gs_errf(err, "fingerprint: out of memory");
            rc = -1;
            break;
        }
        if (hash_table(db, name, h, err) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc != SQLITE_DONE && rc != -1)
        fp_err(err, db, "list tables");
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

char *fingerprint_db(const char *dir, GsErr *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, STORE_DB_FILE) >= (int)sizeof path) {
        gs_errf(err, "fingerprint: %s: path too long", dir);
        return NULL;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fp_err(err, db, path);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* one read transaction: every table from the same snapshot */
    uint64_t h = 0xcbf29ce484222325ull;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ? fp_err(err, db, "begin")
                                                                      : hash_tables(db, &h, err);
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fp_err(err, db, "end the read");
    sqlite3_close(db);   /* rolls back a read left open by a failure */
    if (rc != 0)
        return NULL;
    char *hex = malloc(17);
    if (!hex) {
        gs_errf(err, "fingerprint: out of memory");
        return NULL;
    }
    snprintf(hex, 17, "%016" PRIx64, h);
    return hex;
}
