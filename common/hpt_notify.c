/*  hpt_notify -- sd_notify's socket protocol

    NOTIFY_SOCKET is a filesystem path or, starting with '@', an abstract
    socket name (the '@' becomes a NUL byte). The message goes in one
    sendto() on a fresh SOCK_DGRAM|SOCK_CLOEXEC socket, as sd_notify does;
    nothing is kept open between calls.
*/
#include "hpt_notify.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
hpt_notify (const char *state)
{
    const char *path = getenv ("NOTIFY_SOCKET");
    if (!path || !*path) return 0;
    size_t len = strlen (path);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof (address.sun_path)) return -1;
    memcpy (address.sun_path, path, len);
    if (path[0] == '@') address.sun_path[0] = 0;
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    socklen_t size = (socklen_t)(offsetof (struct sockaddr_un, sun_path) + len);
    ssize_t sent =
        sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *)&address, size);
    close (fd);
    return sent == (ssize_t)strlen (state) ? 1 : -1;
}
