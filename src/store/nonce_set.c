/* The in-memory nonce set: open addressing with linear probing over
 * (hash, seen_at) slots; see nonce_set.h.
 *
 * A slot once used is never emptied while the table lives, so a probe
 * stops at the first empty slot knowing the key is not further on. A slot
 * whose nonce is older than the window may be taken by another key, after
 * the probe has made sure the key is nowhere else in the run. The table is
 * rebuilt, without the old nonces, between transactions only
 * (nonce_set_reserve), so a journal entry's slot index stays valid until
 * the transaction ends. */
#include "store/nonce_set.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/hmac.h>

#include "util/random.h"

#define LEAST_SLOTS 1024
/* The table's hashes are keyed with secret random bits, so that whoever
 * chooses the nonces cannot choose collisions (long probe runs, or another
 * principal's nonce refused as a replay). */
#define NONCE_KEY_BYTES 16
#define NO_SLOT SIZE_MAX

struct slot {
    uint64_t key; /* 0: empty */
    double seen_at;
};

/* A slot as it was before a use changed it. */
struct change {
    size_t index;
    struct slot before;
};

struct nonce_set {
    struct slot *slots;
    size_t mask; /* slots - 1, the count a power of two */
    size_t used; /* slots with a key */
    size_t most_slots;
    double window;
    double latest;                /* the latest time a nonce was used at: the set's clock */
    struct hmac_sha256_ctx keyed; /* the key set, copied for each hash */
    struct change *journal;
    size_t journal_count;
    size_t journal_size;
};

/* Room is kept for one empty slot in four: linear probing's runs grow
 * long beyond that. */
static size_t slot_limit(size_t slots)
{
    return slots / 4 * 3;
}

struct nonce_set *nonce_set_new(double window, size_t most_slots)
{
    assert(most_slots >= LEAST_SLOTS && (most_slots & (most_slots - 1)) == 0);
    struct nonce_set *set = calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    uint8_t key[NONCE_KEY_BYTES];
    set->slots = calloc(LEAST_SLOTS, sizeof *set->slots);
    if (set->slots == NULL || !random_fill(key, sizeof key)) {
        nonce_set_free(set);
        return NULL;
    }
    hmac_sha256_set_key(&set->keyed, sizeof key, key);
    set->mask = LEAST_SLOTS - 1;
    set->most_slots = most_slots;
    set->window = window;
    return set;
}

void nonce_set_free(struct nonce_set *set)
{
    if (set == NULL)
        return;
    free(set->slots);
    free(set->journal);
    free(set);
}

/* The first 64 bits of HMAC-SHA256 under the set's secret key (Nettle's,
 * about a microsecond: little next to a signed request, which hashes its
 * whole body). The principal's NUL keeps ("ab", "c") and ("a", "bc") apart. */
static uint64_t nonce_key(const struct nonce_set *set, const char *principal, const char *nonce)
{
    struct hmac_sha256_ctx mac = set->keyed;
    uint8_t digest[8];
    hmac_sha256_update(&mac, strlen(principal) + 1, (const uint8_t *)principal);
    hmac_sha256_update(&mac, strlen(nonce), (const uint8_t *)nonce);
    hmac_sha256_digest(&mac, sizeof digest, digest);
    uint64_t key = 0;
    for (size_t i = 0; i < sizeof digest; i++)
        key = key << 8 | digest[i];
    return key != 0 ? key : 1;
}

static void insert_rebuilt(struct slot *slots, size_t mask, struct slot entry)
{
    size_t i = entry.key & mask;
    while (slots[i].key != 0)
        i = (i + 1) & mask;
    slots[i] = entry;
}

/* The smallest table (a power of two) that holds need nonces at most half
 * full, so that the next rebuild is a quarter of the table's inserts away
 * (the rebuild's cost, one pass over the slots, is then 4 slots per
 * insert); most_slots at most. */
