"""The inventory observer: per-token and per-principal usage aggregates, kept in the detector's pass.

`Inventory` is handed to `Detector(observers=[inventory])`; the engine calls
`observe(event, token_state, principal_state, action_info)` for every event, right after it
updated its baselines and before it advanced the token's `last_seen` (so `token.last_seen` is the
*previous* use and a gap can be measured). File replay and the Kafka stream therefore build the
same inventory from the same state, with no second pass over the events.

What the detector already keeps per token (first/last seen, events, kind, pod binding, lineage
birth, addresses) is not copied; this adds only what an inventory needs on top, compactly (most
credentials are bound tokens that live an hour): aggregates are keyed by the detector's own
`TokenState`, strings are interned once (`names`) and aggregates hold their codes, a small set is
None / one int / a capped list (one cap + 1 entry says "more", so reports say "32+" rather than a
wrong count), and what few credentials need (failures, silences, interactive use) lives in a
`Rare` made on demand. Per principal it keeps the (action, namespace) pairs it used with the
days it used them (a bit per day), a few resource names per pair, and its denied requests: what
least-privilege drafts are made of.

    >>> from detector.detect.engine import Detector
    >>> inventory = Inventory()
    >>> detector = Detector(observers=[inventory])
"""

from __future__ import annotations

from typing import Any, Callable

from ..actions import ActionInfo
from ..netclass import ip_class, network_of
from ..useragent import INTERACTIVE, ua_family
from .config import InventoryConfig
from .scopes import resource_pattern, scope_of

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
FORMAT = 1

# Credentials that live until someone revokes them (the detector's LONG_LIVED, plus nothing else).
LONG_LIVED = frozenset({"legacy", "access-key", "sa-key", "sp-secret", "sp-cert", "x509"})

CAP_NETS = 32
CAP_UAS = 8
CAP_SCOPES = 16
CAP_ACTIONS = 16
CAP_PRIVILEGED = 16
CAP_INTERACTIVE_NETS = 8
CAP_HOUR_IPS = 8
CAP_USES = 4096  # (action, namespace) pairs per principal
CAP_NAMES = 8  # resource names per pair before the draft says "any"
CAP_DENIED = 64
CAP_SHARED_NETS = 4096  # fleet-wide: networks humans / home workloads use

# Requests that end a credential: key deletion/deactivation, a legacy token's secret deleted.
REVOKING = frozenset({
    "iam:DeleteAccessKey", "iam:UpdateAccessKey", "iam:DeleteServiceAccountKey", "iam:DisableServiceAccountKey",
    "delete:secrets", "delete:serviceaccounts",
})
# Failures that mean the credential itself was refused (it no longer works), not the request.
_AUTHN_FAILURES = ("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "AuthFailure",
                   "InvalidAccessKeyId", "UNAUTHENTICATED", "7000215", "7000222", "700027", "invalid_client",
                   "TokenExpired", "InvalidAuthenticationToken")
_AUTHZ_FAILURES = ("AccessDenied", "Unauthorized", "Forbidden", "PERMISSION_DENIED", "AuthorizationFailed",
                   "UnauthorizedOperation", "Client.UnauthorizedOperation")


def credential_refused(event: dict[str, Any]) -> bool:
    """Did authentication fail (the credential is dead), as opposed to the request being refused?"""
    if event["outcome"] != "failure":
        return False
    if event["status_code"] == 401:
        return True
    code = event["error_code"]
    return bool(code) and code.startswith(_AUTHN_FAILURES)


def authz_denied(event: dict[str, Any]) -> bool:
    if event["outcome"] != "failure":
        return False
    if event["status_code"] == 403:
        return True
    code = event["error_code"]
    return bool(code) and (code.startswith(_AUTHZ_FAILURES) or "AccessDenied" in code or code == "7")


def permitted_failure(event: dict[str, Any]) -> bool:
    """A failed request that authorization let through (404 Not Found, 409 Conflict, NoSuchKey…):
    the permission was used even though the request failed."""
    if authz_denied(event) or credential_refused(event):
        return False
    status = event["status_code"]
    return status is None or (status < 429 and status not in (401, 403))


def put(values, code: int, cap: int):
    """Add `code` to a small set kept as None (empty), an int (one value) or a list (more): most
    credentials have one network, one client, one scope. A list holds at most `cap` + 1 codes; the
    extra one only says "more than cap"."""
    if values is None:
        return code
    if values.__class__ is int:
        return values if values == code else [values, code]
    if code not in values and len(values) <= cap:
        values.append(code)
    return values


