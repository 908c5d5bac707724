"""Where a request lands: the scope it touches (namespace / account / project / resource group) and
the resource pattern a least-privilege draft may name.

    >>> scope_of("aws", "111122223333", None, "arn:aws:kms:us-east-1:444455556666:key/1")
    '444455556666'
    >>> scope_of("gcp", "acme-prod", None, "projects/_/buckets/raw/objects/a.json")
    'acme-prod'
    >>> scope_of("azure", "t", None, "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG-WEB/PROVIDERS/MICROSOFT.WEB/SITES/A")
    'rg-web'
    >>> resource_pattern("aws", "arn:aws:s3:::backups/restic/data/e7/4641")
    'arn:aws:s3:::backups/*'
    >>> resource_pattern("gcp", "projects/_/buckets/raw/objects/2026/11/02/x.avro")
    'projects/_/buckets/raw'
    >>> resource_pattern("azure", "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG-WEB/PROVIDERS/MICROSOFT.WEB/SITES/A")
    '/subscriptions/s1/resourcegroups/rg-web'
"""

from __future__ import annotations


def scope_of(source: str, tenant: str | None, namespace: str | None, resource: str | None) -> str | None:
    """K8s: the namespace (None: cluster-wide). AWS: the account of the ARN, else the tenant. GCP: the
    project named in the resource path, else the tenant. Azure: the resource group, else the tenant."""
    if source == "k8s":
        return namespace
    if not resource:
        return tenant
    if source == "aws":
        if resource.startswith("arn:"):
            parts = resource.split(":", 5)
            if len(parts) > 4 and parts[4]:
                return parts[4]
        return tenant
    if source == "gcp":
        if resource.startswith("projects/"):
            project = resource[9:].split("/", 1)[0]
            if project not in ("_", "-", ""):
                return project
        return tenant
    if source == "azure":
        lowered = resource.lower()
        at = lowered.find("/resourcegroups/")
        if at >= 0:
            return lowered[at + 16:].split("/", 1)[0] or tenant
        return tenant
    return tenant


def resource_pattern(source: str, resource: str | None) -> str | None:
    """The resource a draft names for one request (None: nothing nameable, the draft says "*").

    Per-object names are generalized where a policy would never list them one by one: S3 objects
    become `bucket/*`, GCS objects their bucket, BigQuery jobs their project, secret versions
    their secret, Azure resources their resource group (the scope a role is assigned at)."""
    if not resource:
        return None
    if source == "k8s":
        return resource
    if source == "aws":
        if not resource.startswith("arn:"):
            return None
        if resource.startswith("arn:aws:s3:::") and "/" in resource:
            return resource.split("/", 1)[0] + "/*"
        return resource
    if source == "gcp":
        parts = resource.split("/")
        if len(parts) >= 4 and parts[2] == "buckets":
            return "/".join(parts[:4])
        if len(parts) >= 3 and parts[2] == "jobs":
            return "/".join(parts[:2])
        if len(parts) >= 4 and parts[2] == "secrets":
            return "/".join(parts[:4])
        return resource
    if source == "azure":
        lowered = resource.lower()
        at = lowered.find("/resourcegroups/")
        if at >= 0:
            rest = lowered[at + 16:].split("/", 1)[0]
            return lowered[:at] + "/resourcegroups/" + rest
        return lowered if lowered.startswith("/subscriptions/") else None
    return None
