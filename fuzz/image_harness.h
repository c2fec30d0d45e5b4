/* image_harness.h — the one check behind the `png` and `jpeg` targets (fuzz/image_harness.c):
 * an input is a whole image file, decoded through image.h as the image-folder datasets decode
 * one. The two targets differ only in their seeds, so each grows a corpus of its own format.
 * Harness code, never linked into the product. */
#ifndef GS_FUZZ_IMAGE_HARNESS_H
#define GS_FUZZ_IMAGE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Probes, decodes and resizes the file data (size bytes) and checks image.h's promises;
 * a broken promise is fuzz_fail. */
void image_harness_run(const uint8_t *data, size_t size);

#endif
