"""Alert delivery: the durable outbox, retries, and the `Notifier` the CLI and the stream call.

After each micro-batch (bounded: `notify.budget_seconds` plus one request timeout):

    from pipelines.notify import notifier_if_configured
    notifier = notifier_if_configured(settings.notify)   # None when no destination is set
    ...
    if notifier:
        notifier.submit(alert_docs)
        notifier.deliver_due()
    ...
    notifier.close()

Or never wait on HTTP at all: `notifier.start()` delivers from a background thread and the
caller only calls `submit`.
"""

from .notifier import DeliveryReport, Notifier, Preview, SubmitReport, notifier_if_configured
from .outbox import Outbox

__all__ = ["DeliveryReport", "Notifier", "Outbox", "Preview", "SubmitReport", "notifier_if_configured"]
