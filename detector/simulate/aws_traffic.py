"""Everyday AWS activity: IRSA pods, node instance roles, the EKS service, IAM-user keys
(CI pipeline, on-prem backup, weekly report, a retired ETL job), engineers' SSO console sessions.

IRSA as it happens: the pod's SDK calls AssumeRoleWithWebIdentity with its projected service-
account token when it first needs credentials and again when they expire (Go SDKs at expiry,
botocore 15 minutes before), one ASIA… key per pod per session, and calls AWS from the NAT
gateway of its node's availability zone.
"""

from __future__ import annotations

import random

from . import catalog
from .activity import arrivals, hourly_factors, periodic
from .cloud_world import AccessKey, IamUser, RoleSession, new_session
from .cloudtrail import CloudTrail, denial
from .k8s_lifecycle import HumanCallers
from .lifecycle import weekday
from .rand import b64, hex_id, poisson
from .schedule import CIJob
from .timefmt import DAY, HOUR, MINUTE, US, iso_seconds
from .world import Pod, World, nat_ip

_API = {"ec2": "1.149.1", "sts": "1.28.1", "route53": "1.40.1", "kms": "1.29.1"}
RESTIC_UA = "MinIO (linux; amd64) minio-go/v7.0.66 restic/0.16.4"
JAVA_UA = ("aws-sdk-java/2.21.29 Linux/5.15.0-91-generic OpenJDK_64-Bit_Server_VM/17.0.9+9-Ubuntu-122.04 "
           "Java/17.0.9 vendor/Private_Build io/sync http/Apache cfg/retry-mode/legacy")
CLI_V1_UA = "aws-cli/1.29.85 Python/3.8.10 Linux/5.4.0-167-generic botocore/1.31.85"
CI_CLI_UA = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
DOCKER_UA = ("docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0-1016-azure os/linux arch/amd64 "
             "UpstreamClient(Docker-Client/24.0.7 \\(linux\\))")
CNI_UA = "amazon-vpc-cni-k8s/version/v1.18.1 aws-sdk-go/1.50.8 (go1.21.6; linux; amd64)"
ECR_CRED_UA = "aws-sdk-go/1.48.16 (go1.21.5; linux; amd64) ecr-credential-provider/v1.30.0"
CONTAINERD_UA = "containerd/1.7.11"
BROWSER_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")


def sdk_ua(sdk: str, service: str) -> str:
    if sdk == "go2":
        return f"{catalog.GO_SDK_UA} api/{service}#{_API.get(service, '1.0.0')}"
    if sdk == "go1":
        return catalog.GO_SDK_V1_UA
    return catalog.BOTO3_UA


