"""Emulation of the few ECR, SSM Parameter Store and Secrets Manager operations an
ECS agent calls (and the ones a user needs to put values there with the AWS CLI),
served on the ECS API's port.

Dispatch is on X-Amz-Target (targets_service()); every request is SigV4-checked
with that service's signing name (ecr, ssm, secretsmanager) and validated against
the service's botocore model before a handler runs (SSM and Secrets Manager answer
a violation with ValidationException, ECR with InvalidParameterException).

  ECR      GetAuthorizationToken: the token is base64("<user>:<password>") of the
           local registry named by --ecr-registry / --ecr-user / --ecr-password
           (a docker-registry with htpasswd; the user must be "AWS" as in ECR),
           proxyEndpoint "http://<registry>", expiresAt now + 12 h.
  SSM      PutParameter, GetParameter, GetParameters, DeleteParameter; String,
           StringList and SecureString (without WithDecryption a SecureString's
           Value is an opaque base64 blob, as KMS ciphertext would be); versions
           kept, "name:<version>" selectors; names or ARNs.
  Secrets  CreateSecret, PutSecretValue, GetSecretValue, DeleteSecret; ARNs end in
  Manager  "-" + 6 random characters, versions carry VersionId and the stages
           AWSCURRENT / AWSPREVIOUS; SecretId is a name, a full ARN or a partial
           ARN (without the suffix).

Access control: state.iam_denied maps an identity ARN (a role or user) to the
services it may not call; such a caller gets AccessDeniedException with the
message AWS writes ("User: <arn> is not authorized to perform: <action> on
resource: <resource> because no identity-based policy allows the <action>
action").  Callers are identified by their access key: task roles' keys minted by
controlplane/roles.py act as the role, the IMDS instance credentials as the
instance role, the static key as arn:aws:iam::<account>:user/local.  The admin
route POST /_local/iam/deny sets the list (controlplane/server.py).
"""

import base64
import hashlib
import json
import secrets
import string
import time
import uuid

from aiohttp import web

from . import sigv4, validate
from .errors import ApiError

SERVICES = {
    # X-Amz-Target prefix: (signing name, validation error code, error message member)
    "AmazonEC2ContainerRegistry_V20150921.": ("ecr", "InvalidParameterException", "message"),
    "AmazonSSM.": ("ssm", "ValidationException", "message"),
    "secretsmanager.": ("secretsmanager", "ValidationException", "Message"),
}
ALL_SERVICES = ("ecr", "ssm", "secretsmanager")
ECR_TOKEN_LIFETIME = 12 * 3600
SSM_MAX_VERSIONS = 100
SM_SUFFIX_ALPHABET = string.ascii_letters + string.digits
SM_NOT_FOUND = "Secrets Manager can't find the specified secret."
SM_DELETED = "You can't perform this operation on the secret because it was marked for deletion."


def targets_service(target):
    """(prefix, operation) when target names an emulated non-ECS service, else None."""
    for prefix in SERVICES:
        if target.startswith(prefix):
            return prefix, target[len(prefix):]
    return None


def caller_arn(assumed):
    """The ARN AWS names a caller by in AccessDenied messages (roles act as an STS session)."""
    if ":role/" in assumed:
        acct = assumed.split(":")[4]
        name = assumed.rsplit("/", 1)[-1]
        return "arn:aws:sts::%s:assumed-role/%s/ecs-task-session" % (acct, name)
    return assumed