static size_t slots_for(const struct nonce_set *set, size_t need)
{
    size_t slots = LEAST_SLOTS;
    while (slots < set->most_slots && slots / 2 < need)
        slots *= 2;
    return slots;
}

bool nonce_set_reserve(struct nonce_set *set, size_t coming)
{
    assert(set->journal_count == 0);
    if (set->used + coming <= slot_limit(set->mask + 1))
        return true;
    double oldest = set->latest - set->window;
    size_t live = 0;
    for (size_t i = 0; i <= set->mask; i++)
        live += set->slots[i].key != 0 && set->slots[i].seen_at > oldest;
    size_t slots = slots_for(set, live + coming);
    struct slot *rebuilt = calloc(slots, sizeof *rebuilt);
    if (rebuilt == NULL)
        return false;
    for (size_t i = 0; i <= set->mask; i++) {
        if (set->slots[i].key != 0 && set->slots[i].seen_at > oldest)
            insert_rebuilt(rebuilt, slots - 1, set->slots[i]);
    }
    free(set->slots);
    set->slots = rebuilt;
    set->mask = slots - 1;
    set->used = live;
    return set->used + coming <= slot_limit(slots);
}

static bool journal_room(struct nonce_set *set)
{
    if (set->journal_count < set->journal_size)
        return true;
    size_t size = set->journal_size ? set->journal_size * 2 : 64;
    struct change *grown = realloc(set->journal, size * sizeof *grown);
    if (grown == NULL)
        return false;
    set->journal = grown;
    set->journal_size = size;
    return true;
}

/* Writes entry into slot index, remembering what was there. */
static void record(struct nonce_set *set, size_t index, struct slot entry)
{
    struct change *change = &set->journal[set->journal_count++];
    change->index = index;
    change->before = set->slots[index];
    set->used += change->before.key == 0;
    set->slots[index] = entry;
}

enum bus_err nonce_set_use(struct nonce_set *set, const char *principal, const char *nonce,
                           double now, double keep, bool *fresh)
{
    assert(keep <= set->window);
    /* Before anything can refuse: a full table is pruned (at the next
     * nonce_set_reserve) by this clock. */
    if (now > set->latest)
        set->latest = now;
    uint64_t key = nonce_key(set, principal, nonce);
    double oldest = now - set->window;
    size_t reusable = NO_SLOT;
    size_t i = key & set->mask;
    for (; set->slots[i].key != 0; i = (i + 1) & set->mask) {
        if (set->slots[i].key == key)
            break;
        if (reusable == NO_SLOT && set->slots[i].seen_at <= oldest)
            reusable = i;
    }
    *fresh = set->slots[i].key != key || now - set->slots[i].seen_at >= keep;
    if (!*fresh)
        return BUS_OK;
    if (set->slots[i].key != key && reusable != NO_SLOT)
        i = reusable;
    if (set->slots[i].key == 0 && set->used + 1 > slot_limit(set->mask + 1)) {
        *fresh = false;
        return BUS_ERR_DATABASE_BUSY;
    }
    if (!journal_room(set)) {
        *fresh = false;
        return BUS_ERR_INTERNAL;
    }
    record(set, i, (struct slot){key, now});
    return BUS_OK;
}

void nonce_set_undo_last(struct nonce_set *set)
{
    assert(set->journal_count > 0);
    struct change *change = &set->journal[--set->journal_count];
    set->used -= change->before.key == 0;
    set->slots[change->index] = change->before;
}

void nonce_set_commit(struct nonce_set *set)
{
    set->journal_count = 0;
}

void nonce_set_rollback(struct nonce_set *set)
{
    while (set->journal_count > 0)
        nonce_set_undo_last(set);
}

void nonce_set_clear(struct nonce_set *set)
{
    memset(set->slots, 0, (set->mask + 1) * sizeof *set->slots);
    set->used = 0;
    set->journal_count = 0;
}

size_t nonce_set_used(const struct nonce_set *set)
{
    return set->used;
}

size_t nonce_set_slots(const struct nonce_set *set)
{
    return set->mask + 1;
}
