/* Socket ceiling: the most bytes per second one process can hand another
 * through a socket on this machine, with no file, no disk and no HTTP. The
 * sender writes from a buffer already in memory; the receiver reads into
 * memory and throws the bytes away, as any download client does. It tries
 * loopback TCP (default and 4 MiB socket buffers) and a Unix socket pair,
 * each with 64 KiB and 1 MiB writes, and prints the best.
 * No answer to an HTTP request, from any server, can beat this; restore from
 * the page cache is compared with it and with `cat`.
 * Usage: socket_ceiling BYTES; prints the best MB/s and which way got it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (1 << 20)

/* One transfer of `total` bytes; returns MB/s, or -1 on failure. */
static double transfer(long long total, size_t chunk, int bufsize, int use_unix) {
    int pair[2], listener = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (use_unix) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair)) return -1;
    } else {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(listener, (struct sockaddr *)&a, sizeof a) || listen(listener, 1) ||
            getsockname(listener, (struct sockaddr *)&a, &al))
            return -1;
    }
    char *out = malloc(chunk);
    if (!out) return -1;
    memset(out, 'x', chunk);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t child = fork();
    if (child == 0) {
        int s;
        if (use_unix) {
            s = pair[1];
            close(pair[0]);
        } else {
            s = socket(AF_INET, SOCK_STREAM, 0);
            if (bufsize) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
            if (connect(s, (struct sockaddr *)&a, sizeof a)) _exit(1);
        }
        char *in = malloc(READ_SIZE);
        long long got = 0;
        ssize_t n;
        while ((n = read(s, in, READ_SIZE)) > 0) got += n;
        _exit(got == total ? 0 : 1);
    }
    int s;
    if (use_unix) {
        s = pair[0];
        close(pair[1]);
    } else {
        s = accept(listener, NULL, NULL);
        if (bufsize) setsockopt(s, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    }
    long long sent = 0;
    while (sent < total) {
        size_t want = (size_t)(total - sent) < chunk ? (size_t)(total - sent) : chunk;
        ssize_t n = write(s, out, want);
        if (n <= 0) return -1;
        sent += n;
    }
    close(s);
    if (listener >= 0) close(listener);
    int status;
    waitpid(child, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    return total / seconds / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 2) { fputs("usage: socket_ceiling BYTES\n", stderr); return 2; }
    long long total = atoll(argv[1]);
    static const char *names[] = {"tcp", "tcp-4MiB-buffers", "unix"};
    size_t chunks[] = {64 << 10, 1 << 20};
    double best = 0;
    char how[64] = "";
    for (int way = 0; way < 3; way++) {
        for (int c = 0; c < 2; c++) {
            double mbps = transfer(total, chunks[c], way == 1 ? 4 << 20 : 0, way == 2);
            if (mbps < 0) { fprintf(stderr, "%s failed\n", names[way]); return 1; }
            if (mbps > best) {
                best = mbps;
                snprintf(how, sizeof how, "%s/%zuKiB-writes", names[way], chunks[c] >> 10);
            }
        }
    }
    printf("%.1f %s\n", best, how);
    return 0;
}
