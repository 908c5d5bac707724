"""AWS CloudTrail → TokenEvents. (being written)"""
from .base import Context, Rejected, UNKNOWN_SHAPE


def normalize_record(record, ctx: Context) -> None:
    raise Rejected(UNKNOWN_SHAPE, "aws normalizer not written yet")


normalize_lookup_event = normalize_eventbridge = normalize_record
