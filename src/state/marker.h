/* state/marker.h - a durable note of the ACS messages being handled, so that
 * a message that killed the agent is recognised when ACS sends it again.
 *
 * Contract:
 *  - File <DataDir>/acs_payload_marker.json (mode 0600):
 *      {"Version":1,"Handling":[id..],"Suspects":[{"MessageId":id,"Deaths":n}..]}
 *  - state_marker_begin(id) adds id to "Handling" and writes the file
 *    durably (temp file + fsync + rename + fsync dir) before it returns:
 *    call it before the message is handled.  state_marker_end(id) drops id
 *    from "Handling" once the agent is done with it, and from the suspects
 *    too when it was acknowledged; the file is removed when nothing is left
 *    in it, else rewritten.  In the common case (one message at a time, no
 *    suspect) that is one durable write per message and one unlink.
 *  - state_marker_open() reads the file left by the previous run: every id
 *    still "Handling" was being handled when the agent died, so it becomes a
 *    suspect with one more death (at most STATE_MARKER_MAX_SUSPECTS are
 *    kept, the newest); the file is then rewritten so a second crash before
 *    the message comes back does not count twice.
 *  - Ids longer than STATE_MARKER_MAX_ID are kept as "sha256:<hex>" of the
 *    id, so the file stays small whatever ACS sends.
 *  - A missing file is a fresh start.  A file that is not a regular file,
 *    larger than STATE_MARKER_MAX_FILE or not valid is ignored (replaced at
 *    the next write) and state_marker_open() returns a warning to log.
 *  - data_dir NULL: memory only (checkpointing disabled; nothing survives a
 *    restart).  Single-threaded; blocking file I/O on the caller's thread.
 */
#ifndef STATE_MARKER_H
#define STATE_MARKER_H

#include <stdbool.h>
#include <stddef.h>
#include "core/error.h"

#define STATE_MARKER_FILE_NAME "acs_payload_marker.json"
#define STATE_MARKER_MAX_SUSPECTS 16
#define STATE_MARKER_MAX_HANDLING 64
#define STATE_MARKER_MAX_ID 128
#define STATE_MARKER_MAX_FILE (64 * 1024)

typedef struct state_marker state_marker_t;

/* Never fails: *warning (malloc'd, NULL if none) says why an existing file
   was ignored or could not be rewritten. */
state_marker_t *state_marker_open (const char *data_dir, char **warning);
void state_marker_free (state_marker_t *m);

/* Durable before it returns.  ERR_IO if the file could not be written (the
   id is still remembered in memory). */
int state_marker_begin (state_marker_t *m, const char *message_id, agent_error_t *err);
/* acknowledged: the suspect entry goes too.  Removing the file is not
   fsync'd: a crash right after it leaves a suspect that ACS never sends
   again, which costs nothing. */
int state_marker_end (state_marker_t *m, const char *message_id, bool acknowledged,
                      agent_error_t *err);

/* How many times the agent died while handling message_id (0: not a suspect). */
unsigned state_marker_deaths (const state_marker_t *m, const char *message_id);
size_t state_marker_suspect_count (const state_marker_t *m);
size_t state_marker_handling_count (const state_marker_t *m);
/* Full path of the file ("" when memory only). */
const char *state_marker_path (const state_marker_t *m);

#endif
