#!/bin/sh
# spawn-fcgi binds the socket and hands it to upspool on fd 0; upspool sees a
# listening socket on stdin and runs as a FastCGI application.
#   deploy/spawn-fcgi.sh        (-n keeps it in the foreground for a supervisor)
exec spawn-fcgi -n -a 127.0.0.1 -p 9000 -u www-data -g www-data \
    -- /usr/bin/env UPSPOOL_CONFIG=/etc/upspool/upspool.toml /usr/local/bin/upspool
