/*  hpt_probe: a ZeroMQ endpoint, an HTTP server, a port nobody listens
    on, a listener that says nothing, and endpoints that are not probed.
*/
#include "hpt_probe.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

//  A TCP listener on a free loopback port; its port in *port.
static int
s_listen (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    assert_int_equal (bind (fd, (struct sockaddr *)&address, sizeof (address)), 0);
    assert_int_equal (listen (fd, 4), 0);
    socklen_t size = sizeof (address);
    getsockname (fd, (struct sockaddr *)&address, &size);
    *port = ntohs (address.sin_port);
    return fd;
}

//  Answers one connection as an HTTP server would: reads the request,
//  then a 400.
static void *
s_http_server (void *arg)
{
    int fd = accept (*(int *)arg, NULL, NULL);
    char request[256];
    if (fd >= 0 && recv (fd, request, sizeof (request), 0) > 0) {
        const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        send (fd, answer, sizeof (answer) - 1, MSG_NOSIGNAL);
    }
    if (fd >= 0) close (fd);
    return NULL;
}

static char *
s_endpoint (int port)
{
    static char text[64];
    snprintf (text, sizeof (text), "tcp://127.0.0.1:%d", port);
    return text;
}

static void
test_zeromq_peer (void **state)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    assert_int_equal (hpt_probe_endpoint (s_endpoint (port)), HPT_PROBE_ZMTP);
    assert_null (hpt_probe_advice (HPT_PROBE_ZMTP, s_endpoint (port)));
    zsock_destroy (&router);
}

static void
test_http_server (void **state)
{
    int port, fd = s_listen (&port);
    pthread_t server;
    pthread_create (&server, NULL, s_http_server, &fd);
    assert_int_equal (hpt_probe_endpoint (s_endpoint (port)), HPT_PROBE_HTTP);
    pthread_join (server, NULL);
    close (fd);
    char *advice = hpt_probe_advice (HPT_PROBE_HTTP, "tcp://h:7470");
    assert_non_null (strstr (advice, "tcp://h:7470 is an HTTP port"));
    assert_non_null (strstr (advice, "master.agents"));
    free (advice);
}

static void
test_nothing_and_silence (void **state)
{
    int port, fd = s_listen (&port);
    //  Accepted by the kernel (backlog) but never answered.
    assert_int_equal (hpt_probe_endpoint (s_endpoint (port)), HPT_PROBE_SILENT);
    close (fd);
    assert_int_equal (hpt_probe_endpoint (s_endpoint (port)), HPT_PROBE_REFUSED);
    char *advice = hpt_probe_advice (HPT_PROBE_REFUSED, s_endpoint (port));
    assert_non_null (strstr (advice, "nothing listens at tcp://127.0.0.1:"));
    free (advice);
}

static void
test_not_probed (void **state)
{
    const char *endpoints[] = {
        "ipc:///tmp/x",       "tcp://", "tcp://:80", "tcp://host:", "tcp://eth0;host:80",
        "http://127.0.0.1:80"};
    for (size_t i = 0; i < sizeof (endpoints) / sizeof (endpoints[0]); i++)
        assert_int_equal (hpt_probe_endpoint (endpoints[i]), HPT_PROBE_UNPROBED);
    assert_null (hpt_probe_advice (HPT_PROBE_UNPROBED, "ipc:///tmp/x"));
}

//  The actor answers once with the result, then waits for $TERM.
static void
test_actor (void **state)
{
    zactor_t *probe = zactor_new (hpt_probe_actor, (void *)"ipc:///tmp/x");
    char *answer = zstr_recv (probe);
    assert_int_equal (atoi (answer), HPT_PROBE_UNPROBED);
    zstr_free (&answer);
    zactor_destroy (&probe);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_zeromq_peer),
        cmocka_unit_test (test_http_server),
        cmocka_unit_test (test_nothing_and_silence),
        cmocka_unit_test (test_not_probed),
        cmocka_unit_test (test_actor),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
