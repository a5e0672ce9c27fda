/* docker/stats.h - container stats (GET /containers/<id>/stats): one-shot
 * samples and per-container sample streams.
 *
 * Contract:
 *  - docker_container_stats asks the daemon for ONE sample of a container's
 *    resource usage (stream=false; with one_shot also "one-shot=true", which
 *    the daemon honours from API 1.41 on and ignores before: the answer comes
 *    at once, without the ~1 s wait that fills precpu_stats).  No transfer
 *    stays open.  The callback follows docker.h's rules (exactly once, later
 *    on the loop, result BORROWED for the duration of the callback).
 *  - The result carries the raw body verbatim (the task metadata endpoint
 *    serves it as it is) and the numbers telemetry needs, parsed at the edge
 *    by docker_parse_stats (pure, fuzzed).  Keys are matched as Docker spells
 *    them, else case-insensitively (upstream decodes with Go's JSON, which
 *    accepts "Usage" for "usage").  Missing numbers are 0 (has_* says which
 *    optional ones were present); negative or non-integer numbers are refused.
 *  - Podman (its compatible API, seen on 4.3.1) answers differently, and
 *    docker_parse_stats_podman makes its answer Docker's before parsing:
 *    the container id is spelled "Id" (Docker: "id"), renamed; a container
 *    that is not running gets 200 with an EMPTY body (Docker: a zeroed
 *    sample), refused as ERR_NOT_FOUND; precpu_stats and preread are always
 *    empty (Podman takes no second sample, with or without one-shot), so the
 *    client keeps the last sample's cpu_stats of up to DOCKER_STATS_CACHE_N
 *    containers and fills precpu_stats / preread of the next sample of the
 *    same container from it (what the ~1 s second sample gives on Docker,
 *    over the time since the previous request: the telemetry poll keeps it
 *    at most one poll interval old).  The raw body is then the normalized
 *    JSON, no longer Podman's bytes.
 */
#ifndef DOCKER_STATS_H
#define DOCKER_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "docker/docker.h"

/* Network counters summed over every entry of "networks". */
struct docker_net_stats
{
  uint64_t rx_bytes, rx_packets, rx_errors, rx_dropped;
  uint64_t tx_bytes, tx_packets, tx_errors, tx_dropped;
};

struct docker_stats
{
  char *raw;      /* the response body, NUL-terminated */
  size_t raw_len;
  char *id;       /* "id" (any case), NULL when absent */
  int64_t read_ns;     /* "read" in unix ns; 0 when absent or Go's zero time */
  int64_t preread_ns;  /* "preread" */
  /* cpu_stats */
  uint64_t cpu_total;   /* cpu_usage.total_usage (ns) */
  uint64_t cpu_system;  /* system_cpu_usage (ns) */
  uint32_t online_cpus;
  size_t n_percpu;      /* entries of cpu_usage.percpu_usage (cgroup v1 only) */
  /* precpu_stats (0 with one-shot) */
  uint64_t precpu_total, precpu_system;
  /* memory_stats */
  uint64_t mem_usage, mem_max_usage, mem_limit;
  bool has_mem_cache;          /* stats.cache (cgroup v1) */
  uint64_t mem_cache;
  bool has_mem_inactive_file;  /* stats.inactive_file (cgroup v2) */
  uint64_t mem_inactive_file;
  /* blkio_stats.io_service_bytes_recursive, op read / write (any case) */
  uint64_t blkio_read, blkio_write;
  bool has_networks;
  struct docker_net_stats net;
  uint64_t pids_current;
};

typedef void (*docker_stats_cb) (const struct docker_stats *st, agent_error_t err, void *data);

/* One sample of container id's stats.  404 -> ERR_NOT_FOUND. */
docker_op_t *docker_container_stats (docker_client_t *c, const char *id, bool one_shot,
                                     docker_stats_cb cb, void *data);

/* Pure parser: body -> *out (raw copied in).  ERR_MALFORMED when the body is
   not a JSON object or a number has the wrong type. */
int docker_parse_stats (const char *s, size_t len, struct docker_stats **out, agent_error_t *err);
void docker_stats_free (struct docker_stats *st);
/* The same parse into *st without copying the body (the stats streams: no
   allocation the size of a sample per sample): st->raw points into s, kept
   by the caller while it uses st; release with docker_stats_clear_view. */
int docker_parse_stats_view (const char *s, size_t len, struct docker_stats *st,
                             agent_error_t *err);
void docker_stats_clear_view (struct docker_stats *st);

/* Podman: the last sample's CPU numbers of a few containers (plain data;
   docker_stats_cache_clear frees what the entries hold).  Bounded: a new
   container replaces the entry with the oldest sample. */
