/* jpeg.c — the only file of the product that includes jpeglib.h (libjpeg-turbo): JPEG decoding
 * for the image-folder datasets, behind image.h. libjpeg reports errors by longjmp from its
 * error manager, so the decompressor and what it must free live in one heap object. libjpeg
 * treats a file that ends early, or entropy data that is damaged, as a warning and fills the
 * rest with gray; here those warnings are errors naming the file, since a half-gray image
 * would train silently. The declared size is checked against the pixel limit right after the
 * header, before libjpeg allocates its buffers. Gray JPEGs decode to one channel, YCbCr and
 * RGB ones to RGB; CMYK and YCCK are refused. Must not: exit, or print libjpeg's messages. */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE declared first */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "codec.h"

typedef struct {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    jmp_buf jmp;
    char why[JMSG_LENGTH_MAX];
} JpegState;

static void on_error_exit(j_common_ptr cinfo)
{
    JpegState *st = (JpegState *)cinfo->client_data;
    cinfo->err->format_message(cinfo, st->why);
    longjmp(st->jmp, 1);
}

/* A warning that means the pixels are not the file's: data missing or unreadable. Others
 * (extraneous bytes between markers, an unknown APP marker) leave the image whole. */
static int warning_is_damage(int code)
{
    return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC ||
           code == JWRN_HUFF_BAD_CODE || code == JWRN_BOGUS_PROGRESSION;
}

static void on_message(j_common_ptr cinfo, int level)
{
    JpegState *st = (JpegState *)cinfo->client_data;
    if (level < 0 && warning_is_damage(cinfo->err->msg_code)) {
        cinfo->err->format_message(cinfo, st->why);
        longjmp(st->jmp, 1);
    }
}

int codec_jpeg_read(FILE *f, const char *name, long max_pixels, int header_only, int min_side,
                    ImageBuf *buf, int *w, int *h, int *c, GsErr *err)
{
    JpegState *st = calloc(1, sizeof *st);
    if (!st)
        return gs_errf(err, "%s: out of memory", name);
    st->cinfo.err = jpeg_std_error(&st->jerr);
    st->jerr.error_exit = on_error_exit;
    st->jerr.emit_message = on_message;
    st->cinfo.client_data = st;
    /* st is not modified after this point; libjpeg's own state lives inside it. */
    if (setjmp(st->jmp)) {
        jpeg_destroy_decompress(&st->cinfo);
        gs_errf(err, "%s: damaged JPEG: %s", name, st->why[0] ? st->why : "libjpeg failed");
        free(st);
        return -1;
    }
    jpeg_create_decompress(&st->cinfo);
    jpeg_stdio_src(&st->cinfo, f);
    jpeg_read_header(&st->cinfo, TRUE);
    struct jpeg_decompress_struct *ci = &st->cinfo;
    double pixels = (double)ci->image_width * (double)ci->image_height;
    if (pixels > (double)max_pixels) {
        gs_errf(err, "%s: declares %ux%u = %.0f pixels, more than the limit of %ld (refused "
                "before decoding: a decompression bomb?)", name, ci->image_width,
                ci->image_height, pixels, max_pixels);
        jpeg_destroy_decompress(ci);
        free(st);
        return -1;
    }
    int channels;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
        channels = 1;
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        channels = 3;
        ci->out_color_space = JCS_RGB;
        break;
    default:
        gs_errf(err, "%s: a %s JPEG: not supported (convert it to RGB first)", name,
                ci->jpeg_color_space == JCS_CMYK   ? "CMYK"
                : ci->jpeg_color_space == JCS_YCCK ? "YCCK (CMYK)"
                                                   : "colour space unknown");
        jpeg_destroy_decompress(ci);
        free(st);
        return -1;
    }
    *w = (int)ci->image_width;
    *h = (int)ci->image_height;
    *c = channels;
    if (header_only) {
        jpeg_destroy_decompress(ci);
        free(st);
        return 0;
    }
    unsigned short_side = ci->image_width < ci->image_height ? ci->image_width
                                                            : ci->image_height;
    ci->scale_num = 1;
    ci->scale_denom = 1;
    for (unsigned d = 8; min_side > 0 && d >= 2; d /= 2)
        if ((short_side + d - 1) / d >= (unsigned)min_side) {
            ci->scale_denom = d;
            break;
        }
    jpeg_start_decompress(ci);
    size_t row_bytes = (size_t)ci->output_width * (size_t)channels;
    if (ci->output_components != channels)
        ERREXIT(ci, JERR_BAD_J_COLORSPACE);
    if (codec_buf_reserve(buf, row_bytes * ci->output_height))
        ERREXIT1(ci, JERR_OUT_OF_MEMORY, 1);
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = buf->px + (size_t)ci->output_scanline * row_bytes;
        jpeg_read_scanlines(ci, &row, 1);
    }
    /* Reads on to the end marker, so a file cut after its last scan is still caught. */
    jpeg_finish_decompress(ci);
    buf->w = (int)ci->output_width;
    buf->h = (int)ci->output_height;
    buf->c = channels;
    jpeg_destroy_decompress(ci);
    free(st);
    return 0;
}