def count_of(values, cap: int) -> tuple[int, bool]:
    """(how many values, whether there were more than `cap`)."""
    if values is None:
        return 0, False
    if values.__class__ is int:
        return 1, False
    return min(len(values), cap), len(values) > cap


def codes_of(values, cap: int) -> list[int]:
    if values is None:
        return []
    if values.__class__ is int:
        return [values]
    return values[:cap]


class Rare:
    """What only some credentials need: failures, silences, interactive use, overflowing actions."""

    __slots__ = ("other", "fails", "denied", "last_fail", "ok_before", "interactive", "interactive_nets",
                 "gaps", "max_gap", "woke_at", "woke_ok")

    def __init__(self):
        self.other = self.fails = self.denied = self.interactive = self.gaps = self.max_gap = 0
        self.last_fail = self.ok_before = self.interactive_nets = self.woke_at = self.woke_ok = None


class TokenUse:
    """What the inventory adds to the detector's `TokenState` for one credential. Codes are ints into
    `Inventory.names`; small sets are None / int / list (see `put`)."""

    __slots__ = (
        "days", "last_day",  # distinct days with use; the last one, relative to the inventory's origin day
        "nets",  # /24 networks it was used from
        "uas",  # user-agent families
        "scopes",  # namespaces / accounts / projects / resource groups touched
        "actions",  # one action code (all requests), or action code → requests
        "privileged",  # sensitive actions (secrets, exec, RBAC, credentials) that succeeded
        "hour", "hour_ips", "max_hour_ips",  # distinct addresses within one clock hour (shared use)
        "rare",  # a `Rare`, once something rare happened
    )

    def __init__(self):
        self.days = 0
        self.last_day = None
        self.nets = self.uas = self.scopes = self.actions = self.privileged = self.hour_ips = self.rare = None
        self.hour = -1
        self.max_hour_ips = 0

    def extra(self) -> Rare:
        rare = self.rare
        if rare is None:
            rare = self.rare = Rare()
        return rare

    def action_counts(self, events: int) -> dict[int, int]:
        """Action code → requests (`events`: the token's total, for the one-action form)."""
        if self.actions is None:
            return {}
        if self.actions.__class__ is int:
            return {self.actions: events - (self.rare.other if self.rare else 0)}
        return dict(self.actions)

    def last_ok(self, last_seen: int) -> int | None:
        rare = self.rare
        if rare is None or rare.last_fail is None or rare.last_fail < last_seen:
            return last_seen
        return rare.ok_before

    def to_dict(self, names: list[str], events: int, last_seen: int) -> dict[str, Any]:
        def decode(values, cap):
            return [names[c] for c in (values[:cap + 1] if isinstance(values, list) else codes_of(values, cap))]

        rare = self.rare or Rare()
        return {
            "days": self.days, "last_day": self.last_day, "nets": decode(self.nets, CAP_NETS),
            "uas": decode(self.uas, CAP_UAS), "scopes": decode(self.scopes, CAP_SCOPES),
            "actions": {names[c]: n for c, n in self.action_counts(events).items()},
            "privileged": decode(self.privileged, CAP_PRIVILEGED), "max_hour_ips": self.max_hour_ips,
            "other": rare.other, "fails": rare.fails, "denied": rare.denied, "last_ok": self.last_ok(last_seen),
            "last_fail": rare.last_fail, "interactive": rare.interactive,
            "interactive_nets": decode(rare.interactive_nets, CAP_INTERACTIVE_NETS), "gaps": rare.gaps,
            "max_gap": rare.max_gap, "woke_at": rare.woke_at, "woke_ok": rare.woke_ok,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], code: Callable[[str], int]) -> "TokenUse":
        use = cls()

        def encode(values):
            out = None
            for value in values:
                out = put(out, code(value), 1 << 30)
            return out

        use.days, use.last_day, use.max_hour_ips = data["days"], data["last_day"], data["max_hour_ips"]
        use.nets, use.uas, use.scopes = encode(data["nets"]), encode(data["uas"]), encode(data["scopes"])
        use.privileged = encode(data["privileged"])
        actions = {code(a): n for a, n in data["actions"].items()}
        use.actions = actions or None
        if any(data[k] for k in ("other", "fails", "denied", "interactive", "gaps")) or data["last_fail"] is not None:
            rare = use.extra()
            rare.other, rare.fails, rare.denied = data["other"], data["fails"], data["denied"]
            rare.last_fail, rare.ok_before = data["last_fail"], data["last_ok"]
            rare.interactive, rare.interactive_nets = data["interactive"], encode(data["interactive_nets"])
            rare.gaps, rare.max_gap, rare.woke_at, rare.woke_ok = data["gaps"], data["max_gap"], data["woke_at"], data["woke_ok"]
        return use


