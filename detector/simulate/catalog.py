"""The organisation being simulated: its cluster workloads and cloud machine identities.

Plain data. Rates are per pod per hour at scale 1 and were chosen so that a 14-day world holds
a quarter of a million requests; shapes (which verbs, which resources, which namespaces, which
client) follow what these components really do.
"""

from __future__ import annotations

from .profiles import (
    Op,
    Profile,
    Watch,
    WorkloadSpec,
    create,
    get,
    list_,
    nonresource,
    patch,
    update,
)

K8S_VERSION = "v1.30.4"
K8S_COMMIT = "a737599"
KCM_UA = f"kube-controller-manager/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}"
KUBELET_UA = f"kubelet/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}"
SCHEDULER_UA = f"kube-scheduler/{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}/scheduler"
CERT_MANAGER_COMMIT = "2c6b7b9e7f0d5c2bd1c8a46e3e8c7e8b8f6e7d21"
INGRESS_COMMIT = "6a73aa3b05040a97ef8213675a16142a9c95952a"

CLUSTER = "prod-use1"
APP_NAMESPACES = ("shop", "payments", "batch")
NAMESPACES = (
    "kube-system", "monitoring", "cert-manager", "argocd", "ingress-nginx",
    "shop", "payments", "batch", "platform-ci", "default",
)

LEASE_S = 300.0  # real clients renew every 2-15 s; thinned at scale 1 to keep the volume useful
_WEB = dict(diurnal=0.6, weekend=0.6)

