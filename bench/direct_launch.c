/* direct_launch - the lower bound for the launch benchmark.
 *
 * Creates and starts N containers through the Docker Engine API on its unix
 * socket with a minimal client: libcurl multi, one thread, at most C
 * containers in flight (each is POST /containers/create, then
 * POST /containers/<id>/start), nothing else (no pull, no inspect, no events,
 * no state).  Prints one JSON object:
 *   {"n":N,"concurrency":C,"ok":K,"start":<unix s>,"end":<unix s>,"elapsed_ms":...,
 *    "done_ms":[per-container ms from start to its start response, sorted],
 *    "ids":[...], "errors":[...]}
 * Exit status 0 when every container was created and started.
 *
 * Usage: direct_launch [-s SOCKET] [-n N] [-c C] [-i IMAGE] [-p NAME_PREFIX]
 *                      [-m MEMORY_MIB] [-u CPU_SHARES] [-l KEY=VALUE]... [-- CMD ARG...]
 * Containers are named <prefix>-<i> and labelled with every -l (the bench passes
 * ecs-agent-c-test=1); removing them is the caller's job (docker rm -f by label).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LABELS 32

struct job
{
  int idx;
  int stage; /* 0 create, 1 start, 2 done, -1 failed */
  char *id;
  char *body;
  size_t len;
  struct curl_slist *hdrs;
  char *post;
  char err[256];
  double done_ms;
};

static const char *sock_path = "/var/run/docker.sock";
static const char *image = "ecs-agent-c-test/busybox:latest";
static const char *prefix = "bench-direct";
static const char *label_k[MAX_LABELS], *label_v[MAX_LABELS];
static int n_labels;
static long mem_mib = 32, cpu_shares = 10;
static char **cmd;
static int n_cmd;
static double t_start;

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static size_t
write_cb (char *p, size_t sz, size_t nm, void *ud)
{
  struct job *j = ud;
  size_t n = sz * nm;
  char *nb = realloc (j->body, j->len + n + 1);
  if (nb == NULL)
    return 0;
  j->body = nb;
  memcpy (j->body + j->len, p, n);
  j->len += n;
  j->body[j->len] = '\0';
  return n;
}

static char *
create_json (void)
{
  json_t *cfg = json_object ();
  json_object_set_new (cfg, "Image", json_string (image));
  if (n_cmd)
    {
      json_t *a = json_array ();
      for (int i = 0; i < n_cmd; i++)
        json_array_append_new (a, json_string (cmd[i]));
      json_object_set_new (cfg, "Cmd", a);
    }
  json_t *l = json_object ();
  for (int i = 0; i < n_labels; i++)
    json_object_set_new (l, label_k[i], json_string (label_v[i]));
  json_object_set_new (cfg, "Labels", l);
  json_t *hc = json_object ();
  if (mem_mib > 0)
    json_object_set_new (hc, "Memory", json_integer ((json_int_t) mem_mib * 1024 * 1024));
  if (cpu_shares > 0)
    json_object_set_new (hc, "CpuShares", json_integer (cpu_shares));
  json_object_set_new (cfg, "HostConfig", hc);
  char *s = json_dumps (cfg, JSON_COMPACT);
  json_decref (cfg);
  return s;
}

static CURL *
job_request (struct job *j, const char *create_body)
{
  CURL *e = curl_easy_init ();
  char url[512];
  free (j->body);
  j->body = NULL;
  j->len = 0;
  if (j->stage == 0)
    snprintf (url, sizeof url, "http://localhost/containers/create?name=%s-%d", prefix, j->idx);
  else
    snprintf (url, sizeof url, "http://localhost/containers/%s/start", j->id);
  curl_easy_setopt (e, CURLOPT_UNIX_SOCKET_PATH, sock_path);
  curl_easy_setopt (e, CURLOPT_URL, url);
  curl_easy_setopt (e, CURLOPT_POST, 1L);
  if (j->stage == 0)
    {
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, create_body);
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, (long) strlen (create_body));
    }
  else
    {
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, 0L);
    }
  if (j->hdrs == NULL)
    {
      j->hdrs = curl_slist_append (NULL, "Content-Type: application/json");
      j->hdrs = curl_slist_append (j->hdrs, "Expect:");
    }
  curl_easy_setopt (e, CURLOPT_HTTPHEADER, j->hdrs);
  curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (e, CURLOPT_WRITEDATA, j);
  curl_easy_setopt (e, CURLOPT_PRIVATE, j);
  curl_easy_setopt (e, CURLOPT_TIMEOUT, 120L);
  return e;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
