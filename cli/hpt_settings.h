/*  hpt_settings -- where the master is and who is asking

    hpt needs four settings to talk to a master: its URL, the API token,
    the CA to verify an https:// master with, and the project. Each comes
    from the first of these that has it:

        a flag            --master, --ca-cert, --project
        the environment   HPT_MASTER, HPT_TOKEN, HPT_CA_CERT, HPT_PROJECT
        the config file   master, token, caCert, project
        the default       http://127.0.0.1:7470, no token, the system's
                          CAs, project "default"

    There is no token flag: a command line is visible to every user in ps
    and kept in shell history. An empty variable counts as unset.

    The config file is $HPT_CONFIG, else ~/.config/hpt/config.yaml. A
    missing default file is no file; a missing $HPT_CONFIG is an error
    (someone meant it to be read); an empty file (HPT_CONFIG=/dev/null)
    sets nothing. It is YAML read with hpt_schema, so unknown keys and bad
    values are reported at their line and column, every one at once:

        master: https://head.lab:7470     http://, https://, unix:///PATH, unix:PATH
        token: hpt_...                    as hpt users add printed it
        caCert: tls/ca.pem                relative to the file's directory
        project: vision

    A token in a file that others may read is a token others have: when
    the file's token is the one hpt would send and the file's mode gives
    its group or others any access (mode & 077), hpt refuses to run and
    says `chmod 600 FILE`; when HPT_TOKEN overrides it, hpt only warns.

    Flags may come after the command words (hpt_cli_parse takes them
    anywhere), so resolving fills only what no flag has set yet, and a
    flag parsed later overwrites a value and where it came from.

    Invariants:
    - the context borrows every string it gets from here: the settings
      live until the command has run;
    - a token is never printed: messages name where it came from.
*/
#ifndef HPT_SETTINGS_H_INCLUDED
#define HPT_SETTINGS_H_INCLUDED

#include "hpt_cli.h"
#include <stdbool.h>

typedef struct _hpt_settings_t hpt_settings_t;

//  Reads the config file and fills the members of context that no flag
//  set (master, token, ca_cert, project, master_from, token_from,
//  config_path) from the environment, the file and the defaults. Returns
//  the settings, which own the strings context borrows from the file, or
//  NULL after printing why hpt cannot go on (a bad file, a token it will
//  not use, a malformed HPT_TOKEN): exit 2. The caller destroys them
//  after the command.
hpt_settings_t *hpt_settings_resolve (hpt_cli_context_t *context);

//  Destroys the settings (wiping the file's token) and nulls the pointer.
void hpt_settings_destroy (hpt_settings_t **self_p);

//  Whether text can be a token: 1 to 512 bytes of printable ASCII
//  without spaces, so it cannot break the header it travels in.
bool hpt_settings_token_ok (const char *text);

#endif
