"""Minimal Kubernetes RBAC from observed use, the way audit2rbac does it: verbs × resources ×
namespaces actually used become a Role (+RoleBinding) per namespace and, for cluster-scoped
resources, requests across all namespaces and non-resource URLs, a ClusterRole
(+ClusterRoleBinding).

The audit log's action keeps the resource but not its API group (`list:deployments`), so groups
come from `API_GROUPS`, a map of the built-in resources and common operators' CRDs; an unknown
resource gets `"*"` and a note saying so.

    >>> api_group("deployments"), api_group("pods/exec"), api_group("leases"), api_group("widgets")
    ('apps', '', 'coordination.k8s.io', None)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

_GROUPS: dict[str, tuple[str, ...]] = {
    "": ("pods", "services", "configmaps", "secrets", "serviceaccounts", "endpoints", "events", "namespaces", "nodes",
         "persistentvolumes", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas", "limitranges",
         "podtemplates", "bindings", "componentstatuses"),
    "apps": ("deployments", "replicasets", "statefulsets", "daemonsets", "controllerrevisions"),
    "batch": ("jobs", "cronjobs"),
    "autoscaling": ("horizontalpodautoscalers",),
    "policy": ("poddisruptionbudgets",),
    "networking.k8s.io": ("ingresses", "networkpolicies", "ingressclasses"),
    "rbac.authorization.k8s.io": ("roles", "rolebindings", "clusterroles", "clusterrolebindings"),
    "coordination.k8s.io": ("leases",),
    "discovery.k8s.io": ("endpointslices",),
    "storage.k8s.io": ("storageclasses", "csinodes", "csidrivers", "volumeattachments", "csistoragecapacities"),
    "apiextensions.k8s.io": ("customresourcedefinitions",),
    "apiregistration.k8s.io": ("apiservices",),
    "admissionregistration.k8s.io": ("mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                                     "validatingadmissionpolicies", "validatingadmissionpolicybindings"),
    "authentication.k8s.io": ("tokenreviews", "selfsubjectreviews"),
    "authorization.k8s.io": ("subjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
                             "localsubjectaccessreviews"),
    "certificates.k8s.io": ("certificatesigningrequests",),
    "scheduling.k8s.io": ("priorityclasses",),
    "node.k8s.io": ("runtimeclasses",),
    "flowcontrol.apiserver.k8s.io": ("flowschemas", "prioritylevelconfigurations"),
    "snapshot.storage.k8s.io": ("volumesnapshots", "volumesnapshotcontents", "volumesnapshotclasses"),
    "autoscaling.k8s.io": ("verticalpodautoscalers",),
    "cert-manager.io": ("certificates", "issuers", "clusterissuers", "certificaterequests"),
    "acme.cert-manager.io": ("orders", "challenges"),
    "argoproj.io": ("applications", "applicationsets", "appprojects"),
    "monitoring.coreos.com": ("servicemonitors", "podmonitors", "prometheuses", "prometheusrules", "alertmanagers",
                              "alertmanagerconfigs", "probes", "thanosrulers"),
    "crd.k8s.amazonaws.com": ("eniconfigs",),
    "vpcresources.k8s.aws": ("securitygrouppolicies", "cninodes"),
    "externaldns.k8s.io": ("dnsendpoints",),
}
API_GROUPS: dict[str, str] = {resource: group for group, resources in _GROUPS.items() for resource in resources}

VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# Verbs a rule can restrict to named objects (list/watch/create cannot be limited by name this way).
NAMEABLE = frozenset({"get", "update", "patch", "delete"})


def api_group(resource: str) -> str | None:
    return API_GROUPS.get(resource.split("/", 1)[0])


def _verbs(verbs: Iterable[str]) -> list[str]:
    return sorted(set(verbs), key=lambda v: (VERB_ORDER.index(v) if v in VERB_ORDER else len(VERB_ORDER), v))


def split_action(action: str) -> tuple[str, str]:
    """`verb:resource[/sub]` or `verb:/path` → (verb, resource-or-path)."""
    verb, _, rest = action.partition(":")
    return verb, rest


def subject_of(principal: str) -> dict[str, Any]:
    parts = principal.split(":")
    if principal.startswith("system:serviceaccount:") and len(parts) >= 4:
        return {"kind": "ServiceAccount", "name": parts[3], "namespace": parts[2]}
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": principal}


def role_name(principal: str) -> str:
    parts = principal.split(":")
    if principal.startswith("system:serviceaccount:") and len(parts) >= 4:
        return f"tokenhawk:least-privilege:{parts[2]}:{parts[3]}"
    return f"tokenhawk:least-privilege:{principal}"


def rules_for(uses: list[tuple[str, str, list[str] | None]], resource_names: bool) -> tuple[list[dict], set[str]]:
    """Rules from (verb, resource-or-path, names-or-None) uses; also the resources of unknown group."""
    per_resource: dict[tuple[str, str], dict[str, list[str] | None]] = defaultdict(dict)
    urls: dict[str, set[str]] = defaultdict(set)
    unknown: set[str] = set()
    for verb, target, names in uses:
        if target.startswith("/"):
            urls[verb].add(target)
            continue
        group = api_group(target)
        if group is None:
            unknown.add(target)
            group = "*"
        verbs = per_resource[(group, target)]
        if verb in verbs:
            old = verbs[verb]
            verbs[verb] = None if old is None or names is None else sorted(set(old) | set(names))
        else:
            verbs[verb] = None if names is None else sorted(set(names))
    merged: dict[tuple, list[str]] = defaultdict(list)
    for (group, resource), verbs in per_resource.items():
        plain = [v for v, names in verbs.items() if not (resource_names and v in NAMEABLE and names)]
        if plain:
            merged[(group, tuple(_verbs(plain)), None)].append(resource)
        if resource_names:
            by_names: dict[tuple, list[str]] = defaultdict(list)
            for verb, names in verbs.items():
                if verb in NAMEABLE and names:
                    by_names[tuple(names)].append(verb)
            for names, named_verbs in by_names.items():
                merged[(group, tuple(_verbs(named_verbs)), names)].append(resource)
    rules = []
    for (group, verbs, names), resources in sorted(merged.items(), key=lambda kv: (kv[0][0], sorted(kv[1]), kv[0][1])):
        rule: dict[str, Any] = {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
        if names:
            rule["resourceNames"] = list(names)
        rules.append(rule)
    url_rules: dict[tuple, set[str]] = defaultdict(set)
    for verb, paths in urls.items():
        url_rules[tuple(sorted(paths))].add(verb)
    by_verbs: dict[tuple, set[str]] = defaultdict(set)
    for paths, verbs in url_rules.items():
        by_verbs[tuple(_verbs(verbs))].update(paths)
    for verbs, paths in sorted(by_verbs.items()):
        rules.append({"nonResourceURLs": sorted(paths), "verbs": list(verbs)})
    return rules, unknown


def rbac_documents(principal: str, uses: list[tuple[str | None, str, list[str] | None]], *, resource_names: bool,
                   annotations: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(manifests, notes) for uses of (namespace or None, action, resource names or None)."""
    by_namespace: dict[str | None, list[tuple[str, str, list[str] | None]]] = defaultdict(list)
    for namespace, action, names in uses:
        verb, target = split_action(action)
        if not target:
            continue
        by_namespace[namespace].append((verb, target, names))
    name = role_name(principal)
    subject = subject_of(principal)
    labels = {"app.kubernetes.io/managed-by": "tokenhawk"}
    meta = {"labels": labels, "annotations": annotations}
    documents: list[dict[str, Any]] = []
    notes: list[str] = []
    unknown_all: set[str] = set()
    cluster_uses = by_namespace.pop(None, [])
    if cluster_uses:
        rules, unknown = rules_for(cluster_uses, resource_names)
        unknown_all |= unknown
        documents.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                          "metadata": {"name": name, **meta}, "rules": rules})
        documents.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                          "metadata": {"name": name, "labels": labels},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                          "subjects": [subject]})
    for namespace in sorted(by_namespace):
        rules, unknown = rules_for(by_namespace[namespace], resource_names)
        unknown_all |= unknown
        documents.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                          "metadata": {"name": name, "namespace": namespace, **meta}, "rules": rules})
        documents.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                          "metadata": {"name": name, "namespace": namespace, "labels": labels},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                          "subjects": [subject]})
    if unknown_all:
        notes.append(f"API group unknown for {', '.join(sorted(unknown_all))} (the audit action does not carry it): "
                     "the draft says apiGroups ['*'] for them; replace it with the real group.")
    if cluster_uses:
        notes.append("requests without a namespace (cluster-scoped resources, lists across all namespaces, "
                     "non-resource URLs) need the ClusterRole; everything else is granted per namespace.")
    if principal.startswith("system:node:"):
        notes.append("nodes are authorized by the Node authorizer and NodeRestriction, not by RBAC; this draft only "
                     "documents what the node did.")
    return documents, notes