WORKLOADS: tuple[WorkloadSpec, ...] = (
    # ---------------------------------------------------------------- kube-system
    WorkloadSpec(
        "kube-system", "coredns", "Deployment", "controller", replicas=2,
        uas=("coredns/v0.0.0 (linux/amd64) kubernetes/$Format",),
        profile=Profile(watches=(Watch("endpointslices", "discovery.k8s.io"),)),
    ),
    WorkloadSpec(
        "kube-system", "kube-proxy", "DaemonSet", "daemon", host_network=True,
        uas=("kube-proxy/{v}",),
        versions=(f"{K8S_VERSION} (linux/amd64) kubernetes/{K8S_COMMIT}", "v1.30.6 (linux/amd64) kubernetes/5b1a0f0"),
        profile=Profile(
            rate=0.3, ops=(get("nodes", "$node", scope="cluster"),),
            start_ops=(get("nodes", "$node", scope="cluster"), list_("services", scope="all"),
                       list_("endpointslices", group="discovery.k8s.io", scope="all")),
        ),
    ),
    WorkloadSpec(
        "kube-system", "aws-node", "DaemonSet", "daemon", host_network=True,
        uas=("aws-node/{v} (linux/amd64) kubernetes/$Format",), versions=("v1.18.1", "v1.18.3"),
        profile=Profile(
            rate=2.0,
            ops=(
                get("nodes", "$node", scope="cluster", weight=3),
                patch("nodes", "$node", scope="cluster", weight=0.2),
                list_("pods", scope="all", query="fieldSelector=spec.nodeName%3D$node", weight=1),
                get("eniconfigs", "@azs", group="crd.k8s.amazonaws.com", version="v1alpha1", scope="cluster", weight=0.5),
            ),
        ),
    ),
    WorkloadSpec(
        "kube-system", "ebs-csi-controller", "Deployment", "controller", replicas=2,
        sa="ebs-csi-controller-sa", irsa="ebs-csi",
        uas=("csi-provisioner/v4.0.0 (linux/amd64) kubernetes/$Format",
             "csi-attacher/v4.5.0 (linux/amd64) kubernetes/$Format",
             "aws-ebs-csi-driver/{v} (linux/amd64) kubernetes/$Format"),
        versions=("v1.28.0", "v1.29.1"),
        profile=Profile(
            rate=3.0, leader_only=True, lease=("kube-system", "ebs-csi-aws-com"), lease_period_s=LEASE_S,
            watches=(Watch("volumeattachments", "storage.k8s.io", scope="cluster"),),
            ops=(
                get("persistentvolumes", "@pvs", scope="cluster", weight=2),
                patch("volumeattachments", "@vas", group="storage.k8s.io", sub="status", scope="cluster", weight=0.5),
                get("nodes", "@nodes", scope="cluster", weight=1),
                get("csinodes", "@nodes", group="storage.k8s.io", scope="cluster", weight=1),
            ),
        ),
    ),
    WorkloadSpec(
        "kube-system", "cluster-autoscaler", "Deployment", "controller",
        uas=("cluster-autoscaler/{v} (linux/amd64) kubernetes/$Format",), versions=("v1.30.0", "v1.30.2"),
        profile=Profile(
            rate=14.0, lease=("kube-system", "cluster-autoscaler"), lease_period_s=LEASE_S,
            watches=(Watch("pods"),),
            ops=(
                update("configmaps", "cluster-autoscaler-status", weight=4),
                get("configmaps", "cluster-autoscaler-status", weight=1),
                list_("poddisruptionbudgets", group="policy", scope="all", weight=0.6),
                list_("csinodes", group="storage.k8s.io", scope="cluster", weight=0.3),
                get("nodes", "@nodes", scope="cluster", weight=0.5),
            ),
        ),
    ),
    WorkloadSpec(
        "kube-system", "metrics-server", "Deployment", "controller",
        uas=("metrics-server/{v} (linux/amd64) kubernetes/$Format",), versions=("v0.7.0", "v0.7.1"),
        profile=Profile(
            rate=5.0, watches=(Watch("nodes", scope="cluster"),),
            ops=(
                create("subjectaccessreviews", group="authorization.k8s.io", scope="cluster", weight=3),
                create("tokenreviews", group="authentication.k8s.io", scope="cluster", weight=0.5),
                get("configmaps", "extension-apiserver-authentication", weight=1),
            ),
        ),
    ),
    WorkloadSpec(
        "kube-system", "external-dns", "Deployment", "controller", irsa="external-dns",
        uas=("external-dns/{v} (linux/amd64) kubernetes/$Format",), versions=("v0.14.0", "v0.14.2"),
        profile=Profile(
            rate=1.0, watches=(Watch("ingresses", "networking.k8s.io"),),
            ops=(list_("services", scope="all"), list_("nodes", scope="cluster", weight=0.3)),
        ),
    ),
    # ---------------------------------------------------------------- monitoring
    WorkloadSpec(
        "monitoring", "prometheus-k8s", "StatefulSet", "controller", sa="prometheus-k8s",
        uas=("Prometheus/{v}",), versions=("2.50.1", "2.51.2"),
        profile=Profile(
            rate=5.0, watches=(Watch("endpointslices", "discovery.k8s.io"),),
            ops=(nonresource("/metrics", weight=3), list_("nodes", scope="cluster", weight=1),
                 get("nodes", "@nodes", sub="proxy", scope="cluster", weight=1)),
        ),
    ),
    WorkloadSpec(
        "monitoring", "kube-state-metrics", "Deployment", "controller",
        uas=("kube-state-metrics/{v} (linux/amd64) kubernetes/$Format",), versions=("v2.10.0", "v2.10.1"),
        # the new version also watches IngressClasses, which its ClusterRole does not grant yet:
        # its reflector retries into 403 until Argo CD syncs the chart's RBAC fix
        extra={"regression_403": ("ingressclasses", "networking.k8s.io", 35, 80)},
        profile=Profile(
            # its ClusterRole lacks the VPA group: a reflector retrying into 403 all day long
            rate=6.0,
            watches=(Watch("pods"), Watch("deployments", "apps")),
            ops=(list_("verticalpodautoscalers", group="autoscaling.k8s.io", scope="all",
                       query="limit=500&resourceVersion=0", fail=((403, 1.0),)),),
            start_ops=(list_("nodes", scope="cluster"), list_("namespaces", scope="cluster"),
                       list_("services", scope="all"), list_("persistentvolumes", scope="cluster")),
        ),
    ),
    WorkloadSpec(
        "monitoring", "prometheus-operator", "Deployment", "controller",
        uas=("PrometheusOperator/{v}",), versions=("0.71.2", "0.72.0"),
        profile=Profile(
            rate=3.0,
            watches=(Watch("servicemonitors", "monitoring.coreos.com"),),
            ops=(
                get("secrets", "prometheus-k8s", weight=1), update("secrets", "prometheus-k8s", weight=0.7),
                get("statefulsets", "prometheus-k8s", group="apps", weight=1),
                list_("namespaces", scope="cluster", weight=0.4),
            ),
            start_ops=tuple(
                create("selfsubjectaccessreviews", group="authorization.k8s.io", scope="cluster") for _ in range(6)
            ),
        ),
    ),
    WorkloadSpec(
        "monitoring", "fluent-bit", "DaemonSet", "daemon",
        uas=("fluent-bit/{v}",), versions=("2.2.2", "2.2.3"),
        profile=Profile(rate=3.0, ops=(get("pods", "@node_pods", scope="@node_pods"),)),
    ),
    WorkloadSpec(
        "monitoring", "grafana", "Deployment", "webapp", legacy="auto",
        uas=("OpenAPI-Generator/{v}/python",), versions=("28.1.0", "28.1.0"),
        profile=Profile(
            rate=1.0, watches=(Watch("configmaps", selector="grafana_dashboard%3D1"),
                               Watch("secrets", selector="grafana_datasource%3D1")),
            ops=(list_("configmaps", scope="all", query="labelSelector=grafana_dashboard%3D1"),),
        ),
    ),
    # ---------------------------------------------------------------- cert-manager
    WorkloadSpec(
        "cert-manager", "cert-manager", "Deployment", "controller",
        uas=(f"cert-manager-controller/{{v}} (linux/amd64) cert-manager/{CERT_MANAGER_COMMIT}",),
        versions=("v1.14.4", "v1.14.5"),
        profile=Profile(
            rate=4.0, lease=("kube-system", "cert-manager-controller"), lease_period_s=LEASE_S, leader_only=True,
            watches=(Watch("certificates", "cert-manager.io"), Watch("secrets")),
            ops=(
                get("secrets", "@tls_secrets", scope="@tls_secrets", weight=2),
                update("certificates", "@certs", group="cert-manager.io", sub="status", scope="@certs", weight=1),
                get("clusterissuers", "letsencrypt-prod", group="cert-manager.io", scope="cluster", weight=1),
                # the Vault issuer authenticates with a short-lived token of its own SA
                create("serviceaccounts", "vault-issuer", sub="token", weight=0.12),
            ),
        ),
    ),
    WorkloadSpec(
        "cert-manager", "cert-manager-cainjector", "Deployment", "controller",
        uas=(f"cert-manager-cainjector/{{v}} (linux/amd64) cert-manager/{CERT_MANAGER_COMMIT}",),
        versions=("v1.14.4", "v1.14.5"),
        profile=Profile(
            rate=0.5, lease=("kube-system", "cert-manager-cainjector-leader-election"), lease_period_s=LEASE_S,
            watches=(Watch("validatingwebhookconfigurations", "admissionregistration.k8s.io", scope="cluster"),),
            ops=(patch("validatingwebhookconfigurations", "cert-manager-webhook",
                       group="admissionregistration.k8s.io", scope="cluster"),),
        ),
    ),
    WorkloadSpec(
        "cert-manager", "cert-manager-webhook", "Deployment", "controller",
        uas=(f"cert-manager-webhook/{{v}} (linux/amd64) cert-manager/{CERT_MANAGER_COMMIT}",),
        versions=("v1.14.4", "v1.14.5"),
        profile=Profile(
            rate=2.0,
            ops=(create("subjectaccessreviews", group="authorization.k8s.io", scope="cluster"),
                 get("secrets", "cert-manager-webhook-ca")),
        ),
    ),
    # ---------------------------------------------------------------- argocd
    WorkloadSpec(
        "argocd", "argocd-application-controller", "StatefulSet", "controller",
        uas=("argocd-application-controller/{v} (linux/amd64)",),
        versions=("v2.10.4+f5b9a0d", "v2.10.7+b060053"),
        profile=Profile(
            rate=24.0,
            watches=(Watch("applications", "argoproj.io", "v1alpha1", scope="own"), Watch("deployments", "apps")),
            ops=(
                patch("applications", "@argo_apps", group="argoproj.io", version="v1alpha1", weight=8),
                get("applications", "@argo_apps", group="argoproj.io", version="v1alpha1", weight=2),
                get("deployments", "@deployments", group="apps", scope="@deployments", weight=2),
                get("configmaps", "argocd-cm", weight=1),
                get("secrets", "argocd-secret", weight=0.5),
                get("clusterroles", "@clusterroles", group="rbac.authorization.k8s.io", scope="cluster", weight=0.4),
                get("clusterrolebindings", "@clusterroles", group="rbac.authorization.k8s.io", scope="cluster", weight=0.4),
                patch("clusterrolebindings", "@clusterroles", group="rbac.authorization.k8s.io", scope="cluster", weight=0.01),
            ),
        ),
    ),
    WorkloadSpec(
        "argocd", "argocd-server", "Deployment", "controller",
        uas=("argocd-server/{v} (linux/amd64)",), versions=("v2.10.4+f5b9a0d", "v2.10.7+b060053"),
        profile=Profile(
            rate=8.0, diurnal=0.8, weekend=0.3,
            ops=(
                list_("applications", group="argoproj.io", version="v1alpha1", weight=4),
                get("applications", "@argo_apps", group="argoproj.io", version="v1alpha1", weight=4),
                get("secrets", "argocd-secret", weight=1),
                get("configmaps", "argocd-cm", "argocd-rbac-cm", weight=2),
                # the web terminal: humans exec into application pods through Argo CD
                Op("create", "pods", sub="exec", scope="@app_pods", names=("@app_pods",), weight=0.02),
            ),
        ),
    ),
    WorkloadSpec(
        "argocd", "argocd-repo-server", "Deployment", "controller",
        uas=("argocd-repo-server/{v} (linux/amd64)",), versions=("v2.10.4+f5b9a0d", "v2.10.7+b060053"),
        profile=Profile(rate=0.5, ops=(get("configmaps", "argocd-cm", "argocd-gpg-keys-cm"),)),
    ),
    WorkloadSpec(
        "argocd", "argocd-applicationset-controller", "Deployment", "controller",
        uas=("argocd-applicationset-controller/{v} (linux/amd64)",), versions=("v2.10.4+f5b9a0d", "v2.10.7+b060053"),
        profile=Profile(
            rate=1.0, lease=("argocd", "58ac56fa.applicationsets.argoproj.io"), lease_period_s=LEASE_S,
            watches=(Watch("applicationsets", "argoproj.io", "v1alpha1", scope="own"),),
            ops=(list_("applications", group="argoproj.io", version="v1alpha1"),),
        ),
    ),
    # ---------------------------------------------------------------- ingress-nginx
    WorkloadSpec(
        "ingress-nginx", "ingress-nginx-controller", "Deployment", "controller", replicas=2, sa="ingress-nginx",
        uas=(f"nginx-ingress-controller/{{v}} (linux/amd64) ingress-nginx/{INGRESS_COMMIT}",),
        versions=("v1.9.6", "v1.10.0"),
        profile=Profile(
            rate=1.0, lease=("ingress-nginx", "ingress-nginx-leader"), lease_period_s=LEASE_S,
            watches=(Watch("ingresses", "networking.k8s.io"),),
            ops=(update("ingresses", "@ingresses", group="networking.k8s.io", sub="status", scope="@ingresses"),
                 get("configmaps", "ingress-nginx-controller")),
        ),
    ),
    # ---------------------------------------------------------------- shop (web apps)
    WorkloadSpec(
        "shop", "frontend", "Deployment", "webapp", replicas=2, deploys_per_week=2.5,
        uas=("Go-http-client/2.0",),
        profile=Profile(
            rate=3.0, **_WEB,
            ops=(get("configmaps", "frontend-config", weight=3), get("configmaps", "feature-flags", weight=2),
                 get("secrets", "frontend-session-key", weight=0.5)),
            start_ops=(get("secrets", "frontend-session-key"), get("configmaps", "frontend-config")),
        ),
    ),
    WorkloadSpec(
        "shop", "cart", "Deployment", "webapp", replicas=2, deploys_per_week=2.0,
        uas=("fabric8-kubernetes-client/6.10.0",),
        profile=Profile(
            rate=3.0, **_WEB, watches=(Watch("configmaps", scope="own", selector="spring.cloud.kubernetes.config%3Dtrue"),),
            ops=(get("configmaps", "cart", weight=3), get("secrets", "cart-redis", weight=1),
                 list_("configmaps", query="labelSelector=spring.cloud.kubernetes.config%3Dtrue", weight=1)),
        ),
    ),
    WorkloadSpec(
        "shop", "catalog", "Deployment", "webapp", replicas=2, deploys_per_week=1.5,
        uas=("OpenAPI-Generator/29.0.0/python",),
        profile=Profile(
            rate=3.0, **_WEB,
            ops=(get("configmaps", "catalog-config", weight=3), get("secrets", "catalog-db", weight=1),
                 get("endpoints", "catalog-search", weight=0.5)),
        ),
    ),
    WorkloadSpec(
        "shop", "checkout", "Deployment", "webapp", replicas=2, deploys_per_week=2.0,
        uas=("checkout/v0.0.0 (linux/amd64) kubernetes/$Format",),
        profile=Profile(
            rate=3.0, **_WEB, lease=("shop", "checkout-outbox-relay"), lease_period_s=LEASE_S,
            ops=(get("secrets", "checkout-db", weight=1), get("configmaps", "checkout-config", weight=2),
                 get("secrets", "checkout-psp-webhook", weight=0.5)),
        ),
    ),
    WorkloadSpec(
        "shop", "recommendations", "Deployment", "webapp", replicas=2, deploys_per_week=1.0,
        uas=("OpenAPI-Generator/29.0.0/python",),
        profile=Profile(
            rate=2.0, **_WEB,
            ops=(get("configmaps", "recommendations-config", weight=2), get("secrets", "recommendations-store", weight=1)),
        ),
    ),
    WorkloadSpec(
        "shop", "search", "Deployment", "webapp", replicas=2, deploys_per_week=1.0, introduced=True,
        uas=("search/v0.0.0 (linux/amd64) kubernetes/$Format",),
        profile=Profile(
            rate=3.0, **_WEB,
            ops=(get("configmaps", "search-config", weight=3), get("secrets", "search-opensearch", weight=1),
                 get("endpoints", "search-opensearch", weight=0.5)),
            start_ops=(get("secrets", "search-opensearch"), get("configmaps", "search-config")),
        ),
    ),
    # ---------------------------------------------------------------- payments
    WorkloadSpec(
        "payments", "payments-api", "Deployment", "webapp", replicas=2, deploys_per_week=2.0, deployer="ci",
        uas=("payments-api/v0.0.0 (linux/amd64) kubernetes/$Format",),
        profile=Profile(
            rate=3.0, **_WEB,
            ops=(get("secrets", "payments-db", weight=1), get("secrets", "payments-psp-api-key", weight=1),
                 get("configmaps", "payments-config", weight=2)),
        ),
    ),
    WorkloadSpec(
        "payments", "ledger", "Deployment", "webapp", replicas=2, deploys_per_week=1.0, deployer="ci", irsa="ledger",
        uas=("OpenAPI-Generator/29.0.0/python",),
        profile=Profile(rate=2.0, **_WEB, ops=(get("configmaps", "ledger-config", weight=2), get("secrets", "ledger-db"))),
    ),
    WorkloadSpec(
        "payments", "fraud-scorer", "Deployment", "webapp", deploys_per_week=0.5, deployer="ci", stale_token=True,
        uas=("fabric8-kubernetes-client/5.12.2",),
        profile=Profile(rate=5.0, ops=(get("configmaps", "fraud-rules", weight=5), get("secrets", "fraud-model-key"))),
    ),
    WorkloadSpec(
        "payments", "payouts-worker", "Deployment", "worker", deploys_per_week=1.0, deployer="ci",
        drain_s=(900, 2400), extra={"grace_s": 3600},
        uas=("manager/v0.0.0 (linux/amd64) kubernetes/$Format",),
        profile=Profile(
            rate=3.0, lease=("payments", "payouts-worker-leader"), lease_period_s=LEASE_S,
            ops=(get("secrets", "payouts-bank-api", weight=1), get("configmaps", "payouts-config", weight=1),
                 list_("jobs", group="batch", weight=0.5), create("jobs", group="batch", weight=0.1)),
        ),
    ),
    # ---------------------------------------------------------------- batch
    WorkloadSpec(
        "batch", "etl-runner", "Deployment", "worker", deploys_per_week=0.7, drain_s=(600, 1800),
        extra={"grace_s": 3600}, uas=("OpenAPI-Generator/29.0.0/python",),
        profile=Profile(rate=3.0, ops=(get("secrets", "gcp-etl-key", weight=1), get("configmaps", "etl-config", weight=2))),
    ),
    WorkloadSpec(
        "batch", "nightly-report", "CronJob", "cron", cron=(2, 0, 180),
        uas=("nightly-report/v0.0.0 (linux/amd64) kubernetes/$Format",),
        profile=Profile(
            rate=400.0,
            ops=(list_("pods", scope="all", weight=2), list_("deployments", group="apps", scope="all", weight=2),
                 list_("jobs", group="batch", scope="all"), get("configmaps", "nightly-report-config")),
        ),
    ),
    WorkloadSpec(
        "batch", "db-backup", "CronJob", "cron", cron=(1, 30, 300),
        uas=("kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",),
        profile=Profile(
            rate=100.0,
            ops=(get("secrets", "payments-db", scope="payments", weight=2), get("secrets", "ledger-db", scope="payments"),
                 get("secrets", "checkout-db", scope="shop"), get("configmaps", "db-backup-config")),
        ),
    ),
    WorkloadSpec(
        "batch", "report-exporter", "CronJob", "cron", cron=(6, 0, 120), legacy="auto",
        uas=("python-requests/2.31.0",),
        profile=Profile(
            rate=450.0,
            ops=(list_("deployments", group="apps", scope="all", weight=2), list_("pods", scope="all", weight=2),
                 list_("namespaces", scope="cluster")),
        ),
    ),
    WorkloadSpec(
        "batch", "job-cleaner", "CronJob", "cron", cron=(3, 0, 60),
        uas=("kubectl/v1.28.4 (linux/amd64) kubernetes/bae2c62",),
        profile=Profile(
            rate=300.0,
            ops=(list_("pods", scope="all", query="fieldSelector=status.phase%3DFailed"),
                 list_("jobs", group="batch", scope="all")),
        ),
    ),
)

