/* core/lws_util.h - libwebsockets contexts on the agent's libuv loop.
 *
 * Contract:
 *  - A context made with lws_util_context_create() joins `loop` as a foreign
 *    loop; the uv handles libwebsockets opens on it (while creating the
 *    context or a vhost through lws_util_vhost_create()) are recorded in the
 *    caller's struct lws_util_handles.
 *  - lws_util_context_destroy() is the one teardown: the first
 *    lws_context_destroy() closes every connection and handle; libwebsockets
 *    then closes its uv handles over the next loop turns, and only once they
 *    are gone is the second lws_context_destroy() (which frees the context)
 *    safe.  The helper polls each loop turn (at least 3) until no recorded
 *    handle is left and busy_cb (may be NULL) returns false, or max_turns
 *    passed; then it frees the context, or leaks it when handles or the
 *    caller's busy condition remain (leaked = true: the caller logs it).
 *    done_cb runs once, on the loop, after the helper's own handle closed;
 *    the record is emptied.  Nothing here logs, blocks or exits.
 */
#ifndef CORE_LWS_UTIL_H
#define CORE_LWS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <libwebsockets.h>
#include <uv.h>

/* The uv handles libwebsockets opened on the loop for one context. */
struct lws_util_handles
{
  void **v;
  size_t n;
};

/* info->foreign_loops and LWS_SERVER_OPTION_LIBUV are set here. */
struct lws_context *lws_util_context_create (uv_loop_t *loop,
                                             struct lws_context_creation_info *info,
                                             struct lws_util_handles *track);
struct lws_vhost *lws_util_vhost_create (struct lws_context *ctx, uv_loop_t *loop,
                                         const struct lws_context_creation_info *info,
                                         struct lws_util_handles *track);
/* Forget the record (the context was never made, or is already freed). */
void lws_util_handles_free (struct lws_util_handles *track);

typedef bool (*lws_util_busy_cb) (void *data);
typedef void (*lws_util_done_cb) (bool leaked, void *data);

/* Two-phase teardown described above; ctx may be NULL (done_cb still runs
   on a later loop turn).  Takes over `track`. */
void lws_util_context_destroy (struct lws_context *ctx, uv_loop_t *loop,
                               struct lws_util_handles *track, unsigned max_turns,
                               lws_util_busy_cb busy_cb, lws_util_done_cb done_cb, void *data);

#endif
