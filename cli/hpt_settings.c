/*  hpt_settings -- where the master is and who is asking

    The file is stat'ed before it is read: its mode decides whether its
    token may be used, and a missing default file is simply no file. Each
    setting is then taken from the first source that has it, and the
    context is told where it came from in words a message can use
    ("HPT_MASTER", "master: in /home/ann/.config/hpt/config.yaml"), since
    "cannot reach" and "token refused" are only useful when they say what
    to change.

    The default's description names every place a URL could have come
    from, so a message about the default says how to set one.
*/
#include "hpt_settings.h"
#include "hpt_alloc.h"
#include "hpt_client.h"
#include "hpt_diag.h"
#include "hpt_schema.h"
#include "hpt_tree.h"
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_TOKEN_MAX 512

//  What the file says; every member owned, NULL when absent.
typedef struct {
    char *master;
    char *token;
    char *ca_cert;
    char *project;
} s_file_t;

struct _hpt_settings_t {
    char *path;        //  the config file, owned
    bool from_env;     //  path is $HPT_CONFIG's
    bool found;        //  the file exists (and was read)
    unsigned mode;     //  its permission bits, when found
    s_file_t file;     //  what it says
    char *master_from; //  "master: in PATH" or the default's description, owned
    char *token_from;  //  "token: in PATH", owned
};

//  An environment variable's value, NULL when unset or empty.
static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}

//  ---------------------------------------------------------------------
//  The file

static bool
s_master_field (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    (void)f;
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    char why[512];
    if (!hpt_client_url_ok (text, why, sizeof (why))) {
        hpt_schema_error (r, v, "%s", why);
        return false;
    }
    return hpt_schema_string (r, v, true, &((s_file_t *)t)->master);
}

static bool
s_token_field (hpt_schema_t *r, hpt_node_t *v, void *t, const hpt_schema_field_t *f)
{
    (void)f;
    const char *text = hpt_schema_text (r, v, true);
    if (!text) return false;
    if (!hpt_settings_token_ok (text)) {
        //  Never quote it: it is a secret, even when mistyped.
        hpt_schema_error (r, v,
                          "not a token: a token is printable ASCII without spaces, at most %d "
                          "bytes, as hpt users add prints it",
                          S_TOKEN_MAX);
        return false;
    }
    return hpt_schema_string (r, v, true, &((s_file_t *)t)->token);
}

static const hpt_schema_field_t s_fields[] = {
    HPT_SCHEMA_FIELD ("master", s_master_field),
    HPT_SCHEMA_FIELD ("token", s_token_field),
    HPT_SCHEMA_NONEMPTY ("caCert", s_file_t, ca_cert),
    HPT_SCHEMA_NONEMPTY ("project", s_file_t, project),
};

//  The file's path: $HPT_CONFIG, else ~/.config/hpt/config.yaml (HOME,
//  else the passwd entry); NULL when there is no home to look in.
static char *
s_path (bool *from_env)
{
    const char *path = s_env ("HPT_CONFIG");
    *from_env = path != NULL;
    if (path) return hpt_strdup (path);
    const char *home = s_env ("HOME");
    struct passwd *pw = home ? NULL : getpwuid (getuid ());
    if (!home && pw && pw->pw_dir && *pw->pw_dir) home = pw->pw_dir;
    return home ? hpt_asprintf ("%s/.config/hpt/config.yaml", home) : NULL;
}

//  Whether text holds nothing but blank lines and comments: a file with
//  every setting commented out sets nothing (YAML calls it no document).
static bool
s_blank (const char *text)
{
    for (const char *line = text; line; line = strchr (line, '\n'), line = line ? line + 1 : NULL) {
        line += strspn (line, " \t\r");
        if (*line && *line != '\n' && *line != '#') return false;
    }
    return true;
}

//  Reads the file into self->file. Returns false after printing its
//  problems (every one, at its line and column).
static bool
s_read (hpt_settings_t *self)
{
    struct stat st;
    if (stat (self->path, &st) != 0) {
        if (errno == ENOENT && !self->from_env) return true;
        fprintf (stderr, "hpt: %s (%s): cannot open: %s\n", self->path,
                 self->from_env ? "HPT_CONFIG" : "the config file", strerror (errno));
        return false;
    }
    self->found = true;
    self->mode = (unsigned)st.st_mode & 0777;
    hpt_diag_t *diag = hpt_diag_new (self->path, false);
    hpt_schema_t schema;
    hpt_schema_init (&schema, diag);
    size_t size = 0;
    char *text = hpt_schema_read_file (&schema, self->path, &size);
    //  An empty file sets nothing (HPT_CONFIG=/dev/null turns the file off).
    hpt_node_t *root =
        text && !s_blank (text) ? hpt_schema_parse (&schema, text, size, false) : NULL;
    if (root && !hpt_schema_is_null (root))
        hpt_schema_object (&schema, root, HPT_SCHEMA_FIELDS (s_fields), &self->file);
    hpt_node_destroy (&root);
    if (text) explicit_bzero (text, size); //  it may hold the token
    free (text);
    bool ok = schema.problems == 0;
    if (!ok) {
        hpt_diag_sort (diag);
        hpt_diag_print (diag, stderr);
        fprintf (stderr,
                 "hpt: %zu problem%s in the config file %s (keys: master, token, caCert, "
                 "project)\n",
                 schema.problems, schema.problems == 1 ? "" : "s", self->path);
    }
    hpt_diag_destroy (&diag);
    return ok;
}

