"""The Detector: micro-batches of TokenEvents in, new or updated alerts out.

One object serves file replay and the Kafka stream: `process(table)` takes any batch (sorted
here by time), learns as it goes, and returns the alert documents whose evidence changed;
`flush()` ends a replay. Time is event time only, so a replay is deterministic.

Per event (a lean Python loop over columns; no per-event objects beyond dict lookups):
  1. identity and lineage bookkeeping (pods, token births, deletions);
  2. if the token's principal (or its peer group) has a ready baseline and is a machine identity:
     compare with the baseline and the token's own facts → Signals (see rules.py);
  3. learn the event into the baselines *unless* it was suspicious (anomalies must not teach);
  4. append a row for the 5-minute window features.
Per batch: close finished windows, score them with the population's isolation forest, then
evaluate incidents (fusion, population-shift discount, settle delay) and emit alerts.
"""

from __future__ import annotations

import gc
import logging
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..actions import classify
from ..config import DetectorConfig
from ..events import FIELDS, event_of, us_to_iso
from ..netclass import ip_class, network_of, wide_network_of
from ..useragent import is_interactive, ua_family
from . import rules
from .forest import Forest, fit_forest
from .incidents import Incident, family
from .rules import NOVELTY_KINDS, Signal
from .state import (
    CAP_ACTIONS,
    CAP_NAMESPACES,
    CAP_NETS,
    CAP_TOKEN_IPS,
    CAP_UAS,
    Baseline,
    PrincipalState,
    TokenState,
    remember,
)
from .windows import (FEATURES, IN_INCIDENT, PER_EVENT_COLUMNS, SUSPICIOUS, WINDOW_US, WindowBuffer, Windows,
                      feature_matrix, select)

log = logging.getLogger(__name__)

# positions of the columns the repeat path reads straight from a row tuple
_COL = {name: i for i, name in enumerate(FIELDS)}
_SOURCE, _TENANT, _IP, _ACTION, _NS = _COL["source"], _COL["tenant"], _COL["source_ip"], _COL["action"], _COL["namespace"]
_ACTING, _OUTCOME, _RO, _POD_UID = _COL["acting_as"], _COL["outcome"], _COL["read_only"], _COL["bound_pod_uid"]
_LINEAGE = _COL["lineage_kind"]

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
# Credentials that live long enough for dormancy to mean something.
LONG_LIVED = frozenset({"legacy", "access-key", "sa-key", "sp-secret", "sp-cert", "x509"})
_AUTHZ_ERRORS = ("AccessDenied", "Unauthorized", "Forbidden", "PERMISSION_DENIED", "AuthorizationFailed",
                 "UnauthorizedOperation", "Client.UnauthorizedOperation", "AccessDeniedException")
SECRET_BURST_US = 30 * 60_000_000
AUTHZ_BURST_US = 10 * 60_000_000
RECON_BURST_US = 15 * 60_000_000
SHIFT_SPAN_US = 2 * HOUR_US
_NEVER = -(1 << 62)
# a principal younger than the learning period is "seasoned" with this much history of its own
MIN_AGE_US, MIN_ACTIVE_DAYS, MIN_EVENTS = 2 * DAY_US, 2, 20
_NOVEL_BEHAVIOUR = frozenset({"new-action", "new-namespace", "unusual-hour"})
PENDING_GAP_US = HOUR_US
BIRTH_TTL_US = 7 * DAY_US
DELETION_TTL_US = 30 * DAY_US  # weak evidence that did not alert within an hour is dropped


def is_machine(source: str, principal: str, principal_type: str | None, token_kind: str | None) -> bool:
    """Is this identity a program's (the credentials tokenhawk is built for)?"""
    if source == "k8s":
        return principal_type in ("serviceaccount", "node", "system")
    if source == "aws":
        if principal_type in ("AssumedRole",):
            return "AWSReservedSSO" not in principal
        return principal_type in ("IAMUser", "WebIdentityUser")
    if source == "gcp":
        return principal_type in ("serviceAccount", "federated")
    if source == "azure":
        return principal_type in ("servicePrincipal", "managedIdentity")
    return False


def peer_key(source: str, tenant: str | None, principal: str, principal_type: str | None) -> str:
    """Peer group: K8s service accounts by namespace, nodes together, cloud identities by type."""
    if source == "k8s" and principal_type == "serviceaccount":
        parts = principal.split(":")
        namespace = parts[2] if len(parts) >= 4 else "?"
        return f"k8s|{tenant}|ns:{namespace}"
    return f"{source}|{tenant}|{principal_type}"


@dataclass
class _Burst:
    """Short-term per-token memory for the burst rules (created only when needed)."""

    secret_ns: dict[str, int] = field(default_factory=dict)
    authz: dict[str, int] = field(default_factory=dict)  # distinct denied action|namespace → last time
    recon: dict[str, int] = field(default_factory=dict)
    fired: set = field(default_factory=set)


@dataclass
class DetectorStats:
    events: int = 0
    scored_events: int = 0
    learning_events: int = 0
    signals: Counter = field(default_factory=Counter)
    suppressed: Counter = field(default_factory=Counter)
    windows: int = 0
    windows_scored: int = 0
    alerts_emitted: int = 0
    late_events: int = 0


