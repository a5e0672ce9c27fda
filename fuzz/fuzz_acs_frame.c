/* libFuzzer target: ACS frame decoding (acs/codec.h) plus the handshake
 * error body decoder, and a re-encode of whatever decoded; the same bytes
 * as an ACS endpoint for the websocket URL (acs/url.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "acs/codec.h"
#include "acs/url.h"
#include "core/xmalloc.h"
#include "log/log.h"

/* The input (up to its first NUL) as a discovered endpoint. */
static void
fuzz_url (const uint8_t *data, size_t size)
{
  if (size > 4096)
    return;
  char *ep = xstrndup ((const char *) data, size);
  struct acs_url_params p = { .endpoint = ep, .cluster = ep, .agent_hash = "*h", .seq_num = 7 };
  struct acs_url u;
  agent_error_t err = NULL;
  int rc = acs_url_resolve (&p, &u, &err);
  if ((rc < 0) != (err != NULL))
    abort ();
  if (rc == 0
      && (!u.host || !*u.host || u.port < 1 || u.port > 65535 || u.path[0] != '/'
          || strncmp (u.http_url, "http", 4) != 0 || !strstr (u.path, "/ws?")))
    abort ();
  char *b = acs_build_url (&p);
  if (rc == 0 && !b)
    abort ();
  free (b);
  acs_url_free (&u);
  error_free (&err);
  free (ep);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  int rc = acs_decode ((const char *) data, size, &m, &err);
  if ((rc < 0) != (err != NULL) || (rc < 0) != (m == NULL) || (m && !m->type_name))
    abort ();
  if (rc == 0)
    {
      char *f = NULL;
      switch (m->type)
        {
        case ACS_MSG_PAYLOAD:
          f = acs_encode_ack (m->u.payload->cluster_arn, m->u.payload->container_instance_arn,
                              m->u.payload->message_id);
          break;
        case ACS_MSG_HEARTBEAT:
          f = acs_encode_heartbeat_ack (m->u.heartbeat->message_id);
          break;
        case ACS_MSG_STAGE_UPDATE:
        case ACS_MSG_PERFORM_UPDATE:
          f = acs_encode_nack (m->u.update->cluster_arn, m->u.update->container_instance_arn,
                               m->u.update->message_id, m->u.update->location);
          break;
        case ACS_MSG_IAM_CREDENTIALS:
          f = acs_encode_iam_credentials_ack (m->u.credentials->message_id,
                                              m->u.credentials->creds.expiration,
                                              m->u.credentials->creds.credentials_id);
          break;
        case ACS_MSG_TASK_MANIFEST:
          f = acs_encode_task_stop_verification (m->u.manifest->message_id, m->u.manifest->tasks,
                                                 m->u.manifest->n_tasks);
          break;
        case ACS_MSG_EXCEPTION:
          f = acs_exception_text (m->u.exception);
          break;
        default:
          break;
        }
      free (f);
      acs_message_free (m);
    }
  error_free (&err);
  struct acs_exception *e = NULL;
  rc = acs_decode_handshake_error ((const char *) data, size, &e, &err);
  if ((rc < 0) != (e == NULL) || (e && !e->type))
    abort ();
  acs_exception_free (e);
  error_free (&err);
  fuzz_url (data, size);
  return 0;
}
