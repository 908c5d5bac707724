"""Token inventory, hygiene findings and least-privilege drafts.

- `observer.Inventory` — the detector observer: per-token and per-principal usage aggregates,
  kept in the same pass as the baselines (file replay and stream alike), snapshot-able.
- `report.build` — the inventory as rows (one per credential, with rotation evidence).
- `findings.hygiene` — ranked findings, one function per kind, with evidence and remediation.
- `least_privilege` — K8s RBAC / AWS IAM / GCP / Azure drafts from observed use.
- `snapshot` — the JSON documents a stream processor emits to a compacted topic.
- `es` — the Elasticsearch inventory index: template and documents.
"""

from .config import InventoryConfig
from .findings import Finding, hygiene
from .observer import Inventory
from .report import InventoryReport, TokenRow, build

__all__ = ["Finding", "Inventory", "InventoryConfig", "InventoryReport", "TokenRow", "build", "hygiene"]
