/* CGI floor: the work no upload handler can avoid, and nothing else.
 * Reads CONTENT_LENGTH bytes of body from stdin, writes them to a new file
 * in $FLOOR_DIR (created exclusively), fsyncs it, renames it into place, and
 * prints a small CGI answer. Built statically by bench/run. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    const char *len_s = getenv("CONTENT_LENGTH");
    const char *dir = getenv("FLOOR_DIR");
    long len = len_s ? atol(len_s) : 0;
    char tmp[4096], dst[4096];
    if (!dir) dir = "/tmp";
    snprintf(tmp, sizeof tmp, "%s/tmp-%d-%ld", dir, getpid(), (long)random());
    snprintf(dst, sizeof dst, "%s/file-%d-%ld", dir, getpid(), (long)random());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) { fputs("Status: 500 Internal Server Error\r\n\r\n", stdout); return 0; }
    static char buf[256 * 1024];
    while (len > 0) {
        ssize_t n = read(0, buf, len < (long)sizeof buf ? (size_t)len : sizeof buf);
        if (n <= 0) break;
        if (write(fd, buf, (size_t)n) != n) break;
        len -= n;
    }
    fsync(fd);
    close(fd);
    rename(tmp, dst);
    fputs("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{\"success\":true}", stdout);
    return 0;
}
