"""Format sniffing: which log family and which delivery shape a parsed JSON document is.

Every shape tokenhawk understands is listed here, in one place, so "what do we accept" has one
answer. Sniffing is per document (a directory of mixed files just works) and recursive for
envelopes: a CloudTrail `Records` file, a K8s `EventList`, an Azure `records` batch (which may
mix activity-log records with AKS kube-audit records), a bare JSON array of any of these.

The checks are ordered from the most to the least specific and touch only top-level keys, so a
document costs a few dict lookups before its family handler runs.
"""

from __future__ import annotations

from typing import Any

from . import aws, azure, gcp, k8s
from .base import NOT_AN_OBJECT, UNKNOWN_SHAPE, Context, Rejected, Skipped, handle_one

# Non-audit GCP LogEntries (application logs, load balancer logs…) in a mixed stream are
# skipped, not quarantined: they are valid records of something else.
_GCP_NON_AUDIT = "gcp-non-audit-log-entry"


def dispatch(doc: Any, ctx: Context) -> None:
    """Route one parsed document to its family handler(s); raises Rejected/Skipped."""
    if isinstance(doc, list):
        _each(doc, ctx, dispatch)
        return
    if not isinstance(doc, dict):
        raise Rejected(NOT_AN_OBJECT, f"top-level JSON is a {type(doc).__name__}, expected an object or array")

    # --- Kubernetes audit.k8s.io -----------------------------------------------------------
    kind = doc.get("kind")
    if kind == "Event" and "auditID" in doc:
        k8s.normalize_event(doc, ctx)
        return
    if kind == "EventList":
        _each(doc.get("items") or [], ctx, k8s.normalize_event)
        return

    # --- AWS CloudTrail ----------------------------------------------------------------------
    if "eventSource" in doc and "eventName" in doc:
        aws.normalize_record(doc, ctx)
        return
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            raise Rejected(UNKNOWN_SHAPE, "Records is not a list")
        _each(records, ctx, aws.normalize_record)
        return
    if "digestPublicKeyFingerprint" in doc:  # CloudTrail digest file (integrity, not activity)
        aws.normalize_record(doc, ctx)
        return
    if isinstance(doc.get("Events"), list):  # whole `aws cloudtrail lookup-events` output
        aws.normalize_lookup_response(doc, ctx)
        return
    if "eventVersion" in doc and "eventID" in doc:  # CloudTrail record missing eventSource/eventName
        aws.normalize_record(doc, ctx)
        return
    if "CloudTrailEvent" in doc:  # LookupEvents / event history
        aws.normalize_lookup_event(doc, ctx)
        return
    if "detail-type" in doc and "detail" in doc:  # EventBridge envelope
        aws.normalize_eventbridge(doc, ctx)
        return

    # --- GCP Cloud Logging (and GKE's K8s audit inside it) ----------------------------------
    proto = doc.get("protoPayload")
    if isinstance(proto, dict):
        if proto.get("serviceName") == "k8s.io":
            k8s.normalize_gke_entry(doc, ctx)
        else:
            gcp.normalize_entry(doc, ctx)
        return
    if "protopayload_auditlog" in doc:  # BigQuery export of audit logs
        gcp.normalize_bigquery_row(doc, ctx)
        return
    if "insertId" in doc and "logName" in doc:
        raise Skipped(_GCP_NON_AUDIT)

    # --- EKS audit through a CloudWatch Logs subscription -----------------------------------
    if "logEvents" in doc and "messageType" in doc:
        k8s.normalize_cloudwatch_payload(doc, ctx)
        return

    # --- Azure: diagnostic batches, activity log, Entra sign-ins, AKS kube-audit ------------
    if "records" in doc and isinstance(doc["records"], list):
        _each(doc["records"], ctx, _azure_record)
        return
    if "operationName" in doc or "operation_name" in doc or "createdDateTime" in doc:
        _azure_record(doc, ctx)
        return
    if "activityDisplayName" in doc and "initiatedBy" in doc:  # Graph directoryAudit row
        _azure_record(doc, ctx)
        return

    raise Rejected(UNKNOWN_SHAPE, f"no known audit-log shape has top-level keys {sorted(doc)[:12]}")


def _azure_record(record: Any, ctx: Context) -> None:
    if not isinstance(record, dict):
        raise Rejected(NOT_AN_OBJECT, f"Azure record is a {type(record).__name__}")
    category = record.get("category")
    if isinstance(category, dict):  # REST shape: {"value": ..., "localizedValue": ...}
        category = category.get("value")
    if category in ("kube-audit", "kube-audit-admin"):
        k8s.normalize_aks_record(record, ctx)
    elif azure.is_signin(record, category):
        azure.normalize_signin(record, ctx)
    else:
        azure.normalize_activity(record, ctx)


def _each(items: list, ctx: Context, handler) -> None:
    """Run `handler` on each inner record; a bad one is quarantined alone, the rest go on."""
    outer = ctx.origin
    for index, item in enumerate(items):
        ctx.origin = f"{outer}#{index}"
        handle_one(handler, item, ctx)
    ctx.origin = outer
