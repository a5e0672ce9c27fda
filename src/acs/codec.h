/* acs/codec.h - ACS websocket frames <-> typed structs.
 *
 * Contract:
 *  - A frame is one JSON object {"type":"<Shape>","message":{...}}.
 *    acs_decode() turns it into a struct acs_message whose union member
 *    matches the type; each message struct has exactly one free function.
 *    Unknown members are ignored; a member of the wrong JSON type, a frame
 *    that is not JSON, has no type / message object, or is bigger than
 *    ACS_MAX_FRAME is ERR_MALFORMED; a well-formed envelope with an
 *    unrecognised type is ERR_INVALID ("unrecognized type X").  The caller
 *    logs and drops such frames; the session goes on.
 *  - The "unframed" error form {"<Name>Exception":"<message>"} (the body
 *    ACS answers a refused handshake with) decodes as ACS_MSG_EXCEPTION,
 *    like the enveloped {"type":"<Name>Exception","message":{"message":..}}.
 *  - PayloadMessage.tasks are read into typed tasks by acs_task_from_json()
 *    (acs/task_codec.h); no jansson value leaves the decoder.
 *  - IAM role credentials are secrets.  Decoding never touches the logger
 *    (it may run on any thread); the decoded message carries them and
 *    acs_message_register_secrets(), called on the logger's thread before
 *    the message is logged or handed on, registers them with
 *    log_secret_add().  acs_iam_credentials_free() wipes them and
 *    unregisters them if they were registered (and only then).
 *  - Encoders return a malloc'd compact JSON frame; NULL members are omitted.
 *  Pure code: no I/O, no loop.
 */
#ifndef ACS_CODEC_H
#define ACS_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "task/task.h"

/* Frames above this size are dropped unread (ERR_MALFORMED). */
#define ACS_MAX_FRAME (16u * 1024u * 1024u)

enum acs_msg_type
{
  ACS_MSG_PAYLOAD = 1,
  ACS_MSG_HEARTBEAT,
  ACS_MSG_CLOSE,
  ACS_MSG_ERROR,
  ACS_MSG_STAGE_UPDATE,
  ACS_MSG_PERFORM_UPDATE,
  ACS_MSG_EXCEPTION, /* ServerException, InvalidClusterException, ... */
  ACS_MSG_IAM_CREDENTIALS,
  ACS_MSG_TASK_MANIFEST,
  ACS_MSG_TASK_STOP_VERIFICATION_ACK,
  ACS_MSG_ATTACHMENT, /* Attach{Task,Instance}NetworkInterfaces, ConfirmAttachment */
};

/* One entry of PayloadMessage.tasks, read with acs_task_from_json()
   (acs/task_codec.h). */
struct acs_payload_task
{
  struct task *task; /* NULL if the entry could not be read (or was null) */
  char *arn;         /* the entry's "arn" when it has one, even if unreadable */
  char *error;       /* why it could not be read; NULL for a JSON null entry */
};

struct acs_payload
{
  char *message_id;
  char *cluster_arn;
  char *container_instance_arn;
  bool has_seq_num;
  int64_t seq_num;
  int64_t generated_at;
  bool has_timeline;
  int64_t timeline;
  struct acs_payload_task *tasks; /* n_tasks entries, in payload order */
  size_t n_tasks;
  /* Over a limit of acs/task_codec.h: why.  Then no task was read: tasks
     holds the first ACS_PAYLOAD_MAX_TASKS entries, each with its arn (if
     any) and this as its error. */
  char *refused;
};

struct acs_heartbeat
{
  bool healthy;
  char *message_id; /* NULL (1.1.0 style) = no reply expected */
};

struct acs_close
{
  char *message;
};

struct acs_error_message
{
  char *message;
};

struct acs_exception
{
  char *type;    /* "InvalidClusterException" */
  char *message; /* may be NULL */
};

struct acs_update_message
{
  char *message_id;
  char *cluster_arn;
  char *container_instance_arn;
  bool has_update_info;
  char *location;  /* NULL if absent */
  char *signature; /* NULL if absent */
};

struct acs_role_credentials
{
  char *credentials_id;
  char *role_arn;
  char *access_key_id;
  char *secret_access_key; /* secret */
  char *session_token;     /* secret */
  char *expiration;
  char *credential_scope;
};

struct acs_iam_credentials
{
  char *message_id;
  char *task_arn;
  char *task_cluster_arn;
  char *role_type; /* "TaskApplication" | "TaskExecution" | NULL */
  bool has_credentials;
  struct acs_role_credentials creds;
  bool secrets_registered; /* by acs_message_register_secrets() */
};

