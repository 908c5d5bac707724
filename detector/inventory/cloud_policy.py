"""Minimal cloud permissions from observed use: an AWS IAM policy, a GCP custom-role permission list,
an Azure custom-role action list.

Audit logs name API operations, which are close to, but not always, the permission names:
CloudTrail's `s3:HeadObject` needs `s3:GetObject`, `monitoring:` is IAM's `cloudwatch:`; GCP's
`bigquery:InsertJob` is `bigquery.jobs.create`. The maps below cover the common cases; what
they cannot map is listed in the notes rather than guessed.

    >>> iam_actions("s3:ListObjects"), iam_actions("monitoring:GetMetricData")
    (['s3:ListBucket'], ['cloudwatch:GetMetricData'])
    >>> gcp_permission("storage:storage.objects.get", None), gcp_permission("bigquery:InsertJob", None)
    ('storage.objects.get', 'bigquery.jobs.create')
    >>> azure_action("azure:microsoft.web/sites/config/write")
    'Microsoft.Web/sites/config/write'
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

# --- AWS ---------------------------------------------------------------------------------------

_AWS_SERVICE = {"monitoring": "cloudwatch", "email": "ses", "elasticfilesystem": "elasticfilesystem"}
_AWS_ACTION = {
    "s3:ListObjects": ["s3:ListBucket"], "s3:ListObjectsV2": ["s3:ListBucket"], "s3:HeadBucket": ["s3:ListBucket"],
    "s3:ListObjectVersions": ["s3:ListBucketVersions"], "s3:HeadObject": ["s3:GetObject"],
    "s3:ListBuckets": ["s3:ListAllMyBuckets"], "s3:CreateMultipartUpload": ["s3:PutObject"],
    "s3:UploadPart": ["s3:PutObject"], "s3:CompleteMultipartUpload": ["s3:PutObject"],
    "s3:UploadPartCopy": ["s3:GetObject", "s3:PutObject"], "s3:CopyObject": ["s3:GetObject", "s3:PutObject"],
    "s3:DeleteObjects": ["s3:DeleteObject"], "s3:GetObjectAttributes": ["s3:GetObject"],
    "lambda:Invoke": ["lambda:InvokeFunction"], "kms:GenerateDataKeyWithoutPlaintext": ["kms:GenerateDataKeyWithoutPlaintext"],
}
# Calls no identity policy governs: role trust policies decide, or no permission exists.
AWS_NO_POLICY = {
    "sts:AssumeRoleWithWebIdentity": "decided by the role's trust policy",
    "sts:AssumeRoleWithSAML": "decided by the role's trust policy",
    "sts:GetCallerIdentity": "needs no permission",
}
_API_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")


def iam_actions(action: str) -> list[str]:
    mapped = _AWS_ACTION.get(action)
    if mapped is not None:
        return mapped
    service, _, name = action.partition(":")
    return [f"{_AWS_SERVICE.get(service, service)}:{_API_VERSION_SUFFIX.sub('', name)}"]


def aws_policy(uses: list[tuple[str, list[str] | None]]) -> tuple[dict[str, Any], list[str]]:
    """(IAM policy document, notes) from (action, ARN patterns or None for "*") uses."""
    resources_of: dict[str, set[str] | None] = {}
    skipped: dict[str, str] = {}
    for action, arns in uses:
        if action in AWS_NO_POLICY:
            skipped[action] = AWS_NO_POLICY[action]
            continue
        for iam in iam_actions(action):
            current = resources_of.get(iam, set())
            resources_of[iam] = None if (arns is None or current is None) else current | set(arns)
    by_resources: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for iam, arns in resources_of.items():
        by_resources[tuple(sorted(arns)) if arns else ("*",)].append(iam)
    statements = []
    for resources, actions in sorted(by_resources.items(), key=lambda kv: (kv[0] == ("*",), kv[0])):
        services = sorted({a.split(":", 1)[0] for a in actions})
        sid = "".join(s.capitalize() for s in re.split(r"[^A-Za-z0-9]+", "-".join(services)) if s)[:60]
        statements.append({"Sid": f"Observed{sid}{len(statements) + 1}", "Effect": "Allow",
                           "Action": sorted(actions), "Resource": list(resources) if len(resources) > 1 else resources[0]})
    notes = [f"{action} left out: {why}" for action, why in sorted(skipped.items())]
    if any(r == ("*",) for r in by_resources):
        notes.append('"Resource": "*" where the log names no ARN for the call; narrow it by hand where the API allows.')
    return {"Version": "2012-10-17", "Statement": statements}, notes


# --- GCP ---------------------------------------------------------------------------------------

_GCP_PERMISSION = {
    "bigquery:InsertJob": "bigquery.jobs.create", "bigquery:GetQueryResults": "bigquery.jobs.get",
    "bigquery:GetJob": "bigquery.jobs.get", "bigquery:ListJobs": "bigquery.jobs.list",
    "bigquery:GetDataset": "bigquery.datasets.get", "bigquery:ListDatasets": "bigquery.datasets.getMetadata",
    "bigquery:GetTable": "bigquery.tables.get", "bigquery:ListTables": "bigquery.tables.list",
    "bigquery:InsertAll": "bigquery.tables.updateData",
    "iam:GetServiceAccount": "iam.serviceAccounts.get", "iam:ListServiceAccounts": "iam.serviceAccounts.list",
    "iam:CreateServiceAccount": "iam.serviceAccounts.create", "iam:DeleteServiceAccount": "iam.serviceAccounts.delete",
    "iam:CreateServiceAccountKey": "iam.serviceAccountKeys.create",
    "iam:DeleteServiceAccountKey": "iam.serviceAccountKeys.delete",
    "iam:ListServiceAccountKeys": "iam.serviceAccountKeys.list",
    "iam:GetIamPolicy": "iam.serviceAccounts.getIamPolicy", "iam:SetIamPolicy": "iam.serviceAccounts.setIamPolicy",
    "iamcredentials:GenerateAccessToken": "iam.serviceAccounts.getAccessToken",
    "iamcredentials:GenerateIdToken": "iam.serviceAccounts.getOpenIdToken",
    "iamcredentials:SignBlob": "iam.serviceAccounts.signBlob", "iamcredentials:SignJwt": "iam.serviceAccounts.signJwt",
    "secretmanager:AccessSecretVersion": "secretmanager.versions.access",
    "secretmanager:GetSecret": "secretmanager.secrets.get", "secretmanager:ListSecrets": "secretmanager.secrets.list",
    "secretmanager:AddSecretVersion": "secretmanager.versions.add",
    "cloudresourcemanager:GetIamPolicy": "resourcemanager.projects.getIamPolicy",
    "cloudresourcemanager:SetIamPolicy": "resourcemanager.projects.setIamPolicy",
    "cloudresourcemanager:GetProject": "resourcemanager.projects.get",
    "logging:ListLogEntries": "logging.logEntries.list", "logging:WriteLogEntries": "logging.logEntries.create",
    "pubsub:Publish": "pubsub.topics.publish", "pubsub:Pull": "pubsub.subscriptions.consume",
    "pubsub:Acknowledge": "pubsub.subscriptions.consume", "pubsub:StreamingPull": "pubsub.subscriptions.consume",
    "storage:storage.setIamPermissions": "storage.buckets.setIamPolicy",
    "storage:storage.getIamPermissions": "storage.buckets.getIamPolicy",
}
_DOTTED = re.compile(r"^[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+$")


def gcp_permission(action: str, resource: str | None) -> str | None:
    """The IAM permission a GCP audit method needs, where it is clear; None when it is not."""
    mapped = _GCP_PERMISSION.get(action)
    if mapped is not None:
        return mapped
    service, _, method = action.partition(":")
    if _DOTTED.match(method):  # storage.objects.get, compute.instances.list: already the permission
        return method
    if action == "bigquery:List":  # tabledata.list on a table, tables.list on a dataset
        return "bigquery.tables.getData" if resource and "/tables/" in resource else "bigquery.tables.list"
    return None


def gcp_role(title: str, uses: list[tuple[str, list[str] | None]]) -> tuple[dict[str, Any], list[str]]:
    """(custom role definition as `gcloud iam roles create --file` reads it, notes)."""
    permissions: set[str] = set()
    unmapped: set[str] = set()
    resources: set[str] = set()
    for action, names in uses:
        sample = names[0] if names else None
        permission = gcp_permission(action, sample)
        if permission is None:
            unmapped.add(action)
        else:
            permissions.add(permission)
        resources.update(names or ())
    notes = []
    if unmapped:
        notes.append(f"no permission known for {', '.join(sorted(unmapped))}: look them up and add them.")
    if resources:
        notes.append(f"grant the role on what it touched rather than the project where possible: "
                     f"{', '.join(sorted(resources)[:12])}{' …' if len(resources) > 12 else ''}")
    role = {"title": title[:100], "description": "tokenhawk: permissions observed in use", "stage": "GA",
            "includedPermissions": sorted(permissions)}
    return role, notes


# --- Azure -------------------------------------------------------------------------------------

_GRAPH_HINT = {
    "certificates and secrets management": "Application.ReadWrite.OwnedBy (Microsoft Graph)",
    "add service principal credentials": "Application.ReadWrite.OwnedBy (Microsoft Graph)",
    "add app role assignment": "AppRoleAssignment.ReadWrite.All (Microsoft Graph)",
    "add member to role": "RoleManagement.ReadWrite.Directory (Microsoft Graph)",
}


def azure_action(action: str) -> str | None:
    """`azure:microsoft.web/sites/write` → `Microsoft.Web/sites/write` (Azure matches case-insensitively)."""
    if not action.startswith("azure:"):
        return None
    operation = action[6:]
    provider, _, rest = operation.partition("/")
    pretty = ".".join(part[:1].upper() + part[1:] for part in provider.split("."))
    return f"{pretty}/{rest}" if rest else pretty


def azure_role(name: str, uses: list[tuple[str, list[str] | None]]) -> tuple[dict[str, Any], list[str]]:
    """(custom role definition as `az role definition create` reads it, notes)."""
    actions: set[str] = set()
    scopes: set[str] = set()
    signins: set[str] = set()
    graph: set[str] = set()
    unscoped = False
    for action, names in uses:
        mapped = azure_action(action)
        if mapped is not None:
            actions.add(mapped)
            if names is None:
                unscoped = True
            else:
                scopes.update(names)
        elif action.startswith("entra:signin:"):
            signins.add(action[len("entra:signin:"):])
        elif action.startswith("entra:"):
            lowered = action.lower()
            graph.update(hint for key, hint in _GRAPH_HINT.items() if key in lowered)
            if not any(key in lowered for key in _GRAPH_HINT):
                graph.add(f"whatever Microsoft Graph permission '{action[6:]}' needs")
    subscriptions = sorted({"/".join(s.split("/")[:3]) for s in scopes if s.startswith("/subscriptions/")})
    assignable = subscriptions if unscoped else sorted(scopes)
    notes = []
    if signins:
        notes.append(f"signs in to: {', '.join(sorted(signins))} (no role action; the app registration's API "
                     "permissions decide)")
    if graph:
        notes.append(f"directory changes need Microsoft Graph application permissions: {', '.join(sorted(graph))}")
    if unscoped:
        notes.append("some requests named no resource group: the role is assignable at subscription scope.")
    role = {"Name": name[:128], "IsCustom": True, "Description": "tokenhawk: actions observed in use",
            "Actions": sorted(actions), "NotActions": [], "DataActions": [], "NotDataActions": [],
            "AssignableScopes": assignable or ["/subscriptions/<subscription-id>"]}
    return role, notes
