"""The inventory observer: per-token and per-principal usage aggregates, kept in the detector's pass.

`Inventory` is handed to `Detector(observers=[inventory])`; the engine calls
`observe(event, token_state, principal_state, action_info)` for every event, right after it
updated its baselines and before it advanced the token's `last_seen` (so `token.last_seen` is the
*previous* use and a gap can be measured). File replay and the Kafka stream therefore build the
same inventory from the same state, with no second pass over the events.

What the detector already keeps per token (first/last seen, events, kind, pod binding, lineage
birth, addresses) is not copied; this adds only what an inventory needs on top, compactly:
strings are interned once (`names`) and aggregates hold small ints, every collection is capped
(a full one sets a bit in `full`, so reports say "32+" rather than a wrong count), and empty
collections are `None`. Per principal it keeps the (action, namespace) pairs it used with the
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
from ..useragent import is_interactive, ua_family
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

FULL_NETS, FULL_UAS, FULL_SCOPES, FULL_PRIVILEGED = 1, 2, 4, 8

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


class TokenUse:
    """What the inventory adds to the detector's `TokenState` for one credential (codes are ints
    into `Inventory.names`)."""

    __slots__ = (
        "principal",  # the PrincipalState key (the detector's own string, shared)
        "days", "last_day",  # distinct days with use
        "last_ok",  # last successful use (µs)
        "nets",  # /24 networks it was used from
        "uas",  # user-agent families
        "scopes",  # namespaces / accounts / projects / resource groups touched
        "actions",  # action → count (the first CAP_ACTIONS distinct ones)
        "other",  # requests of actions beyond the cap
        "privileged",  # sensitive actions (secrets, exec, RBAC, credentials) that succeeded
        "fails", "denied",  # failed requests; of those, refused by authorization
        "interactive", "interactive_nets",  # requests from interactive clients, and their networks
        "hour", "hour_ips", "max_hour_ips",  # distinct addresses within one clock hour (shared use)
        "gaps", "max_gap", "woke_at", "woke_ok",  # silences ≥ dormant_after; the longest, and its end
        "full",  # bit set: which capped collection overflowed
    )

    def __init__(self, principal: str):
        self.principal = principal
        self.days = 0
        self.last_day = -1
        self.last_ok = None
        self.nets = self.uas = self.scopes = self.privileged = self.interactive_nets = self.hour_ips = None
        self.actions: dict[int, int] = {}
        self.other = self.fails = self.denied = self.interactive = 0
        self.hour = -1
        self.max_hour_ips = 0
        self.gaps = self.max_gap = 0
        self.woke_at = None
        self.woke_ok = None
        self.full = 0

    def to_dict(self, names: list[str]) -> dict[str, Any]:
        def decode(codes):
            return None if codes is None else [names[c] for c in codes]

        return {
            "principal": self.principal, "days": self.days, "last_day": self.last_day, "last_ok": self.last_ok,
            "nets": decode(self.nets), "uas": decode(self.uas), "scopes": decode(self.scopes),
            "actions": {names[c]: n for c, n in self.actions.items()}, "other": self.other,
            "privileged": decode(self.privileged), "fails": self.fails, "denied": self.denied,
            "interactive": self.interactive, "interactive_nets": decode(self.interactive_nets),
            "max_hour_ips": self.max_hour_ips, "gaps": self.gaps, "max_gap": self.max_gap,
            "woke_at": self.woke_at, "woke_ok": self.woke_ok, "full": self.full,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], code: Callable[[str], int]) -> "TokenUse":
        use = cls(data["principal"])

        def encode(values):
            return None if values is None else [code(v) for v in values]

        use.days, use.last_day, use.last_ok = data["days"], data["last_day"], data["last_ok"]
        use.nets, use.uas, use.scopes = encode(data["nets"]), encode(data["uas"]), encode(data["scopes"])
        use.actions = {code(a): n for a, n in data["actions"].items()}
        use.other, use.privileged = data["other"], encode(data["privileged"])
        use.fails, use.denied, use.interactive = data["fails"], data["denied"], data["interactive"]
        use.interactive_nets = encode(data["interactive_nets"])
        use.max_hour_ips, use.gaps, use.max_gap = data["max_hour_ips"], data["gaps"], data["max_gap"]
        use.woke_at, use.woke_ok, use.full = data["woke_at"], data["woke_ok"], data["full"]
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
            uses.append([names[action], names[ns - 1] if ns else None, first, last, count, mask,
                         None if rnames is None else [names[c] for c in rnames]])
        return {"source": self.source, "tenant": self.tenant, "principal": self.principal, "mask": self.mask,
                "uses": uses, "denied": {names[c]: n for c, n in self.denied.items()},
                "denied_total": self.denied_total, "dropped": self.dropped}

    def merge_dict(self, data: dict[str, Any], code: Callable[[str], int], shift: int) -> None:
        """Add a snapshot's uses (day masks shifted by `shift` days to this inventory's origin)."""
        def moved(mask: int) -> int:
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
    """The observer (see the module doc). `config` holds the hygiene thresholds the reports use."""

    def __init__(self, config: InventoryConfig | None = None):
        self.config = config or InventoryConfig()
        self.dormant_us = self.config.us("dormant_after")
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        self.tokens: dict[str, TokenUse] = {}
        self.principals: dict[str, PrincipalUse] = {}
        self.origin_day: int | None = None
        self.starts: dict[str, int] = {}  # source|tenant → first event seen (the logs' beginning)
        self.ends: dict[str, int] = {}  # source|tenant → last event seen
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

    # --- the hook ----------------------------------------------------------------------------

    def observe(self, e: dict[str, Any], token, p, info: ActionInfo) -> None:
        tid = e["token_id"]
        if tid is None:
            return
        self.events += 1
        source, tenant, ts = e["source"], e["tenant"], e["ts"]
        key = f"{source}|{tenant or ''}|{tid}"
        use = self.tokens.get(key)
        code = self.code
        if use is None:
            use = self.tokens[key] = TokenUse(p.key)
            where = key[: len(key) - len(tid) - 1]
            if where not in self.starts or ts < self.starts[where]:
                self.starts[where] = ts
            if self.origin_day is None:
                self.origin_day = ts // DAY_US
        day = ts // DAY_US
        if day != use.last_day:
            use.days += 1
            use.last_day = day
        where = key[: len(key) - len(tid) - 1]
        if ts > self.ends.get(where, 0):
            self.ends[where] = ts
        failed = e["outcome"] == "failure"
        if not failed:
            use.last_ok = ts
        elif authz_denied(e):
            use.fails += 1
            use.denied += 1
        else:
            use.fails += 1

        # dormancy: the engine has not advanced last_seen yet
        if token.events and ts - token.last_seen >= self.dormant_us:
            use.gaps += 1
            gap = ts - token.last_seen
            if gap > use.max_gap:
                use.max_gap, use.woke_at, use.woke_ok = gap, ts, not credential_refused(e)

        ip = e["source_ip"]
        net_code = -1
        if ip:
            net = network_of(ip)
            if net is not None:
                net_code = code(net)
                nets = use.nets
                if nets is None:
                    use.nets = [net_code]
                elif net_code not in nets:
                    if len(nets) < CAP_NETS:
                        nets.append(net_code)
                    else:
                        use.full |= FULL_NETS
                if not p.machine:
                    if ip_class(ip) == "public":
                        self._remember(self.human_nets, net, ts)
                elif e["token_kind"] == "web-identity" or e["principal_type"] == "federated":
                    self._remember(self.home_nets, net, ts)
            hour = ts // HOUR_US
            ip_code = code(ip)
            if hour != use.hour:
                use.hour, use.hour_ips = hour, [ip_code]
                if use.max_hour_ips < 1:
                    use.max_hour_ips = 1
            elif ip_code not in use.hour_ips and len(use.hour_ips) < CAP_HOUR_IPS:
                use.hour_ips.append(ip_code)
                if len(use.hour_ips) > use.max_hour_ips:
                    use.max_hour_ips = len(use.hour_ips)

        family = ua_family(e["user_agent"])
        if family is not None:
            fc = code(family)
            uas = use.uas
            if uas is None:
                use.uas = [fc]
            elif fc not in uas:
                if len(uas) < CAP_UAS:
                    uas.append(fc)
                else:
                    use.full |= FULL_UAS
            if is_interactive(family):
                use.interactive += 1
                if net_code >= 0:
                    inets = use.interactive_nets
                    if inets is None:
                        use.interactive_nets = [net_code]
                    elif net_code not in inets and len(inets) < CAP_INTERACTIVE_NETS:
                        inets.append(net_code)

        namespace = e["namespace"]
        scope = scope_of(source, tenant, namespace, e["resource"])
        if scope is not None:
            sc = code(scope)
            scopes = use.scopes
            if scopes is None:
                use.scopes = [sc]
            elif sc not in scopes:
                if len(scopes) < CAP_SCOPES:
                    scopes.append(sc)
                else:
                    use.full |= FULL_SCOPES

        action = e["action"] or "?"
        ac = code(action)
        actions = use.actions
        if ac in actions:
            actions[ac] += 1
        elif len(actions) < CAP_ACTIONS:
            actions[ac] = 1
        else:
            use.other += 1
        if info.sensitivity >= 2 and not failed:
            priv = use.privileged
            if priv is None:
                use.privileged = [ac]
            elif ac not in priv:
                if len(priv) < CAP_PRIVILEGED:
                    priv.append(ac)
                else:
                    use.full |= FULL_PRIVILEGED

        self._principal_use(p.key, e, ac, ts, day, failed)
        if action in REVOKING and not failed:
            self._revocation(e, source, tenant, action, ts)

    def note_use(self, e: dict[str, Any]) -> None:
        """Only the principal-level use of one event (no detector needed): what least-privilege
        drafts of an exact time window are built from."""
        source, tenant, ts = e["source"], e["tenant"], e["ts"]
        where = f"{source}|{tenant or ''}"
        if where not in self.starts or ts < self.starts[where]:
            self.starts[where] = ts
        if ts > self.ends.get(where, 0):
            self.ends[where] = ts
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

    def decode(self, codes) -> list[str]:
        return [] if codes is None else [self.names[c] for c in codes]

    def day_bit(self, ts: int) -> int:
        """Bit index of the day of `ts` in the day masks."""
        return max(0, ts // DAY_US - (self.origin_day or 0))

    # --- snapshots (stream state) ----------------------------------------------------------------

    def to_dict(self, keep: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """JSON-safe state of the principals `keep(principal_key)` selects (all by default), plus
        the fleet-wide facts (log starts, revocations, home and human networks)."""
        names = self.names
        tokens = {k: u.to_dict(names) for k, u in self.tokens.items() if keep is None or keep(u.principal)}
        principals = {k: pu.to_dict(names) for k, pu in self.principals.items() if keep is None or keep(k)}
        return {
            "format": FORMAT, "origin_day": self.origin_day, "events": self.events, "tokens": tokens,
            "principals": principals,
            "shared": {"starts": self.starts, "ends": self.ends, "revoked": self.revoked,
                       "revoked_principals": self.revoked_principals, "home_nets": self.home_nets,
                       "human_nets": self.human_nets},
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Merge a `to_dict` snapshot in (several partitions' snapshots may be merged into one)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"inventory snapshot format {data.get('format')} is not {FORMAT}")
        origin = data.get("origin_day")
        if self.origin_day is None or (origin is not None and origin < self.origin_day and not self.principals):
            self.origin_day = origin if origin is not None else self.origin_day
        elif origin is not None and origin < self.origin_day:
            self._rebase(origin)
        self.events += data.get("events", 0)
        for key, value in data["tokens"].items():
            self.tokens[key] = TokenUse.from_dict(value, self.code)
        shift = (origin - self.origin_day) if origin is not None and self.origin_day is not None else 0
        for key, value in data["principals"].items():
            pu = self.principals.get(key)
            if pu is None:
                pu = self.principals[key] = PrincipalUse(value["source"], value["tenant"], value["principal"])
            pu.merge_dict(value, self.code, shift)
        shared = data["shared"]
        for name in ("starts",):
            for k, v in shared[name].items():
                self.starts[k] = min(self.starts.get(k, v), v)
        for k, v in shared["ends"].items():
            self.ends[k] = max(self.ends.get(k, v), v)
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
        self.origin_day = origin
