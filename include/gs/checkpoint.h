/* checkpoint.h — the versioned, checksummed binary format for a stage's whole state (weights,
 * optimiser moments, RNG, sampler position, counters), built in memory so the store can
 * write it in one transaction. Layout (little-endian): magic "GSCK", u32 format version,
 * u32 section count, then sections {char name[32] (NUL-padded), u64 byte length, bytes},
 * then a u32 CRC-32 (zlib) of everything before it. A reader rejects a bad magic, an unknown
 * version, a checksum mismatch, a truncation or a section table that runs past the end, with
 * a message saying which. */
#ifndef GS_CHECKPOINT_H
#define GS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"

#define CKPT_VERSION 1
#define CKPT_NAME_MAX 32

typedef struct {
    uint8_t *data;
    size_t len, cap;
    uint32_t n_sections;
    int failed;       /* a ckpt_add failed (memory or a bad name); sticky, ckpt_finish reports it */
} CkptWriter;

void ckpt_writer_init(CkptWriter *w);
/* Appends a section (name shorter than CKPT_NAME_MAX, unique). */
int ckpt_add(CkptWriter *w, const char *name, const void *p, size_t bytes, GsErr *err);
/* Writes the header count and the checksum; w->data, w->len are then the checkpoint. */
int ckpt_finish(CkptWriter *w, GsErr *err);
void ckpt_writer_free(CkptWriter *w);

typedef struct {
    const uint8_t *data;
    size_t len;
    uint32_t version, n_sections;
    uint32_t crc;     /* the CRC-32 stored at its end (checked) */
} CkptReader;

/* Validates buf (magic, version, checksum, section table) without copying it. */
int ckpt_open(CkptReader *r, const void *buf, size_t len, GsErr *err);
/* Copies section name into dst, which must be exactly bytes long. */
int ckpt_get(const CkptReader *r, const char *name, void *dst, size_t bytes, GsErr *err);
/* The section's bytes in place (NULL with an error when absent). */
const void *ckpt_find(const CkptReader *r, const char *name, size_t *bytes, GsErr *err);

/* Whole-file helpers for `gsimclrd --run`: write atomically (temp file + rename), read all. */
int ckpt_write_file(const char *path, const void *data, size_t len, GsErr *err);
int ckpt_read_file(const char *path, uint8_t **data, size_t *len, GsErr *err);

#endif
