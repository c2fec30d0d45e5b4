/* main.c — gsimclrd's entry point. The HTTP service (issue #4) and the pipeline stages
 * (issue #3) are not built yet; for now the binary reports what the build holds. */
#include <stdio.h>
#include <string.h>

#include "gs/blas.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--status") == 0) {
        printf("gsimclrd: built: nn core (layers, losses, optimisers, models), dataset readers,\n"
               "          augmentations; run `make test` and `make bench-step`.\n"
               "gsimclrd: not built yet: pipeline stages (issue #3), HTTP service (issue #4),\n"
               "          CLI and web page (issue #5).\n");
        return 0;
    }
    fprintf(stderr, "usage: gsimclrd --status\n");
    return 2;
}
