/* zfile.h — what the product takes from zlib: reading a file that may be gzip-compressed
 * (plain files read through unchanged), and CRC-32. server/data/zfile.c is the only file of the
 * product that includes zlib.h; the IDX reader, dataset_info and the checkpoint format go
 * through here. Nothing here knows a file format: callers parse the bytes. */
#ifndef GS_ZFILE_H
#define GS_ZFILE_H

#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"

typedef struct ZFile ZFile;

/* Opens path for reading, gzip or plain. Messages name the path. */
int zfile_open(ZFile **out, const char *path, GsErr *err);
/* Reads up to len bytes, fewer only at the end of the data (or where a damaged gzip stream
 * stops early: zfile_finish reports that). The count read, or -1 with err on a read or
 * decompression error. */
long long zfile_read(ZFile *f, void *buf, size_t len, GsErr *err);
/* For a reader that has consumed the whole file: checks that the gzip stream ended intact
 * (its trailer, CRC and length, present and right), then closes f. f is freed either way. */
int zfile_finish(ZFile *f, GsErr *err);
/* Closes f without any check (an error path, or a reader that wanted only the start). */
void zfile_close(ZFile *f);

/* CRC-32 (the zlib / gzip / PNG polynomial) of len bytes. */
uint32_t zfile_crc32(const void *data, size_t len);
/* The CRC-32 of what crc covered followed by these len bytes (crc 0: none yet), for data
 * checked in pieces. */
uint32_t zfile_crc32_update(uint32_t crc, const void *data, size_t len);

#endif
