/* bytebuf.c — see gs/bytebuf.h. */
#include <stdlib.h>
#include <string.h>

#include "gs/bytebuf.h"

void bytebuf_put(ByteBuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX - b->len) {
        b->oom = true;
        return;
    }
    size_t need = b->len + n;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void bytebuf_put_u32(ByteBuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    bytebuf_put(b, x, 4);
}

void bytebuf_put_u64(ByteBuf *b, uint64_t v)
{
    bytebuf_put_u32(b, (uint32_t)v);
    bytebuf_put_u32(b, (uint32_t)(v >> 32));
}

void bytebuf_free(ByteBuf *b)
{
    free(b->p);
    *b = (ByteBuf){0};
}
