/*  hpt_page -- page sizes and page tokens of the REST lists
 */
#include "hpt_page.h"
#include "hpt_alloc.h"
#include "hpt_base64.h"
#include <stdbool.h>
#include <string.h>

int
hpt_page_size (const char *text, const char *name, size_t default_size, size_t max_size,
               size_t *size, hpt_error_t *error)
{
    *size = default_size;
    if (!text || !*text) return 0;
    size_t digits = strspn (text, "0123456789");
    if (digits == 0 || text[digits] != 0)
        return hpt_error_set (error, HPT_E_INVALID,
                              "%s must be a non-negative integer, not '%.64s'", name, text);
    //  Past max_size every value means the same; no overflow to care for.
    size_t value = 0;
    for (size_t i = 0; i < digits && value <= max_size; i++)
        value = value * 10 + (size_t)(text[i] - '0');
    if (value > 0) *size = value < max_size ? value : max_size;
    return 0;
}

char *
hpt_page_token (const char *kind, json_t *position)
{
    json_t *array = json_array ();
    json_array_append_new (array, json_string (kind));
    json_array_extend (array, position);
    char *text = json_dumps (array, JSON_COMPACT | JSON_REAL_PRECISION (17));
    json_decref (array);
    char *token = hpt_base64_encode (text, strlen (text), true);
    free (text);
    return token;
}

static bool
s_fits (json_t *value, char shape)
{
    const char *text = json_string_value (value);
    switch (shape) {
        case 's':
            return text != NULL;
        case 'S':
            return text != NULL || json_is_null (value);
        case 'i':
            return json_is_integer (value);
        case 'n':
            return json_is_number (value);
        case 'v':
            return json_is_number (value) ||
                   (text && (strcmp (text, "NaN") == 0 || strcmp (text, "Infinity") == 0 ||
                             strcmp (text, "-Infinity") == 0));
        default:
            return false;
    }
}

int
hpt_page_position (const char *token, const char *kind, const char *shape, json_t **position_p,
                   hpt_error_t *error)
{
    *position_p = NULL;
    if (!token || !*token) return 0;
    size_t size = 0;
    unsigned char *text = hpt_base64_decode (token, true, &size);
    json_t *array = text ? json_loadb ((const char *)text, size, 0, NULL) : NULL;
    free (text);
    size_t length = strlen (shape);
    bool ok = json_is_array (array) && json_array_size (array) == length + 1 &&
              json_is_string (json_array_get (array, 0)) &&
              strcmp (json_string_value (json_array_get (array, 0)), kind) == 0;
    for (size_t i = 0; ok && i < length; i++)
        ok = s_fits (json_array_get (array, i + 1), shape[i]);
    if (!ok) {
        json_decref (array);
        return hpt_error_set (error, HPT_E_INVALID,
                              "pageToken is not a page token of this list; use the "
                              "nextPageToken of its previous page");
    }
    json_array_remove (array, 0);
    *position_p = array;
    return 0;
}
