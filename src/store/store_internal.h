/* store_internal.h — what the SQLite store's own files share: the schema migrator.
 * Nothing outside src/store/ includes this header. */
#ifndef FERRY_STORE_INTERNAL_H
#define FERRY_STORE_INTERNAL_H

#include <sqlite3.h>

#include "common/ferr.h"

/* The schema level this build knows how to create (the number of migration steps). */
int store_schema_latest(void);

/* Brings db up to store_schema_latest(), one transaction per step, recording each
 * applied step in the schema_version table. *version receives the level in force.
 * A database newer than this build is refused (FERR_INTERNAL). */
int store_schema_migrate(sqlite3 *db, int *version, ferr *err);

#endif
