"""ECS cluster query language (a subset) for memberOf placement constraints and
ListContainerInstances --filter, and the attributes a task definition requires.

Expression: terms `subject operator [argument]` joined by `and`/`&&`,
`or`/`||`, grouped by parentheses (at most 2000 characters, as ECS).
Subjects: `attribute:<name>`, `agentConnected`, `agentVersion`,
`ec2InstanceId`, `registeredAt`, `runningTasksCount`, `task:group`.
Operators: `==` `equals`, `!=` `not_equals`, `>` `greater_than`, `>=`
`greater_than_equal`, `<` `less_than`, `<=` `less_than_equal`, `exists`,
`!exists` `not_exists`, `in [a, b]`, `!in` `not_in`, `=~` `matches`, `!~`
`not_matches` (`*` wildcards).  parse() turns it into postfix (shunting-yard,
no recursion); evaluate() runs the postfix with a stack.  A bad expression
raises ValueError with the reason.
"""

import fnmatch
import re

MAX_EXPR = 2000

_TOKEN = re.compile(r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<list>\[[^\]]*\])|(?P<and>&&|and\b)|(?P<or>\|\||or\b)"""
                    r"""|(?P<op>==|!=|>=|<=|>|<|=~|!~|!exists|!in)|(?P<word>[^\s()\[\]]+))""", re.I)
_OPS = {"==": "==", "equals": "==", "!=": "!=", "not_equals": "!=", ">": ">", "greater_than": ">",
        ">=": ">=", "greater_than_equal": ">=", "<": "<", "less_than": "<", "<=": "<=",
        "less_than_equal": "<=", "exists": "exists", "!exists": "!exists", "not_exists": "!exists",
        "in": "in", "!in": "!in", "not_in": "!in", "=~": "=~", "matches": "=~", "!~": "!~",
        "not_matches": "!~"}
_SUBJECTS = ("agentConnected", "agentVersion", "ec2InstanceId", "registeredAt", "runningTasksCount",
             "task:group", "ec2InstanceType")


def _tokens(expr):
    pos, out = 0, []
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError("unexpected text at %d: %r" % (pos, expr[pos:pos + 20]))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse(expr):
    """Postfix list of ('term', subject, op, arg) and ('and'|'or',)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("empty expression")
    if len(expr) > MAX_EXPR:
        raise ValueError("expression longer than %d characters" % MAX_EXPR)
    toks = _tokens(expr)
    out, ops = [], []
    i = 0
    expect_term = True
    prec = {"and": 2, "or": 1}
    while i < len(toks):
        kind, text = toks[i]
        if expect_term:
            if kind == "lp":
                ops.append("(")
                i += 1
                continue
            if kind != "word":
                raise ValueError("expected a subject, got %r" % text)
            subject = text
            if not (subject.startswith("attribute:") and len(subject) > 10) and subject not in _SUBJECTS:
                raise ValueError("unsupported subject %r" % subject)
            if i + 1 >= len(toks):
                raise ValueError("missing operator after %r" % subject)
            okind, otext = toks[i + 1]
            op = _OPS.get(otext.lower()) if okind in ("op", "word") else None
            if op is None:
                raise ValueError("unsupported operator %r" % otext)
            i += 2
            arg = None
            if op not in ("exists", "!exists"):
                if i >= len(toks) or toks[i][0] not in ("word", "list"):
                    raise ValueError("missing argument for %r" % otext)
                akind, atext = toks[i]
                if op in ("in", "!in"):
                    if akind != "list":
                        raise ValueError("'in' needs a [list]")
                    arg = [x.strip() for x in atext[1:-1].split(",") if x.strip()]
                else:
                    if akind == "list":
                        raise ValueError("a list is only allowed after 'in'")
                    arg = atext
                i += 1
            out.append(("term", subject, op, arg))
            expect_term = False
        else:
            if kind == "rp":
                while ops and ops[-1] != "(":
                    out.append((ops.pop(),))
                if not ops:
                    raise ValueError("unbalanced ')'")
                ops.pop()
                i += 1
                continue
            if kind not in ("and", "or"):
                raise ValueError("expected and/or, got %r" % text)
            k = "and" if kind == "and" else "or"
            while ops and ops[-1] != "(" and prec[ops[-1]] >= prec[k]:
                out.append((ops.pop(),))
            ops.append(k)
            expect_term = True
            i += 1
    if expect_term:
        raise ValueError("expression ends where a term is expected")
    while ops:
        o = ops.pop()
        if o == "(":
            raise ValueError("unbalanced '('")
        out.append((o,))
    return out


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _term(subject_values, op, arg):
    """subject_values: list of the subject's values on the instance (empty: absent)."""
    if op == "exists":
        return bool(subject_values)
    if op == "!exists":
        return not subject_values
    if op in ("in", "!in"):
        hit = any(str(v) in arg for v in subject_values)
        return hit if op == "in" else not hit
    if op in ("=~", "!~"):
        hit = any(fnmatch.fnmatchcase(str(v), arg) for v in subject_values)
        return hit if op == "=~" else not hit
    if op in ("==", "!="):
        hit = any(str(v) == arg or (_num(v) is not None and _num(v) == _num(arg)) for v in subject_values)
        return hit if op == "==" else not hit
    a = _num(arg)
    for v in subject_values:
        n = _num(v)
        if n is None or a is None:
            continue
        if (op == ">" and n > a) or (op == ">=" and n >= a) or (op == "<" and n < a) or (op == "<=" and n <= a):
            return True
    return False


