/* update/update.h - agent self-update over ACS (the rules of current upstream).
 *
 * Contract:
 *  - Updates disabled: StageUpdateMessage and PerformUpdateMessage are both
 *    NACKed "Updates are disabled".
 *  - StageUpdateMessage: messageId required (else dropped); updateInfo,
 *    location and signature required (NACK "Invalid update: no update info
 *    given|no location given|no signature given|URL parse error").  The
 *    same signature as an update already downloading/downloaded is ACKed
 *    and nothing else happens; a different one NACKs the previous message
 *    "New update arrived: <new id>" (cancelling its download) and goes on.
 *    The location is fetched with core/http.h (15 min timeout, HTTP status
 *    not checked, as upstream), streamed into
 *    <download_dir>/<20 hex>.ecs-update.tar while hashing SHA-256 (OpenSSL
 *    EVP).  A digest different from the trimmed signature deletes the file
 *    and NACKs "Unable to download: Hashsum validation failed"; other
 *    failures NACK "Unable to download: <error>".  On success the tarball is
 *    fsynced and <download_dir>/desired-image = "<tar name>\n" (0644) is
 *    written atomically off the loop thread (uv work queue), then ACK.
 *  - PerformUpdateMessage: nothing downloaded -> NACK "Cannot perform
 *    update; update not downloaded"; else ACK, and once the ACK is written
 *    to the socket (acs_session_flush, bounded) on_perform runs: main
 *    checkpoints and exits 42.
 *  - ACK / NACK carry the message's clusterArn / containerInstanceArn.
 *  - Frames go through acs_session_send_text, or a custom send function (tests).
 */
#ifndef UPDATE_UPDATE_H
#define UPDATE_UPDATE_H

#include <stdbool.h>
#include <uv.h>
#include "acs/codec.h"
#include "acs/session.h"
#include "core/error.h"
#include "core/http.h"

typedef struct update_manager update_t;

struct update_options
{
  bool enabled;             /* ECS_UPDATES_ENABLED */
  const char *download_dir; /* ECS_UPDATE_DOWNLOAD_DIR; NULL/"" = current directory */
  http_client_t *http;      /* required when enabled */
  long timeout_ms;          /* download timeout; 0 = 15 min */
  /* Frames: session (may be set later), or send (tests). */
  acs_session_t *session;
  int (*send) (void *ctx, const char *frame, agent_error_t *err);
  void *send_ctx;
  /* After the PerformUpdate ACK is out: main checkpoints and exits 42. */
  void (*on_perform) (void *data);
  void *data;
};

enum update_state
{
  UPDATE_NONE = 0,
  UPDATE_DOWNLOADING,
  UPDATE_DOWNLOADED,
};

update_t *update_new (uv_loop_t *loop, const struct update_options *opts, agent_error_t *err);
void update_set_session (update_t *u, acs_session_t *s);
/* Take ownership of m. */
void update_handle_stage (update_t *u, struct acs_update_message *m);
void update_handle_perform (update_t *u, struct acs_update_message *m);
/* Match acs_session_handlers.on_stage_update / on_perform_update (data = update_t). */
void update_on_stage (acs_session_t *s, struct acs_update_message *m, void *data);
void update_on_perform (acs_session_t *s, struct acs_update_message *m, void *data);
enum update_state update_get_state (const update_t *u);
/* Path of the downloaded tarball (NULL unless DOWNLOADED). */
const char *update_tarball (const update_t *u);
/* Cancels a download in flight (removing its partial file); a finalisation
   running on the work queue completes on the loop: run it afterwards. */
void update_free (update_t *u);

#endif
