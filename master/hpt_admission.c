/*  hpt_admission -- admitted agent keys and the ZAP handler (see
    hpt_admission.h)

    ZAP (RFC 27): libzmq sends each new connection's credentials to
    inproc://zeromq.zap.01 as [version "1.0", request id, domain, address,
    identity, mechanism, credentials...]; for CURVE the one credential is
    the client's 32-byte public key. The answer is [version, request id,
    status "200" or "400", status text, user id, metadata]. The handshake
    waits for it, so the handler must answer every request; it runs in
    the master's loop, whose handlers never block.
*/
#include "hpt_admission.h"
#include "hpt_alloc.h"
#include "hpt_log.h"
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct _hpt_admission_t {
    char *dir;                //  the admitted agents' public certificates
    zsock_t *zap;             //  REP bound to the ZAP endpoint
    zhashx_t *names;          //  Z85 public key -> agent name (owned strings)
    zhashx_t *groups;         //  Z85 public key -> NAME of agents NAME.* (owned strings)
    struct timespec mtime;    //  the directory's modification time when read
    zhashx_t *skipped;        //  path -> "mtime size" of files skipped as unreadable (owned)
    uint64_t refused;         //  connections refused
    int64_t last_refusal_log; //  when a refusal was last logged (ms)
};

//  Whether name is usable as an agent name (PROTOCOL.md's name rule).
static bool
s_name_ok (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > 128 || !isalnum ((unsigned char)name[0])) return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char)*c) && !strchr ("._:-", *c)) return false;
    return true;
}

//  A file's modification time and size as text, "" when it cannot be
//  stat'ed: what tells a skipped file rewritten since it was read.
static void
s_file_stamp (const char *path, char *stamp, size_t size)
{
    struct stat info;
    if (stat (path, &info) != 0)
        stamp[0] = '\0';
    else
        snprintf (stamp, size, "%lld.%09ld %lld", (long long)info.st_mtim.tv_sec,
                  info.st_mtim.tv_nsec, (long long)info.st_size);
}

//  A certificate copied in with cp or written in place is created (which
//  changes the directory's time) before its bytes are written (which does
//  not): read in between, it is empty or cut short. Such a file is
//  remembered in skipped, and read again once it changes.
static void
s_add_cert (zhashx_t *names, zhashx_t *taken, zhashx_t *skipped, const char *path)
{
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        hpt_log_warning ("%s is not a certificate; skipped", path);
        char stamp[64];
        s_file_stamp (path, stamp, sizeof stamp);
        zhashx_update (skipped, path, hpt_strdup (stamp));
        return;
    }
    const char *name = zcert_meta (cert, "name");
    if (!s_name_ok (name))
        hpt_log_warning ("certificate %s has no usable 'name'; skipped (make it with "
                         "hptagent keygen --name NAME)",
                         path);
    else if (zhashx_lookup (taken, name))
        hpt_log_warning ("certificate %s names agent %s, which another certificate "
                         "already names; skipped",
                         path, name);
    else {
        zhashx_insert (taken, name, (void *)name);
        zhashx_update (names, zcert_public_txt (cert), hpt_strdup (name));
    }
    zcert_destroy (&cert);
}

//  The admitted keys in dir: every *.cert file (secret halves, *_secret,
//  never belong there and are skipped). Files that are not certificates
//  go into skipped (emptied first). NULL with *error when dir cannot be
//  read.
static zhashx_t *
s_read_dir (const char *dir, zhashx_t *skipped, hpt_error_t *error)
{
    DIR *d = opendir (dir);
    if (!d) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot read agentCerts %s: %s", dir,
                       strerror (errno));
        return NULL;
    }
    zhashx_t *names = zhashx_new ();
    zhashx_set_destructor (names, (zhashx_destructor_fn *)zstr_free);
    zhashx_t *taken = zhashx_new ();
    zhashx_purge (skipped);
    struct dirent *entry;
    while ((entry = readdir (d))) {
        size_t len = strlen (entry->d_name);
        if (len < 6 || strcmp (entry->d_name + len - 5, ".cert") != 0) continue;
        char *path = hpt_asprintf ("%s/%s", dir, entry->d_name);
        s_add_cert (names, taken, skipped, path);
        free (path);
    }
    closedir (d);
    zhashx_destroy (&taken);
    return names;
}

static bool
s_mtime (const char *dir, struct timespec *mtime)
{
    struct stat info;
    if (stat (dir, &info) != 0) return false;
    *mtime = info.st_mtim;
    return true;
}

hpt_admission_t *
hpt_admission_new (const char *dir, hpt_error_t *error)
{
    hpt_admission_t *self = hpt_calloc (1, sizeof (hpt_admission_t));
    self->groups = zhashx_new ();
    zhashx_set_destructor (self->groups, (zhashx_destructor_fn *)zstr_free);
    self->skipped = zhashx_new ();
    zhashx_set_destructor (self->skipped, (zhashx_destructor_fn *)zstr_free);
    self->dir = hpt_strdup (dir);
    s_mtime (dir, &self->mtime);
    self->names = s_read_dir (dir, self->skipped, error);
    if (self->names) {
        self->zap = zsock_new (ZMQ_REP);
        if (zsock_bind (self->zap, S_ZAP_ENDPOINT) != 0) {
            hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot bind the ZAP handler %s: %s",
                           S_ZAP_ENDPOINT, zmq_strerror (zmq_errno ()));
            hpt_admission_destroy (&self);
        }
    } else
        hpt_admission_destroy (&self);
    return self;
}

