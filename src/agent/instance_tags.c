/* agent/instance_tags.c - the tags sent with RegisterContainerInstance.
 *
 * ECS_CONTAINER_INSTANCE_TAGS are sent as they are.  With
 * ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance the EC2 instance's
 * own tags are added, as upstream does, except that they are read from the
 * instance metadata (meta-data/tags/instance: the key list, then one GET per
 * key; EC2 serves them when the instance allows tags in its metadata)
 * instead of EC2's DescribeTags call.  A configured tag wins over an EC2 tag
 * of the same key; EC2's reserved aws: tags are left out (ECS refuses them).
 * When the tags cannot be read the configured ones are sent alone (one
 * warning), as upstream does when DescribeTags fails.
 */
#include "agent/agent_internal.h"
#include "aws/sigv4.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define MOD "agent"
#define TAGS_PATH "/latest/meta-data/tags/instance"
#define TAGS_MAX 50 /* ECS takes at most 50 tags per resource */

static void tags_next (struct agent *a);

static void
tags_finish (struct agent *a)
{
  a->tags_done = true;
  free (a->tag_keys);
  a->tag_keys = NULL;
  a->n_tag_keys = 0;
  a->tags_done_fn (a);
}

static void
tags_value_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct agent *a = data;
  a->imds_op = NULL;
  char *key = a->tag_keys[a->tag_next++];
  if (err)
    log_warn (MOD, "EC2 instance tag %s: %s; not propagated", key, error_msg (&err));
  else
    {
      a->ec2_tags = xrealloc (a->ec2_tags, (a->n_ec2_tags + 1) * sizeof *a->ec2_tags);
      a->ec2_tags[a->n_ec2_tags].key = xstrdup (key);
      a->ec2_tags[a->n_ec2_tags].value = xstrndup (body ? body : "", body ? len : 0);
      a->n_ec2_tags++;
    }
  tags_next (a);
}

static void
tags_next (struct agent *a)
{
  if (a->tag_next >= a->n_tag_keys || a->n_ec2_tags >= TAGS_MAX)
    {
      log_info (MOD, "%zu EC2 instance tags to propagate to the container instance", a->n_ec2_tags);
      tags_finish (a);
      return;
    }
  const char *key = a->tag_keys[a->tag_next];
  cleanup_free char *enc = aws_uri_encode (key, strlen (key), 0);
  cleanup_free char *path = xasprintf ("%s/%s", TAGS_PATH, enc);
  agent_error_t err = NULL;
  a->imds_op = imds_get (a->imds, path, tags_value_cb, a, &err);
  if (a->imds_op == NULL)
    {
      tags_value_cb (NULL, 0, err, a);
      error_free (&err);
    }
}

static void
tags_list_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct agent *a = data;
  a->imds_op = NULL;
  if (err)
    {
      log_warn (MOD, "cannot read the EC2 instance's tags from the instance metadata (%s; are tags "
                "allowed in the instance metadata?): registering with ECS_CONTAINER_INSTANCE_TAGS only",
                error_msg (&err));
      tags_finish (a);
      return;
    }
  a->tag_buf = xstrndup (body ? body : "", body ? len : 0);
  for (char *save = NULL, *k = strtok_r (a->tag_buf, "\r\n", &save); k; k = strtok_r (NULL, "\r\n", &save))
    {
      if (!*k || strncmp (k, "aws:", 4) == 0)
        continue;
      a->tag_keys = xrealloc (a->tag_keys, (a->n_tag_keys + 1) * sizeof *a->tag_keys);
      a->tag_keys[a->n_tag_keys++] = k;
    }
  a->tag_next = 0;
  tags_next (a);
}

void
agent_tags_fetch (struct agent *a, void (*done) (struct agent *))
{
  a->tags_done_fn = done;
  agent_error_t err = NULL;
  a->imds_op = imds_get (a->imds, TAGS_PATH, tags_list_cb, a, &err);
  if (a->imds_op == NULL)
    {
      tags_list_cb (NULL, 0, err, a);
      error_free (&err);
    }
}

struct ecs_attribute *
agent_registration_tags (const struct agent *a, size_t *n)
{
  const struct agent_config *cfg = a->cfg;
  struct ecs_attribute *t = xcalloc (cfg->n_instance_tags + a->n_ec2_tags + 1, sizeof *t);
  *n = 0;
  for (size_t i = 0; i < cfg->n_instance_tags; i++)
    t[(*n)++] = (struct ecs_attribute){ cfg->instance_tags[i].key, cfg->instance_tags[i].value };
  for (size_t i = 0; i < a->n_ec2_tags; i++)
    {
      bool configured = false;
      for (size_t j = 0; j < cfg->n_instance_tags && !configured; j++)
        configured = strcmp (cfg->instance_tags[j].key, a->ec2_tags[i].key) == 0;
      if (!configured)
        t[(*n)++] = (struct ecs_attribute){ a->ec2_tags[i].key, a->ec2_tags[i].value };
    }
  return t;
}

void
agent_tags_free (struct agent *a)
{
  for (size_t i = 0; i < a->n_ec2_tags; i++)
    {
      free (a->ec2_tags[i].key);
      free (a->ec2_tags[i].value);
    }
  free (a->ec2_tags);
  free (a->tag_keys);
  free (a->tag_buf);
  a->ec2_tags = NULL;
  a->tag_keys = NULL;
  a->tag_buf = NULL;
  a->n_ec2_tags = a->n_tag_keys = 0;
}