class PrincipalUse:
    """A principal's successful (action, namespace) pairs — `uses[key] = [first, last, count, day
    mask, resource-name codes or None for "any"]` — plus its denied requests, for drafts."""

    __slots__ = ("source", "tenant", "principal", "mask", "uses", "denied", "denied_total", "dropped")

    def __init__(self, source: str, tenant: str | None, principal: str):
        self.source, self.tenant, self.principal = source, tenant, principal
        self.mask = 0  # bit d: active on day origin_day + d
        self.uses: dict[int, list] = {}
        self.denied: dict[int, int] = {}  # action code → refused requests
        self.denied_total = 0
        self.dropped = 0  # successful requests of pairs beyond CAP_USES

    def add(self, e: dict[str, Any], action: int, namespace: int, day_bit: int, ts: int, ok: bool,
            code: Callable[[str], int]) -> None:
        """`ok`: authorization let the request through (it succeeded, or failed for another reason)."""
        self.mask |= day_bit
        if not ok:
            if not authz_denied(e):
                return  # throttled, unavailable, bad credential: neither used nor refused
            self.denied_total += 1
            if action in self.denied or len(self.denied) < CAP_DENIED:
                self.denied[action] = self.denied.get(action, 0) + 1
            return
        key = action * 4_294_967_296 + namespace + 1
        use = self.uses.get(key)
        if use is None:
            if len(self.uses) >= CAP_USES:
                self.dropped += 1
                return
            use = self.uses[key] = [ts, ts, 0, 0, []]
        if ts < use[0]:
            use[0] = ts
        if ts > use[1]:
            use[1] = ts
        use[2] += 1
        use[3] |= day_bit
        names = use[4]
        if names is not None:
            pattern = resource_pattern(self.source, e["resource"])
            if pattern is None:
                use[4] = None  # one unnamed request: the draft cannot restrict by name
            else:
                c = code(pattern)
                if c not in names:
                    if len(names) >= CAP_NAMES:
                        use[4] = None
                    else:
                        names.append(c)

    def to_dict(self, names: list[str]) -> dict[str, Any]:
        uses = []
        for key, (first, last, count, mask, rnames) in self.uses.items():
            action, ns = divmod(key, 4_294_967_296)
            uses.append([names[action], names[ns - 1] if ns else None, first, last, count, _hex(mask),
                         None if rnames is None else [names[c] for c in rnames]])
        return {"source": self.source, "tenant": self.tenant, "principal": self.principal, "mask": _hex(self.mask),
                "uses": uses, "denied": {names[c]: n for c, n in self.denied.items()},
                "denied_total": self.denied_total, "dropped": self.dropped}

    def merge_dict(self, data: dict[str, Any], code: Callable[[str], int], shift: int) -> None:
        """Add a snapshot's uses (day masks shifted by `shift` days to this inventory's origin)."""
        def moved(mask: int | str) -> int:
            mask = _unhex(mask)
            return mask << shift if shift >= 0 else mask >> -shift

        self.mask |= moved(data["mask"])
        for action, ns, first, last, count, mask, rnames in data["uses"]:
            key = code(action) * 4_294_967_296 + (code(ns) + 1 if ns is not None else 0)
            use = self.uses.get(key)
            encoded = None if rnames is None else [code(n) for n in rnames]
            if use is None:
                self.uses[key] = [first, last, count, moved(mask), encoded]
                continue
            use[0], use[1], use[2], use[3] = min(use[0], first), max(use[1], last), use[2] + count, use[3] | moved(mask)
            if use[4] is None or encoded is None:
                use[4] = None
            else:
                use[4] = list(dict.fromkeys(use[4] + encoded))
                if len(use[4]) > CAP_NAMES:
                    use[4] = None
        for action, n in data["denied"].items():
            c = code(action)
            self.denied[c] = self.denied.get(c, 0) + n
        self.denied_total += data["denied_total"]
        self.dropped += data["dropped"]