# kube-controller-manager's controllers run with their own service-account credentials:
# bound tokens (JTI) without a pod, requested hourly by system:kube-controller-manager.
CONTROL_PLANE_SAS: dict[str, tuple[float, tuple[Op, ...]]] = {
    "replicaset-controller": (1.0, (update("replicasets", "@replicasets", group="apps", sub="status", scope="@replicasets"),)),
    "deployment-controller": (1.0, (update("deployments", "@deployments", group="apps", sub="status", scope="@deployments"),)),
    "daemon-set-controller": (1.0, (update("daemonsets", "@daemonsets", group="apps", sub="status", scope="kube-system"),)),
    "statefulset-controller": (0.5, (update("statefulsets", "@statefulsets", group="apps", sub="status", scope="@statefulsets"),)),
    "job-controller": (0.5, (list_("jobs", group="batch", scope="all"),)),
    "cronjob-controller": (1.0, (list_("cronjobs", group="batch", scope="all"), list_("jobs", group="batch", scope="all"))),
    "generic-garbage-collector": (1.0, (list_("pods", scope="all", query="limit=500"),)),
    "pod-garbage-collector": (0.5, (list_("pods", scope="all", query="fieldSelector=status.phase%3DFailed"),)),
    "ttl-after-finished-controller": (0.3, (list_("jobs", group="batch", scope="all"),)),
    "namespace-controller": (0.3, (list_("namespaces", scope="cluster"),)),
    "clusterrole-aggregation-controller": (0.3, (update("clusterroles", "admin", "edit", "view", group="rbac.authorization.k8s.io", scope="cluster"),)),
    "endpointslice-controller": (2.0, (update("endpointslices", "@endpointslices", group="discovery.k8s.io", scope="@endpointslices"),)),
}