class AwsTraffic:
    def __init__(self, world: World, trail: CloudTrail):
        self.world, self.trail, self.cloud = world, trail, world.cloud
        self.humans = HumanCallers(world)
        self.node_sessions: dict[str, RoleSession] = {}
        self.eks_session: RoleSession | None = None

    def day(self, day: int, ci_jobs: list[CIJob]) -> None:
        world = self.world
        d0 = world.day_start(day)
        d1 = d0 + DAY
        self._irsa(day, d0, d1)
        self._nodes(day, d0, d1)
        self._eks_service(day, d0, d1)
        self._backup(day, d0)
        self._weekly_report(day, d0)
        self._legacy_etl(day, d0)
        self._sso(day, d0)
        self._key_rotation(d0)
        for job in ci_jobs:
            if d0 <= job.ts < d1 and job.kind in ("deploy", "build"):
                self._ci_job(job)

    # -- IRSA -----------------------------------------------------------------------------
    def irsa_session(self, rng: random.Random, pod: Pod, role_key: str, t: int) -> RoleSession:
        """The pod's current session; a new AssumeRoleWithWebIdentity when it needs one."""
        world, cloud = self.world, self.cloud
        role = cloud.irsa[role_key]
        _name, (ns, sa), sdk, _rate, _ops = catalog.IRSA_ROLES[role_key]
        sess: RoleSession | None = pod.state.get("aws")
        margin = 15 * MINUTE if sdk == "boto3" else 0
        if sess is not None and t < sess.expires - margin:
            return sess
        issue = t - int(rng.uniform(0.05, 0.4) * US)
        if sess is None and pod.start < world.start and t < world.start + HOUR:
            issue = world.start - int(rng.uniform(0, 40) * MINUTE)  # before the window: not in the logs
        name = f"botocore-session-{issue // US}" if sdk == "boto3" else str(issue * 1000 + rng.randint(0, 999))
        sess = new_session(rng, role, issue, name, web_identity_provider=cloud.oidc_provider)
        pod.state["aws"] = sess
        pod.state.setdefault("aws_hist", []).append(sess)
        if issue >= world.start:
            self.assume_web_identity(rng, issue, sess, ns, sa, nat_ip(world, pod.node), sdk_ua(sdk, "sts"))
        return sess

    def assume_web_identity(self, rng: random.Random, ts: int, sess: RoleSession, ns: str, sa: str, ip: str, ua: str) -> None:
        cloud = self.cloud
        subject = f"system:serviceaccount:{ns}:{sa}"
        ident = {"type": "WebIdentityUser", "principalId": f"{cloud.oidc_provider}:sts.amazonaws.com:{subject}",
                 "userName": subject, "identityProvider": cloud.oidc_provider}
        response = {
            "credentials": self.trail.credentials(sess),
            "subjectFromWebIdentityToken": subject,
            "assumedRoleUser": {"assumedRoleId": f"{sess.role.role_id}:{sess.session_name}",
                                "arn": f"arn:aws:sts::{sess.role.account}:assumed-role/{sess.role.name}/{sess.session_name}"},
            "provider": cloud.oidc_provider, "audience": "sts.amazonaws.com",
        }
        self.trail.call(rng, ts, ident, "sts", "AssumeRoleWithWebIdentity", ip, ua, account=sess.role.account,
                        params={"roleArn": sess.role.arn, "roleSessionName": sess.session_name}, response=response,
                        resources=[{"accountId": sess.role.account, "type": "AWS::IAM::Role", "ARN": sess.role.arn}])

    def _irsa(self, day: int, d0: int, d1: int) -> None:
        world = self.world
        for key, (_name, (ns, sa), sdk, rate, ops) in catalog.IRSA_ROLES.items():
            w = next(w for w in world.workloads.values() if w.sa.namespace == ns and w.sa.name == sa)
            prof = w.spec.profile
            factors = hourly_factors(d0, prof.diurnal, prof.weekend)
            weights = [o[2] for o in ops]
            for pod in w.pods:
                a, b = max(d0, pod.start), min(d1, pod.active_end, world.end)
                if a >= b:
                    continue
                rng = world.rng("irsa", pod.uid, day)
                if key == "external-dns":  # a sync loop, not a Poisson process
                    times = periodic(rng, a, b, int(180 / world.scale * US), pod.start, jitter=0.02)
                    plan = [(t, op) for t in times for op in (ops[0], ops[1], ops[1])]
                else:
                    plan = [(t, rng.choices(ops, weights)[0]) for t in arrivals(rng, a, b, rate * world.scale, factors, d0)]
                for t, (service, name, _w) in plan:
                    if prof.leader_only and w.leader(t) is not pod:
                        continue
                    if key == "external-dns" and rng.random() < 0.002:
                        service, name = "route53", "ChangeResourceRecordSets"
                    sess = self.irsa_session(rng, pod, key, t)
                    ctx = {"instance": rng.choice(world.nodes_at(t)).instance_id, "bucket": "acme-ledger-exports",
                           "key": f"exports/{iso_seconds(t)[:10]}/batch-{rng.randint(1, 400):04d}.parquet",
                           "bytes": rng.randint(20_000, 8_000_000)}
                    error = None
                    r = rng.random()
                    if r < 0.002:
                        error = denial(service, name, sess.identity()["arn"])
                    elif service == "route53" and r < 0.006:
                        error = ("Throttling", "Rate exceeded")
                    self.trail.call(rng, t, sess.identity(), service, name, nat_ip(world, pod.node),
                                    sdk_ua(sdk, service), account=sess.role.account, ctx=ctx, error=error,
                                    response={"requestId": ctx["instance"]} if service == "ec2" and name.startswith(("Create", "Attach", "Detach")) else None)

    # -- EC2 instance roles and the EKS service ---------------------------------------------
    def _nodes(self, day: int, d0: int, d1: int) -> None:
        world, cloud = self.world, self.cloud
        role = cloud.node_role
        for node in world.nodes:
            a = max(d0, node.joined)
            b = min(d1, node.removed or d1, world.end)
            if a >= b:
                continue
            rng = world.rng("node-aws", node.name, day)
            sess = self.node_sessions.get(node.name)
            t = a
            calls = arrivals(rng, a, b, 5.0 * world.scale, [1.0] * 24, d0)
            ops = (("ec2", "DescribeNetworkInterfaces", CNI_UA, 3), ("ec2", "DescribeInstances", CNI_UA, 2),
                   ("ec2", "AssignPrivateIpAddresses", CNI_UA, 0.4), ("ec2", "UnassignPrivateIpAddresses", CNI_UA, 0.3),
                   ("ecr", "GetAuthorizationToken", ECR_CRED_UA, 0.3), ("ecr", "BatchGetImage", CONTAINERD_UA, 0.5),
                   ("ecr", "GetDownloadUrlForLayer", CONTAINERD_UA, 0.6))
            for t in calls:
                if sess is None or t >= sess.issued + 60 * MINUTE:
                    issue = t - int(rng.uniform(1, 300) * US)
                    if sess is None and node.joined < world.start and t < world.start + HOUR:
                        issue = world.start - int(rng.uniform(0, 50) * MINUTE)
                    issue = max(issue, node.joined)
                    sess = new_session(rng, role, issue, node.instance_id, duration_s=6 * 3600)
                    if issue >= d0:
                        self._service_assume(rng, issue, sess, "ec2.amazonaws.com")
                    self.node_sessions[node.name] = sess
                service, name, ua, _ = rng.choices(ops, [o[3] for o in ops])[0]
                ctx = {"instance": node.instance_id, "repo": rng.choice(("payments-api", "checkout", "frontend", "ledger"))}
                error = denial(service, name, sess.identity()["arn"]) if rng.random() < 0.001 else None
                self.trail.call(rng, t, sess.identity(), service, name, nat_ip(world, node), ua,
                                account=role.account, ctx=ctx, error=error)

    def _service_assume(self, rng: random.Random, ts: int, sess: RoleSession, service: str) -> None:
        ident = {"type": "AWSService", "invokedBy": service}
        response = {"credentials": self.trail.credentials(sess, with_secret=False),
                    "assumedRoleUser": {"assumedRoleId": f"{sess.role.role_id}:{sess.session_name}",
                                        "arn": f"arn:aws:sts::{sess.role.account}:assumed-role/{sess.role.name}/{sess.session_name}"}}
        self.trail.call(rng, ts, ident, "sts", "AssumeRole", service, service, account=sess.role.account,
                        params={"roleArn": sess.role.arn, "roleSessionName": sess.session_name}, response=response,
                        resources=[{"accountId": sess.role.account, "type": "AWS::IAM::Role", "ARN": sess.role.arn}])

    def _eks_service(self, day: int, d0: int, d1: int) -> None:
        world, cloud = self.world, self.cloud
        rng = world.rng("eks-service", day)
        for t in arrivals(rng, d0, min(d1, world.end), 3.0 * world.scale, [1.0] * 24, d0):
            sess = self.eks_session
            if sess is None or t >= sess.issued + HOUR:
                issue = t - int(rng.uniform(0.5, 5) * US)
                sess = new_session(rng, cloud.cluster_role, issue, "EKS", invoked_by="eks.amazonaws.com")
                self._service_assume(rng, issue, sess, "eks.amazonaws.com")
                self.eks_session = sess
            name = rng.choice(("DescribeNetworkInterfaces", "DescribeInstances", "CreateNetworkInterfacePermission",
                               "DescribeSecurityGroups"))
            self.trail.call(rng, t, sess.identity(), "ec2", name, "eks.amazonaws.com", "eks.amazonaws.com",
                            account=cloud.prod, ctx={"instance": rng.choice(world.nodes_at(t)).instance_id})

    # -- IAM users ------------------------------------------------------------------------
    def user_call(self, rng: random.Random, t: int, user: IamUser, service: str, name: str, ip: str, ua: str,
                  key: AccessKey | None = None, **kw) -> None:
        key = key or user.key_at(t)
        self.trail.call(rng, t, user.identity(key), service, name, ip, ua, account=user.account, **kw)

    def _backup(self, day: int, d0: int) -> None:
        world = self.world
        user = self.cloud.users["backup-agent"]
        rng = world.rng("backup-agent", day)
        t = d0 + HOUR + int(rng.uniform(0, 8) * MINUTE)
        ip, bucket = world.addr.onprem_ip, "acme-backups-onprem"
        for prefix in ("restic/locks/", "restic/snapshots/", "restic/index/"):
            self.user_call(rng, t, user, "s3", "ListObjects", ip, RESTIC_UA, ctx={"bucket": bucket, "prefix": prefix})
            t += int(rng.uniform(0.2, 2) * US)
        self.user_call(rng, t, user, "s3", "PutObject", ip, RESTIC_UA, ctx={"bucket": bucket, "key": f"restic/locks/{hex_id(rng, 64)}", "bytes": 180})
        for _ in range(poisson(rng, 70 * world.scale)):
            t += int(rng.expovariate(1 / 25) * US)
            obj = f"restic/data/{hex_id(rng, 2)}/{hex_id(rng, 64)}"
            if rng.random() < 0.12:
                self.user_call(rng, t, user, "s3", "HeadObject", ip, RESTIC_UA, ctx={"bucket": bucket, "key": obj})
            self.user_call(rng, t, user, "s3", "PutObject", ip, RESTIC_UA, ctx={"bucket": bucket, "key": obj, "bytes": rng.randint(4 << 20, 16 << 20)})
        if weekday(world, day) == 6:  # Sunday: forget/prune
            for _ in range(rng.randint(10, 30)):
                t += int(rng.uniform(0.1, 2) * US)
                self.user_call(rng, t, user, "s3", "DeleteObject", ip, RESTIC_UA,
                               ctx={"bucket": bucket, "key": f"restic/data/{hex_id(rng, 2)}/{hex_id(rng, 64)}"})
        self.user_call(rng, t + US, user, "s3", "PutObject", ip, RESTIC_UA, ctx={"bucket": bucket, "key": f"restic/snapshots/{hex_id(rng, 64)}", "bytes": 600})

    def _weekly_report(self, day: int, d0: int) -> None:
        world = self.world
        if weekday(world, day) != 0:
            return
        user = self.cloud.users["weekly-report"]
        rng = world.rng("weekly-report", day)
        t = d0 + 6 * HOUR + int(rng.uniform(0, 3) * MINUTE)
        ip = world.addr.onprem_ip
        self.user_call(rng, t, user, "glue", "GetTable", ip, JAVA_UA)
        for _ in range(3):
            t += int(rng.uniform(1, 5) * US)
            self.user_call(rng, t, user, "athena", "StartQueryExecution", ip, JAVA_UA)
            for _ in range(rng.randint(3, 8)):
                t += int(rng.uniform(2, 6) * US)
                self.user_call(rng, t, user, "athena", "GetQueryExecution", ip, JAVA_UA)
            self.user_call(rng, t + US, user, "athena", "GetQueryResults", ip, JAVA_UA)
            self.user_call(rng, t + 2 * US, user, "s3", "GetObject", ip, JAVA_UA,
                           ctx={"bucket": "acme-athena-results", "key": f"reporting/{hex_id(rng, 8)}.csv"})
        self.user_call(rng, t + 5 * US, user, "s3", "PutObject", ip, JAVA_UA,
                       ctx={"bucket": "acme-reports", "key": f"weekly/{iso_seconds(t)[:10]}.xlsx", "bytes": 88_000})

    def _legacy_etl(self, day: int, d0: int) -> None:
        world, cloud = self.world, self.cloud
        t = d0 + 3 * HOUR
        if t >= cloud.legacy_etl_retired:
            return
        user = cloud.users["legacy-etl"]
        rng = world.rng("legacy-etl", day)
        t += int(rng.uniform(0, 120) * US)
        ip = world.addr.onprem_etl_ip
        self.user_call(rng, t, user, "s3", "ListObjects", ip, CLI_V1_UA, ctx={"bucket": "acme-etl-staging", "prefix": "incoming/"})
        for _ in range(rng.randint(10, 25)):
            t += int(rng.uniform(1, 20) * US)
            self.user_call(rng, t, user, "s3", "GetObject", ip, CLI_V1_UA,
                           ctx={"bucket": "acme-etl-staging", "key": f"incoming/{hex_id(rng, 10)}.csv.gz"})
            self.user_call(rng, t + US, user, "s3", "PutObject", ip, CLI_V1_UA,
                           ctx={"bucket": "acme-etl-staging", "key": f"processed/{hex_id(rng, 10)}.parquet", "bytes": rng.randint(10**5, 10**7)})

    # -- engineers --------------------------------------------------------------------------
    def sso_session(self, rng: random.Random, t: int, human: str, account: str, ip: str) -> RoleSession:
        role = self.cloud.sso_role[account]
        sess = new_session(rng, role, t, human)
        ident = {"type": "SAMLUser", "principalId": f"{b64(rng, 21)}:{human}", "userName": human,
                 "identityProvider": b64(rng, 21)}
        saml = f"arn:aws:iam::{account}:saml-provider/AWSSSO_{hex_id(rng, 16)}_DO_NOT_DELETE"
        response = {"credentials": self.trail.credentials(sess, with_secret=False),
                    "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{human}",
                                        "arn": f"arn:aws:sts::{account}:assumed-role/{role.name}/{human}"},
                    "subject": human, "subjectType": "persistent", "issuer": "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/",
                    "audience": "https://signin.aws.amazon.com/saml", "nameQualifier": b64(rng, 21)}
        self.trail.call(rng, t, ident, "sts", "AssumeRoleWithSAML", ip, BROWSER_UA, account=account,
                        params={"sAMLAssertionID": "_" + hex_id(rng, 32), "roleSessionName": human, "roleArn": role.arn,
                                "principalArn": saml, "durationSeconds": 3600},
                        response=response)
        return sess

    def _sso(self, day: int, d0: int) -> None:
        world, cloud = self.world, self.cloud
        if weekday(world, day) >= 5:
            return
        for human in ("alice@example.com", "carol@example.com"):
            rng = world.rng("sso", human, day)
            if rng.random() > 0.6:
                continue
            t = d0 + int(rng.uniform(8, 16.5) * HOUR)
            account = cloud.prod if rng.random() < 0.8 else cloud.backup
            ip = self.humans.ip(human, t)
            sess = self.sso_session(rng, t, human, account, ip)
            for _ in range(rng.randint(8, 35)):
                t += int(rng.uniform(2, 45) * US)
                service, name = rng.choice((("ec2", "DescribeInstances"), ("eks", "ListClusters"), ("eks", "DescribeCluster"),
                                            ("monitoring", "GetMetricData"), ("s3", "ListBuckets"), ("ec2", "DescribeVolumes"),
                                            ("iam", "ListRoles"), ("ec2", "DescribeSecurityGroups")))
                self.trail.call(rng, t, sess.identity(), service, name, ip, "AWS Internal", account=account, console=True)

    def _key_rotation(self, d0: int) -> None:
        """The benign rotation of the CI user's key by an administrator in the console."""
        world, cloud = self.world, self.cloud
        rot = world.changes["aws_key_rotation"]
        ci = cloud.users["ci-deployer"]
        old, new = ci.keys[0], ci.keys[1]
        for when, action in ((rot, "create"), (old.active_until, "deactivate"), (old.active_until + DAY, "delete")):
            if d0 <= when < d0 + DAY and when < world.end:
                rng = world.rng("key-rotation", action)
                human = "alice@example.com"
                ip = self.humans.ip(human, when)
                sess = self.sso_session(rng, when - int(rng.uniform(30, 90) * US), human, cloud.prod, ip)
                self.trail.call(rng, when - 8 * US, sess.identity(), "iam", "ListAccessKeys", ip, "AWS Internal",
                                account=cloud.prod, console=True, ctx={"user": ci.name})
                if action == "create":
                    resp = {"accessKey": {"userName": ci.name, "accessKeyId": new.key_id, "status": "Active",
                                          "createDate": iso_seconds(when).replace("T", " ").replace("Z", "")}}
                    self.trail.call(rng, when, sess.identity(), "iam", "CreateAccessKey", ip, "AWS Internal",
                                    account=cloud.prod, console=True, ctx={"user": ci.name}, response=resp)
                elif action == "deactivate":
                    self.trail.call(rng, when, sess.identity(), "iam", "UpdateAccessKey", ip, "AWS Internal",
                                    account=cloud.prod, console=True, ctx={"user": ci.name, "key": old.key_id})
                else:
                    self.trail.call(rng, when, sess.identity(), "iam", "DeleteAccessKey", ip, "AWS Internal",
                                    account=cloud.prod, console=True, ctx={"user": ci.name, "key": old.key_id})

    # -- CI ---------------------------------------------------------------------------------
    def _ci_job(self, job: CIJob) -> None:
        world = self.world
        user = self.cloud.users["ci-deployer"]
        rng = world.rng("ci-aws", job.ts)
        t = job.ts + int(rng.uniform(20, 60) * US)
        repo = job.target.name if job.target is not None else rng.choice(("payments-api", "checkout", "frontend", "ledger", "catalog"))
        ctx = {"repo": repo, "tag": f"sha-{hex_id(rng, 7)}"}
        self.user_call(rng, t, user, "sts", "GetCallerIdentity", job.ip, CI_CLI_UA.format(cmd="sts.get-caller-identity"))
        t += int(rng.uniform(1, 4) * US)
        self.user_call(rng, t, user, "ecr", "GetAuthorizationToken", job.ip, CI_CLI_UA.format(cmd="ecr.get-login-password"))
        t += int(rng.uniform(20, 90) * US)  # docker build
        for _ in range(rng.randint(3, 8)):
            self.user_call(rng, t, user, "ecr", "BatchCheckLayerAvailability", job.ip, DOCKER_UA, ctx=ctx)
            t += int(rng.uniform(0.1, 0.8) * US)
        for _ in range(rng.randint(1, 3)):
            self.user_call(rng, t, user, "ecr", "InitiateLayerUpload", job.ip, DOCKER_UA, ctx=ctx)
            for _ in range(rng.randint(1, 3)):
                t += int(rng.uniform(1, 8) * US)
                self.user_call(rng, t, user, "ecr", "UploadLayerPart", job.ip, DOCKER_UA, ctx=ctx)
            t += int(rng.uniform(0.2, 1) * US)
            self.user_call(rng, t, user, "ecr", "CompleteLayerUpload", job.ip, DOCKER_UA, ctx=ctx)
        self.user_call(rng, t + int(0.5 * US), user, "ecr", "PutImage", job.ip, DOCKER_UA, ctx=ctx)
