"""Run-time fault switches (POST /_local/faults).

API faults are consulted by the ECS API handler after authentication:
  api_error    {"status":500,"code":"ServerException","message":..,"count":N | "seconds":S,"operations":[..]}
  api_throttle same keys; defaults to 400 ThrottlingException "Rate exceeded"
  api_delay_ms N  (or {"ms":N,"operations":[..]})
Websocket faults (refuse_ws) are kept here too; immediate actions (drop_ws,
send_raw, duplicate_payload, close_message) are executed by the ACS module.
"""

import time


class _Rule:
    def __init__(self, spec, default_status, default_code, default_message):
        if spec is True:
            spec = {}
        self.status = int(spec.get("status", default_status))
        self.code = spec.get("code", default_code)
        self.message = spec.get("message", default_message)
        self.count = spec.get("count")
        self.count = int(self.count) if self.count is not None else None
        secs = spec.get("seconds")
        self.until = time.time() + float(secs) if secs is not None else None
        ops = spec.get("operations")
        self.operations = set(ops) if ops else None
        if self.count is None and self.until is None:
            self.count = 1 << 62  # until cleared

    def active(self):
        if self.until is not None and time.time() > self.until:
            return False
        if self.count is not None and self.count <= 0:
            return False
        return True

    def matches(self, op):
        return self.active() and (self.operations is None or op in self.operations)

    def consume(self):
        if self.count is not None:
            self.count -= 1

    def describe(self):
        return {"status": self.status, "code": self.code, "message": self.message,
                "remaining_count": self.count if self.count is None or self.count < (1 << 61) else None,
                "until": self.until,
                "operations": sorted(self.operations) if self.operations else None}


class Faults:
    def __init__(self):
        self.clear()

    def clear(self):
        self.api_error = None
        self.api_throttle = None
        self.api_delay_ms = 0
        self.api_delay_ops = None
        self.refuse_ws_until = 0.0
        self.imds_require_v2 = None  # None = use the command-line setting

    def set_api_error(self, spec):
        self.api_error = _Rule(spec, 500, "ServerException", "Service unavailable (injected fault)") if spec else None

    def set_api_throttle(self, spec):
        self.api_throttle = _Rule(spec, 400, "ThrottlingException", "Rate exceeded") if spec else None

    def set_api_delay(self, spec):
        if isinstance(spec, dict):
            self.api_delay_ms = int(spec.get("ms", 0))
            ops = spec.get("operations")
            self.api_delay_ops = set(ops) if ops else None
        else:
            self.api_delay_ms = int(spec or 0)
            self.api_delay_ops = None

    def delay_for(self, op):
        if self.api_delay_ms and (self.api_delay_ops is None or op in self.api_delay_ops):
            return self.api_delay_ms / 1000.0
        return 0.0

    def api_fault_for(self, op):
        """Return (status, code, message) to fail this call with, or None."""
        for rule in (self.api_throttle, self.api_error):
            if rule is not None and rule.matches(op):
                rule.consume()
                return rule.status, rule.code, rule.message
        return None

    def refuse_ws(self):
        return time.time() < self.refuse_ws_until

    def describe(self):
        return {
            "api_error": self.api_error.describe() if self.api_error and self.api_error.active() else None,
            "api_throttle": self.api_throttle.describe() if self.api_throttle and self.api_throttle.active() else None,
            "api_delay_ms": self.api_delay_ms,
            "api_delay_operations": sorted(self.api_delay_ops) if self.api_delay_ops else None,
            "refuse_ws_until": self.refuse_ws_until if self.refuse_ws() else None,
            "imds_require_v2": self.imds_require_v2,
        }