usage (void)
{
  fprintf (stderr, "usage: direct_launch [-s SOCKET] [-n N] [-c C] [-i IMAGE] [-p PREFIX] "
                   "[-m MEMORY_MIB] [-u CPU_SHARES] [-l KEY=VALUE]... [-- CMD ARG...]\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  int n = 1, conc = 0, opt;
  while ((opt = getopt (argc, argv, "s:n:c:i:p:m:u:l:h")) != -1)
    switch (opt)
      {
      case 's': sock_path = optarg; break;
      case 'n': n = atoi (optarg); break;
      case 'c': conc = atoi (optarg); break;
      case 'i': image = optarg; break;
      case 'p': prefix = optarg; break;
      case 'm': mem_mib = atol (optarg); break;
      case 'u': cpu_shares = atol (optarg); break;
      case 'l':
        {
          char *eq = strchr (optarg, '=');
          if (eq == NULL || n_labels >= MAX_LABELS)
            usage ();
          *eq = '\0';
          label_k[n_labels] = optarg;
          label_v[n_labels++] = eq + 1;
          break;
        }
      default: usage ();
      }
  cmd = argv + optind;
  n_cmd = argc - optind;
  if (n < 1)
    usage ();
  if (conc <= 0 || conc > n)
    conc = n;

  curl_global_init (CURL_GLOBAL_DEFAULT);
  char *create_body = create_json ();
  struct job *jobs = calloc ((size_t) n, sizeof *jobs);
  CURLM *m = curl_multi_init ();
  curl_multi_setopt (m, CURLMOPT_MAXCONNECTS, (long) conc + 4);
  int next = 0, inflight = 0, finished = 0, ok = 0;

  t_start = now_s ();
  while (finished < n)
    {
      while (inflight < conc && next < n)
        {
          struct job *j = &jobs[next];
          j->idx = next++;
          j->stage = 0;
          curl_multi_add_handle (m, job_request (j, create_body));
          inflight++;
        }
      int running = 0;
      curl_multi_perform (m, &running);
      CURLMsg *msg;
      int left;
      while ((msg = curl_multi_info_read (m, &left)))
        {
          if (msg->msg != CURLMSG_DONE)
            continue;
          CURL *e = msg->easy_handle;
          struct job *j = NULL;
          long code = 0;
          curl_easy_getinfo (e, CURLINFO_PRIVATE, (char **) &j);
          curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &code);
          CURLcode res = msg->data.result;
          curl_multi_remove_handle (m, e);
          curl_easy_cleanup (e);
          if (res != CURLE_OK || (j->stage == 0 && code != 201) || (j->stage == 1 && code != 204))
            {
              snprintf (j->err, sizeof j->err, "%s: %s %ld %.160s", j->stage ? "start" : "create",
                        curl_easy_strerror (res), code, j->body ? j->body : "");
              j->stage = -1;
              inflight--;
              finished++;
              continue;
            }
          if (j->stage == 0)
            {
              json_t *r = json_loads (j->body ? j->body : "", 0, NULL);
              const char *id = json_string_value (json_object_get (r, "Id"));
              if (id == NULL)
                {
                  snprintf (j->err, sizeof j->err, "create: no Id in %.160s", j->body ? j->body : "");
                  j->stage = -1;
                  inflight--;
                  finished++;
                  json_decref (r);
                  continue;
                }
              j->id = strdup (id);
              json_decref (r);
              j->stage = 1;
              curl_multi_add_handle (m, job_request (j, create_body));
            }
          else
            {
              j->stage = 2;
              j->done_ms = (now_s () - t_start) * 1000.0;
              inflight--;
              finished++;
              ok++;
            }
        }
      if (finished < n)
        curl_multi_poll (m, NULL, 0, 100, NULL);
    }
  double t_end = now_s ();

  json_t *out = json_object ();
  json_object_set_new (out, "n", json_integer (n));
  json_object_set_new (out, "concurrency", json_integer (conc));
  json_object_set_new (out, "ok", json_integer (ok));
  json_object_set_new (out, "start", json_real (t_start));
  json_object_set_new (out, "end", json_real (t_end));
  json_object_set_new (out, "elapsed_ms", json_real ((t_end - t_start) * 1000.0));
  double *d = calloc ((size_t) n, sizeof *d);
  int nd = 0;
  json_t *ids = json_array (), *errs = json_array (), *dm = json_array ();
  for (int i = 0; i < n; i++)
    {
      if (jobs[i].stage == 2)
        d[nd++] = jobs[i].done_ms;
      if (jobs[i].id)
        json_array_append_new (ids, json_string (jobs[i].id));
      if (jobs[i].stage == -1)
        json_array_append_new (errs, json_string (jobs[i].err));
    }
  qsort (d, (size_t) nd, sizeof *d, cmp_double);
  for (int i = 0; i < nd; i++)
    json_array_append_new (dm, json_real (d[i]));
  json_object_set_new (out, "done_ms", dm);
  json_object_set_new (out, "ids", ids);
  json_object_set_new (out, "errors", errs);
  char *s = json_dumps (out, JSON_COMPACT | JSON_REAL_PRECISION (15));
  puts (s);
  free (s);
  json_decref (out);
  for (int i = 0; i < n; i++)
    {
      free (jobs[i].id);
      free (jobs[i].body);
      curl_slist_free_all (jobs[i].hdrs);
    }
  free (jobs);
  free (d);
  free (create_body);
  curl_multi_cleanup (m);
  curl_global_cleanup ();
  return ok == n ? 0 : 1;
}
