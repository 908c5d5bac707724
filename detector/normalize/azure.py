"""Azure activity log and Entra service-principal sign-ins → TokenEvents. (being written)"""
from .base import Context, Rejected, UNKNOWN_SHAPE


def is_signin(record, category) -> bool:
    return False


def normalize_activity(record, ctx: Context) -> None:
    raise Rejected(UNKNOWN_SHAPE, "azure normalizer not written yet")


normalize_signin = normalize_activity
