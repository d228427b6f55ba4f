/*
 * LD_PRELOAD shim for running sanlock in an unprivileged container (tests).
 *
 * The sanlock daemon raises RLIMIT_MEMLOCK and RLIMIT_RTPRIO at start and
 * exits when that fails; without CAP_SYS_RESOURCE it always fails. This
 * setrlimit() pretends those two calls succeeded and passes every other
 * one through. Use only with "sanlock daemon -w 0 -l 0" (no watchdog, no
 * mlockall). Compiled at test time into a cache directory; never commit
 * the binary:
 *
 *     gcc -shared -fPIC -O2 -o shim.so sanlock-setrlimit-shim.c -ldl
 *     LD_PRELOAD=$PWD/shim.so sanlock daemon -D -w 0 -l 0 -U root -G root
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <sys/resource.h>

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rlim)
{
    static int (*real_setrlimit)(__rlimit_resource_t, const struct rlimit *);

    if (resource == RLIMIT_MEMLOCK || resource == RLIMIT_RTPRIO)
        return 0;
    if (real_setrlimit == NULL)
        real_setrlimit = dlsym(RTLD_NEXT, "setrlimit");
    return real_setrlimit(resource, rlim);
}
