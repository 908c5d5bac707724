"""GCP Cloud Audit Logs → TokenEvents. (being written)"""
from .base import Context, Rejected, UNKNOWN_SHAPE


def normalize_entry(entry, ctx: Context) -> None:
    raise Rejected(UNKNOWN_SHAPE, "gcp normalizer not written yet")


normalize_bigquery_row = normalize_entry
