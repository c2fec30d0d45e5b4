/* test_dist_hosts.c — a run over two hosts that are two network stacks (issue 14): the script
 * tests/dist/two-hosts makes two Linux network namespaces joined by a veth pair, runs one
 * process of a P = 2 G-SimCLR run in each over Open MPI's TCP transport (launched by
 * scripts/netns-agent instead of ssh), and checks that the result equals the same run's on
 * one host and that the traffic crossed the link. Where the machine does not allow it (not
 * root, no network namespaces) the script says why and the test is skipped with that reason
 * printed. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

TEST(dist_two_hosts_in_network_namespaces)
{
    FILE *p = popen("sh tests/dist/two-hosts bin 2>&1", "r");
    char line[4096];
    int ok_line = 0;
    CHECK(p != NULL);
    if (!p)
        return;
    while (fgets(line, sizeof line, p)) {
        printf("    %s", line);
        ok_line |= strstr(line, "two-hosts: ok: the same result on two hosts as on one") != NULL;
    }
    int st = pclose(p);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 77)
        return; /* skipped: the script printed why */
    CHECK_MSG(code == 0 && ok_line, "tests/dist/two-hosts exited %d", code);
}
