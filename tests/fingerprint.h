/* fingerprint.h — a digest of everything gsimclrd's store holds, for tests that check a
 * request or a refused call changed nothing stored. Tests only: it reads the database file
 * directly (read-only), so the store needs no test hook. */
#ifndef GS_TEST_FINGERPRINT_H
#define GS_TEST_FINGERPRINT_H

#include "gs/err.h"

/* Every row of every table of the store in folder dir (the one store_open was given), as
 * 16 hex digits (malloc'd); NULL with err set when the database cannot be read. Equal
 * fingerprints mean equal contents; reading changes nothing. */
char *fingerprint_db(const char *dir, GsErr *err);

#endif
