/* Fuzzes the admin credentials check (auth/admin.c): the Authorization
 * header's Basic decoding and the X-Admin-Token comparison. */
#include "fuzz_input.h"

#include "auth/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct admin_auth admin;
    static int ready;
    if (!ready) {
        admin_auth_init(&admin, "admin-token-for-fuzzing", "password-for-fuzzing",
                        "viewer-password-for-fuzzing");
        ready = 1;
    }
    char *text = fuzz_string(data, size);
    if (text == NULL)
        return 0;
    admin_auth_check(&admin, NULL, text);
    admin_auth_check(&admin, text, NULL);
    free(text);
    return 0;
}
