"""Kubernetes audit (audit.k8s.io v1/v1beta1) → TokenEvents. (being written)"""
from .base import Context, Rejected, UNKNOWN_SHAPE


def normalize_event(event, ctx: Context) -> None:
    raise Rejected(UNKNOWN_SHAPE, "k8s normalizer not written yet")


normalize_gke_entry = normalize_aks_record = normalize_cloudwatch_payload = normalize_event