#define DOCKER_STATS_CACHE_N 64
struct docker_stats_cache
{
  struct
  {
    char *id;        /* NULL: free slot */
    int64_t read_ns; /* "read" of that sample */
    char *read;      /* ... as Podman wrote it */
    char *cpu_stats; /* its cpu_stats object, compact JSON */
  } e[DOCKER_STATS_CACHE_N];
};
void docker_stats_cache_clear (struct docker_stats_cache *cache);

/* Pure: Podman's body -> *out as docker_parse_stats would parse Docker's
   (see the contract above).  cache may be NULL (precpu_stats left as
   Podman sent it); else an earlier sample of the same container fills
   precpu_stats and preread, and this one is remembered.  ERR_NOT_FOUND on
   an empty body, else docker_parse_stats's errors. */
int docker_parse_stats_podman (struct docker_stats_cache *cache, const char *s, size_t len,
                               struct docker_stats **out, agent_error_t *err);

/* Memory in use as upstream counts it (bytes): usage - inactive_file when
   present and smaller (cgroup v2), else usage - cache when present and
   smaller (cgroup v1), else usage. */
uint64_t docker_stats_memory_bytes (const struct docker_stats *st);

/* ---- sample streams (stats_stream.c) ----------------------------------

 * Contract:
 *  - docker_stats_stream_start opens GET /containers/<id>/stats?stream=true
 *    (one transfer of the client's libcurl multi handle, on the loop) on the
 *    next loop turn and hands each sample to on_sample (parsed by
 *    docker_parse_stats; BORROWED for the duration of the callback).
 *    Docker writes one sample a second.  The stream is split by the client's
 *    JSON stream framer with a bounded buffer: a sample over max_sample_bytes
 *    ends the stream (ERR_MALFORMED).
 *  - A stream that delivered no sample for silence_ms (18 s, upstream's
 *    inactivity timeout) is abandoned.  Any end of the stream (error
 *    answer, transport error, undecodable sample, silence, the daemon
 *    closing it) calls on_error with the reason and reopens after a
 *    back-off (docker_stats_stream_backoff_ms: 1 s doubling to 10 s, +0-50 %
 *    jitter), forever, until docker_stats_stream_stop; a sample resets the
 *    back-off.  The caller decides when a stream is no longer wanted (a
 *    stopped container's stream stays open on Docker, streaming zeroed
 *    samples whose read_ns is 0).
 *  - docker_stats_stream_stop: no callback runs afterwards (safe from inside
 *    one, and on NULL); the memory is released on a later loop turn.
 *    Freeing the client stops its streams.
 */
typedef struct docker_stats_stream docker_stats_stream_t;
typedef void (*docker_stats_sample_cb) (const struct docker_stats *st, void *data);
typedef void (*docker_stats_error_cb) (agent_error_t err, void *data);

#define DOCKER_STATS_STREAM_SILENCE_MS 18000
#define DOCKER_STATS_STREAM_BACKOFF_MIN_MS 1000
#define DOCKER_STATS_STREAM_BACKOFF_MAX_MS 10000
#define DOCKER_STATS_STREAM_MAX_SAMPLE (256 * 1024)

struct docker_stats_stream_opts
{
  docker_stats_sample_cb on_sample;
  docker_stats_error_cb on_error; /* optional */
  void *data;
  uint64_t silence_ms;           /* 0 = DOCKER_STATS_STREAM_SILENCE_MS */
  uint64_t backoff_min_ms, backoff_max_ms; /* 0 = 1 s, 10 s */
  size_t max_sample_bytes;       /* 0 = DOCKER_STATS_STREAM_MAX_SAMPLE */
};

docker_stats_stream_t *docker_stats_stream_start (docker_client_t *c, const char *id,
                                                  const struct docker_stats_stream_opts *o);
void docker_stats_stream_stop (docker_stats_stream_t *s);
/* Streams of the client open now (transfer in flight), for tests. */
size_t docker_stats_streams_open (const docker_client_t *c);

/* Pure: the delay before reopening after the failures-th consecutive
   failure (>= 1): min_ms x 2^(failures-1) capped at max_ms, plus
   jitter_unit (0..1) x 50 % of it. */
uint64_t docker_stats_stream_backoff_ms (unsigned failures, uint64_t min_ms, uint64_t max_ms,
                                         double jitter_unit);
/* Pure: whether a stream whose last sample (or opening, before the first)
   was at last_ms is silent at now_ms; else *rearm_ms is when to look
   again (ms from now). */
bool docker_stats_stream_silent (uint64_t now_ms, uint64_t last_ms, uint64_t silence_ms,
                                 uint64_t *rearm_ms);

#endif
