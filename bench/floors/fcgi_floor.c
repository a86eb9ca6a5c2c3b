/* FastCGI floor: the CGI floor's work as a libfcgi responder (Debian's
 * libfcgi-dev), for the same nginx. Each process serves one request at a
 * time; bench/run starts as many processes as upspool has workers. */
#include <fcgi_stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    static char buf[256 * 1024];
    long counter = 0;
    while (FCGI_Accept() >= 0) {
        const char *len_s = getenv("CONTENT_LENGTH");
        const char *dir = getenv("FLOOR_DIR");
        long len = len_s ? atol(len_s) : 0;
        char tmp[4096], dst[4096];
        if (!dir) dir = "/tmp";
        counter++;
        snprintf(tmp, sizeof tmp, "%s/tmp-%d-%ld", dir, getpid(), counter);
        snprintf(dst, sizeof dst, "%s/file-%d-%ld", dir, getpid(), counter);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        while (len > 0) {
            size_t want = len < (long)sizeof buf ? (size_t)len : sizeof buf;
            size_t n = fread(buf, 1, want, stdin);
            if (n == 0) break;
            if (fd >= 0) write(fd, buf, n);
            len -= (long)n;
        }
        if (fd >= 0) {
            fsync(fd);
            close(fd);
            rename(tmp, dst);
            int d = open(dir, O_RDONLY | O_DIRECTORY); /* the rename made durable */
            if (d >= 0) { fsync(d); close(d); }
        }
        printf("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{\"success\":true}");
    }
    return 0;
}