struct acs_task_identifier
{
  char *task_arn;
  char *task_cluster_arn;
  char *desired_status;
};

struct acs_task_manifest
{
  char *message_id;
  char *cluster_arn;
  char *container_instance_arn;
  int64_t generated_at;
  int64_t timeline;
  struct acs_task_identifier *tasks;
  size_t n_tasks;
};

struct acs_task_stop_verification_ack
{
  char *message_id;
  int64_t generated_at;
  struct acs_task_identifier *stop_tasks;
  size_t n_stop_tasks;
};

/* Attachment messages: only the routing members (awsvpc is not supported). */
struct acs_attachment_message
{
  char *message_id;
  char *cluster_arn;
  char *container_instance_arn;
  char *task_arn;
  int64_t wait_timeout_ms;
};

struct acs_message
{
  enum acs_msg_type type;
  char *type_name; /* the frame's "type" (or the exception name) */
  union
  {
    struct acs_payload *payload;
    struct acs_heartbeat *heartbeat;
    struct acs_close *close;
    struct acs_error_message *error;
    struct acs_update_message *update; /* STAGE_UPDATE and PERFORM_UPDATE */
    struct acs_exception *exception;
    struct acs_iam_credentials *credentials;
    struct acs_task_manifest *manifest;
    struct acs_task_stop_verification_ack *stop_ack;
    struct acs_attachment_message *attachment;
  } u;
};

/* Decode one frame.  On success *out is a new message (acs_message_free). */
int acs_decode (const char *data, size_t len, struct acs_message **out, agent_error_t *err);
/* acs_decode() in two steps.  acs_decode_parse() reads the JSON into
   *root.  acs_decode_json() turns the tree into a message and takes root's
   reference.  Like acs_decode() they touch nothing but their arguments (a
   message that fails to decode is freed without touching the logger), so
   they may run on a worker thread. */
int acs_decode_parse (const char *data, size_t len, json_t **root, agent_error_t *err);
int acs_decode_json (json_t *root, struct acs_message **out, agent_error_t *err);
/* Register the secrets m carries (the IAM role credentials' access key id,
   secret key and session token) with the logger, on the logger's thread,
   before anything logs or takes m's contents; the free functions
   unregister them.  m may be NULL; a message without secrets is left as
   it is. */
void acs_message_register_secrets (struct acs_message *m);
/* Decode a failed-handshake response body (either encoding) into an
   exception; ERR_MALFORMED if it is neither. */
int acs_decode_handshake_error (const char *body, size_t len, struct acs_exception **out,
                                agent_error_t *err);

/* Whether name is one of the ACS exception shapes. */
bool acs_is_exception_type (const char *name);
/* "<type>: <message>" (malloc'd). */
char *acs_exception_text (const struct acs_exception *e);

void acs_message_free (struct acs_message *m);
/* Take the union member out of m (m->u... is set to NULL) - for handing a
   typed message to a handler that owns it afterwards. */
struct acs_payload *acs_message_take_payload (struct acs_message *m);
struct acs_update_message *acs_message_take_update (struct acs_message *m);
struct acs_iam_credentials *acs_message_take_credentials (struct acs_message *m);
struct acs_task_manifest *acs_message_take_manifest (struct acs_message *m);
struct acs_task_stop_verification_ack *acs_message_take_stop_ack (struct acs_message *m);

void acs_payload_free (struct acs_payload *p);
void acs_heartbeat_free (struct acs_heartbeat *h);
void acs_close_free (struct acs_close *c);
void acs_error_message_free (struct acs_error_message *e);
void acs_exception_free (struct acs_exception *e);
void acs_update_message_free (struct acs_update_message *u);
void acs_iam_credentials_free (struct acs_iam_credentials *c);
void acs_task_manifest_free (struct acs_task_manifest *m);
void acs_task_stop_verification_ack_free (struct acs_task_stop_verification_ack *a);
void acs_attachment_message_free (struct acs_attachment_message *a);

/* Encoders (malloc'd frames). */
char *acs_encode_ack (const char *cluster, const char *container_instance, const char *message_id);
char *acs_encode_nack (const char *cluster, const char *container_instance, const char *message_id,
                       const char *reason);
char *acs_encode_heartbeat_ack (const char *message_id);
char *acs_encode_iam_credentials_ack (const char *message_id, const char *expiration,
                                      const char *credentials_id);
char *acs_encode_task_stop_verification (const char *message_id,
                                         const struct acs_task_identifier *candidates, size_t n);

#endif