class Inventory:
    """The observer (see the module doc). `config` holds the hygiene thresholds the reports use.

    Token aggregates are keyed by the detector's `TokenState` object itself (no second copy of the
    token key per credential); snapshots name them by key, and a restored entry is re-linked to
    its `TokenState` the first time it is asked for (`use_of`)."""

    def __init__(self, config: InventoryConfig | None = None):
        self.config = config or InventoryConfig()
        self.dormant_us = self.config.us("dormant_after")
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        self.tokens: dict[Any, TokenUse] = {}  # TokenState → its aggregates
        self._pending: dict[str, dict] = {}  # restored, not yet linked to a TokenState: key → its snapshot
        self.principals: dict[str, PrincipalUse] = {}
        self.origin_day: int | None = None
        self.starts: dict[str, int] = {}  # source|tenant → first event seen (the logs' beginning)
        self.max_ts: int = 0  # newest event seen
        self.revoked: dict[str, list] = {}  # token key → [ts, by, action]
        self.revoked_principals: dict[str, list] = {}  # principal key → [ts, by, action]
        self.home_nets: dict[str, int] = {}  # networks workload identities exchange from → last seen
        self.human_nets: dict[str, int] = {}  # public networks people use → last seen
        self.events = 0

    def code(self, value: str) -> int:
        c = self.codes.get(value)
        if c is None:
            c = self.codes[value] = len(self.names)
            self.names.append(value)
        return c

    def use_of(self, token, key: str) -> TokenUse | None:
        """The aggregates of a detector `TokenState` (whose key is `key`)."""
        use = self.tokens.get(token)
        if use is None and self._pending:
            data = self._pending.pop(key, None)
            if data is not None:
                use = self.tokens[token] = TokenUse.from_dict(data, self.code)
        return use

    # --- the hook ----------------------------------------------------------------------------

    def observe(self, e: dict[str, Any], token, p, info: ActionInfo) -> None:
        # the hot path: interned codes are looked up inline, one-value sets compared before `put`
        ts = e["ts"]
        self.events += 1
        if ts > self.max_ts:
            self.max_ts = ts
        use = self.tokens.get(token)
        codes = self.codes
        if use is None:
            where = f"{e['source']}|{e['tenant'] or ''}"
            if self._pending:
                use = self.use_of(token, f"{where}|{e['token_id']}")
            if use is None:
                use = self.tokens[token] = TokenUse()
            if where not in self.starts or ts < self.starts[where]:
                self.starts[where] = ts
            if self.origin_day is None:
                self.origin_day = ts // DAY_US
        day = ts // DAY_US - self.origin_day
        if day != use.last_day:
            use.days += 1
            use.last_day = day
        failed = e["outcome"] == "failure"
        if failed:
            rare = use.extra()
            rare.fails += 1
            if authz_denied(e):
                rare.denied += 1
            # the last success before this failure: the previous request, unless it failed too
            if token.events and (rare.last_fail is None or token.last_seen > rare.last_fail):
                rare.ok_before = token.last_seen
            rare.last_fail = ts
        previous = token.last_seen if token.events else None
        # dormancy: the engine has not advanced last_seen yet
        if previous is not None and ts - previous >= self.dormant_us:
            rare = use.extra()
            rare.gaps += 1
            gap = ts - previous
            if gap > rare.max_gap:
                rare.max_gap, rare.woke_at, rare.woke_ok = gap, ts, not credential_refused(e)

        ip = e["source_ip"]
        net_code = -1
        if ip:
            net = network_of(ip)
            if net is not None:
                net_code = codes.get(net)
                if net_code is None:
                    net_code = self.code(net)
                if use.nets != net_code:
                    use.nets = put(use.nets, net_code, CAP_NETS)
                if not p.machine:
                    if ip_class(ip) == "public":
                        self._remember(self.human_nets, net, ts)
                elif e["token_kind"] == "web-identity" or e["principal_type"] == "federated":
                    self._remember(self.home_nets, net, ts)
            # same clock hour (kept mod 256, so also within an hour of the last use)
            hour = (ts // HOUR_US) & 0xFF
            ip_code = codes.get(ip)
            if ip_code is None:
                ip_code = self.code(ip)
            if hour != use.hour or previous is None or ts - previous >= HOUR_US:
                use.hour, use.hour_ips = hour, ip_code
                if use.max_hour_ips < 1:
                    use.max_hour_ips = 1
            elif use.hour_ips != ip_code:
                use.hour_ips = put(use.hour_ips, ip_code, CAP_HOUR_IPS)
                seen = 1 if use.hour_ips.__class__ is int else len(use.hour_ips)
                if seen > use.max_hour_ips:
                    use.max_hour_ips = seen

        family = ua_family(e["user_agent"])
        if family is not None:
            fc = codes.get(family)
            if fc is None:
                fc = self.code(family)
            if use.uas != fc:
                use.uas = put(use.uas, fc, CAP_UAS)
            if family in INTERACTIVE:
                rare = use.extra()
                rare.interactive += 1
                if net_code >= 0:
                    rare.interactive_nets = put(rare.interactive_nets, net_code, CAP_INTERACTIVE_NETS)

        source = e["source"]
        namespace = e["namespace"]
        ns_code = -1
        if namespace:
            ns_code = codes.get(namespace)
            if ns_code is None:
                ns_code = self.code(namespace)
        if source == "k8s":
            sc = ns_code if namespace else None
        else:
            scope = scope_of(source, e["tenant"], namespace, e["resource"])
            sc = None
            if scope is not None:
                sc = codes.get(scope)
                if sc is None:
                    sc = self.code(scope)
        if sc is not None and use.scopes != sc:
            use.scopes = put(use.scopes, sc, CAP_SCOPES)

        action = e["action"] or "?"
        ac = codes.get(action)
        if ac is None:
            ac = self.code(action)
        actions = use.actions
        if actions is None:
            use.actions = ac
        elif actions.__class__ is int:
            if actions != ac:
                prior = token.events - (use.rare.other if use.rare else 0)
                use.actions = {actions: prior, ac: 1}
        elif ac in actions:
            actions[ac] += 1
        elif len(actions) < CAP_ACTIONS:
            actions[ac] = 1
        else:
            use.extra().other += 1
        if info.sensitivity >= 2 and not failed and use.privileged != ac:
            use.privileged = put(use.privileged, ac, CAP_PRIVILEGED)

        pu = self.principals.get(p.key)
        if pu is None:
            pu = self.principals[p.key] = PrincipalUse(source, e["tenant"], e["principal"])
        pu.add(e, ac, ns_code, 1 << day if day > 0 else 1, ts, not failed or permitted_failure(e), self.code)
        if action in REVOKING and not failed:
            self._revocation(e, source, e["tenant"], action, ts)

    def note_use(self, e: dict[str, Any]) -> None:
        """Only the principal-level use of one event (no detector needed): what least-privilege
        drafts of an exact time window are built from."""
        source, tenant, ts = e["source"], e["tenant"], e["ts"]
        where = f"{source}|{tenant or ''}"
        if where not in self.starts or ts < self.starts[where]:
            self.starts[where] = ts
        if ts > self.max_ts:
            self.max_ts = ts
        if self.origin_day is None:
            self.origin_day = ts // DAY_US
        self.events += 1
        self._principal_use(f"{where}|{e['principal']}", e, self.code(e["action"] or "?"), ts, ts // DAY_US,
                            e["outcome"] == "failure")

    def _principal_use(self, pkey: str, e: dict[str, Any], action: int, ts: int, day: int, failed: bool) -> None:
        pu = self.principals.get(pkey)
        if pu is None:
            pu = self.principals[pkey] = PrincipalUse(e["source"], e["tenant"], e["principal"])
        namespace = e["namespace"]
        pu.add(e, action, self.code(namespace) if namespace else -1, 1 << max(0, day - self.origin_day), ts,
               not failed or permitted_failure(e), self.code)

    @staticmethod
    def _remember(values: dict[str, int], key: str, ts: int) -> None:
        if key not in values and len(values) >= CAP_SHARED_NETS:
            del values[min(values, key=values.__getitem__)]
        values[key] = ts

    def _revocation(self, e: dict[str, Any], source: str, tenant: str | None, action: str, ts: int) -> None:
        resource = e["resource"]
        if not resource:
            return
        where = f"{source}|{tenant or ''}|"
        record = [ts, e["principal"], action]
        if source == "aws":
            self.revoked[where + resource] = record
        elif source == "gcp":
            self.revoked[where + resource.rstrip("/").rsplit("/", 1)[-1]] = record
        elif source == "k8s" and e["namespace"]:
            if action == "delete:secrets":
                self.revoked[f"{where}secret:{e['namespace']}/{resource}"] = record
            else:
                self.revoked_principals[f"{where}system:serviceaccount:{e['namespace']}:{resource}"] = record

    # --- questions the reports ask -------------------------------------------------------------

    def decode(self, values, cap: int) -> tuple[list[str], bool]:
        """(the names in a small set, whether it overflowed its cap)."""
        names = self.names
        codes = codes_of(values, cap)
        return [names[c] for c in codes], count_of(values, cap)[1]

    def day_bit(self, ts: int) -> int:
        """Bit index of the day of `ts` in the day masks."""
        return max(0, ts // DAY_US - (self.origin_day or 0))

    # --- snapshots (stream state) ----------------------------------------------------------------

    def to_dict(self, detector, keep: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """JSON-safe state of the principals `keep(principal_key)` selects (all by default), plus
        the fleet-wide facts (log starts, revocations, home and human networks). `detector` is the
        one this inventory observes (it names the tokens)."""
        names = self.names
        tokens = {}
        for key, state in detector.tokens.items():
            if keep is not None and not keep(state.principal):
                continue
            use = self.use_of(state, key)
            if use is not None:
                tokens[key] = {"principal": state.principal, **use.to_dict(names, state.events, state.last_seen)}
        for key, data in self._pending.items():  # restored, not asked for since: pass them on as they are
            if keep is None or keep(data["principal"]):
                tokens.setdefault(key, data)
        principals = {k: pu.to_dict(names) for k, pu in self.principals.items() if keep is None or keep(k)}
        return {
            "format": FORMAT, "origin_day": self.origin_day, "events": self.events, "max_ts": self.max_ts,
            "tokens": tokens, "principals": principals,
            "shared": {"starts": self.starts, "revoked": self.revoked,
                       "revoked_principals": self.revoked_principals, "home_nets": self.home_nets,
                       "human_nets": self.human_nets},
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Merge a `to_dict` snapshot in (several partitions' snapshots may be merged into one).
        Token entries wait in `_pending` until their `TokenState` asks for them."""
        if data.get("format") != FORMAT:
            raise ValueError(f"inventory snapshot format {data.get('format')} is not {FORMAT}")
        origin = data.get("origin_day")
        if self.origin_day is None:
            self.origin_day = origin
        elif origin is not None and origin < self.origin_day:
            self._rebase(origin)
        self.events += data.get("events", 0)
        self.max_ts = max(self.max_ts, data.get("max_ts") or 0)
        day_shift = (origin - self.origin_day) if origin is not None else 0
        for key, value in data["tokens"].items():
            value = dict(value)
            if value["last_day"] is not None:
                value["last_day"] += day_shift
            self._pending[key] = value
        for key, value in data["principals"].items():
            pu = self.principals.get(key)
            if pu is None:
                pu = self.principals[key] = PrincipalUse(value["source"], value["tenant"], value["principal"])
            pu.merge_dict(value, self.code, day_shift)
        shared = data["shared"]
        for k, v in shared["starts"].items():
            self.starts[k] = min(self.starts.get(k, v), v)
        self.revoked.update(shared["revoked"])
        self.revoked_principals.update(shared["revoked_principals"])
        for k, v in shared["home_nets"].items():
            self._remember(self.home_nets, k, max(v, self.home_nets.get(k, v)))
        for k, v in shared["human_nets"].items():
            self._remember(self.human_nets, k, max(v, self.human_nets.get(k, v)))

    def _rebase(self, origin: int) -> None:
        shift = self.origin_day - origin
        for pu in self.principals.values():
            pu.mask <<= shift
            for use in pu.uses.values():
                use[3] <<= shift
        for use in self.tokens.values():
            if use.last_day is not None:
                use.last_day += shift
        for data in self._pending.values():
            if data["last_day"] is not None:
                data["last_day"] += shift
        self.origin_day = origin


def _hex(mask: int) -> str:
    """Day masks grow one bit per day of history (logs spanning years make big integers), which
    JSON numbers cannot carry: snapshots hold them as hex text."""
    return format(mask, "x")


def _unhex(mask: int | str) -> int:
    return int(mask, 16) if isinstance(mask, str) else mask