def evaluate(postfix, subject_values):
    """subject_values(subject) -> list of values; True if the instance matches."""
    st = []
    for item in postfix:
        if item[0] == "term":
            st.append(_term(subject_values(item[1]), item[2], item[3]))
        else:
            b, a = st.pop(), st.pop()
            st.append((a and b) if item[0] == "and" else (a or b))
    return st[-1]


# ---------------------------------------------------------------- requiresAttributes
C = "com.amazonaws.ecs.capability."
E = "ecs.capability."


def feature_attributes(td, ecr_registry=None):
    """The requiresAttributes ECS adds for the features a task definition uses beyond
    its container options (those come from container_options.requires_attributes):
    task role, ECR images (ECR's names, or images in the local registry the control
    plane serves as ECR, "host:port"), execution role uses, secrets, private registry
    credentials, environment files, container ordering (names only)."""
    names = []

    def need(n):
        if n not in names:
            names.append(n)

    if td.get("taskRoleArn"):
        need(C + ("task-iam-role-network-host" if td.get("networkMode") == "host" else "task-iam-role"))
    exec_role = bool(td.get("executionRoleArn"))
    for cd in td.get("containerDefinitions") or []:
        lc = cd.get("logConfiguration") or {}
        if lc.get("logDriver") == "awslogs" and exec_role:
            need(E + "execution-role-awslogs")
        for s in lc.get("secretOptions") or []:
            need(E + ("secrets.asm.bootstrap.log-driver" if ":secretsmanager:" in (s.get("valueFrom") or "")
                      else "secrets.ssm.bootstrap.log-driver"))
        if cd.get("dependsOn"):
            need(E + "container-ordering")
        image = cd.get("image") or ""
        if re.match(r"^\d{12}\.dkr\.ecr\.[^/]+\.amazonaws\.com(\.cn)?/", image) or (
                ecr_registry and image.startswith(ecr_registry + "/")):
            need(C + "ecr-auth")
            if exec_role:
                need(E + "execution-role-ecr-pull")
        if (cd.get("repositoryCredentials") or {}).get("credentialsParameter"):
            need(E + "private-registry-authentication.secretsmanager")
        for s in cd.get("secrets") or []:
            need(E + ("secrets.asm.environment-variables" if ":secretsmanager:" in (s.get("valueFrom") or "")
                      else "secrets.ssm.environment-variables"))
        if cd.get("environmentFiles"):
            need(E + "env-files.s3")
    return [{"name": n} for n in names]
