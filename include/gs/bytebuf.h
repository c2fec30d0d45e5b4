/* bytebuf.h — a growable byte buffer for building binary messages, files and text (the
 * relay's frames, the image cache, the events stream, a sweep's CSV): appends grow it as
 * needed; when memory runs out oom is set, stays set, and later appends do nothing, so a
 * builder checks once at the end (text built in it gets its 0 appended like any byte).
 * Multi-byte values are written little-endian whatever the host. A buffer may start on the
 * caller's memory ({.p = mem, .cap = size}) when what it receives never exceeds size. */
#ifndef GS_BYTEBUF_H
#define GS_BYTEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} ByteBuf;

void bytebuf_put(ByteBuf *b, const void *p, size_t n);
void bytebuf_put_u32(ByteBuf *b, uint32_t v);
void bytebuf_put_u64(ByteBuf *b, uint64_t v);
/* Frees the bytes and leaves an empty buffer. */
void bytebuf_free(ByteBuf *b);

#endif
