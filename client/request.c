/* request.c — the common steps around the client's HTTP calls (see request.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "request.h"

int cli_call_json(Cli *cli, const char *method, const char *path, const char *body,
                  bool allow_empty, cJSON **out, CliResponse *resp)
{
    int rc = cli_http_request(cli, method, path, body, resp);
    char msg[512];
    *out = NULL;
    if (rc != CLI_OK) {
        cli_errorf("%s", resp->error);
        return rc;
    }
    if (resp->status < 200 || resp->status >= 300) {
        cli_error_message(msg, sizeof msg, resp->status, resp->body, resp->len);
        cli_errorf("%s", msg);
        cli_response_free(resp);
        return CLI_REFUSED;
    }
    if (resp->len == 0 && allow_empty)
        return CLI_OK;
    *out = resp->body ? cJSON_ParseWithLength(resp->body, resp->len) : NULL;
    if (!cJSON_IsObject(*out) && !cJSON_IsArray(*out)) {
        cli_errorf("the server's answer to %s %s is not the JSON expected (HTTP %ld, %zu bytes)",
                   method, path, resp->status, resp->len);
        cJSON_Delete(*out);
        *out = NULL;
        cli_response_free(resp);
        return CLI_REFUSED;
    }
    return CLI_OK;
}

void cli_print_body(const CliResponse *resp)
{
    if (resp->body && resp->len) {
        fwrite(resp->body, 1, resp->len, stdout);
        if (resp->body[resp->len - 1] != '\n')
            fputc('\n', stdout);
    }
}

void cli_print_json(const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
        cli_errorf("out of memory");
        return;
    }
    printf("%s\n", text);
    cJSON_free(text);
}

int cli_query_add(char *path, size_t n, const char *key, const char *value)
{
    char *esc = cli_url_escape(value);
    size_t len = strlen(path);
    int k;
    if (!esc)
        return -1;
    k = snprintf(path + len, n - len, "%c%s=%s", strchr(path, '?') ? '&' : '?', key, esc);
    free(esc);
    if (k < 0 || (size_t)k >= n - len) {
        path[len] = '\0';
        return -1;
    }
    return 0;
}

/* A new temporary file beside file, with the permissions a plain fopen would give. */
static FILE *open_temp(const char *file, char **tmp_path)
{
    size_t n = strlen(file) + 16;
    char *tmp = malloc(n);
    mode_t mask;
    int fd;
    FILE *f;
    if (!tmp)
        return NULL;
    snprintf(tmp, n, "%s.partXXXXXX", file);
    fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return NULL;
    }
    mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        errno = e;
        return NULL;
    }
    *tmp_path = tmp;
    return f;
}

int cli_save(Cli *cli, const char *path, const char *file, size_t *bytes)
{
    bool to_stdout = strcmp(file, "-") == 0;
    char *tmp = NULL, msg[512];
    CliResponse resp;
    FILE *f = to_stdout ? stdout : open_temp(file, &tmp);
    int rc;
    if (!f) {
        cli_errorf("%s: cannot create a file there: %s", file, strerror(errno));
        return CLI_RUN_FAILED;
    }
    rc = cli_http_download(cli, path, f, &resp);
    if (rc != CLI_OK) {
        cli_errorf("%s", resp.error);
    } else if (resp.status < 200 || resp.status >= 300) {
        cli_error_message(msg, sizeof msg, resp.status, resp.body, resp.len);
        cli_errorf("%s", msg);
        rc = CLI_REFUSED;
    }
    *bytes = resp.received;
    cli_response_free(&resp);
    if (to_stdout) {
        if (fflush(stdout) != 0 && rc == CLI_OK) {
            cli_errorf("standard output: %s", strerror(errno));
            rc = CLI_RUN_FAILED;
        }
        return rc;
    }
    if (fclose(f) != 0 && rc == CLI_OK) {
        cli_errorf("%s: %s", file, strerror(errno));
        rc = CLI_RUN_FAILED;
    }
    if (rc == CLI_OK && rename(tmp, file) != 0) {
        cli_errorf("%s: %s", file, strerror(errno));
        rc = CLI_RUN_FAILED;
    }
    if (rc != CLI_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}
