/*  hpt_probe -- what listens at the master endpoint an agent cannot reach

    See the header for the steps. Every wait is a poll with its own
    timeout, so a probe ends within about 3 s once the name resolved.
*/
#include "hpt_probe.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_STEP_MS 1000

//  Splits tcp://HOST:PORT into host and port (buffers of the sizes given);
//  false for anything else.
static bool
s_split (const char *endpoint, char *host, size_t host_size, char *port, size_t port_size)
{
    if (strncmp (endpoint, "tcp://", 6) != 0 || strchr (endpoint, ';')) return false;
    const char *start = endpoint + 6, *colon = strrchr (start, ':');
    if (!colon || colon == start || !colon[1] || strlen (colon + 1) >= port_size) return false;
    const char *end = colon;
    if (*start == '[' && end[-1] == ']') start++, end--;
    if ((size_t)(end - start) >= host_size || end <= start) return false;
    memcpy (host, start, (size_t)(end - start));
    host[end - start] = '\0';
    snprintf (port, port_size, "%s", colon + 1);
    return true;
}

//  Connects fd (non-blocking) to address within S_STEP_MS.
static bool
s_connect (int fd, const struct addrinfo *address)
{
    if (connect (fd, address->ai_addr, address->ai_addrlen) == 0) return true;
    if (errno != EINPROGRESS) return false;
    struct pollfd item = {.fd = fd, .events = POLLOUT};
    if (poll (&item, 1, S_STEP_MS) != 1) return false;
    int error = 0;
    socklen_t size = sizeof (error);
    return getsockopt (fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
}

//  Reads what fd says within S_STEP_MS into buffer; the count, 0 for
//  nothing (silence or a closed connection).
static ssize_t
s_read (int fd, char *buffer, size_t size)
{
    struct pollfd item = {.fd = fd, .events = POLLIN};
    if (poll (&item, 1, S_STEP_MS) != 1) return 0;
    ssize_t n = recv (fd, buffer, size, 0);
    return n > 0 ? n : 0;
}

//  What the connected fd is.
static hpt_probe_result_t
s_classify (int fd)
{
    char buffer[64];
    ssize_t n = s_read (fd, buffer, sizeof (buffer));
    if (n > 0) return (unsigned char)buffer[0] == 0xFF ? HPT_PROBE_ZMTP : HPT_PROBE_SILENT;
    static const char request[] = "GET / HTTP/1.0\r\n\r\n";
    if (send (fd, request, sizeof (request) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof (request) - 1)
        return HPT_PROBE_SILENT;
    n = s_read (fd, buffer, sizeof (buffer));
    return n >= 5 && memcmp (buffer, "HTTP/", 5) == 0 ? HPT_PROBE_HTTP : HPT_PROBE_SILENT;
}

hpt_probe_result_t
hpt_probe_endpoint (const char *endpoint)
{
    char host[256], port[16];
    if (!s_split (endpoint, host, sizeof (host), port, sizeof (port))) return HPT_PROBE_UNPROBED;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list = NULL;
    if (getaddrinfo (host, port, &hints, &list) != 0 || !list) return HPT_PROBE_REFUSED;
    hpt_probe_result_t result = HPT_PROBE_REFUSED;
    for (struct addrinfo *a = list; a && result == HPT_PROBE_REFUSED; a = a->ai_next) {
        int fd =
            socket (a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (s_connect (fd, a)) result = s_classify (fd);
        close (fd);
    }
    freeaddrinfo (list);
    return result;
}

void
hpt_probe_actor (zsock_t *pipe, void *endpoint)
{
    char *copy = hpt_strdup (endpoint);
    zsock_signal (pipe, 0);
    zstr_sendf (pipe, "%d", (int)hpt_probe_endpoint (copy));
    free (copy);
    char *command = zstr_recv (pipe); //  $TERM, or NULL when interrupted
    zstr_free (&command);
}

char *
hpt_probe_advice (hpt_probe_result_t result, const char *endpoint)
{
    switch (result) {
        case HPT_PROBE_HTTP:
            return hpt_asprintf (
                "%s is an HTTP port (the master's REST API, master.api?): --master takes the "
                "master's agents endpoint, master.agents in its cluster file (default "
                "tcp://127.0.0.1:7460)",
                endpoint);
        case HPT_PROBE_REFUSED:
            return hpt_asprintf ("nothing listens at %s: is hptmaster running there, and is this "
                                 "its master.agents endpoint (default tcp://127.0.0.1:7460)?",
                                 endpoint);
        case HPT_PROBE_SILENT:
            return hpt_asprintf ("%s accepts connections but does not speak ZeroMQ: --master takes "
                                 "the master's agents endpoint, master.agents in its cluster file "
                                 "(default tcp://127.0.0.1:7460)",
                                 endpoint);
        default:
            return NULL;
    }
}
