"""Least-privilege drafts: what a principal actually used in a window, as the permission documents
of its platform — K8s RBAC manifests, an AWS IAM policy, a GCP custom role, an Azure custom role —
each with a note on how much evidence it rests on.

Two ways in, one way out:
- `drafts_for(inventory, principal, since, until)` reads the principal aggregates an `Inventory`
  keeps in the detector's pass (stream mode; the window is applied to whole UTC days);
- `collect(table, principal, since, until)` aggregates the principal's events of an exact
  window into a fresh `Inventory` (the `tokenhawk least-privilege` verb), then the same drafting.

A draft is what was used, not what is needed: a monthly job or an error path that did not run
in the window is missing from it. The notes say so, with the number of days behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from ..actions import classify
from ..events import FIELDS, us_to_iso
from .cloud_policy import aws_policy, azure_role, gcp_role
from .k8s_rbac import rbac_documents
from .observer import DAY_US, Inventory, PrincipalUse

DRAFT_KIND = {"k8s": "k8s-rbac", "aws": "aws-iam-policy", "gcp": "gcp-custom-role", "azure": "azure-custom-role"}


@dataclass
class Use:
    action: str
    namespace: str | None
    first: int
    last: int
    count: int
    names: list[str] | None  # resource names/patterns; None: at least one request named none


@dataclass
class Draft:
    source: str
    tenant: str | None
    principal: str
    kind: str
    documents: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def evidence_note(self) -> str:
        ev = self.evidence
        if not ev.get("requests"):
            return f"No allowed request of {self.principal} in the window: nothing to grant."
        return (f"Based on {ev['log_days']:.1f} days of {self.source} logs ({ev['from'][:10]} – {ev['to'][:10]}): "
                f"{ev['active_days']} day{'s' if ev['active_days'] != 1 else ''} with activity, "
                f"{ev['requests']:,} allowed requests, {ev['permissions']} distinct uses. Anything it does less "
                "often than that (monthly jobs, error paths) is missing: review before applying.")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "tenant": self.tenant, "principal": self.principal, "kind": self.kind,
                "evidence": self.evidence, "note": self.evidence_note, "notes": self.notes,
                "documents": self.documents}


def _window_mask(inventory: Inventory, since: int | None, until: int | None) -> int | None:
    if since is None and until is None:
        return None
    lo = inventory.day_bit(since) if since is not None else 0
    hi = inventory.day_bit(until) if until is not None else 1 << 16
    if hi < lo:
        return 0
    return ((1 << (hi - lo + 1)) - 1) << lo


def uses_of(inventory: Inventory, pkey: str, since: int | None = None, until: int | None = None) -> list[Use]:
    pu = inventory.principals.get(pkey)
    if pu is None:
        return []
    window = _window_mask(inventory, since, until)
    names = inventory.names
    out = []
    for key, (first, last, count, mask, rnames) in pu.uses.items():
        if window is not None and not mask & window:
            continue
        action, ns = divmod(key, 4_294_967_296)
        out.append(Use(names[action], names[ns - 1] if ns else None, first, last, count,
                       None if rnames is None else [names[c] for c in rnames]))
    return sorted(out, key=lambda u: (u.namespace or "", u.action))


def draft(inventory: Inventory, pkey: str, since: int | None = None, until: int | None = None, *,
          resource_names: bool = False) -> Draft:
    """The draft for one principal key (`source|tenant|principal`)."""
    pu: PrincipalUse = inventory.principals[pkey]
    uses = uses_of(inventory, pkey, since, until)
    window = _window_mask(inventory, since, until)
    where = f"{pu.source}|{pu.tenant or ''}"
    start = max(inventory.starts.get(where, 0), since or 0)
    end = min(inventory.max_ts, until if until is not None else 1 << 62)
    active = pu.mask if window is None else pu.mask & window
    evidence = {
        "from": us_to_iso(start) if start else None, "to": us_to_iso(end) if end else None,
        "log_days": round(max(0, end - start) / DAY_US, 1), "active_days": bin(active).count("1"),
        "requests": sum(u.count for u in uses), "permissions": len(uses), "denied_requests": pu.denied_total,
        "first_use": us_to_iso(min(u.first for u in uses)) if uses else None,
        "last_use": us_to_iso(max(u.last for u in uses)) if uses else None,
    }
    source = pu.source
    notes: list[str] = []
    if pu.denied_total:
        top = sorted(pu.denied.items(), key=lambda kv: -kv[1])[:5]
        notes.append(f"{pu.denied_total:,} denied requests are not granted (e.g. "
                     f"{', '.join(inventory.names[c] for c, _ in top)}).")
    sensitive = sorted({u.action for u in uses if classify(u.action).sensitivity >= 2})
    if sensitive:
        notes.append(f"sensitive permissions in this draft (check each is meant, not an intruder's use): "
                     f"{', '.join(sensitive[:12])}{' …' if len(sensitive) > 12 else ''}.")
    if pu.dropped:
        notes.append(f"the principal used more than {len(pu.uses)} distinct action/namespace pairs; "
                     f"{pu.dropped:,} requests of further pairs are not in this draft.")
    if source == "k8s":
        annotations = {"tokenhawk.io/evidence": f"{evidence['active_days']} active days, {evidence['requests']} requests, "
                                                f"{evidence['from'] or '?'} to {evidence['to'] or '?'}"}
        documents, more = rbac_documents(pu.principal, [(u.namespace, u.action, u.names) for u in uses],
                                         resource_names=resource_names, annotations=annotations)
    elif source == "aws":
        policy, more = aws_policy([(u.action, u.names) for u in uses])
        documents = [policy]
    elif source == "gcp":
        role, more = gcp_role(f"least privilege of {pu.principal}", [(u.action, u.names) for u in uses])
        documents = [role]
    else:
        role, more = azure_role(f"least privilege of {pu.principal}", [(u.action, u.names) for u in uses])
        documents = [role]
    return Draft(source, pu.tenant, pu.principal, DRAFT_KIND.get(source, source), documents, notes + more, evidence)


def principal_keys(inventory: Inventory, principal: str, source: str | None = None) -> list[str]:
    """Keys of the principal (it may appear in several sources or tenants)."""
    return sorted(k for k, pu in inventory.principals.items()
                  if pu.principal == principal and (source is None or pu.source == source))


def drafts_for(inventory: Inventory, principal: str, since: int | None = None, until: int | None = None, *,
               source: str | None = None, resource_names: bool = False) -> list[Draft]:
    return [draft(inventory, key, since, until, resource_names=resource_names)
            for key in principal_keys(inventory, principal, source)]


def collect(table: pa.Table, principal: str, since: int | None = None, until: int | None = None,
            config=None) -> Inventory:
    """An inventory of just `principal`'s events in [since, until] (µs), exact to the event."""
    if since is not None:
        table = table.filter(pc.greater_equal(table.column("ts"), since))
    if until is not None:
        table = table.filter(pc.less_equal(table.column("ts"), until))
    rows = table.filter(pc.equal(table.column("principal"), principal)).sort_by("ts")
    inventory = Inventory(config)
    # how much log each source/tenant has in the window: what the evidence note rests on
    spans = table.select(["source", "tenant", "ts"]).group_by(["source", "tenant"]).aggregate(
        [("ts", "min"), ("ts", "max")])
    for source, tenant, first, last in zip(*(spans.column(n).to_pylist() for n in ("source", "tenant", "ts_min", "ts_max"))):
        where = f"{source}|{tenant or ''}"
        inventory.starts[where] = first
        inventory.max_ts = max(inventory.max_ts, last)
    columns = [rows.column(name).to_pylist() for name in FIELDS]
    for values in zip(*columns):
        inventory.note_use(dict(zip(FIELDS, values)))
    return inventory