class Detector:
    """See the module doc. `forests` may be given (trained by `tokenhawk train`); otherwise each
    population's forest is fitted from its first `learning_period` of windows."""

    def __init__(self, config: DetectorConfig | None = None, forests: dict[str, Forest] | None = None,
                 observers: list | None = None):
        self.config = config or DetectorConfig()
        # Observers see every event with the detector's own token/principal state, in the same
        # pass (the inventory is kept this way): `observer.observe(event, token, principal, info)`.
        self.observers = list(observers or [])
        c = self.config
        self.learning_us = c.us("learning_period")
        self.gap_us = c.us("incident_gap")
        self.settle_us = c.us("settle")
        self.ending_us = min(self.gap_us, PENDING_GAP_US)  # an incident quieter than this may end at its next event
        self.dormant_us = c.us("dormant_after")
        self.delete_grace_us = c.us("pod_delete_grace")
        self.supersede_us = c.us("supersede_grace")
        self.lateness_us = c.us("lateness")
        self.threshold = c.alert_threshold

        self.tokens: dict[str, TokenState] = {}
        self.principals: dict[str, PrincipalState] = {}
        self.peers: dict[str, Baseline] = {}
        self.population: dict[str, Counter] = {}  # source|tenant → action → principals doing it
        self.population_size: Counter = Counter()
        self.cluster_nets: dict[str, dict[str, int]] = {}  # tenant → pod/node networks → last seen
        self.pods: dict[str, list] = {}  # pod uid → [ip, first_ts, newest token key, its first_ts]
        self.deleted_pods: dict[str, int] = {}  # tenant|ns/name → deletion time
        self.births: dict[str, tuple] = {}  # token key → (via, issuer, issuer token, ts, ip)
        self.incidents: dict[str, Incident] = {}  # open incidents by token key
        self.novel_seen: dict[str, dict[str, int]] = {}  # pop|kind|value → principal → ts
        self.bursts: dict[str, _Burst] = {}
        self.codes: dict[str, int] = {}
        self.code_names: list[str] = []
        self.window_buffer = WindowBuffer()
        self.window_ewma: dict[int, float] = {}  # principal code → events per active window
        self.forests: dict[str, Forest] = dict(forests or {})
        self._given_forests = set(self.forests)
        self.training: dict[str, list[np.ndarray]] = {}
        self.started_at: int | None = None
        self.watermark: int | None = None
        self.max_ts: int | None = None
        self.stats = DetectorStats()
        self._touched: set[str] = set()
        self._finished: list[Incident] = []  # closed by a later event, not yet evaluated
        self._settled: list[dict[str, Any]] = []  # decided as of their settle time by a later event, not yet out
        self._pruned_hour = -1
        self._learned_hour = -1
        self._learned: set[tuple] = set()  # (principal, action, ip, agent, namespace, …) learned this hour
        # events of this hour known to change nothing but counters when they repeat (_repeat)
        self._repeats: dict[tuple, tuple] = {}

    # --- public API ------------------------------------------------------------------------

    def process(self, table: pa.Table) -> list[dict[str, Any]]:
        """Process one micro-batch of events; returns alert documents that are new or changed."""
        if table.num_rows:
            ts = table.column("ts").to_numpy()
            if (ts[1:] < ts[:-1]).any():  # a replay hands over sorted batches: no take() then
                table = table.sort_by("ts")
            # The per-event pass allocates many small objects and makes no reference cycles;
            # the cyclic collector's passes over the whole (large, long-lived) state during it
            # cost ~7% of its CPU time. It runs once after the batch instead.
            collecting = gc.isenabled()
            gc.disable()
            try:
                self._process_events(table)
            finally:
                if collecting:
                    gc.enable()
        return self._advance()

    def flush(self, input_end_ts: int | None = None) -> list[dict[str, Any]]:
        """End of input: close every window and let waiting incidents decide.

        `input_end_ts` is the latest event time of the whole input when this detector saw only
        part of it (a stream instance owning some partitions): the input ends there, not at the
        last event this detector happened to see, so incidents close as a replay of all of it
        would close them."""
        if self.max_ts is not None:
            end = self.max_ts if input_end_ts is None else max(self.max_ts, input_end_ts)
            self.watermark = end + WINDOW_US + self.settle_us
        return self._advance(final=True)

    def observe_facts(self, table: pa.Table) -> None:
        """Only the cross-principal bookkeeping of `process` (token births, pod deletions), for
        events of principals that another stream instance owns. Nothing is learned, scored or
        counted, and a fact noted twice (here and by `process`) changes nothing."""
        if not table.num_rows:
            return
        table = table.sort_by("ts")
        columns = [table.column(name).to_pylist() for name in FIELDS]
        for values in zip(*columns):
            event = dict(zip(FIELDS, values))
            self._note_facts(event, event["ts"])

    def learning_until(self) -> int | None:
        return None if self.started_at is None else self.started_at + self.learning_us

    # --- per event -------------------------------------------------------------------------

    def _process_events(self, table: pa.Table) -> None:
        # Columnar first: keys, user-agent families and the window buffer's integer codes are
        # computed once per distinct value with Arrow, so the per-event loop only does state.
        columns = {name: table.column(name) for name in FIELDS}
        tenant = pc.fill_null(columns["tenant"], "")
        tkeys = pc.binary_join_element_wise(columns["source"], tenant, columns["token_id"], "|")
        pkeys = pc.binary_join_element_wise(columns["source"], tenant, columns["principal"], "|")
        families, family_codes = self._families(columns["user_agent"])
        codes = {
            "tok": self._codes(tkeys),
            "prin": self._codes(pkeys),
            "pop": self._codes(columns["source"]),
            "ip": self._codes(columns["source_ip"]),
            "ua": family_codes,
            "act": self._codes(columns["action"]),
            "ns": self._codes(columns["namespace"]),
        }
        values = [columns[name].to_pylist() for name in FIELDS]
        ts_list = values[0]
        if self.started_at is None:
            self.started_at = ts_list[0]
        learning_until = self.started_at + self.learning_us
        window_rows: list[tuple] = []  # one row of PER_EVENT_COLUMNS per event
        window_row = window_rows.append
        stats = self.stats
        # the batch is in time order: its newest event is its last, and an event is late when
        # it is older than the window before the watermark (counted as the loop used to)
        ts_array = np.asarray(ts_list, dtype=np.int64)
        if self.watermark is not None:
            previous_max = self.max_ts if self.max_ts is not None else ts_array[0]
            running = np.maximum.accumulate(np.concatenate(([previous_max], ts_array)))[:-1]
            stats.late_events += int(np.count_nonzero((ts_array <= running) & (ts_array < self.watermark - WINDOW_US)))
        prior_max = self.max_ts
        if self.max_ts is None or ts_list[-1] > self.max_ts:
            self.max_ts = ts_list[-1]
        codes["win"] = ts_array // WINDOW_US
        flushed = 0  # rows of this batch already handed to the window buffer

        def hand_over(end: int) -> None:
            """Give the window buffer this batch's rows up to event `end`."""
            nonlocal flushed
            if end > flushed:
                self.window_buffer.add({name: column[flushed:end] for name, column in codes.items()},
                                       dict(zip(PER_EVENT_COLUMNS, zip(*window_rows[flushed:end]))))
                flushed = end

        def close_windows_before(index: int) -> None:
            """Close the windows that event time had closed before event `index` of this batch
            (as a batch of one event at a time would have), scoring them for open incidents."""
            hand_over(index)
            high = ts_list[index - 1] if index else prior_max
            if prior_max is not None and prior_max > high:
                high = prior_max
            if high is not None:
                watermark = high - self.lateness_us
                frame = self.window_buffer.close(watermark // WINDOW_US)
                if frame is not None:
                    self._score_windows(frame, watermark)

        handle = self._handle
        repeat = self._repeat
        incidents = self.incidents
        ending = self.ending_us
        for index, (row, tkey, pkey, family) in enumerate(zip(zip(*values), tkeys.to_pylist(), pkeys.to_pylist(),
                                                              families)):
            ts = row[0]
            learning = ts < learning_until
            incident = incidents.get(tkey)
            if incident is not None:
                if ts - incident.last_ts > ending:
                    # this event may end (or decide) its token's incident: the windows closed by
                    # now must have added their forest signals to it first, however large the batch
                    close_windows_before(index)
            elif ts // HOUR_US == self._learned_hour:
                entry = self._repeats.get((tkey, pkey, row[_IP], row[_ACTION], family, row[_NS], row[_ACTING], row[_OUTCOME],
                                     row[_RO], row[_POD_UID]))
                if entry is not None and repeat(entry, row, ts, learning, window_row, tkey, pkey, family):
                    continue
            handle(event_of(row), ts, learning, window_row, tkey, pkey, family)
        stats.events += len(ts_list)
        hand_over(len(ts_list))

    def _codes(self, array: pa.ChunkedArray) -> np.ndarray:
        """Global integer codes of a string column (-1 for null), one dict lookup per distinct value."""
        encoded = pc.dictionary_encode(array, null_encoding="encode").combine_chunks()
        mapping = np.array([self._code(v) for v in encoded.dictionary.to_pylist()] or [-1], dtype=np.int64)
        return mapping[encoded.indices.to_numpy(zero_copy_only=False)]

    def _families(self, user_agents: pa.ChunkedArray) -> tuple[list, np.ndarray]:
        """User-agent family per event (and its code), parsed once per distinct agent."""
        encoded = pc.dictionary_encode(user_agents, null_encoding="encode").combine_chunks()
        distinct = [ua_family(v) for v in encoded.dictionary.to_pylist()]
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        mapping = np.array([self._code(f) for f in distinct] or [-1], dtype=np.int64)
        return [distinct[i] for i in indices.tolist()], mapping[indices]

    def _note_facts(self, e: dict[str, Any], ts: int) -> None:
        """Facts about other principals' credentials: who issued a token, which pod was deleted."""
        source, tenant = e["source"], e["tenant"]
        if e["lineage_kind"] == "issued" and e["lineage_token"] and e["outcome"] != "failure":
            # the key the child's own events get (_process_events: a missing tenant is "")
            child = f"{source}|{tenant or ''}|{e['lineage_token']}"
            if child not in self.tokens:
                self.births[child] = (e["action"], e["principal"], e["token_id"], ts, e["source_ip"])
                if len(self.births) > 200_000:  # never used: forget the oldest
                    self.births.pop(next(iter(self.births)))
        if source == "k8s" and e["action"] == "delete:pods" and e["resource"] and e["outcome"] == "success":
            self.deleted_pods[f"{tenant}|{e['namespace']}/{e['resource']}"] = ts

    def _code(self, value: str | None) -> int:
        if value is None:
            return -1
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.code_names)
            self.code_names.append(value)
        return code

    def _handle(self, e: dict[str, Any], ts: int, learning: bool, window_row, tkey: str, pkey: str,
                family: str | None) -> None:
        source, tenant, principal = e["source"], e["tenant"], e["principal"]
        p = self.principals.get(pkey)
        if p is None:
            ptype = e["principal_type"]
            p = self.principals[pkey] = PrincipalState(
                pkey, ts, source, tenant, principal, ptype, peer_key(source, tenant, principal, ptype),
                is_machine(source, principal, ptype, e["token_kind"]),
            )
            peer = self.peers.get(p.peer)
            if peer is None:
                peer = self.peers[p.peer] = Baseline(p.peer, ts)
            peer.members += 1
        token = self.tokens.get(tkey)
        new_token = token is None
        if new_token:
            token = self.tokens[tkey] = TokenState(pkey, e["token_kind"], ts)
            p.tokens.add(tkey)
            birth = self.births.pop(tkey, None)
            if birth is not None:
                token.parent = birth
        ip = e["source_ip"]
        action = e["action"]
        namespace = e["namespace"]
        info = classify(action)

        # --- bookkeeping that never depends on readiness ----------------------------------
        if e["lineage_kind"] is not None or action == "delete:pods":
            self._note_facts(e, ts)
        pod_ip = None
        pod_uid = e["bound_pod_uid"]
        if pod_uid and source == "k8s":
            if new_token:
                token.pod, token.pod_uid, token.node = e["bound_pod"], pod_uid, e["bound_node"]
            pod = self.pods.get(pod_uid)
            if pod is None:
                pod = self.pods[pod_uid] = [ip, ts, tkey, ts]
                if ip and ip_class(ip) == "private":
                    remember(self.cluster_nets.setdefault(tenant or "", {}), network_of(ip), ts, 4096)
            elif new_token and ts > pod[3]:
                previous = self.tokens.get(pod[2])
                if previous is not None and previous.superseded_at is None:
                    previous.superseded_at = ts
                pod[2], pod[3] = tkey, ts
            pod_ip = pod[0] if pod[0] is not None else None
            if pod[0] is None and ip:
                pod[0] = ip

        # --- scoring --------------------------------------------------------------------
        signals: list[Signal] = []
        compared_quiet = True
        peer = self.peers[p.peer]
        baseline = self._baseline_for(p, peer, ts, learning)
        ip_cls = ip_class(ip) if ip else None
        net = network_of(ip) if ip else None
        internal = self._internal(source, tenant, net)
        if baseline is not None:
            self.stats.scored_events += 1
            signals = self._compare(e, ts, p, baseline, peer, token, new_token, tkey, ip, ip_cls, net, internal,
                                    pod_ip, family, action, info, namespace)
            compared_quiet = not signals  # before suppressions, which expire
        elif learning:
            self.stats.learning_events += 1
        # window features compare with what is known so far, in learning too, so the forest
        # trains on the same kind of numbers it later scores
        known = baseline if baseline is not None else p
        nov_ip = int(bool(ip) and ip not in token.ips and not internal)
        nov_ua = int(family is not None and family not in known.uas)
        nov_act = int(action not in known.actions)
        nov_ns = int(namespace is not None and namespace not in known.namespaces)
        popkey = pkey[: len(pkey) - len(principal) - 1]
        rarity = self._rarity(popkey, action)
        hour_surprise = self._hour_surprise(known, ts)

        incident = self.incidents.get(tkey)
        # a waiting incident is decided (as of its settle time) before its quiet time can end it:
        # with an incident_gap shorter than the pending gap, whether it was emitted picks the gap
        if incident is not None and not incident.emitted and ts - incident.last_ts > self.ending_us:
            alert = self._decide_at_settle(incident)
            if alert is not None:
                self._settled.append(alert)  # emitted with the batch's other alerts
        if incident is not None and ts - incident.last_ts > (self.gap_us if incident.emitted else PENDING_GAP_US):
            # the token was quiet long enough: that incident is over, a new one may start
            self._finished.append(self.incidents.pop(tkey))
            self.bursts.pop(tkey, None)
            incident = None
        if signals:
            signals = self._suppress(signals, e, ip)
        if signals:
            for signal in signals:
                signal.ts, signal.event_id = ts, e["event_id"]
                self.stats.signals[signal.kind] += 1
                if signal.kind in NOVELTY_KINDS and signal.shift_key is not None:
                    self._note_novelty(source, tenant, signal.kind, signal.shift_key, principal, ts)
            if incident is None:
                incident = self.incidents[tkey] = Incident(tkey, e, self._lineage(token))
            incident.add(e, signals)
            self._touched.add(tkey)
        # River's protect_anomaly_detector: what looks like an attack must not become normal.
        # Judged on the incident's evidence (not on whether an alert went out yet), so the
        # outcome does not depend on how events were batched.
        # Forest signals are left out: they arrive when a window closes, which depends on batching.
        suspicious = False
        if incident is not None:
            if ts > incident.seen_ts:
                incident.seen_ts = ts
            alarming = incident.event_score() >= 0.8 * self.threshold
            suspicious = alarming and (bool(signals) or (bool(ip) and ip in incident.ips))

        # --- learning (protected: suspicious events teach nothing) -------------------------
        if not suspicious:
            self._learn(e, ts, p, peer, token, ip, ip_cls, net, internal, family, action, info, namespace)
        for observer in self.observers:
            observer.observe(e, token, p, info)
        token.last_seen = ts
        token.events += 1
        p.last_seen = ts

        window_row((nov_ip, nov_ua, nov_act, nov_ns, e["outcome"] == "failure", self._is_authz_failure(e),
                    bool(e["read_only"]), info.sensitivity >= 2,
                    (SUSPICIOUS if suspicious else 0) | (IN_INCIDENT if incident is not None else 0),
                    rarity, hour_surprise))

        # An event that changed nothing but counters tells its repeats this hour what to expect
        # (see _repeat). Not for failures (they feed the burst rules), facts (lineage, deletions)
        # or a token with an open incident.
        if (compared_quiet and not suspicious and incident is None and e["outcome"] != "failure"
                and e["lineage_kind"] is None and action != "delete:pods" and self._learned_hour == ts // HOUR_US):
            self._repeats[(tkey, pkey, ip, action, family, namespace, e["acting_as"], e["outcome"], e["read_only"],
                           pod_uid)] = (info, net, popkey, baseline, internal,
                                        f"{tenant}|{token.pod}" if token.pod_uid else None,
                                        self._compared_values(e, ip, net, internal, family, action, info, namespace))

    def _repeat(self, entry: tuple, row: tuple, ts: int, learning: bool, window_row, tkey: str, pkey: str,
                family: str | None) -> bool:
        """The short path for an event that repeats, this hour, one `_handle` already found
        unremarkable: same token, address, action, program, namespace and outcome. Its comparison
        with the same baseline cannot find anything new (every value it compares was learned by
        then), and its learning only moves counters, so only what time can change is checked
        again here: readiness, pod deletion, supersession, dormancy, the cluster's networks, an
        incident opened since. Anything else returns False and takes the full path. Two thirds
        of a typical stream take this path; tests/test_detect_repeats.py checks that alerts,
        window features and learned state are the same with and without it."""
        token = self.tokens.get(tkey)
        p = self.principals.get(pkey)
        if token is None or p is None or tkey in self.incidents or row[_LINEAGE] is not None:
            return False
        info, net, popkey, verified, internal_then, pod_key, compared = entry
        peer = self.peers[p.peer]
        baseline = self._baseline_for(p, peer, ts, learning)
        if baseline is not verified:  # readiness changed, or the state was restored since
            return False
        internal = self._internal(row[_SOURCE], row[_TENANT], net)
        if internal != internal_then:
            return False
        action = row[_ACTION]
        if action not in p.actions:  # forgotten (caps) since: learning would count it again
            return False
        ip = row[_IP]
        pod_uid = row[_POD_UID]
        if pod_uid and row[_SOURCE] == "k8s":
            pod = self.pods.get(pod_uid)
            if pod is None or (pod[0] is None and ip):
                return False
        if baseline is not None:
            # every value the comparison found known must still be: a full set (caps) forgets
            # its least recently seen value, which another token may have pushed out since
            for attribute, value in compared:
                if value not in getattr(baseline, attribute):
                    return False
            if token.pod_uid and (token.superseded_at is not None or pod_key in self.deleted_pods):
                return False
            if token.kind in LONG_LIVED and ts - token.last_seen >= self.dormant_us:
                return False
            self.stats.scored_events += 1
        elif learning:
            self.stats.learning_events += 1

        # window features, as _handle computes them (before this event is learned)
        known = baseline if baseline is not None else p
        ips = token.ips
        fresh_ip = bool(ip) and ip not in ips  # only when the token's address list is full
        nov_ip = int(fresh_ip and not internal)
        namespace = row[_NS]
        read_only = row[_RO]
        window_row((nov_ip, int(family is not None and family not in known.uas), int(action not in known.actions),
                    int(namespace is not None and namespace not in known.namespaces), False, False, bool(read_only),
                    info.sensitivity >= 2, False, self._rarity(popkey, action), self._hour_surprise(known, ts)))

        # learning: what _learn does for a value set it already learned this hour
        if fresh_ip and len(ips) < CAP_TOKEN_IPS:
            ips.append(ip)
        how = (ts // HOUR_US + 72) % 168
        p.events += 1
        p.last_seen = ts
        p.hours[how] += 1
        peer.events += 1
        peer.last_seen = ts
        peer.hours[how] += 1
        if read_only is False:
            p.writes += 1
            peer.writes += 1
        if self.observers:
            e = event_of(row)
            for observer in self.observers:
                observer.observe(e, token, p, info)
        token.last_seen = ts
        token.events += 1
        return True

    @staticmethod
    def _compared_values(e, ip, net, internal, family, action, info, namespace) -> tuple:
        """(baseline attribute, value) of each learned value `_compare` looks up for this event,
        for `_repeat` to check they are all still there."""
        values = [("actions", action)]
        if ip and not internal:
            values += [("nets", net), ("wide_nets", wide_network_of(ip))]
        if family is not None:
            values.append(("uas", family))
        if namespace:
            values.append(("namespaces", namespace))
        if e["acting_as"]:
            values.append(("actions", f"impersonate:{e['acting_as']}"))
        if info.sensitivity >= 2:
            values.append(("sensitive_scopes", f"{action}|{namespace}"))
        if info.category == "secret-read" and e["source"] == "k8s":
            values.append(("secret_namespaces", namespace or "*"))
        return tuple(values)

    def _baseline_for(self, p: PrincipalState, peer: Baseline, ts: int, learning: bool) -> Baseline | None:
        """What this principal's events are compared with now: its own baseline once old (or
        seasoned) enough, else its peer group's once that is; None while learning."""
        if learning or not (p.machine or self.config.score_humans):
            return None
        if ts - p.first_seen >= self.learning_us or self._seasoned(p, ts):
            return p
        if ts - peer.first_seen >= self.learning_us and peer.members >= 2:
            return peer
        return None

    def _internal(self, source: str, tenant: str | None, net: str | None) -> bool:
        """Is this network one of the cluster's own pod/node networks (K8s only)?"""
        if net is None or source != "k8s":
            return False
        cluster_nets = self.cluster_nets.get(tenant or "")
        return bool(cluster_nets and net in cluster_nets)

    def _rarity(self, popkey: str, action: str) -> float:
        """-log10 of the share of the population's principals that do this action."""
        size = self.population_size[popkey]
        return -math.log10(max(self.population.get(popkey, {}).get(action, 0), 1) / size) if size else 0.0

    def _seasoned(self, p: PrincipalState, ts: int) -> bool:
        """A principal first seen late in the learning period but used on several days since
        (a CI token that runs twice a week) has a baseline of its own worth comparing with."""
        return (ts - p.first_seen >= MIN_AGE_US and p.active_days >= MIN_ACTIVE_DAYS
                and p.events >= MIN_EVENTS)

    @staticmethod
    def _is_authz_failure(e: dict[str, Any]) -> bool:
        if e["outcome"] != "failure":
            return False
        if e["status_code"] in (401, 403):
            return True
        code = e["error_code"]
        return bool(code) and (code.startswith(_AUTHZ_ERRORS) or "AccessDenied" in code or code == "7")

    def _compare(self, e, ts, p: PrincipalState, b: Baseline, peer: Baseline, token: TokenState, new_token: bool,
                 tkey: str, ip, ip_cls, net, internal: bool, pod_ip, family, action, info, namespace) -> list[Signal]:
        """Baseline and token facts → signals for one event (nothing is learned here)."""
        signals: list[Signal] = []
        source = e["source"]
        # bound token facts
        if token.pod_uid:
            if ip and pod_ip and ip != pod_ip:
                signals.append(rules.bound_token_ip_mismatch(token.pod, ip, pod_ip, ip_cls == "public"))
            deleted = self.deleted_pods.get(f"{e['tenant']}|{token.pod}")
            if deleted is not None and ts - deleted > self.delete_grace_us:
                pod = self.pods.get(token.pod_uid)
                # the pod's own last requests may run through its termination grace; a replay comes
                # after the token went quiet
                if pod is not None and pod[1] <= deleted and token.last_seen <= deleted + self.delete_grace_us:
                    signals.append(rules.dead_pod_token(token.pod, us_to_iso(deleted), (ts - deleted) / 60e6))
            # a sidecar may keep using its own older token; a replay resumes a token that went quiet
            if token.superseded_at is not None and ts - token.superseded_at > self.supersede_us \
                    and ts - token.last_seen > self.supersede_us:
                signals.append(rules.superseded_token(token.pod, (ts - token.superseded_at) / 60e6))
        # dormancy of long-lived credentials
        if not new_token and token.kind in LONG_LIVED and ts - token.last_seen >= self.dormant_us:
            signals.append(rules.dormant_token(token.kind, (ts - token.last_seen) / DAY_US, us_to_iso(token.last_seen)))
        # where from
        network_signal = None
        # a session key used from the network that exchanged for it (an IRSA key from its cluster's
        # NAT) is at home; a key someone *created* for another identity is not vouched for that way
        born_here = token.parent is not None and token.parent[4] is not None and ip is not None \
            and network_of(token.parent[4]) == net and classify(token.parent[0]).category != "credential-create"
        if ip and not internal and not (pod_ip and ip == pod_ip) and not born_here:
            wide = wide_network_of(ip)
            if source == "k8s" and ip_cls == "public" and not b.public:
                network_signal = rules.external_k8s(ip, p.principal, sorted(b.wide_nets)[:3] or sorted(b.nets)[:3],
                                                    token.kind == "legacy")
            elif wide not in b.wide_nets:
                # a principal that already roams many networks (CI runners) gets less for one more
                stable = len(b.wide_nets) <= 4 and len(b.nets) <= 8
                points = 35 if stable else 20
                if source == "k8s" and ip_cls == "private":
                    points = 25
                network_signal = rules.new_network(ip, ip_cls or "?", wide, sorted(b.wide_nets), points)
            elif net not in b.nets and len(b.nets) <= 8:
                network_signal = rules.new_network(ip, ip_cls or "?", net, sorted(b.nets), 8)
            if network_signal is not None:
                signals.append(network_signal)
        # lineage: who made this credential
        if new_token and token.parent is not None:
            via, issuer, _, born, _ = token.parent
            # kubelets and kube-controller-manager mint tokens for others by design; a service
            # account or a person doing it is not the normal path
            control_plane = issuer.startswith("system:") and not issuer.startswith("system:serviceaccount:")
            if source == "k8s" and not control_plane and issuer != e["principal"]:
                signals.append(rules.minted_by_other(issuer))
            elif network_signal is not None and issuer != e["principal"] and ts - born < DAY_US \
                    and classify(via).category == "credential-create":
                signals.append(rules.fresh_credential(issuer, via, (ts - born) / 60e6))
        # which program
        if family is not None and family not in b.uas:
            signals.append(rules.new_user_agent(family, e["user_agent"] or "", sorted(b.uas), is_interactive(family),
                                                len(b.uas) >= 6))
        # what
        if action not in b.actions:
            other = e["lineage_principal"] if info.category == "token-mint" and e["lineage_principal"] != e["principal"] else None
            signals.append(rules.new_action(action, info, action in peer.actions, namespace, other,
                                            writer=b.writes > 0))
        elif info.sensitivity >= 2 and f"{action}|{namespace}" not in b.sensitive_scopes:
            # a sensitive action it does elsewhere (exec into its own app's pods) done in a new
            # namespace (kube-system) is new in the way that matters
            signals.append(rules.sensitive_elsewhere(action, info, namespace, sorted(
                k.split("|", 1)[1] for k in b.sensitive_scopes if k.startswith(action + "|"))))
        if namespace and namespace not in b.namespaces and b.namespaces and source == "k8s":
            signals.append(rules.new_namespace(namespace, sorted(b.namespaces)))
        if e["acting_as"] and f"impersonate:{e['acting_as']}" not in b.actions:
            signals.append(rules.impersonation(e["acting_as"]))
        # bursts
        if info.category == "secret-read" and source == "k8s" and e["outcome"] != "failure":
            scope = namespace or "*"
            if scope not in b.secret_namespaces:
                burst = self._burst(tkey)
                burst.secret_ns[scope] = ts
                for ns in [n for n, t in burst.secret_ns.items() if ts - t > SECRET_BURST_US]:
                    del burst.secret_ns[ns]
                if (len(burst.secret_ns) >= 3 or scope == "*") and "secrets" not in burst.fired:
                    burst.fired.add("secrets")
                    signals.append(rules.secrets_across_namespaces(sorted(burst.secret_ns), sorted(b.secret_namespaces)))
        if self._is_authz_failure(e):
            # enumeration is many *different* refused requests; a misconfigured client repeats one
            burst = self._burst(tkey)
            burst.authz[f"{action}|{namespace}"] = ts
            for key in [k for k, t in burst.authz.items() if ts - t > AUTHZ_BURST_US]:
                del burst.authz[key]
            if len(burst.authz) >= 5 and "authz" not in burst.fired:
                burst.fired.add("authz")
                signals.append(rules.authz_failure_burst(len(burst.authz), int(b.authz_failures)))
        if info.recon and action not in b.actions:
            burst = self._burst(tkey)
            burst.recon[action] = ts
            for name in [a for a, t in burst.recon.items() if ts - t > RECON_BURST_US]:
                del burst.recon[name]
            if len(burst.recon) >= 4 and "recon" not in burst.fired:
                burst.fired.add("recon")
                signals.append(rules.recon_burst(sorted(burst.recon)))
        # when
        if b.active_days >= 7:
            hour = int((ts // HOUR_US) % 24)
            active_hours = bin(b.hod_mask).count("1")
            if not (b.hod_mask >> hour) & 1 and active_hours <= 16:
                signals.append(rules.unusual_hour(hour, active_hours))
        return signals

    def _burst(self, tkey: str) -> _Burst:
        burst = self.bursts.get(tkey)
        if burst is None:
            burst = self.bursts[tkey] = _Burst()
        return burst

    @staticmethod
    def _hour_surprise(b: Baseline, ts: int) -> float:
        total = b.events
        if total <= 0:
            return 0.0
        how = (ts // HOUR_US + 72) % 168  # epoch began on a Thursday: shift so 0 = Monday 00:00
        return -math.log10((b.hours[how] + 1) / (total + 168))

    def _learn(self, e, ts, p: PrincipalState, peer: Baseline, token: TokenState, ip, ip_cls, net, internal, family,
               action, info, namespace) -> None:
        if ip and ip not in token.ips and len(token.ips) < CAP_TOKEN_IPS:
            token.ips.append(ip)
        popkey = p.key[: len(p.key) - len(p.principal) - 1]
        population = self.population.get(popkey)
        if population is None:
            population = self.population[popkey] = Counter()
        if p.events == 0:
            self.population_size[popkey] += 1
        if action not in p.actions:
            population[action] += 1
        hour_number = ts // HOUR_US
        how = (hour_number + 72) % 168
        denied = self._is_authz_failure(e)
        writes = e["read_only"] is False and e["outcome"] != "failure"
        # Most events repeat what their principal already did this hour: then only the counters
        # move (the values were written with an hour-coarse timestamp already).
        if hour_number != self._learned_hour:
            self._learned_hour, self._learned, self._repeats = hour_number, set(), {}
        seen_key = (p.key, action, ip, family, namespace, e["acting_as"], e["outcome"])
        if seen_key in self._learned:
            for b in (p, peer):
                b.events += 1
                b.last_seen = ts
                b.hours[how] += 1
                if denied:
                    b.authz_failures += 1
                if writes:
                    b.writes += 1
            return
        self._learned.add(seen_key)
        hour = hour_number % 24
        day = ts // DAY_US
        acting = f"impersonate:{e['acting_as']}" if e["acting_as"] else None
        for b in (p, peer):
            b.events += 1
            b.last_seen = ts
            b.hours[how] += 1
            b.hod_mask |= 1 << hour
            if day != b.last_day:
                b.active_days += 1
                b.last_day = day
            # last-seen times are kept to the hour: a value seen this hour needs no write
            if ip and not internal:
                if ts - b.nets.get(net, _NEVER) > HOUR_US:
                    remember(b.nets, net, ts, CAP_NETS)
                    remember(b.wide_nets, wide_network_of(ip), ts, CAP_NETS)
                if ip_cls == "public":
                    b.public = True
            if family is not None and ts - b.uas.get(family, _NEVER) > HOUR_US:
                remember(b.uas, family, ts, CAP_UAS)
            if ts - b.actions.get(action, _NEVER) > HOUR_US:
                remember(b.actions, action, ts, CAP_ACTIONS)
            if acting:
                remember(b.actions, acting, ts, CAP_ACTIONS)
            if namespace and ts - b.namespaces.get(namespace, _NEVER) > HOUR_US:
                remember(b.namespaces, namespace, ts, CAP_NAMESPACES)
            if info.category == "secret-read" and e["outcome"] != "failure":
                remember(b.secret_namespaces, namespace or "*", ts, CAP_NAMESPACES)
            if info.sensitivity >= 2:
                remember(b.sensitive_scopes, f"{action}|{namespace}", ts, CAP_ACTIONS)
            if denied:
                b.authz_failures += 1
            if writes:
                b.writes += 1

    def _suppress(self, signals: list[Signal], e: dict[str, Any], ip: str | None) -> list[Signal]:
        rules_ = self.config.suppressions
        if not rules_:
            return signals
        kept = []
        for signal in signals:
            if any(r.active(e["ts"]) and r.matches(principal=e["principal"], source=e["source"], ip=ip,
                                                   action=e["action"], signal=signal.kind) for r in rules_):
                self.stats.suppressed[signal.kind] += 1
            else:
                kept.append(signal)
        return kept

    def _lineage(self, token: TokenState) -> dict[str, Any] | None:
        if token.parent is None:
            return None
        via, issuer, issuer_token, born, ip = token.parent
        return {"issued_by": issuer, "issuer_token": issuer_token, "via": via, "issued_at": us_to_iso(born), "issuer_ip": ip}

    @staticmethod
    def _novelty_key(source, tenant, kind, value) -> str:
        # a network is the same network for every cloud: CI runners moving to new addresses show
        # up in K8s, AWS, GCP and Azure logs at once
        return f"*|{kind}|{value}" if kind == "new-network" else f"{source}|{tenant}|{kind}|{value}"

    def _note_novelty(self, source, tenant, kind, value, principal, ts) -> None:
        key = self._novelty_key(source, tenant, kind, value)
        seen = self.novel_seen.get(key)
        if seen is None:
            seen = self.novel_seen[key] = {}
        seen[principal] = ts

    def _shifted(self, incident: Incident) -> set[str]:
        """Novel values of this incident that many principals met at about the same time."""
        shifted = set()
        for signal in incident.signals.values():
            if signal.kind not in NOVELTY_KINDS or signal.shift_key is None:
                continue
            seen = self.novel_seen.get(self._novelty_key(incident.source, incident.tenant, signal.kind, signal.shift_key))
            if seen is None:
                continue
            # only what was known by the time the incident could alert, so batching cannot matter
            near = sum(1 for t in seen.values() if signal.ts - SHIFT_SPAN_US <= t <= signal.ts + self.settle_us)
            if near >= self.config.shift_min_principals:
                shifted.add(signal.shift_key)
        return shifted

    # --- per batch -------------------------------------------------------------------------

    def _advance(self, final: bool = False) -> list[dict[str, Any]]:
        if self.max_ts is None:
            return []
        if not final:
            self.watermark = self.max_ts - self.lateness_us
        watermark = self.watermark
        frame = self.window_buffer.close(watermark // WINDOW_US)
        if frame is not None:
            self._score_windows(frame, watermark)
        alerts = self._evaluate_incidents(watermark)
        if watermark // HOUR_US != self._pruned_hour:
            self._pruned_hour = watermark // HOUR_US
            self._prune(watermark)
        return alerts

    def _prune(self, watermark: int) -> None:
        """Forget facts too old to matter, so long-running streams keep bounded state: token births
        nobody used within a week, pod deletions after a month, fleet novelties past their span."""
        for key in [k for k, b in self.births.items() if watermark - b[3] > BIRTH_TTL_US]:
            del self.births[key]
        for key in [k for k, t in self.deleted_pods.items() if watermark - t > DELETION_TTL_US]:
            del self.deleted_pods[key]
        # novelties are kept well past the span they are compared over, because an open incident
        # re-checks its signals against them each time it is evaluated
        horizon = max(DAY_US, 4 * self.gap_us)
        for key in list(self.novel_seen):
            seen = self.novel_seen[key]
            for principal in [p for p, t in seen.items() if watermark - t > horizon]:
                del seen[principal]
            if not seen:
                del self.novel_seen[key]

    def _score_windows(self, frame: Windows, watermark: int) -> None:
        frame = self._window_features(frame)
        self.stats.windows += len(frame["tok"])
        learning_until = self.learning_until()
        window_end_us = (frame["win"] + 1) * WINDOW_US
        in_learning = window_end_us <= learning_until
        # the first half of learning is mostly "everything is new"; train on the settled half
        settled = window_end_us > learning_until - self.learning_us // 2
        X = feature_matrix(frame)
        pops = frame["pop"]
        suspicious = frame["suspicious"].astype(bool)
        names = self.code_names
        in_incident = frame["in_incident"]
        for pop_code in np.unique(pops):
            population = names[int(pop_code)]
            mask = pops == pop_code
            train_mask = mask & in_learning & settled & ~suspicious
            if population not in self._given_forests and train_mask.any():
                self.training.setdefault(population, []).append(X[train_mask])
            if not (mask & ~in_learning).any():
                continue
            forest = self._forest_for(population)  # fitted as soon as learning is over
            # the forest only amplifies an open incident's evidence, so only windows with events
            # that came while their token had one are scored
            score_mask = mask & ~in_learning & in_incident
            if not score_mask.any():
                continue
            if forest is None:
                continue
            self._forest_signals(forest, select(frame, score_mask), X[score_mask])

    def _window_features(self, frame: Windows) -> Windows:
        """Closed windows in one canonical order (window, then token key), with each one's rate
        relative to its principal's usual events per active window (a running EWMA), so that
        features, training rows and forest signals do not depend on how many windows one batch
        happened to close."""
        names = self.code_names
        tok, win = frame["tok"].tolist(), frame["win"].tolist()
        order = sorted(range(len(tok)), key=lambda i: (win[i], names[tok[i]]))
        frame = select(frame, np.asarray(order, dtype=np.int64))
        events = frame["events"].astype(np.float64)
        usual = np.zeros(len(order))
        ewma = self.window_ewma
        for i, (code, count, susp) in enumerate(zip(frame["prin"].tolist(), events.tolist(),
                                                    frame["suspicious"].tolist())):
            old = ewma.get(code)
            if old is not None:
                usual[i] = old
            if not susp:
                ewma[code] = float(count if old is None else 0.9 * old + 0.1 * count)
        frame["rate_ratio_log"] = np.where(usual > 0, np.log1p(events / np.maximum(usual, 1.0)), 0.0)
        return frame

    def _forest_for(self, population: str) -> Forest | None:
        forest = self.forests.get(population)
        if forest is None and population in self.training:
            rows = np.concatenate(self.training.pop(population))
            if len(rows) >= self.config.min_training_windows:
                forest = fit_forest(population, FEATURES, rows, meta={
                    "training_window": [us_to_iso(self.started_at), us_to_iso(self.learning_until())]})
                self.forests[population] = forest
                log.info("trained the %s isolation forest on %d windows", population, len(rows))
            else:
                self.training[population] = [rows]
        return forest

    def _forest_signals(self, forest: Forest, frame: Windows, X: np.ndarray) -> None:
        anomaly = forest.anomaly(X)
        self.stats.windows_scored += len(X)
        threshold = forest.train_anomaly["p999"]
        hits = np.nonzero(anomaly > threshold)[0]
        p99 = np.asarray(forest.feature_p99)
        for i in hits:
            tkey = self.code_names[int(frame["tok"][i])]
            token = self.tokens.get(tkey)
            if token is None:
                continue
            p = self.principals[token.principal]
            if not (p.machine or self.config.score_humans):
                continue
            details = []
            for j in np.argsort(-(X[i] - p99))[:3]:
                if X[i, j] > p99[j] and X[i, j] > 0:
                    template, logged = _feature_text(forest.features[j])
                    value = math.expm1(X[i, j]) if logged else float(X[i, j])
                    usual = math.expm1(p99[j]) if logged else float(p99[j])
                    details.append(template.format(v=value) + f" (p99 of history: {usual:.1f})")
            window_start = int(frame["win"][i]) * WINDOW_US
            signal = rules.forest_window(float(anomaly[i]), threshold, us_to_iso(window_start), details)
            signal.ts = window_start + WINDOW_US - 1
            self.stats.signals[signal.kind] += 1
            incident = self.incidents.get(tkey)
            if incident is None:
                continue  # the forest amplifies evidence; on its own it does not open incidents
            if incident.first_ts > signal.ts:
                # opened after this window: the window's events belonged to an earlier incident
                # (ended since) or none. When the window closed relative to the new incident's
                # first event depends on batching, so it never counts for it
                continue
            if all(family(k) in _NOVEL_BEHAVIOUR for k in incident.signals):
                # its features are mostly those same novelty counts: adding it would count the
                # "never did this before" evidence twice
                continue
            incident.add_signal(signal, extends=False)
            self._touched.add(tkey)

    def _decide_at_settle(self, incident: Incident) -> dict[str, Any] | None:
        """Decide a waiting incident as of its settle time, when that came before its pending
        gap ran out. A watermark that moves steadily decides it then (and, once alerted, keeps
        it open for `gap`); one that jumps past both in one batch, or a later event of the token
        arriving first, must give the same answer, or final alerts would depend on batching."""
        settle_at = incident.first_ts + self.settle_us
        if not incident.emitted and settle_at <= incident.last_ts + PENDING_GAP_US:
            return self._decide(incident, settle_at, closing=False)
        return None

    def _evaluate_incidents(self, watermark: int) -> list[dict[str, Any]]:
        out, self._settled = self._settled, []
        finished, self._finished = self._finished, []
        for incident in finished:
            incident.status = "closed"
            alert = self._decide(incident, watermark, closing=True)
            if alert is not None:
                out.append(alert)
        for tkey in list(self.incidents):
            incident = self.incidents[tkey]
            if not incident.emitted and watermark - incident.last_ts > self.ending_us:
                alert = self._decide_at_settle(incident)
                if alert is not None:
                    out.append(alert)
            gap = self.gap_us if incident.emitted else PENDING_GAP_US
            # ...and not before the window of its last event closed (and was scored for it)
            closing = watermark - incident.last_ts > gap and incident.seen_ts // WINDOW_US < watermark // WINDOW_US
            if closing:
                del self.incidents[tkey]
                self.bursts.pop(tkey, None)
                incident.status = "closed"
            elif tkey not in self._touched and not incident.emitted and watermark < incident.first_ts + self.settle_us:
                continue
            alert = self._decide(incident, watermark, closing)
            if alert is not None:
                out.append(alert)
        self._touched.clear()
        return out

    def _decide(self, incident: Incident, watermark: int, closing: bool) -> dict[str, Any] | None:
        """The alert document to emit for this incident now, if any."""
        if not incident.emitted:
            ready = closing or incident.strong() or watermark >= incident.first_ts + self.settle_us
            if not ready:
                return None
        shifted = self._shifted(incident)
        if not incident.emitted and incident.score(shifted) < self.threshold:
            return None
        fingerprint = incident.fingerprint(shifted)
        if fingerprint == incident.emitted_fingerprint:
            return None
        incident.emitted_fingerprint = fingerprint
        self.stats.alerts_emitted += 1
        return incident.to_alert(shifted)


def _feature_text(name: str) -> tuple[str, bool]:
    from .windows import FEATURE_TEXT

    return FEATURE_TEXT[name]