# Service accounts that exist but never call the API themselves.
PASSIVE_SAS = (("cert-manager", "vault-issuer"), ("kube-system", "eks-vpc-resource-controller"))

HUMANS = {
    "alice@example.com": dict(groups=("sre",), ua="kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225", oncall=False),
    "bob@example.com": dict(groups=("developers",), ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", oncall=False),
    "carol@example.com": dict(groups=("sre",), ua="k9s/v0.32.4 (linux/amd64) kubernetes/$Format", oncall=True),
}

# ---------------------------------------------------------------------------------- AWS
GO_SDK_UA = "aws-sdk-go-v2/1.25.0 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64"
GO_SDK_V1_UA = "aws-sdk-go/1.50.8 (go1.21.6; linux; amd64)"
BOTO3_UA = ("Boto3/1.34.14 md/Botocore#1.34.14 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 "
            "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.14")

# role key → (role name, service account, SDK family, calls per hour, [(eventSource, eventName, weight)])
IRSA_ROLES = {
    "ebs-csi": ("AmazonEKS_EBS_CSI_DriverRole", ("kube-system", "ebs-csi-controller-sa"), "go2", 14.0, (
        ("ec2", "DescribeVolumes", 4), ("ec2", "DescribeInstances", 2), ("ec2", "DescribeAvailabilityZones", 1),
        ("ec2", "DescribeSnapshots", 0.5), ("ec2", "CreateTags", 0.05), ("ec2", "CreateVolume", 0.04),
        ("ec2", "AttachVolume", 0.04), ("ec2", "DetachVolume", 0.04))),
    "external-dns": ("external-dns-route53", ("kube-system", "external-dns"), "go1", 24.0, (
        ("route53", "ListHostedZones", 1), ("route53", "ListResourceRecordSets", 1),
        ("route53", "ChangeResourceRecordSets", 0.01))),
    "ledger": ("payments-ledger", ("payments", "ledger"), "boto3", 16.0, (
        ("s3", "GetObject", 3), ("s3", "PutObject", 3), ("kms", "Decrypt", 2), ("kms", "GenerateDataKey", 2),
        ("secretsmanager", "GetSecretValue", 0.3), ("sqs", "SendMessage", 1))),
}

NODE_ROLE = "eks-node-group-role"
CLUSTER_ROLE = "eks-cluster-role"
SSO_ROLE = "AWSReservedSSO_AdministratorAccess_3f8a9b2c1d4e5f60"
