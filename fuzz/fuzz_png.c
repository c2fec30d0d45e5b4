/* fuzz_png.c — libFuzzer target `png`: the PNG reader of the image-folder datasets
 * (server/data/png.c behind image.h). Input: a whole file, as a dataset folder holds it; the
 * seeds in fuzz/corpus/png/ (written by fuzz/make_seeds.c) are PNG files, so mutations stay
 * mostly inside that format. The checks are fuzz/image_harness.c's. */
#include "fuzz.h"
#include "image_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image_harness_run(data, size);
    return 0;
}
