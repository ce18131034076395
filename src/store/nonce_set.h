/* The nonces of signed requests seen in the last window, in memory: a
 * replay is found with one probe of a hash table instead of a random
 * insert into a b-tree (docs/BENCHMARKS.md, "Signed requests"). The
 * SQLite backend keeps one per database file, which one process owns
 * (sqlite_nonces.c): the set is the authority there, and the table it
 * also appends to is read back only when the file is opened again.
 *
 * Each entry is a 64-bit keyed hash of principal and nonce (HMAC-SHA256
 * under a key drawn per set, cut to 64 bits) and the time it was seen: 16
 * bytes a slot, a power of two of slots, a quarter to a half of them
 * holding the window's nonces after each prune: 32-64 bytes per nonce of
 * the last 600 s, i.e.
 * 2-4 MB at 100 signed requests a second, 20-40 MB at 1,000 (and as much
 * again for a moment while the table is rebuilt). Two different nonces
 * meet on one hash with a chance of about 2^-64 per pair; the later one
 * would then be refused as a replay.
 *
 * Changes are journalled until the transaction that carries them commits
 * (nonce_set_commit) or rolls back (nonce_set_rollback), so a nonce of a
 * lost transaction can be used again, as when it lived in the database.
 * Not thread-safe: the SQLite writer thread alone uses it once open. */
#ifndef STORE_NONCE_SET_H
#define STORE_NONCE_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/errors.h"

struct nonce_set;

/* An empty set that forgets a nonce window seconds after it was seen, of
 * at most most_slots slots (a power of two, 1024 or more). NULL when out
 * of memory or the key cannot be drawn. */
struct nonce_set *nonce_set_new(double window, size_t most_slots);
void nonce_set_free(struct nonce_set *set);

/* Makes room for `coming` more nonces before a transaction (the journal
 * must be empty): when they would fill more than 3/4 of the slots, the
 * table is rebuilt without the nonces older than the window (counted
 * back from the latest time a nonce was recorded at, the set's only
 * clock), at most half full (up to most_slots), smaller when mostly
 * empty. False when there is no room even so (most_slots, or no memory
 * for the larger table): the set is then as it was or smaller, and
 * nonce_set_use refuses nonces once it is full. */
bool nonce_set_reserve(struct nonce_set *set, size_t coming);

/* Records principal's nonce at now, in the journal: *fresh is false when
 * the same nonce was seen less than keep (<= the window) seconds before
 * now (a replay; nothing changes). BUS_ERR_DATABASE_BUSY when the table
 * has no free slot (nonce_set_reserve could not grow it), BUS_ERR_INTERNAL
 * when the journal cannot grow; nothing changes then either. */
enum bus_err nonce_set_use(struct nonce_set *set, const char *principal, const char *nonce,
                           double now, double keep, bool *fresh);

/* Undoes the last nonce_set_use that recorded a nonce (its write to the
 * database failed). */
void nonce_set_undo_last(struct nonce_set *set);

/* The transaction committed: its nonces stay. */
void nonce_set_commit(struct nonce_set *set);
/* The transaction rolled back: its nonces go, newest first. */
void nonce_set_rollback(struct nonce_set *set);

/* Forgets every nonce (an admin purge), the journal too. */
void nonce_set_clear(struct nonce_set *set);

/* Slots in use (nonces, including those past the window not yet pruned),
 * and slots in all, for tests and sizing. */
size_t nonce_set_used(const struct nonce_set *set);
size_t nonce_set_slots(const struct nonce_set *set);

#endif