void
hpt_admission_destroy (hpt_admission_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_admission_t *self = *self_p;
    zsock_destroy (&self->zap);
    zhashx_destroy (&self->names);
    zhashx_destroy (&self->groups);
    zhashx_destroy (&self->skipped);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

zsock_t *
hpt_admission_zap (hpt_admission_t *self)
{
    return self->zap;
}

//  The Z85 text of a 32-byte key frame, or "" for anything else.
static void
s_key_text (zframe_t *frame, char *text)
{
    text[0] = '\0';
    if (frame && zframe_size (frame) == 32) zmq_z85_encode (text, zframe_data (frame), 32);
}

static void
s_refusal (hpt_admission_t *self, const char *address, const char *why)
{
    self->refused++;
    if (zclock_time () - self->last_refusal_log < 1000) return;
    self->last_refusal_log = zclock_time ();
    hpt_log_warning ("refused a connection from %s: %s (%" PRIu64 " refused so far)", address, why,
                     self->refused);
}

void
hpt_admission_handle (hpt_admission_t *self)
{
    zmsg_t *request = zmsg_recv (self->zap);
    if (!request) return;
    char *version = zmsg_popstr (request), *id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request), *address = zmsg_popstr (request);
    zframe_t *identity = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    char text[41];
    s_key_text (key, text);
    hpt_admission_reload (self, false);
    const char *name = *text ? hpt_admission_name (self, text) : NULL;
    bool ok = mechanism && strcmp (mechanism, "CURVE") == 0 && name;
    if (!ok)
        s_refusal (self, address ? address : "?",
                   mechanism && strcmp (mechanism, "CURVE") != 0
                       ? "not CURVE"
                       : "its key is not in agentCerts (copy its NAME.cert there to enrol it)");
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, id ? id : "");
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, ok ? "OK" : "not admitted");
    zmsg_addstr (reply, ok ? text : "");
    zmsg_addmem (reply, NULL, 0);
    zmsg_send (&reply, self->zap);
    free (version);
    free (id);
    free (domain);
    free (address);
    free (mechanism);
    zframe_destroy (&identity);
    zframe_destroy (&key);
    zmsg_destroy (&request);
}

//  Whether a file skipped at the last read has changed since.
static bool
s_skipped_changed (hpt_admission_t *self)
{
    for (const char *was = zhashx_first (self->skipped); was; was = zhashx_next (self->skipped)) {
        char stamp[64];
        s_file_stamp (zhashx_cursor (self->skipped), stamp, sizeof stamp);
        if (strcmp (stamp, was) != 0) return true;
    }
    return false;
}

bool
hpt_admission_reload (hpt_admission_t *self, bool force)
{
    struct timespec now;
    if (!s_mtime (self->dir, &now)) return false;
    if (!force && now.tv_sec == self->mtime.tv_sec && now.tv_nsec == self->mtime.tv_nsec &&
        !s_skipped_changed (self))
        return false;
    hpt_error_t error;
    zhashx_t *skipped = zhashx_new ();
    zhashx_set_destructor (skipped, (zhashx_destructor_fn *)zstr_free);
    zhashx_t *names = s_read_dir (self->dir, skipped, &error);
    if (!names) {
        zhashx_destroy (&skipped);
        hpt_log_error ("%s; keeping the agents admitted so far", error.message);
        return false;
    }
    self->mtime = now;
    zhashx_destroy (&self->skipped);
    self->skipped = skipped;
    bool changed = zhashx_size (names) != zhashx_size (self->names);
    for (const char *name = zhashx_first (names); name && !changed; name = zhashx_next (names)) {
        const char *before = zhashx_lookup (self->names, zhashx_cursor (names));
        changed = !before || strcmp (before, name) != 0;
    }
    zhashx_destroy (&self->names);
    self->names = names;
    hpt_log_info ("%zu agent keys admitted (%s)", zhashx_size (names), self->dir);
    return changed;
}

const char *
hpt_admission_name (hpt_admission_t *self, const char *key)
{
    if (!key) return NULL;
    const char *name = zhashx_lookup (self->names, key);
    return name ? name : zhashx_lookup (self->groups, key);
}

bool
hpt_admission_allows (hpt_admission_t *self, const char *key, const char *name)
{
    if (!key || !name) return false;
    const char *single = zhashx_lookup (self->names, key);
    if (single) return strcmp (single, name) == 0;
    const char *group = zhashx_lookup (self->groups, key);
    size_t len = group ? strlen (group) : 0;
    return group && strncmp (name, group, len) == 0 && name[len] == '.' && name[len + 1];
}

void
hpt_admission_admit_group (hpt_admission_t *self, const char *key, const char *prefix)
{
    zhashx_update (self->groups, key, hpt_strdup (prefix));
}

void
hpt_admission_revoke_group (hpt_admission_t *self, const char *key)
{
    zhashx_delete (self->groups, key);
}

uint64_t
hpt_admission_refused (hpt_admission_t *self)
{
    return self->refused;
}

size_t
hpt_admission_count (hpt_admission_t *self)
{
    return zhashx_size (self->names);
}
