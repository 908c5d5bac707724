"""Alert delivery: the durable outbox, retries, and the `Notifier` the CLI and the stream call.

    from pipelines.notify import Notifier
    with Notifier(settings.notify) as notifier:
        notifier.submit(alert_docs)
        notifier.deliver_due()
"""

from .notifier import DeliveryReport, Notifier, Preview, SubmitReport
from .outbox import Outbox

__all__ = ["DeliveryReport", "Notifier", "Outbox", "Preview", "SubmitReport"]