def _error(code, message, status=400, member="message"):
    body = json.dumps({"__type": code, member: message})
    return web.Response(status=status, body=body.encode(), content_type="application/x-amz-json-1.1",
                        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": code})


class AwsServices:
    def __init__(self, state, creds, region, account, ecr=None):
        """ecr: {"registry": "host:port", "user": "AWS", "password": ..., "registryId": ...} or None."""
        self.state = state
        self.creds = creds
        self.region = region
        self.account = account
        self.ecr = ecr or {}
        self.static_principal = "arn:aws:iam::%s:user/local" % account

    # ------------------------------------------------------------ request handling
    async def handle(self, request, body, prefix, op, raw_query):
        service, vcode, member = SERVICES[prefix]
        request["op"] = "%s:%s" % (service, op)
        try:
            who = sigv4.verify(request.method, request.raw_path.split("?", 1)[0], raw_query,
                               request.headers, body, self.creds, self.region, service=service)
        except sigv4.SigV4Error as e:
            request["note"] = e.code
            return _error("com.amazon.coral.service#" + e.code, e.message, e.status, member)
        if not validate.json_depth_ok(body):
            return _error("SerializationException", "JSON nesting deeper than %d levels."
                          % validate.MAX_JSON_DEPTH, 400, member)
        try:
            req = json.loads(body.decode("utf-8") or "{}") if body else {}
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):
            return _error("SerializationException", "Start of structure or map found where not expected.",
                          400, member)
        fn = getattr(self, "%s_%s" % (service, op), None)
        if fn is None:
            return _error("UnknownOperationException", "", 400, member)
        principal = self.creds.principal(who["akid"]) or self.static_principal
        try:
            validate.validate_request(op, req, service=service, code=vcode)
            with self.state.lock:
                result = fn(req, principal)
                self.state.save()
        except ApiError as e:
            request["note"] = e.code
            return _error(e.code, e.message, e.status, member)
        return web.Response(body=json.dumps(result).encode(), content_type="application/x-amz-json-1.1",
                            headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _authorize(self, principal, service, action, resource):
        if service in self.state.iam_denied.get(principal, ()):
            raise ApiError("AccessDeniedException",
                           "User: %s is not authorized to perform: %s:%s on resource: %s because no "
                           "identity-based policy allows the %s:%s action"
                           % (caller_arn(principal), service, action, resource, service, action))

    # ------------------------------------------------------------ access control (admin)
    def deny(self, principal, services):
        """Deny principal (an ARN) the listed services ([] = allow everything again)."""
        bad = [s for s in services if s not in ALL_SERVICES]
        if bad:
            raise ValueError("unknown service(s) %s (known: %s)" % (", ".join(bad), ", ".join(ALL_SERVICES)))
        with self.state.lock:
            if services:
                self.state.iam_denied[principal] = sorted(set(services))
            else:
                self.state.iam_denied.pop(principal, None)
            self.state.save()
            return dict(self.state.iam_denied)

    # ------------------------------------------------------------ ECR
    def ecr_GetAuthorizationToken(self, req, principal):
        self._authorize(principal, "ecr", "GetAuthorizationToken", "*")
        if not self.ecr.get("registry"):
            raise ApiError("InvalidParameterException",
                           "The local control plane has no ECR registry configured (--ecr-registry).")
        ids = req.get("registryIds") or [self.ecr.get("registryId") or self.account]
        token = base64.b64encode(("%s:%s" % (self.ecr.get("user") or "AWS",
                                             self.ecr.get("password") or "")).encode()).decode()
        exp = float(int(time.time()) + ECR_TOKEN_LIFETIME)
        out = []
        for rid in ids:
            if not (len(rid) == 12 and rid.isdigit()):
                raise ApiError("InvalidParameterException",
                               "Invalid parameter at 'registryIds' failed to satisfy constraint: "
                               "'must satisfy regular expression '[0-9]{12}''")
            out.append({"authorizationToken": token, "expiresAt": exp,
                        "proxyEndpoint": "http://" + self.ecr["registry"]})
        return {"authorizationData": out}

    # ------------------------------------------------------------ SSM Parameter Store
    def _ssm_arn(self, name):
        return "arn:aws:ssm:%s:%s:parameter%s" % (self.region, self.account, name if name.startswith("/")
                                                  else "/" + name)

    def _ssm_find(self, ref):
        """(record, selector version or None) for a name, ARN, or either with ':<version>'."""
        sel = None
        base = ref
        if ref.startswith("arn:"):
            parts = ref.split(":", 6)
            if len(parts) == 7 and ":" in parts[6]:
                base, sel = ref.rsplit(":", 1)
            rest = base.split(":parameter", 1)[1] if ":parameter" in base else ""
            cands = [rest, rest[1:]] if rest.startswith("/") else [rest]
        else:
            if ":" in ref:
                base, sel = ref.rsplit(":", 1)
            cands = [base]
        rec = next((self.state.ssm_params[c] for c in cands if c in self.state.ssm_params), None)
        if sel is not None and not sel.isdigit():
            return rec, "label:" + sel
        return rec, (int(sel) if sel is not None else None)

    def _ssm_view(self, ref, rec, version, decrypt):
        v = rec["versions"][-1] if version is None else next(
            (x for x in rec["versions"] if x["Version"] == version), None)
        if v is None:
            return None
        value = v["Value"]
        if v["Type"] == "SecureString" and not decrypt:
            # what KMS ciphertext looks like: opaque base64, not the value
            value = base64.b64encode(b"\x01\x02\x02\x00x" + hashlib.sha256(
                (rec["_salt"] + value).encode()).digest() * 4).decode()
        out = {"Name": ref if version is None else ref.rsplit(":", 1)[0], "Type": v["Type"], "Value": value,
               "Version": v["Version"], "LastModifiedDate": v["LastModifiedDate"], "ARN": self._ssm_arn(rec["Name"]),
               "DataType": v.get("DataType", "text")}
        if version is not None:
            out["Selector"] = ":%d" % version
        return out

    def ssm_PutParameter(self, req, principal):
        name = req["Name"]
        self._authorize(principal, "ssm", "PutParameter", self._ssm_arn(name))
        if name.startswith("arn:") or ":" in name:
            raise ApiError("ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" "
                           "(case-insensitive) and must only contain letters, numbers and the symbols .-_/")
        if name.count("/") > 15:
            raise ApiError("HierarchyLevelLimitExceededException",
                           "Parameter name hierarchy levels limit exceeded. The maximum is 15.")
        rec = self.state.ssm_params.get(name)
        typ = req.get("Type")
        if rec is not None:
            if not req.get("Overwrite"):
                raise ApiError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, "
                               "set the overwrite option in the request to true.")
            cur = rec["versions"][-1]
            if typ and typ != cur["Type"] and "SecureString" in (typ, cur["Type"]):
                raise ApiError("HierarchyTypeMismatchException", "The parameter type can't be changed from %s "
                               "to %s." % (cur["Type"], typ))
            typ = typ or cur["Type"]
            if len(rec["versions"]) >= SSM_MAX_VERSIONS:
                rec["versions"].pop(0)
            version = cur["Version"] + 1
        else:
            if not typ:
                raise ApiError("ValidationException", "A parameter type is required when you create a parameter.")
            rec = {"Name": name, "versions": [], "_salt": secrets.token_hex(8)}
            self.state.ssm_params[name] = rec
            version = 1
        if typ == "StringList" and any(not s for s in req["Value"].split(",")):
            raise ApiError("ValidationException", "Parameter value can't contain an empty item in a StringList.")
        rec["versions"].append({"Version": version, "Type": typ, "Value": req["Value"],
                                "LastModifiedDate": time.time(), "DataType": req.get("DataType") or "text",
                                "Description": req.get("Description") or ""})
        self.state.mark("ssm_params", name)
        return {"Version": version, "Tier": req.get("Tier") or "Standard"}

    def ssm_GetParameter(self, req, principal):
        ref = req["Name"]
        rec, sel = self._ssm_find(ref)
        self._authorize(principal, "ssm", "GetParameter", self._ssm_arn(rec["Name"] if rec else ref))
        if rec is None:
            raise ApiError("ParameterNotFound", "")
        if isinstance(sel, str):
            raise ApiError("ParameterVersionNotFound", "Systems Manager could not find version %s of %s. "
                           "Verify the version and try again." % (sel[6:], ref.rsplit(":", 1)[0]))
        view = self._ssm_view(ref, rec, sel, req.get("WithDecryption"))
        if view is None:
            raise ApiError("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. "
                           "Verify the version and try again." % (sel, ref.rsplit(":", 1)[0]))
        return {"Parameter": view}

    def ssm_GetParameters(self, req, principal):
        params, invalid = [], []
        for ref in dict.fromkeys(req["Names"]):
            rec, sel = self._ssm_find(ref)
            self._authorize(principal, "ssm", "GetParameters", self._ssm_arn(rec["Name"] if rec else ref))
            view = None
            if rec is not None and not isinstance(sel, str):
                view = self._ssm_view(ref, rec, sel, req.get("WithDecryption"))
            if view is None:
                invalid.append(ref)
            else:
                params.append(view)
        return {"Parameters": params, "InvalidParameters": invalid}

    def ssm_DeleteParameter(self, req, principal):
        rec, _ = self._ssm_find(req["Name"])
        self._authorize(principal, "ssm", "DeleteParameter", self._ssm_arn(rec["Name"] if rec else req["Name"]))
        if rec is None:
            raise ApiError("ParameterNotFound", "")
        del self.state.ssm_params[rec["Name"]]
        self.state.mark("ssm_params", rec["Name"])
        return {}

    # ------------------------------------------------------------ Secrets Manager
    def _sm_find(self, ref, allow_deleted=False):
        """The secret named by ref (name, ARN, or ARN without the random suffix)."""
        st = self.state.sm_secrets
        rec = st.get(ref)
        if rec is None:
            if ref.startswith("arn:"):
                rec = next((s for s in st.values() if s["ARN"][:-7] == ref), None)
            else:
                rec = next((s for s in st.values() if s["Name"] == ref), None)
        if rec is None:
            raise ApiError("ResourceNotFoundException", SM_NOT_FOUND)
        if rec.get("DeletedDate") and not allow_deleted:
            raise ApiError("InvalidRequestException", SM_DELETED)
        return rec

    @staticmethod
    def _sm_value(req):
        if req.get("SecretString") is not None and req.get("SecretBinary") is not None:
            raise ApiError("InvalidParameterException", "You can't specify both a binary secret value and a "
                           "string secret value in the same secret.")
        if req.get("SecretBinary") is not None:
            try:
                base64.b64decode(req["SecretBinary"], validate=True)
            except ValueError:
                raise ApiError("InvalidParameterException", "Invalid base64 in SecretBinary.")
            return {"SecretBinary": req["SecretBinary"]}
        if req.get("SecretString") is not None:
            return {"SecretString": req["SecretString"]}
        return None

    def _sm_add_version(self, rec, value, token, stages):
        """A new version holding value; stages (default AWSCURRENT) move to it, the old
        AWSCURRENT becomes AWSPREVIOUS."""
        vid = token or str(uuid.uuid4())
        old = rec["versions"].get(vid)
        if old is not None:
            if {k: old.get(k) for k in ("SecretString", "SecretBinary")} != {
                    k: value.get(k) for k in ("SecretString", "SecretBinary")}:
                raise ApiError("ResourceExistsException", "You can't modify an existing version, you can only "
                               "create a new version.")
            return vid, old["VersionStages"]
        stages = list(stages or ["AWSCURRENT"])
        for v in rec["versions"].values():
            had_current = "AWSCURRENT" in v["VersionStages"]
            keep = [s for s in v["VersionStages"] if s not in stages]
            if "AWSCURRENT" in stages:
                keep = [s for s in keep if s != "AWSPREVIOUS"]
                if had_current:
                    keep.append("AWSPREVIOUS")
            v["VersionStages"] = keep
        ver = {"VersionId": vid, "VersionStages": stages, "CreatedDate": time.time()}
        ver.update(value)
        rec["versions"][vid] = ver
        # versions without a stage are deprecated; AWS keeps about 100 of them
        stale = [k for k, v in rec["versions"].items() if not v["VersionStages"]]
        for k in stale[:-100]:
            del rec["versions"][k]
        return vid, stages

    def secretsmanager_CreateSecret(self, req, principal):
        name = req["Name"]
        resource = "arn:aws:secretsmanager:%s:%s:secret:%s" % (self.region, self.account, name)
        self._authorize(principal, "secretsmanager", "CreateSecret", resource + "-*")
        if name.startswith("arn:"):
            raise ApiError("ValidationException", "Invalid name. Must be a valid name containing alphanumeric "
                           "characters, or any of the following: -/_+=.@!")
        for s in self.state.sm_secrets.values():
            if s["Name"] == name:
                if s.get("DeletedDate"):
                    raise ApiError("InvalidRequestException", "You can't create this secret because a secret "
                                   "with this name is already scheduled for deletion.")
                raise ApiError("ResourceExistsException", "The operation failed because the secret %s already "
                               "exists." % name)
        value = self._sm_value(req)
        arn = resource + "-" + "".join(secrets.choice(SM_SUFFIX_ALPHABET) for _ in range(6))
        rec = {"ARN": arn, "Name": name, "Description": req.get("Description") or "",
               "CreatedDate": time.time(), "versions": {}, "Tags": req.get("Tags") or []}
        out = {"ARN": arn, "Name": name}
        if value is not None:
            out["VersionId"], _ = self._sm_add_version(rec, value, req.get("ClientRequestToken"), None)
        self.state.sm_secrets[arn] = rec
        self.state.mark("sm_secrets", arn)
        return out

    def secretsmanager_PutSecretValue(self, req, principal):
        rec = self._sm_find(req["SecretId"]) if self._sm_exists(req["SecretId"]) else None
        self._authorize(principal, "secretsmanager", "PutSecretValue", rec["ARN"] if rec else req["SecretId"])
        if rec is None:
            raise ApiError("ResourceNotFoundException", SM_NOT_FOUND)
        value = self._sm_value(req)
        if value is None:
            raise ApiError("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
        vid, stages = self._sm_add_version(rec, value, req.get("ClientRequestToken"), req.get("VersionStages"))
        self.state.mark("sm_secrets", rec["ARN"])
        return {"ARN": rec["ARN"], "Name": rec["Name"], "VersionId": vid, "VersionStages": stages}

    def _sm_exists(self, ref):
        try:
            self._sm_find(ref, allow_deleted=True)
            return True
        except ApiError:
            return False

    def secretsmanager_GetSecretValue(self, req, principal):
        ref = req["SecretId"]
        rec = self._sm_find(ref, allow_deleted=True) if self._sm_exists(ref) else None
        self._authorize(principal, "secretsmanager", "GetSecretValue", rec["ARN"] if rec else ref)
        rec = self._sm_find(ref)
        vid, stage = req.get("VersionId"), req.get("VersionStage")
        if vid:
            ver = rec["versions"].get(vid)
            if ver is None or (stage and stage not in ver["VersionStages"]):
                raise ApiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret "
                               "value for VersionId: %s" % vid)
        else:
            stage = stage or "AWSCURRENT"
            ver = next((v for v in rec["versions"].values() if stage in v["VersionStages"]), None)
            if ver is None:
                raise ApiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret "
                               "value for staging label: %s" % stage)
        out = {"ARN": rec["ARN"], "Name": rec["Name"], "VersionId": ver["VersionId"],
               "VersionStages": list(ver["VersionStages"]), "CreatedDate": ver["CreatedDate"]}
        for k in ("SecretString", "SecretBinary"):
            if k in ver:
                out[k] = ver[k]
        return out

    def secretsmanager_DeleteSecret(self, req, principal):
        ref = req["SecretId"]
        rec = self._sm_find(ref, allow_deleted=True) if self._sm_exists(ref) else None
        self._authorize(principal, "secretsmanager", "DeleteSecret", rec["ARN"] if rec else ref)
        if rec is None:
            raise ApiError("ResourceNotFoundException", SM_NOT_FOUND)
        force = bool(req.get("ForceDeleteWithoutRecovery"))
        window = req.get("RecoveryWindowInDays")
        if force and window is not None:
            raise ApiError("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction "
                           "with RecoveryWindowInDays.")
        if window is not None and not 7 <= window <= 30:
            raise ApiError("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and "
                           "30 days (inclusive).")
        if rec.get("DeletedDate") and not force:
            raise ApiError("InvalidRequestException", SM_DELETED)
        now = time.time()
        when = now if force else now + 86400 * (window or 30)
        if force:
            del self.state.sm_secrets[rec["ARN"]]
        else:
            rec["DeletedDate"] = when
        self.state.mark("sm_secrets", rec["ARN"])
        return {"ARN": rec["ARN"], "Name": rec["Name"], "DeletionDate": when}


