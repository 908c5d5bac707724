"""Cloud credential-misuse scenarios: an IRSA session used from outside, a dormant IAM key that
wakes up to create persistence, a GCP key creating a key for a more powerful account and
impersonating it, and an Azure service principal given a new secret that is then used."""

from __future__ import annotations

from . import catalog
from .azure_logs import ARM, GRAPH, STORAGE
from .cloud_world import AccessKey, IamUser, new_session
from .cloudtrail import denial
from .lifecycle import weekday
from .net import attacker_ip
from .rand import aws_key_id, hex_id, uuid4
from .scenario_base import AWS_CLI, AWS_CLI_MAC, BOTO3_ATTACKER, Scenario
from .timefmt import DAY, HOUR, MINUTE, US, iso_seconds
from .world import World

GCLOUD = ("google-cloud-sdk gcloud/463.0.0 command/gcloud.{cmd} invocation-id/{inv} environment/None "
          "environment-version/None client-os/LINUX client-os-ver/6.5.0 client-pltf-arch/x86_64 interactive/True "
          "from-script/False python/3.11.6 term/xterm-256color (Linux 6.5.0-14-generic),gzip(gfe)")


# ---------------------------------------------------------------------------------- s08
class IrsaSessionExternal(Scenario):
    ALLOWED = {"ledger": {("s3", "ListObjects"), ("s3", "GetObject"), ("kms", "Decrypt"), ("secretsmanager", "GetSecretValue")},
               "external-dns": {("route53", "ListHostedZones"), ("route53", "ListResourceRecordSets")},
               "ebs-csi": {("ec2", "DescribeInstances"), ("ec2", "DescribeVolumes"), ("ec2", "DescribeAvailabilityZones"),
                           ("ec2", "DescribeSnapshots")}}

    def bind(self, world: World) -> None:
        rng = self.rng
        self.role_key = rng.choice(sorted(catalog.IRSA_ROLES))
        role_name, (ns, sa), *_ = catalog.IRSA_ROLES[self.role_key]
        self.role = world.cloud.irsa[self.role_key]
        self.sa = (ns, sa)
        self.ip = attacker_ip(rng)
        self.mac = rng.random() < 0.3
        self.principal = self.role.arn
        self.add_principal(f"system:serviceaccount:{ns}:{sa}")

    def cli(self, cmd: str) -> str:
        return (AWS_CLI_MAC if self.mac else AWS_CLI).format(cmd=cmd)

    def emit(self, inj) -> None:
        rng, world, trail = self.rng, inj.world, inj.trail
        ns, sa = self.sa
        w = next(w for w in world.workloads.values() if w.sa.namespace == ns and w.sa.name == sa)
        t = self.start
        stolen = None
        for pod in w.pods:
            for sess in pod.state.get("aws_hist", []):
                if sess.issued <= t < sess.expires - 15 * MINUTE:
                    stolen = sess
        if stolen is not None and rng.random() < 0.6:
            sess, how = stolen, "stolen-session"
        else:
            how = "stolen-web-identity-token"
            name = rng.choice(("aws-cli", "session1", "test", f"{sa}-debug"))
            sess = new_session(rng, self.role, t, name, web_identity_provider=world.cloud.oidc_provider)
            inj.aws.assume_web_identity(rng, self.mark(t), sess, ns, sa, self.ip, self.cli("sts.assume-role-with-web-identity"))
            t += int(rng.uniform(5, 40) * US)
        self.add_token(sess.key_id)
        self.details = {"variant": how, "source_ip": self.ip, "session": sess.session_name}
        self.description = (f"IRSA credentials of {ns}/{sa} ({self.role.name}) used from {self.ip} with the AWS CLI "
                            f"({how}): caller identity, bucket and IAM listing, EC2 inventory across regions.")
        ident = sess.identity()
        allowed = self.ALLOWED[self.role_key]
        plan = [("sts", "GetCallerIdentity", "sts.get-caller-identity", "us-east-1"),
                ("s3", "ListBuckets", "s3.ls", "us-east-1"),
                ("iam", "ListRoles", "iam.list-roles", "us-east-1"),
                ("iam", "ListUsers", "iam.list-users", "us-east-1"),
                ("iam", "ListAttachedRolePolicies", "iam.list-attached-role-policies", "us-east-1"),
                ("ec2", "DescribeRegions", "ec2.describe-regions", "us-east-1")]
        for region in rng.sample(("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"), rng.randint(2, 5)):
            plan.append(("ec2", "DescribeInstances", "ec2.describe-instances", region))
            if rng.random() < 0.5:
                plan.append(("ec2", "DescribeSecurityGroups", "ec2.describe-security-groups", region))
        if self.role_key == "ledger":
            plan += [("s3", "ListObjects", "s3.ls", "us-east-1")] * rng.randint(1, 4)
            plan += [("s3", "GetObject", "s3.cp", "us-east-1")] * rng.randint(2, 12)
            plan.append(("secretsmanager", "GetSecretValue", "secretsmanager.get-secret-value", "us-east-1"))
        elif self.role_key == "external-dns":
            plan += [("route53", "ListHostedZones", "route53.list-hosted-zones", "us-east-1"),
                     ("route53", "ListResourceRecordSets", "route53.list-resource-record-sets", "us-east-1")]
        else:
            plan += [("ec2", "DescribeVolumes", "ec2.describe-volumes", "us-east-1"),
                     ("ec2", "DescribeSnapshots", "ec2.describe-snapshots", "us-east-1")]
        for service, name, cmd, region in plan:
            t += int(rng.uniform(1, 25) * US)
            if t >= sess.expires:
                break
            ok = (service, name) in allowed or (service, name) == ("sts", "GetCallerIdentity")
            error = None if ok else denial(service, name, ident["arn"])
            ctx = {"bucket": "acme-ledger-exports", "key": f"exports/{iso_seconds(t)[:10]}/batch-{rng.randint(1, 400):04d}.parquet",
                   "role": self.role.name}
            trail.call(rng, self.mark(t), ident, service, name, self.ip, self.cli(cmd), account=self.role.account,
                       region=region, ctx=ctx, error=error)