def similar_principals(table: pa.Table, principal: str, limit: int = 5) -> list[str]:
    """Principals containing the given text, for a helpful 'did you mean'."""
    names = pc.unique(table.column("principal")).to_pylist()
    needle = principal.lower()
    return sorted(n for n in names if n and needle in n.lower())[:limit]


# --- rendering -------------------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def _list(dumper, value):
    flow = all(isinstance(item, (str, int, float, bool)) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def render_yaml(drafts: list[Draft]) -> str:
    """Multi-document YAML: K8s drafts are applyable manifests; cloud drafts are their role/policy
    documents (the GCP one is what `gcloud iam roles create --file` reads). Notes are comments."""
    parts = []
    for d in drafts:
        header = [f"# least-privilege draft ({d.kind}) for {d.principal}" + (f" in {d.tenant}" if d.tenant else ""),
                  *_wrap(d.evidence_note), *(line for note in d.notes for line in _wrap("note: " + note))]
        for i, doc in enumerate(d.documents):
            body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                             allow_unicode=True)
            parts.append(("\n".join(header) + "\n" if i == 0 else "") + body)
        if not d.documents:
            parts.append("\n".join(header) + "\n{}\n")
    return "---\n".join(parts)


def render_json(drafts: list[Draft]) -> bytes:
    return orjson.dumps([d.to_dict() for d in drafts], option=orjson.OPT_INDENT_2) + b"\n"


def _wrap(text: str, width: int = 110) -> list[str]:
    words, lines, line = text.split(), [], "#"
    for word in words:
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#  "
        line += " " + word
    lines.append(line)
    return lines
