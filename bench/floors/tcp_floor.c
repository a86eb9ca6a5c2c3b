/* Restore floor: the fastest a stored file can reach another process over a
 * loopback TCP connection on this machine, with no HTTP and no server in
 * between. The parent sends the file with sendfile(2); a child reads it with
 * 1 MiB read(2)s and throws it away, as `curl -o /dev/null` does.
 * Usage: tcp_floor FILE; prints the bytes received and the seconds taken. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fputs("usage: tcp_floor FILE\n", stderr); return 2; }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[1]); return 1; }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) {
        perror("listen");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a)) _exit(1);
        static char buf[1 << 20];
        long long got = 0;
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0) got += n;
        _exit(got == st.st_size ? 0 : 1);
    }
    int s = accept(l, NULL, NULL);
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(s, fd, &off, st.st_size - off);
        if (n <= 0) { perror("sendfile"); return 1; }
    }
    close(s);
    int status;
    waitpid(child, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fputs("short read\n", stderr); return 1; }
    printf("%lld %.6f\n", (long long)st.st_size, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
