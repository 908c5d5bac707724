"""User-agent families: what program is calling, separate from its version.

Baselines compare families, so a fleet-wide client upgrade (client-go v0.28 → v0.29, aws-cli
2.15 → 2.16) is not novel, while kubectl or curl appearing for a controller's token is.

    >>> ua_family("kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819")
    'kubectl'
    >>> ua_family("kube-controller-manager/v1.17.3 (linux/amd64) kubernetes/06ad960/tokens-controller")
    'kube-controller-manager/tokens-controller'
    >>> ua_family("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 lang/python#3.11")
    'boto3'
    >>> ua_family("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
    'browser'
"""

from __future__ import annotations

import re
from functools import lru_cache

# Families a person at a keyboard typically drives; for a machine token they suggest hands-on use.
INTERACTIVE = frozenset(
    {
        "kubectl", "k9s", "lens", "helm", "oc", "browser", "curl", "wget", "httpie", "postman",
        "python-requests", "aws-cli", "gcloud", "google-cloud-sdk", "azurecli", "azure-cli",
        "azurepowershell", "powershell", "insomnia", "python-urllib", "go-http-client-cli",
    }
)

_K8S_COMPONENT = re.compile(r"kubernetes/[0-9a-f$A-Za-z]+/([A-Za-z0-9._-]+)")


@lru_cache(maxsize=16_384)
def ua_family(user_agent: str | None) -> str | None:
    """The program part of a user agent, lowercased; None for an empty agent."""
    if not user_agent:
        return None
    text = user_agent.strip().lstrip("[").strip()
    if not text:
        return None
    lowered = text.lower()
    if lowered.startswith("mozilla/") or lowered.startswith("opera/"):
        return "browser"
    head = re.split(r"[/\s;(]", text, maxsplit=1)[0].lower()
    if not head:
        return lowered[:64]
    component = _K8S_COMPONENT.search(text)
    if component and component.group(1) not in ("$format",):
        return f"{head}/{component.group(1).lower()}"[:64]
    return head[:64]


def is_interactive(family: str | None) -> bool:
    return family in INTERACTIVE
