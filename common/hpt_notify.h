/*  hpt_notify -- systemd's readiness protocol (sd_notify), spoken directly

    A unit with Type=notify starts hptmaster or hptagent with
    NOTIFY_SOCKET set to a datagram socket; the daemon sends "READY=1"
    there once it serves, so `systemctl start` returns only then, and
    "RELOADING=1" / "READY=1" around a SIGHUP reload, "STOPPING=1" when it
    begins to stop. This is the documented socket protocol
    (sd_notify(3), "NOTES"): one datagram of newline-separated
    assignments to an AF_UNIX path (or, with a leading '@', an abstract
    address). Speaking it directly keeps libsystemd out of the packages'
    dependencies; without NOTIFY_SOCKET every call does nothing.
*/
#ifndef HPT_NOTIFY_H_INCLUDED
#define HPT_NOTIFY_H_INCLUDED

//  Sends state ("READY=1\nSTATUS=...") to the service manager. Returns 1
//  when it was sent, 0 when there is no NOTIFY_SOCKET, -1 when sending
//  failed (which a daemon ignores: it runs the same without a manager).
int hpt_notify (const char *state);

#endif
