"""AWS Signature Version 4 verification (header form) for the local control plane.

verify() takes the pieces of an HTTP request and a credential store and either
returns the matched access key id or raises SigV4Error carrying the AWS error
code/message a real endpoint would return.  Only hashlib/hmac are used.
"""

import datetime
import hashlib
import hmac
import re
import threading
import time
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 300

MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_UNKNOWN_KEY = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"


class SigV4Error(Exception):
    def __init__(self, code, message, status=400, debug=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status
        self.debug = debug or {}


class CredentialStore:
    """Set of credentials the verifier accepts.

    static:    akid -> (secret, token-or-None); never expire.
    temporary: akid -> (secret, token, expiration epoch seconds).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.static = {}
        self.temporary = {}
        self.principals = {}   # akid -> the IAM identity ARN it acts as (user, role)

    def add_static(self, akid, secret, token=None):
        with self._lock:
            self.static[akid] = (secret, token)

    def add_temporary(self, akid, secret, token, expiration, principal=None):
        with self._lock:
            self.temporary[akid] = (secret, token, float(expiration))
            if principal:
                self.principals[akid] = principal
            # forget credentials that expired more than an hour ago
            now = time.time()
            for k in [k for k, v in self.temporary.items() if v[2] < now - 3600]:
                del self.temporary[k]
                self.principals.pop(k, None)

    def set_principal(self, akid, arn):
        with self._lock:
            self.principals[akid] = arn

    def principal(self, akid):
        """The identity ARN credentials akid act as (None: unknown)."""
        with self._lock:
            return self.principals.get(akid)

    def lookup(self, akid, now=None):
        """Return (secret, required_token_or_None, expiration_or_None) or None."""
        with self._lock:
            if akid in self.static:
                s, t = self.static[akid]
                return s, t, None
            if akid in self.temporary:
                return self.temporary[akid]
        return None


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, day, region, service):
    k = _hmac(("AWS4" + secret).encode("utf-8"), day)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _uri_encode(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def canonical_uri(raw_path):
    path = raw_path or "/"
    # remove dot segments (non-S3 services normalise the path)
    segs = []
    for seg in path.split("/"):
        if seg == "..":
            if segs:
                segs.pop()
        elif seg in (".", ""):
            continue
        else:
            segs.append(seg)
    norm = "/" + "/".join(segs)
    if path.endswith("/") and norm != "/":
        norm += "/"
    # decode then re-encode each segment
    return "/".join(_uri_encode(urllib.parse.unquote(s)) for s in norm.split("/"))


def canonical_query(raw_query):
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        else:
            k, v = part, ""
        k = urllib.parse.unquote_plus(k)
        v = urllib.parse.unquote_plus(v)
        pairs.append((_uri_encode(k), _uri_encode(v)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def raw_canonical_query(raw_query):
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            k, _, v = part.partition("=")
            pairs.append((k, v))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


_WS = re.compile(r"\s+")


def canonical_header_value(values):
    return ",".join(_WS.sub(" ", v.strip()) for v in values)


def parse_authorization(value):
    if not value.startswith("AWS4-HMAC-SHA256"):
        raise SigV4Error("IncompleteSignatureException",
                         "Unsupported authorization type (only AWS4-HMAC-SHA256 is accepted)")
    rest = value[len("AWS4-HMAC-SHA256"):].strip()
    fields = {}
    for part in rest.split(","):
        part = part.strip()
        if "=" not in part:
            continue
        k, v = part.split("=", 1)
        fields[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise SigV4Error("IncompleteSignatureException",
                         "Authorization header requires '%s' parameter. Authorization=%s"
                         % ("', '".join(missing), value))
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise SigV4Error("IncompleteSignatureException",
                         "Credential should be scoped to a valid region, not '%s'." % fields["Credential"])
    return {
        "akid": cred[0], "day": cred[1], "region": cred[2], "service": cred[3],
        "signed_headers": fields["SignedHeaders"].split(";"),
        "signature": fields["Signature"],
    }


def _parse_amz_date(s):
    try:
        return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    try:  # RFC 1123 "Date" header
        from email.utils import parsedate_to_datetime
        return parsedate_to_datetime(s).timestamp()
    except Exception:
        return None


def verify(method, raw_path, raw_query, headers, body, store, region, service="ecs", now=None):
    """Verify a SigV4 signed request.

    headers: a multidict-like object with .getall(name, default) (case-insensitive),
    or a dict of lower-case name -> list of values.
    Returns dict(akid=..., temporary=bool).  Raises SigV4Error.
    """
    def getall(name):
        if hasattr(headers, "getall"):
            return list(headers.getall(name, []))
        return list(headers.get(name.lower(), []))

    def get1(name):
        v = getall(name)
        return v[0] if v else None

    auth = get1("Authorization")
    if not auth:
        raise SigV4Error("MissingAuthenticationTokenException", "Missing Authentication Token")
    a = parse_authorization(auth)
    now = time.time() if now is None else now

    cred = store.lookup(a["akid"])
    if cred is None:
        raise SigV4Error("UnrecognizedClientException", MSG_UNKNOWN_KEY)
    secret, want_token, expiration = cred
    token = get1("X-Amz-Security-Token")
    if want_token is not None and token != want_token:
        raise SigV4Error("UnrecognizedClientException", MSG_UNKNOWN_KEY)
    if want_token is None and token:
        raise SigV4Error("UnrecognizedClientException", MSG_UNKNOWN_KEY)
    if expiration is not None and expiration < now:
        raise SigV4Error("ExpiredTokenException", MSG_EXPIRED_TOKEN)

    amz_date = get1("X-Amz-Date")
    date_hdr = amz_date or get1("Date")
    if not date_hdr:
        raise SigV4Error("IncompleteSignatureException",
                         "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    ts = _parse_amz_date(date_hdr)
    if ts is None:
        raise SigV4Error("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'. Got '%s'." % date_hdr)
    if abs(ts - now) > MAX_SKEW_SECONDS:
        fmt = lambda t: datetime.datetime.utcfromtimestamp(t).strftime("%Y%m%dT%H%M%SZ")
        if ts < now:
            msg = "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
                fmt(ts), fmt(now - MAX_SKEW_SECONDS), fmt(now))
        else:
            msg = "Signature not yet current: %s is still later than %s (%s + 5 min.)" % (
                fmt(ts), fmt(now + MAX_SKEW_SECONDS), fmt(now))
        raise SigV4Error("InvalidSignatureException", msg)
    if a["region"] != region:
        raise SigV4Error("InvalidSignatureException",
                         "Credential should be scoped to a valid region, not '%s'. " % a["region"])
    if a["service"] != service:
        raise SigV4Error("InvalidSignatureException",
                         "Credential should be scoped to correct service: '%s'. " % service)
    if amz_date and a["day"] != amz_date[:8]:
        raise SigV4Error("InvalidSignatureException",
                         "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                         "'%s' != '%s', from '%s'." % (a["day"], amz_date[:8], amz_date))
    signed = [h.lower() for h in a["signed_headers"]]
    if "host" not in signed:
        raise SigV4Error("InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")

    body_hash = hashlib.sha256(body or b"").hexdigest()
    declared = get1("X-Amz-Content-Sha256")
    payload_hash = body_hash
    if declared:
        if declared == "UNSIGNED-PAYLOAD":
            payload_hash = declared
        elif declared.lower() != body_hash:
            raise SigV4Error("InvalidSignatureException",
                             "The provided 'x-amz-content-sha256' header does not match what was computed.")

    # repeated header values: current AWS keeps their order, the 2011 test suite sorts them
    header_variants = list(dict.fromkeys([
        "".join("%s:%s\n" % (h, canonical_header_value(getall(h))) for h in signed),
        "".join("%s:%s\n" % (h, canonical_header_value(sorted(getall(h)))) for h in signed)]))
    scope = "%s/%s/%s/aws4_request" % (a["day"], a["region"], a["service"])
    key = signing_key(secret, a["day"], a["region"], a["service"])
    sts_date = date_hdr if amz_date else datetime.datetime.utcfromtimestamp(ts).strftime("%Y%m%dT%H%M%SZ")
    # first variant is the standard one (decode, re-encode); the second tolerates
    # signers that canonicalise the raw, already-encoded query (botocore does).
    first = None
    variants = [(cq, ch) for cq in dict.fromkeys([canonical_query(raw_query), raw_canonical_query(raw_query)])
                for ch in header_variants]
    for cq, creq_headers in variants:
        creq = "\n".join([method.upper(), canonical_uri(raw_path), cq, creq_headers, ";".join(signed),
                          payload_hash])
        sts = "\n".join(["AWS4-HMAC-SHA256", sts_date, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])
        if first is None:
            first = (creq, sts)
        expect = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expect, a["signature"]):
            break
    else:
        creq, sts = first
        msg = (MSG_BAD_SIGNATURE + "\n\nThe Canonical String for this request should have been\n'"
               + creq + "'\n\nThe String-to-Sign should have been\n'" + sts + "'\n")
        raise SigV4Error("InvalidSignatureException", msg,
                         debug={"canonical_request": creq, "string_to_sign": sts})
    return {"akid": a["akid"], "temporary": expiration is not None}
