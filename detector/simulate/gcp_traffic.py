"""Everyday GCP activity in the data project.

- etl-pipeline@ holds a JSON key mounted into the EKS ETL worker: it calls Cloud Storage and
  BigQuery from the EKS cluster's NAT addresses (cross-cloud, legitimately), busiest at night;
- orders-sync@ is used through GKE Workload Identity: no key; the GKE metadata server mints an
  access token hourly (iamcredentials GenerateAccessToken) and calls carry delegation info;
- terraform-ci@ has a key used by CI jobs, which impersonate terraform-runner@ for the plan;
- billing-export@ has a key a FinOps SaaS uses once a day from its own address.
"""

from __future__ import annotations

import random

from .activity import arrivals, hourly_factors
from .cloud_world import GcpServiceAccount
from .gcp_audit import GcpAudit
from .lifecycle import weekday
from .net import ip_in
from .rand import hex_id, k8s_suffix, lower_alnum, poisson
from .schedule import CIJob
from .timefmt import DAY, HOUR, MINUTE, US, iso_seconds
from .world import World, nat_ip

GFE = ",gzip(gfe)"
STORAGE_UA = "gcloud-python/2.14.0 gl-python/3.11.8 gccl/2.14.0" + GFE
BQ_UA = "gl-python/3.11.8 grpc/1.62.0 gax/2.17.1 gapic/3.17.2 gccl/3.17.2" + GFE
GO_UA = "Go-http-client/2.0" + GFE
TERRAFORM_UA = ("Terraform/1.7.4 (+https://www.terraform.io) Terraform-Plugin-SDK/2.33.0 "
                "terraform-provider-google/5.20.0" + GFE)
SAAS_UA = "google-api-go-client/0.5" + GFE