# ---------------------------------------------------------------------------------- s09
class DormantKeyWakes(Scenario):
    def bind(self, world: World) -> None:
        rng, cloud = self.rng, world.cloud
        candidates = []
        if self.start - cloud.legacy_etl_retired >= 5 * DAY:
            candidates.append("legacy-etl")
        mondays = [d for d in range(world.days) if weekday(world, d) == 0 and world.day_start(d) + 6 * HOUR < self.start]
        if mondays and self.start - (world.day_start(mondays[-1]) + 6 * HOUR) >= 5 * DAY:
            candidates.append("weekly-report")
        self.user: IamUser = cloud.users[rng.choice(candidates or ["legacy-etl"])]
        self.key = self.user.keys[0]
        self.admin = self.user.name == "legacy-etl"  # created years ago with AdministratorAccess
        self.ip = attacker_ip(rng)
        self.ua_kind = rng.choice(("cli", "cli-mac", "boto3"))
        self.new_user = rng.choice(("svc-backup-sync", "aws-support-ops", "cloudwatch-agent-ext", "terraform-state"))
        self.new_key = AccessKey(aws_key_id(rng, "AKIA"), 0)
        self.principal = self.user.arn
        self.add_token(self.key.key_id)
        last = cloud.legacy_etl_retired if self.user.name == "legacy-etl" else None
        self.details = {"source_ip": self.ip, "dormant_since": iso_seconds(last) if last else "last Monday's report run"}
        outcome = (f"creates IAM user {self.new_user} with an access key and AdministratorAccess" if self.admin else
                   "tries to create a user and a key but is refused (the key is read-only)")
        self.description = (f"The long-dormant access key of IAM user {self.user.name} wakes up from {self.ip} and "
                            f"{outcome}.")

    def ua(self, cmd: str) -> str:
        if self.ua_kind == "boto3":
            return BOTO3_ATTACKER
        return (AWS_CLI_MAC if self.ua_kind == "cli-mac" else AWS_CLI).format(cmd=cmd)

    def emit(self, inj) -> None:
        rng, trail, user = self.rng, inj.trail, self.user
        ident = user.identity(self.key)
        t = self.start

        def call(service, name, cmd, ctx=None, response=None, ok=True):
            nonlocal t
            t += int(rng.uniform(2, 40) * US)
            err = None if ok else denial(service, name, user.arn, f"arn:aws:iam::{user.account}:user/{(ctx or {}).get('user', user.name)}")
            trail.call(rng, self.mark(t), ident, service, name, self.ip, self.ua(cmd), account=user.account, ctx=ctx,
                       response=response, error=err)

        call("sts", "GetCallerIdentity", "sts.get-caller-identity")
        call("iam", "GetUser", "iam.get-user", ok=self.admin)
        call("iam", "ListAttachedUserPolicies", "iam.list-attached-user-policies", {"user": user.name}, ok=self.admin)
        call("iam", "ListUsers", "iam.list-users", ok=self.admin)
        call("iam", "ListRoles", "iam.list-roles", ok=self.admin)
        call("s3", "ListBuckets", "s3.ls", ok=self.admin)
        call("iam", "CreateUser", "iam.create-user", {"user": self.new_user},
             response={"user": {"path": "/", "userName": self.new_user, "userId": aws_key_id(rng, "AIDA"),
                                "arn": f"arn:aws:iam::{user.account}:user/{self.new_user}",
                                "createDate": iso_seconds(t).replace("T", " ").replace("Z", "")}}, ok=self.admin)
        if not self.admin:
            return
        self.new_key.created = t
        call("iam", "CreateAccessKey", "iam.create-access-key", {"user": self.new_user},
             response={"accessKey": {"userName": self.new_user, "accessKeyId": self.new_key.key_id, "status": "Active",
                                     "createDate": iso_seconds(t).replace("T", " ").replace("Z", "")}})
        call("iam", "AttachUserPolicy", "iam.attach-user-policy", {"user": self.new_user})
        self.add_token(self.new_key.key_id)
        backdoor = IamUser(self.new_user, user.account, aws_key_id(rng, "AIDA"), [self.new_key])
        self.add_principal(backdoor.arn)
        t += int(rng.uniform(3, 30) * MINUTE)
        for service, name, cmd in (("sts", "GetCallerIdentity", "sts.get-caller-identity"), ("s3", "ListBuckets", "s3.ls"),
                                   ("iam", "ListAccessKeys", "iam.list-access-keys")):
            t += int(rng.uniform(2, 20) * US)
            trail.call(rng, self.mark(t), backdoor.identity(self.new_key), service, name, self.ip, self.ua(cmd),
                       account=user.account, ctx={"user": self.new_user})