//  A relative caCert is relative to the file's directory: commands run
//  anywhere, the file stays in ~/.config.
static void
s_anchor_ca_cert (hpt_settings_t *self)
{
    char *ca = self->file.ca_cert;
    const char *slash = strrchr (self->path, '/');
    if (!ca || ca[0] == '/' || !slash) return;
    self->file.ca_cert = hpt_asprintf ("%.*s/%s", (int)(slash - self->path), self->path, ca);
    free (ca);
}

//  ---------------------------------------------------------------------
//  Resolving

bool
hpt_settings_token_ok (const char *text)
{
    size_t len = strlen (text);
    if (len == 0 || len > S_TOKEN_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f) return false;
    return true;
}

//  The token: HPT_TOKEN, else the file's, which is refused when others
//  may read the file. Returns false after saying why.
static bool
s_token (hpt_settings_t *self, hpt_cli_context_t *context)
{
    bool exposed = self->file.token && (self->mode & 077);
    const char *env = s_env ("HPT_TOKEN");
    if (env && !hpt_settings_token_ok (env)) {
        fprintf (stderr, "hpt: HPT_TOKEN is not a token: a token is printable ASCII without "
                         "spaces or newlines, as hpt users add prints it\n");
        return false;
    }
    if (env && exposed)
        fprintf (stderr,
                 "WARNING: %s holds a token and others may read it (mode %04o): chmod 600 %s "
                 "(hpt uses HPT_TOKEN instead)\n",
                 self->path, self->mode, self->path);
    if (env) {
        context->token = env;
        context->token_from = "HPT_TOKEN";
    } else if (exposed) {
        fprintf (stderr,
                 "hpt: %s holds a token, but its mode %04o lets others read it, so hpt will not "
                 "use it.\n  Make the file yours alone with: chmod 600 %s\n  (if others may "
                 "have read it already, have an admin issue a new one: hpt users token NAME)\n",
                 self->path, self->mode, self->path);
        return false;
    } else if (self->file.token) {
        context->token = self->file.token;
        context->token_from = self->token_from = hpt_asprintf ("token: in %s", self->path);
    }
    return true;
}

//  One setting: the flag's when set, else the variable's, else the
//  file's, else the default (which may be NULL).
static void
s_pick (const char **slot, const char *variable, const char *file_value, const char *fallback)
{
    if (*slot) return;
    const char *env = s_env (variable);
    *slot = env ? env : file_value ? file_value : fallback;
}

hpt_settings_t *
hpt_settings_resolve (hpt_cli_context_t *context)
{
    hpt_settings_t *self = hpt_calloc (1, sizeof (hpt_settings_t));
    self->path = s_path (&self->from_env);
    if ((self->path && !s_read (self)) || !s_token (self, context)) {
        hpt_settings_destroy (&self);
        return NULL;
    }
    if (self->path) s_anchor_ca_cert (self);
    const char *path = self->path ? self->path : "~/.config/hpt/config.yaml";
    context->config_path = path;
    if (!context->master) {
        if (s_env ("HPT_MASTER"))
            context->master_from = "HPT_MASTER";
        else if (self->file.master)
            context->master_from = self->master_from = hpt_asprintf ("master: in %s", path);
        else
            context->master_from = self->master_from =
                hpt_asprintf ("the default (no --master, HPT_MASTER or master: in %s)", path);
    }
    s_pick (&context->master, "HPT_MASTER", self->file.master, HPT_CLI_DEFAULT_MASTER);
    s_pick (&context->project, "HPT_PROJECT", self->file.project, HPT_CLI_DEFAULT_PROJECT);
    s_pick (&context->ca_cert, "HPT_CA_CERT", self->file.ca_cert, NULL);
    return self;
}

void
hpt_settings_destroy (hpt_settings_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_settings_t *self = *self_p;
    if (self->file.token) explicit_bzero (self->file.token, strlen (self->file.token));
    free (self->file.token);
    free (self->file.master);
    free (self->file.ca_cert);
    free (self->file.project);
    free (self->master_from);
    free (self->token_from);
    free (self->path);
    free (self);
    *self_p = NULL;
}
