/* runconf.c — the run configuration a submit builds (see runconf.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runconf.h"

/* Whole text matches the JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return false;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

cJSON *cli_value_parse(const char *text, char *err, size_t errlen)
{
    cJSON *v;
    if (strcmp(text, "true") == 0)
        v = cJSON_CreateTrue();
    else if (strcmp(text, "false") == 0)
        v = cJSON_CreateFalse();
    else if (strcmp(text, "null") == 0)
        v = cJSON_CreateNull();
    else if (is_json_number(text)) {
        double d = strtod(text, NULL);
        if (d - d != 0) { /* 1e999: not a finite number, keep the text */
            v = cJSON_CreateString(text);
        } else
            v = cJSON_CreateNumber(d);
    } else if (text[0] == '[' || text[0] == '{' || text[0] == '"') {
        const char *end = NULL;
        v = cJSON_ParseWithOpts(text, &end, 1);
        if (!v) {
            snprintf(err, errlen, "'%s' is not valid JSON (quote a plain string: '\"%s\"')",
                     text, text);
            return NULL;
        }
        return v;
    } else
        v = cJSON_CreateString(text);
    if (!v)
        snprintf(err, errlen, "out of memory");
    return v;
}

int cli_config_set(cJSON *root, const char *path, cJSON *value, char *err, size_t errlen)
{
    cJSON *obj = root;
    const char *p = path;
    if (!value) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "the configuration is not a JSON object");
        goto fail;
    }
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        char key[128];
        cJSON *child;
        if (len == 0 || len >= sizeof key) {
            snprintf(err, errlen, "'%s': %s path part", path, len ? "too long a" : "an empty");
            goto fail;
        }
        memcpy(key, p, len);
        key[len] = '\0';
        child = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!dot) {
            /* ReplaceItemInObject names the new item (ReplaceItemViaPointer would not) */
            if (child) {
                if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value))
                    goto oom;
            } else if (!cJSON_AddItemToObject(obj, key, value))
                goto oom;
            return 0;
        }
        if (!child) {
            child = cJSON_AddObjectToObject(obj, key);
            if (!child)
                goto oom;
        } else if (!cJSON_IsObject(child)) {
            snprintf(err, errlen, "'%s': %.*s is not an object", path, (int)(dot - path), path);
            goto fail;
        }
        obj = child;
        p = dot + 1;
    }
oom:
    snprintf(err, errlen, "out of memory");
fail:
    cJSON_Delete(value);
    return -1;
}

int cli_config_assign(cJSON *root, const char *assignment, char *err, size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    char path[512];
    cJSON *v;
    size_t len;
    if (!eq) {
        snprintf(err, errlen, "'%s' is not PATH=VALUE", assignment);
        return -1;
    }
    len = (size_t)(eq - assignment);
    if (len == 0 || len >= sizeof path) {
        snprintf(err, errlen, "'%s': %s path", assignment, len ? "too long a" : "an empty");
        return -1;
    }
    memcpy(path, assignment, len);
    path[len] = '\0';
    v = cli_value_parse(eq + 1, err, errlen);
    if (!v)
        return -1;
    return cli_config_set(root, path, v, err, errlen);
}

cJSON *cli_config_load(const char *path, char *err, size_t errlen)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    const char *name = is_stdin ? "standard input" : path;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(CLI_CONFIG_MAX_FILE + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    len = fread(buf, 1, CLI_CONFIG_MAX_FILE + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", name);
        goto done;
    }
    if (len > CLI_CONFIG_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %u bytes", name, CLI_CONFIG_MAX_FILE);
        goto done;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(err, errlen, "%s: holds a NUL byte", name);
        goto done;
    }
    root = cJSON_ParseWithOpts(buf, NULL, 1);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = (at && at >= buf && at <= buf + len) ? (long)(at - buf) : -1;
        if (off >= 0)
            snprintf(err, errlen, "%s: not valid JSON (near byte %ld)", name, off);
        else
            snprintf(err, errlen, "%s: not valid JSON", name);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object", name);
        cJSON_Delete(root);
        root = NULL;
    }
done:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return root;
}
