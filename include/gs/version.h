/* version.h — the one version string of gsimclr, shared by the daemon (GET /healthz) and the
 * CLI (--version, its User-Agent), so the two never drift apart. */
#ifndef GS_VERSION_H
#define GS_VERSION_H

#define GS_VERSION "0.4.0"

#endif
