"""A labelled world of raw audit logs for demos, benchmarks and evaluation.

`generate(out_dir, days=14, seed=7, scale=1.0)` writes two weeks of Kubernetes audit logs,
AWS CloudTrail, GCP Cloud Audit Logs and Azure activity/sign-in/audit logs, in their real
delivery formats, for one organisation's cluster and cloud machine identities, with injected
token-misuse scenarios and benign changes recorded in `labels.json`.
"""

from .generate import WorldSummary, generate

__all__ = ["generate", "WorldSummary"]
