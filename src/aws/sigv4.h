/* aws/sigv4.h - AWS Signature Version 4 request signing.
 *
 * Pure function: no I/O, no clock (the caller passes `now`).  Given a
 * request (method, URL, headers, body) it computes the canonical request,
 * the string to sign and the signature, and returns the headers the caller
 * must add to the request (X-Amz-Date, X-Amz-Security-Token, Authorization
 * and, when asked, X-Amz-Content-Sha256).  Host is never returned: it is
 * signed with the value the HTTP client sends (URL host, plus :port when not
 * the scheme default) unless a Host header is given.
 *
 * Signed headers by mode (flags):
 *   0                      API calls: every given header, plus host,
 *                          x-amz-date and x-amz-security-token (if a token).
 *                          Pass only the headers to sign (X-Amz-Target);
 *                          add Content-Type/User-Agent to the request yourself.
 *   AWS_SIGV4_HOST_DATE    websocket (the ACS handshake, as current upstream signs it): host;x-amz-date
 *                          (;x-amz-security-token); given headers are ignored.
 *   AWS_SIGV4_HOST_ONLY    websocket 1.1.0: host only (token sent unsigned).
 *   AWS_SIGV4_NO_DATE      test suite mode: do not add X-Amz-Date; dates come
 *                          from the given Date: header; every given header is
 *                          signed (repeated header values are sorted).
 * OpenSSL EVP/HMAC does the hashing.
 */
#ifndef AWS_SIGV4_H
#define AWS_SIGV4_H

#include <stddef.h>
#include <time.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "core/http.h"

enum
{
  AWS_SIGV4_HOST_DATE = 1 << 0,
  AWS_SIGV4_HOST_ONLY = 1 << 1,
  AWS_SIGV4_NO_DATE = 1 << 2,
  AWS_SIGV4_CONTENT_SHA256 = 1 << 3, /* add X-Amz-Content-Sha256 (unsigned) */
  AWS_SIGV4_SIGN_TOKEN_OFF = 1 << 4, /* send the token but do not sign it */
};

struct aws_sigv4_input
{
  const char *method; /* "GET" if NULL */
  const char *url;    /* scheme://host[:port]/path?query (query as on the wire) */
  const struct http_header *headers;
  size_t n_headers;
  const void *body;
  size_t body_len;
  const char *region;
  const char *service;
  time_t now;
  unsigned flags;
};

struct aws_sigv4_output
{
  struct http_header *headers; /* owned: name and value strings too */
  size_t n_headers;
  /* Intermediate results, owned (tests, debugging; contain no secrets). */
  char *canonical_request;
  char *string_to_sign;
  char *signed_headers; /* "host;x-amz-date" */
  char *signature;      /* hex */
  char *authorization;  /* the Authorization value */
  char *amz_date;       /* YYYYMMDDTHHMMSSZ */
};

int aws_sigv4_sign (const struct aws_sigv4_input *in, const struct aws_credentials *creds,
                    struct aws_sigv4_output *out, agent_error_t *err);
/* Frees what aws_sigv4_sign put into *out (not out itself); zeroes it. */
void aws_sigv4_output_free (struct aws_sigv4_output *out);

/* Helpers exposed for tests and other modules. */
/* Lower-case hex SHA-256 of data into hex (65 bytes). */
void aws_sha256_hex (const void *data, size_t len, char hex[65]);
/* Signing key (32 bytes) for secret/day(YYYYMMDD)/region/service. */
void aws_sigv4_signing_key (const char *secret, const char *day, const char *region,
                            const char *service, unsigned char key[32]);
/* RFC 3986 percent-encoding with only A-Za-z0-9-_.~ unescaped (and '/' kept
   when keep_slash).  Returns a new string. */
char *aws_uri_encode (const char *s, size_t len, int keep_slash);
/* YYYYMMDDTHHMMSSZ for t into buf (>= 17 bytes). */
void aws_amz_date (time_t t, char buf[17]);

#endif