class GcpTraffic:
    def __init__(self, world: World, audit: GcpAudit):
        self.world, self.audit, self.cloud = world, audit, world.cloud
        self.project = self.cloud.gcp_project
        rng = world.rng("gcp-addresses")
        self.gke_nodes = [f"10.128.0.{x}" for x in rng.sample(range(2, 40), 3)]
        self.gke_pods = [f"orders-sync-{lower_alnum(rng, 10)[:10]}-{k8s_suffix(rng)}" for _ in range(2)]
        self.saas_ip = ip_in(rng, rng.choice(("34.86", "35.190", "34.139")))

    # -- helpers used by scenarios too ----------------------------------------------------------
    def key_auth(self, sa: GcpServiceAccount, key_id: str) -> dict:
        return {"principalEmail": sa.email, "serviceAccountKeyName": sa.key_name(key_id)}

    def sa_resource(self, sa: GcpServiceAccount) -> dict:
        return {"type": "service_account", "labels": {"email_id": sa.email, "project_id": self.project, "unique_id": sa.unique_id}}

    def storage(self, rng: random.Random, ts: int, auth: dict, ip: str, ua: str, op: str, bucket: str, obj: str | None,
                token_id: str, granted: bool = True) -> None:
        name = f"projects/_/buckets/{bucket}" + (f"/objects/{obj}" if obj else "")
        kind = "objects" if obj or op == "list" else "buckets"
        self.audit.entry(rng, ts, auth=auth, ip=ip, ua=ua, service="storage.googleapis.com",
                         method=f"storage.{kind}.{op}", resource_name=name, permission=f"storage.{kind}.{op}",
                         permission_type="DATA_WRITE" if op in ("create", "delete") else "DATA_READ",
                         resource={"type": "gcs_bucket", "labels": {"bucket_name": bucket, "location": "us-central1",
                                                                    "project_id": self.project}},
                         token_id=token_id, location="us-central1", granted=granted)

    def bigquery(self, rng: random.Random, ts: int, auth: dict, ip: str, ua: str, method: str, token_id: str) -> None:
        job = f"projects/{self.project}/jobs/job_{lower_alnum(rng, 20)}"
        perm = {"InsertJob": "bigquery.jobs.create", "GetQueryResults": "bigquery.jobs.get"}.get(method, "bigquery.tables.getData")
        service = "TableDataService" if method == "List" else "JobService"
        name = f"projects/{self.project}/datasets/billing/tables/gcp_billing_export" if method == "List" else job
        self.audit.entry(rng, ts, auth=auth, ip=ip, ua=ua, service="bigquery.googleapis.com",
                         method=f"google.cloud.bigquery.v2.{service}.{method}", resource_name=name, permission=perm,
                         permission_type="DATA_READ",
                         resource={"type": "bigquery_project", "labels": {"location": "US", "project_id": self.project}},
                         token_id=token_id, location="US")

    def generate_access_token(self, rng: random.Random, ts: int, auth: dict, ip: str, ua: str,
                              target: GcpServiceAccount, token_id: str, granted: bool = True) -> None:
        self.audit.entry(
            rng, ts, auth=auth, ip=ip, ua=ua, service="iamcredentials.googleapis.com", method="GenerateAccessToken",
            resource_name=f"projects/-/serviceAccounts/{target.unique_id}", permission="iam.serviceAccounts.getAccessToken",
            permission_type="ADMIN_READ", resource=self.sa_resource(target), token_id=token_id, granted=granted,
            request={"@type": "type.googleapis.com/google.iam.credentials.v1.GenerateAccessTokenRequest",
                     "name": f"projects/-/serviceAccounts/{target.email}"},
            metadata={"identityDelegationChain": [f"projects/-/serviceAccounts/{target.email}"]})

    # -- the day ----------------------------------------------------------------------------
    def day(self, day: int, ci_jobs: list[CIJob]) -> None:
        world = self.world
        d0 = world.day_start(day)
        d1 = min(d0 + DAY, world.end)
        self._etl(day, d0, d1)
        self._orders_sync(day, d0, d1)
        self._billing_export(day, d0)
        self._engineers(day, d0)
        for job in ci_jobs:
            if d0 <= job.ts < d1 and job.kind == "terraform":
                self._terraform(job)

    def _etl_ip(self, ts: int) -> str:
        w = self.world.workloads["etl-runner"]
        pods = [p for p in w.pods if p.start <= ts < p.gone]
        return nat_ip(self.world, pods[0].node if pods else None)

    def _etl(self, day: int, d0: int, d1: int) -> None:
        world = self.world
        sa = self.cloud.gcp["etl-pipeline"]
        key = sa.keys[0][0]
        auth, tok = self.key_auth(sa, key), key
        rng = world.rng("gcp-etl", day)
        times = arrivals(rng, d0, d1, 10.0 * world.scale, hourly_factors(d0, 0.4, 0.7), d0)
        batch = d0 + 2 * HOUR + int(rng.uniform(0, 5) * MINUTE)
        if batch < d1:
            n = poisson(rng, 90 * world.scale)
            times += sorted(batch + int(rng.uniform(0, 40) * MINUTE) for _ in range(n))
        for t in sorted(times):
            ip = self._etl_ip(t)
            r = rng.random()
            date = iso_seconds(t)[:10].replace("-", "/")
            if r < 0.45:
                self.storage(rng, t, auth, ip, STORAGE_UA, "create", "acme-raw-events", f"{date}/events-{rng.randint(1, 9999):04d}.avro", tok)
            elif r < 0.6:
                # a few reads hit the archive bucket the key has no grant on
                bucket = "acme-raw-archive" if rng.random() < 0.01 else "acme-raw-events"
                self.storage(rng, t, auth, ip, STORAGE_UA, "get", bucket, f"{date}/events-{rng.randint(1, 9999):04d}.avro",
                             tok, granted=bucket == "acme-raw-events")
            elif r < 0.7:
                self.storage(rng, t, auth, ip, STORAGE_UA, "list", "acme-raw-events", None, tok)
            elif r < 0.85:
                self.bigquery(rng, t, auth, ip, BQ_UA, "InsertJob", tok)
            else:
                self.bigquery(rng, t, auth, ip, BQ_UA, "GetQueryResults", tok)

    def _orders_sync(self, day: int, d0: int, d1: int) -> None:
        world = self.world
        sa = self.cloud.gcp["orders-sync"]
        subject = (f"principal://iam.googleapis.com/projects/{self.cloud.gcp_project_number}/locations/global/"
                   f"workloadIdentityPools/{self.project}.svc.id.goog/subject/ns/orders/sa/orders-sync")
        mint_auth = {"principalSubject": subject}
        data_auth = {"principalEmail": sa.email, "serviceAccountDelegationInfo": [{"principalSubject": subject}]}
        tok = f"oauth:{sa.email}"
        for i, (pod, node_ip) in enumerate(zip(self.gke_pods, self.gke_nodes)):
            rng = world.rng("gcp-orders", i, day)
            phase = int(rng.uniform(0, 55) * MINUTE)
            for h in range(24):
                t = d0 + h * HOUR + phase
                if t < d1:
                    self.generate_access_token(rng, t, mint_auth, node_ip, "gke-metadata-server" + GFE, sa, f"oauth:{subject}")
                    if h % 6 == 0:
                        name = f"projects/{self.cloud.gcp_project_number}/secrets/orders-db/versions/latest"
                        method = "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion"
                        self.audit.entry(rng, t + int(rng.uniform(0.2, 2) * US), auth=data_auth, ip=node_ip, ua=GO_UA,
                                         service="secretmanager.googleapis.com", method=method, resource_name=name,
                                         permission="secretmanager.versions.access", permission_type="DATA_READ",
                                         resource={"type": "audited_resource", "labels": {"method": method, "project_id": self.project,
                                                                                          "service": "secretmanager.googleapis.com"}},
                                         token_id=tok)
            for t in arrivals(rng, d0, d1, 7.0 * world.scale, [1.0] * 24, d0):
                op = "get" if rng.random() < 0.7 else "list"
                obj = f"orders/{iso_seconds(t)[:10]}/{hex_id(rng, 12)}.json" if op == "get" else None
                self.storage(rng, t, data_auth, node_ip, GO_UA, op, "acme-orders-archive", obj, tok)
            for t in arrivals(rng, d0, d1, 1.5, [1.0] * 24, d0):
                self.audit.text(rng, t, f"{iso_seconds(t)} INFO orders_sync: synced {rng.randint(0, 400)} orders "
                                        f"(lag {rng.randint(1, 90)}s)",
                                {"type": "k8s_container", "labels": {"cluster_name": "data-gke", "container_name": "orders-sync",
                                                                      "location": "us-central1", "namespace_name": "orders",
                                                                      "pod_name": pod, "project_id": self.project}},
                                labels={"k8s-pod/app": "orders-sync"})

    def _engineers(self, day: int, d0: int) -> None:
        """Engineers poke at the data project with gcloud now and then (user accounts, no keys)."""
        world = self.world
        if weekday(world, day) >= 5:
            return
        from .k8s_lifecycle import HumanCallers

        humans = HumanCallers(world)
        for who in ("alice@example.com", "bob@example.com"):
            rng = world.rng("gcp-human", who, day)
            if rng.random() > 0.35:
                continue
            t = d0 + int(rng.uniform(8, 17) * HOUR)
            ip, inv = humans.ip(who, t), hex_id(rng, 32)
            auth = {"principalEmail": who}
            for _ in range(rng.randint(2, 9)):
                t += int(rng.uniform(5, 120) * US)
                cmd, service, method, name, perm = rng.choice((
                    ("storage.ls", "storage.googleapis.com", "storage.objects.list", "projects/_/buckets/acme-raw-events", "storage.objects.list"),
                    ("bq.query", "bigquery.googleapis.com", "google.cloud.bigquery.v2.JobService.InsertJob", f"projects/{self.project}/jobs/bquxjob_{hex_id(rng, 8)}", "bigquery.jobs.create"),
                    ("iam.service-accounts.list", "iam.googleapis.com", "google.iam.admin.v1.ListServiceAccounts", f"projects/{self.project}", "iam.serviceAccounts.list"),
                    ("logging.read", "logging.googleapis.com", "google.logging.v2.LoggingServiceV2.ListLogEntries", f"projects/{self.project}", "logging.logEntries.list"),
                ))
                ua = (f"google-cloud-sdk gcloud/463.0.0 command/gcloud.{cmd} invocation-id/{inv} environment/None "
                      "environment-version/None client-os/MACOSX client-os-ver/23.2.0 client-pltf-arch/arm "
                      "interactive/True from-script/False python/3.11.7 term/xterm-256color (Macintosh; Intel Mac OS X 23.2.0)"
                      + GFE)
                self.audit.entry(rng, t, auth=auth, ip=ip, ua=ua, service=service, method=method, resource_name=name,
                                 permission=perm, permission_type="DATA_READ" if "storage" in service else "ADMIN_READ",
                                 resource={"type": "audited_resource", "labels": {"method": method, "project_id": self.project,
                                                                                  "service": service}},
                                 token_id=None)

    def _billing_export(self, day: int, d0: int) -> None:
        world = self.world
        sa = self.cloud.gcp["billing-export"]
        key = sa.keys[0][0]
        rng = world.rng("gcp-billing", day)
        t = d0 + 4 * HOUR + int(rng.uniform(0, 20) * MINUTE)
        for _ in range(rng.randint(2, 6)):
            t += int(rng.uniform(1, 30) * US)
            self.bigquery(rng, t, self.key_auth(sa, key), self.saas_ip, SAAS_UA, "List", key)

    def _terraform(self, job: CIJob) -> None:
        world, cloud = self.world, self.cloud
        ci, runner = cloud.gcp["terraform-ci"], cloud.gcp["terraform-runner"]
        key = ci.keys[0][0]
        rng = world.rng("gcp-terraform", job.ts)
        t = job.ts + int(rng.uniform(30, 90) * US)
        self.generate_access_token(rng, t, self.key_auth(ci, key), job.ip, TERRAFORM_UA, runner, key)
        auth = {"principalEmail": runner.email,
                "serviceAccountDelegationInfo": [{"firstPartyPrincipal": {"principalEmail": ci.email}}]}
        tok = f"oauth:{runner.email}"
        reads = (
            ("storage.googleapis.com", "storage.buckets.get", "projects/_/buckets/acme-raw-events", "storage.buckets.get"),
            ("iam.googleapis.com", "google.iam.admin.v1.GetServiceAccount", f"projects/{self.project}/serviceAccounts/{cloud.gcp['etl-pipeline'].unique_id}", "iam.serviceAccounts.get"),
            ("cloudresourcemanager.googleapis.com", "GetIamPolicy", f"projects/{self.project}", "resourcemanager.projects.getIamPolicy"),
            ("compute.googleapis.com", "v1.compute.networks.get", f"projects/{self.project}/global/networks/data-vpc", "compute.networks.get"),
            ("bigquery.googleapis.com", "google.cloud.bigquery.v2.DatasetService.GetDataset", f"projects/{self.project}/datasets/billing", "bigquery.datasets.get"),
        )
        for _ in range(rng.randint(10, 30)):
            t += int(rng.uniform(0.05, 2) * US)
            service, method, name, perm = rng.choice(reads)
            self.audit.entry(rng, t, auth=auth, ip=job.ip, ua=TERRAFORM_UA, service=service, method=method,
                             resource_name=name, permission=perm, permission_type="ADMIN_READ",
                             granted=not (method.startswith("v1.compute") and rng.random() < 0.3),
                             resource={"type": "audited_resource", "labels": {"method": method, "project_id": self.project, "service": service}},
                             token_id=tok)
        if rng.random() < 0.25:
            t += int(rng.uniform(5, 30) * US)
            self.audit.entry(rng, t, auth=auth, ip=job.ip, ua=TERRAFORM_UA, service="storage.googleapis.com",
                             method="storage.setIamPermissions", resource_name="projects/_/buckets/acme-raw-events",
                             permission="storage.buckets.setIamPolicy", log="activity",
                             resource={"type": "gcs_bucket", "labels": {"bucket_name": "acme-raw-events", "location": "us-central1",
                                                                        "project_id": self.project}},
                             token_id=tok)
