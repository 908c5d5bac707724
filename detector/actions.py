"""What an action means for credential misuse: its category, ATT&CK techniques and sensitivity.

Actions are normalized strings (K8s `verb:resource[/subresource]`, cloud `service:Operation`,
Azure `azure:<operation>`, Entra `entra:...`). The catalog is deliberately small and readable:
each category is one idea an analyst recognizes, with the technique it maps to.

    >>> classify("list:secrets").category, classify("create:pods/exec").category
    ('secret-read', 'exec')
    >>> classify("iam:CreateAccessKey").techniques
    ('T1098.001',)
    >>> classify("get:pods").category is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class ActionInfo:
    category: str | None  # None: an ordinary action
    techniques: tuple[str, ...] = ()
    sensitivity: int = 0  # 0 ordinary … 3 grants or reveals credentials / privilege
    recon: bool = False  # a discovery-style read (List/Describe/Get of the environment)


ORDINARY = ActionInfo(None)

# Human-readable names for the categories, used in alert reasons.
CATEGORY_LABEL = {
    "secret-read": "secret read",
    "secret-write": "secret write",
    "rbac-change": "RBAC change",
    "priv-change": "permission change",
    "token-mint": "token minting",
    "exec": "exec into a container",
    "perm-enum": "permission enumeration",
    "credential-create": "credential creation",
    "identity-create": "identity creation",
    "defense-evasion": "audit/defence tampering",
    "workload-create": "workload creation",
}

_K8S_WRITE = {"create", "update", "patch", "delete", "deletecollection", "bind", "escalate"}
_K8S_RBAC = {"clusterrolebindings", "rolebindings", "clusterroles", "roles"}

_AWS_CREDENTIAL = {
    "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "iam:CreateServiceSpecificCredential",
    "iam:UploadSSHPublicKey", "iam:UploadSigningCertificate", "sts:GetFederationToken", "iam:CreateVirtualMFADevice",
}
_AWS_IDENTITY = {"iam:CreateUser", "iam:CreateRole", "iam:CreateGroup"}
_AWS_PRIV = {
    "iam:AttachUserPolicy", "iam:AttachRolePolicy", "iam:AttachGroupPolicy", "iam:PutUserPolicy",
    "iam:PutRolePolicy", "iam:PutGroupPolicy", "iam:AddUserToGroup", "iam:UpdateAssumeRolePolicy",
    "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:PassRole",
}
_AWS_EVASION = {
    "cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors",
    "guardduty:DeleteDetector", "guardduty:UpdateDetector", "config:StopConfigurationRecorder",
}
_AWS_SECRET = {
    "secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath",
    "kms:Decrypt", "secretsmanager:BatchGetSecretValue",
}
# sts:GetCallerIdentity is the canonical "whoami" of a fresh stolen key.
_RECON_EXACT = {"sts:GetCallerIdentity", "s3:ListBuckets", "s3:ListAllMyBuckets", "iam:GetAccountAuthorizationDetails"}
_RECON_PREFIXES = ("List", "Describe", "Get", "Search", "Lookup", "BatchGet", "Scan")
_RECON_SERVICES = {
    "iam", "ec2", "s3", "sts", "organizations", "lambda", "rds", "eks", "ecs", "secretsmanager", "ssm", "kms",
    "cloudtrail", "dynamodb", "route53", "sns", "sqs", "cloudformation", "guardduty", "logs", "elasticloadbalancing",
    "compute", "storage", "cloudresourcemanager", "container", "bigquery", "secretmanager", "sqladmin",
}

_GCP_CREDENTIAL = {"iam:CreateServiceAccountKey", "iam:UploadServiceAccountKey", "iam:CreateKey"}
_GCP_TOKEN = {"iamcredentials:GenerateAccessToken", "iamcredentials:GenerateIdToken", "iamcredentials:SignJwt", "iamcredentials:SignBlob"}
_GCP_PRIV = {"SetIamPolicy"}
_GCP_SECRET = {"secretmanager:AccessSecretVersion"}


@lru_cache(maxsize=32_768)
def classify(action: str | None) -> ActionInfo:
    if not action:
        return ORDINARY
    service, _, operation = action.partition(":")
    if service in ("azure", "entra"):
        return _azure(operation)
    if service in _K8S_VERBS:
        return _k8s(service, operation)
    return _cloud(action, service, operation)


_K8S_VERBS = {
    "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "bind", "escalate",
    "impersonate", "approve", "sign", "proxy", "head", "post", "put", "options", "connect",
}


def _k8s(verb: str, resource: str) -> ActionInfo:
    base, _, sub = resource.partition("/")
    if base == "secrets":
        if verb in ("get", "list", "watch"):
            return ActionInfo("secret-read", ("T1552.007",), 2)
        if verb in _K8S_WRITE:
            return ActionInfo("secret-write", ("T1098",), 1)
    if base in _K8S_RBAC and verb in _K8S_WRITE and verb != "delete":
        return ActionInfo("rbac-change", ("T1098", "T1078"), 3)
    if base == "serviceaccounts" and sub == "token":
        return ActionInfo("token-mint", ("T1528",), 3)
    if base == "pods" and sub in ("exec", "attach", "portforward"):
        return ActionInfo("exec", ("T1609",), 3)
    if base == "nodes" and sub == "proxy":
        return ActionInfo("exec", ("T1609",), 3)
    if base in ("selfsubjectrulesreviews", "selfsubjectaccessreviews", "subjectaccessreviews", "localsubjectaccessreviews"):
        return ActionInfo("perm-enum", ("T1069",), 1, recon=True)
    if base == "certificatesigningrequests" and (verb == "create" or sub == "approval"):
        return ActionInfo("credential-create", ("T1098.001",), 3)
    if base == "serviceaccounts" and verb == "create" and not sub:
        return ActionInfo("identity-create", ("T1136",), 1)
    if base in ("pods", "daemonsets", "deployments", "cronjobs", "jobs") and verb == "create" and not sub:
        return ActionInfo("workload-create", ("T1610",), 1)
    if verb == "impersonate":
        return ActionInfo("priv-change", ("T1078",), 2)
    if verb in ("list", "get") and base in ("namespaces", "nodes", "clusterroles", "clusterrolebindings", "roles", "rolebindings", "serviceaccounts"):
        return ActionInfo(None, ("T1613",), 0, recon=True)
    return ORDINARY


def _cloud(action: str, service: str, operation: str) -> ActionInfo:
    if action in _AWS_CREDENTIAL or action in _GCP_CREDENTIAL:
        return ActionInfo("credential-create", ("T1098.001",), 3)
    if action in _AWS_IDENTITY:
        return ActionInfo("identity-create", ("T1136.003",), 2)
    if action in _AWS_PRIV or operation in _GCP_PRIV or operation.endswith(".setIamPolicy"):
        return ActionInfo("priv-change", ("T1098.003",), 3)
    if action in _GCP_TOKEN:
        return ActionInfo("token-mint", ("T1550.001",), 2)
    if action in _AWS_EVASION:
        return ActionInfo("defense-evasion", ("T1562.008",), 3)
    if action in _AWS_SECRET or action in _GCP_SECRET:
        return ActionInfo("secret-read", ("T1555.006",), 2)
    if action in _RECON_EXACT:
        return ActionInfo(None, ("T1087.004", "T1580"), 0, recon=True)
    if service in _RECON_SERVICES and operation.startswith(_RECON_PREFIXES):
        techniques = ("T1087.004",) if service in ("iam", "organizations") else ("T1580",)
        return ActionInfo(None, techniques, 0, recon=True)
    if "." in operation and operation.rsplit(".", 1)[-1] in ("list", "get", "getIamPolicy", "testIamPermissions"):
        return ActionInfo(None, ("T1580",), 0, recon=True)
    return ORDINARY


def _azure(operation: str) -> ActionInfo:
    lowered = operation.lower()
    if "listkeys" in lowered or "listaccountsas" in lowered or "/secrets/getsecret" in lowered or "listcredentials" in lowered:
        return ActionInfo("secret-read", ("T1552.005", "T1555.006"), 2)
    if "certificates and secrets management" in lowered or "add service principal credentials" in lowered or "addpassword" in lowered:
        return ActionInfo("credential-create", ("T1098.001",), 3)
    if "roleassignments/write" in lowered or "add app role assignment" in lowered or "add member to role" in lowered:
        return ActionInfo("priv-change", ("T1098.003",), 3)
    if "diagnosticsettings/delete" in lowered:
        return ActionInfo("defense-evasion", ("T1562.008",), 3)
    if lowered.endswith("/read"):
        return ActionInfo(None, ("T1580",), 0, recon=True)
    return ORDINARY