# ---------------------------------------------------------------------------------- s10
class GcpKeyImpersonation(Scenario):
    def bind(self, world: World) -> None:
        rng, cloud = self.rng, world.cloud
        self.victim = cloud.gcp[rng.choice(("etl-pipeline", "terraform-ci", "billing-export"))]
        self.target = cloud.gcp[rng.choice(("terraform-runner", "orders-sync"))]
        self.key = self.victim.keys[0][0]
        self.new_key = hex_id(rng, 40)
        self.ip = attacker_ip(rng)
        self.ip2 = self.ip if rng.random() < 0.6 else attacker_ip(rng)
        self.principal = self.victim.email
        self.add_principal(self.target.email)
        for tok in (self.key, self.new_key, f"oauth:{self.target.email}"):
            self.add_token(tok)
        self.details = {"source_ip": self.ip, "created_key_for": self.target.email, "new_key": self.new_key}
        self.description = (f"The JSON key of {self.victim.email} is used from {self.ip} with gcloud: it reads the "
                            f"project IAM policy, creates a key for {self.target.email}, impersonates it "
                            "(GenerateAccessToken) and reads storage; the new key is used later.")

    def emit(self, inj) -> None:
        rng, gcp, traffic, p = self.rng, inj.gcp, inj.gcp_traffic, inj.world.cloud.gcp_project
        auth = traffic.key_auth(self.victim, self.key)
        inv = hex_id(rng, 32)
        t = self.start

        def ua(cmd: str) -> str:
            return GCLOUD.format(cmd=cmd, inv=inv)

        gcp.entry(rng, self.mark(t), auth=auth, ip=self.ip, ua=ua("projects.get-iam-policy"),
                  service="cloudresourcemanager.googleapis.com", method="GetIamPolicy", resource_name=f"projects/{p}",
                  permission="resourcemanager.projects.getIamPolicy", permission_type="ADMIN_READ",
                  resource={"type": "project", "labels": {"project_id": p}}, token_id=self.key)
        t += int(rng.uniform(5, 60) * US)
        gcp.entry(rng, self.mark(t), auth=auth, ip=self.ip, ua=ua("iam.service-accounts.list"),
                  service="iam.googleapis.com", method="google.iam.admin.v1.ListServiceAccounts", resource_name=f"projects/{p}",
                  permission="iam.serviceAccounts.list", permission_type="ADMIN_READ",
                  resource={"type": "service_account", "labels": {"email_id": "", "project_id": p, "unique_id": ""}},
                  token_id=self.key)
        if rng.random() < 0.5:  # tries to grant itself more first, and is refused
            t += int(rng.uniform(10, 90) * US)
            gcp.entry(rng, self.mark(t), auth=auth, ip=self.ip, ua=ua("projects.add-iam-policy-binding"),
                      service="cloudresourcemanager.googleapis.com", method="SetIamPolicy", resource_name=f"projects/{p}",
                      permission="resourcemanager.projects.setIamPolicy", permission_type="ADMIN_WRITE", log="activity",
                      granted=False, resource={"type": "project", "labels": {"project_id": p}}, token_id=self.key)
        t += int(rng.uniform(10, 120) * US)
        key_path = f"projects/{p}/serviceAccounts/{self.target.email}/keys/{self.new_key}"
        gcp.entry(rng, self.mark(t), auth=auth, ip=self.ip, ua=ua("iam.service-accounts.keys.create"),
                  service="iam.googleapis.com", method="google.iam.admin.v1.CreateServiceAccountKey",
                  resource_name=f"projects/-/serviceAccounts/{self.target.unique_id}", permission="iam.serviceAccountKeys.create",
                  permission_type="ADMIN_WRITE", log="activity", resource=traffic.sa_resource(self.target), token_id=self.key,
                  request={"@type": "type.googleapis.com/google.iam.admin.v1.CreateServiceAccountKeyRequest",
                           "name": f"projects/-/serviceAccounts/{self.target.email}", "private_key_type": 2},
                  response={"@type": "type.googleapis.com/google.iam.admin.v1.ServiceAccountKey", "name": key_path,
                            "valid_after_time": {"seconds": str(t // US)}, "valid_before_time": {"seconds": "253402300799"},
                            "key_algorithm": 2, "private_key_type": 2, "key_origin": 2, "key_type": 1})
        t += int(rng.uniform(20, 300) * US)
        traffic.generate_access_token(rng, self.mark(t), auth, self.ip, ua("auth.print-access-token"), self.target, self.key)
        imp = {"principalEmail": self.target.email,
               "serviceAccountDelegationInfo": [{"firstPartyPrincipal": {"principalEmail": self.victim.email}}]}
        oauth = f"oauth:{self.target.email}"
        t += int(rng.uniform(5, 60) * US)
        for bucket in ("acme-raw-events", "acme-orders-archive", "acme-billing-exports"):
            traffic.storage(rng, self.mark(t), imp, self.ip, ua("storage.ls"), "list", bucket, None, oauth)
            for _ in range(rng.randint(1, 6)):
                t += int(rng.uniform(1, 15) * US)
                traffic.storage(rng, self.mark(t), imp, self.ip, ua("storage.cp"), "get", bucket,
                                f"exports/{hex_id(rng, 12)}.json", oauth)
            t += int(rng.uniform(5, 40) * US)
        t += int(rng.uniform(10, 60) * MINUTE)
        new_auth = {"principalEmail": self.target.email,
                    "serviceAccountKeyName": f"//iam.googleapis.com/{key_path}"}
        for _ in range(rng.randint(5, 15)):
            t += int(rng.uniform(1, 20) * US)
            traffic.storage(rng, self.mark(t), new_auth, self.ip2, "gcloud-python/2.14.0 gl-python/3.11.6 gccl/2.14.0,gzip(gfe)",
                            "get", "acme-orders-archive", f"orders/{iso_seconds(t)[:10]}/{hex_id(rng, 12)}.json", self.new_key)


# ---------------------------------------------------------------------------------- s11
class AzureSpBackdoor(Scenario):
    def bind(self, world: World) -> None:
        rng, cloud = self.rng, world.cloud
        self.app = cloud.apps["vm-backup"]
        self.variant = rng.choice(("compromised-admin", "deploy-sp"))
        self.ip = attacker_ip(rng)
        self.new_key = uuid4(rng)
        self.key_name = rng.choice(("backup-sync", "temp", "rotation-2026", "DefaultKey"))
        self.principal = self.app.app_id
        self.add_token(self.new_key)
        self.add_token(f"app:{self.app.app_id}")
        if self.variant == "deploy-sp":
            gha = cloud.apps["gha-deploy"]
            self.add_principal(gha.app_id)
            self.add_token(gha.key_at(self.start))
        self.details = {"variant": self.variant, "source_ip": self.ip, "new_key_id": self.new_key}
        who = "a compromised administrator account" if self.variant == "compromised-admin" else "the deploy pipeline's service principal"
        self.description = (f"Through {who}, a new client secret is added to the vm-backup application; the service "
                            f"principal then signs in with that new secret from {self.ip} and lists storage account keys.")

    def emit(self, inj) -> None:
        rng, logs, world = self.rng, inj.azure, inj.world
        cloud, app = world.cloud, self.app
        t = self.start
        old = [(k, n) for k, c, n in app.keys if c <= t and (k not in app.retired or t < app.retired[k])]
        if self.variant == "deploy-sp":
            gha = cloud.apps["gha-deploy"]
            logs.signin(rng, self.mark(t), gha, gha.key_at(t), self.ip, GRAPH)
            t += int(rng.uniform(10, 90) * US)
            initiated = {"app": {"appId": gha.app_id, "displayName": gha.name, "servicePrincipalId": gha.sp_id,
                                 "servicePrincipalName": None}}
            ua = "python-requests/2.31.0"
        else:
            initiated = {"user": {"id": uuid4(rng), "displayName": None, "userPrincipalName": "it-admin@example.com",
                                  "ipAddress": self.ip, "roles": []}}
            ua = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 "
                  "Safari/537.36")
        logs.app_secret_change(rng, self.mark(t), app, old, old + [(self.new_key, self.key_name)], self.ip, initiated, ua)
        t += int(rng.uniform(2, 30) * MINUTE)
        token = logs.signin(rng, self.mark(t), app, self.new_key, self.ip, ARM)
        scope = f"/subscriptions/{cloud.subscription}"
        accounts = rng.sample(("acmedatalake01", "acmebackups02", "acmelogsarchive", "acmeprodstate"), rng.randint(2, 4))
        for acct in accounts:
            t += int(rng.uniform(3, 60) * US)
            rid = f"/subscriptions/{cloud.subscription}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/{acct}"
            self.mark(t)
            t = logs.write(rng, t, token, self.ip, "Microsoft.Storage/storageAccounts/listKeys/action", rid,
                           role="Contributor", scope=scope)
            self.mark(t)
        if rng.random() < 0.5:
            t += int(rng.uniform(1, 10) * MINUTE)
            logs.signin(rng, self.mark(t), app, self.new_key, self.ip, STORAGE)