# ---------------------------------------------------------------- payload side (ACS)
def secret_provider(value_from):
    return "asm" if ":secretsmanager:" in (value_from or "") else "ssm"


def arn_region(value, default):
    parts = (value or "").split(":")
    if len(parts) > 4 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return default


def payload_secrets(cd, region):
    """The ACS `secrets` of a container definition: its `secrets` (environment
    variables) and its log configuration's `secretOptions` (log driver options)."""
    out = []
    for s in cd.get("secrets") or []:
        out.append({"name": s.get("name"), "valueFrom": s.get("valueFrom"),
                    "provider": secret_provider(s.get("valueFrom")), "region": arn_region(s.get("valueFrom"), region),
                    "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"})
    for s in (cd.get("logConfiguration") or {}).get("secretOptions") or []:
        out.append({"name": s.get("name"), "valueFrom": s.get("valueFrom"),
                    "provider": secret_provider(s.get("valueFrom")), "region": arn_region(s.get("valueFrom"), region),
                    "type": "BOOTSTRAP", "target": "LOG_DRIVER"})
    return out


def ecr_image_registry(image, ecr_registry):
    """(registryId or None, region or None) when image lives in ECR: the configured
    local registry ("host:port") or an <account>.dkr.ecr.<region>.amazonaws.com name."""
    host = (image or "").split("/", 1)[0] if "/" in (image or "") else ""
    if ecr_registry and host == ecr_registry:
        return True, None, None
    parts = host.split(".")
    if len(parts) >= 6 and parts[1:3] == ["dkr", "ecr"] and parts[0].isdigit() and len(parts[0]) == 12 \
            and host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return False, parts[0], parts[3]
    return None


def registry_authentication(cd, td, region, account, ecr, endpoint):
    """The ACS registryAuthentication of a container definition, or None."""
    creds = (cd.get("repositoryCredentials") or {}).get("credentialsParameter")
    if creds:
        return {"type": "asm", "asmAuthData": {"credentialsParameter": creds, "region": arn_region(creds, region)}}
    hit = ecr_image_registry(cd.get("image"), (ecr or {}).get("registry"))
    if hit is None:
        return None
    local, rid, reg = hit
    data = {"registryId": rid or (ecr or {}).get("registryId") or account, "region": reg or region,
            "endpointOverride": endpoint.rstrip("/") if local else "",
            "useExecutionRole": bool(td.get("executionRoleArn"))}
    return {"type": "ecr", "ecrAuthData": data}
