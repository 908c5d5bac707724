"""Cloud machine identities: AWS accounts, IAM users and their access keys, IRSA roles, the EKS
node and cluster roles; the GCP project and its service accounts (with or without keys); the
Azure tenant, subscription and service principals with their client-secret key ids.

Key schedules (which key is active when) live here, so the benign AWS key rotation and Azure
secret rotation and the scenarios' new credentials are facts of the world that every module
reads the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import catalog
from .rand import aws_key_id, b64, hex_id, mixed_alnum, uuid4
from .timefmt import DAY, HOUR
from .world import World


@dataclass(eq=False)
class AccessKey:
    key_id: str
    created: int
    active_until: int | None = None  # deactivated (rotation) or never


@dataclass(eq=False)
class IamUser:
    name: str
    account: str
    user_id: str
    keys: list[AccessKey] = field(default_factory=list)
    _identity: dict = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"

    def key_at(self, ts: int) -> AccessKey:
        live = [k for k in self.keys if k.created <= ts and (k.active_until is None or ts < k.active_until)]
        return live[-1] if live else self.keys[0]

    def identity(self, key: AccessKey) -> dict:
        ident = self._identity.get(key.key_id)
        if ident is None:
            ident = {"type": "IAMUser", "principalId": self.user_id, "arn": self.arn, "accountId": self.account,
                     "accessKeyId": key.key_id, "userName": self.name}
            self._identity[key.key_id] = ident
        return ident


@dataclass(eq=False)
class Role:
    name: str
    account: str
    role_id: str  # AROA…

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.name}"


@dataclass(eq=False)
class RoleSession:
    """Temporary credentials of a role (an ASIA… key) and the identity block calls carry."""

    role: Role
    key_id: str
    session_name: str
    issued: int
    expires: int
    session_token: str
    secret: str
    web_identity_provider: str | None = None
    invoked_by: str | None = None
    _identity: dict | None = None

    def identity(self) -> dict:
        if self._identity is None:
            from .timefmt import iso_seconds

            ctx: dict = {
                "sessionIssuer": {"type": "Role", "principalId": self.role.role_id, "arn": self.role.arn,
                                  "accountId": self.role.account, "userName": self.role.name},
            }
            if self.web_identity_provider:
                ctx["webIdFederationData"] = {"federatedProvider": self.web_identity_provider, "attributes": {}}
            else:
                ctx["webIdFederationData"] = {}
            ctx["attributes"] = {"creationDate": iso_seconds(self.issued), "mfaAuthenticated": "false"}
            ident = {"type": "AssumedRole", "principalId": f"{self.role.role_id}:{self.session_name}",
                     "arn": f"arn:aws:sts::{self.role.account}:assumed-role/{self.role.name}/{self.session_name}",
                     "accountId": self.role.account, "accessKeyId": self.key_id, "sessionContext": ctx}
            if self.invoked_by:
                ident["invokedBy"] = self.invoked_by
            self._identity = ident
        return self._identity


def new_session(rng: random.Random, role: Role, ts: int, session_name: str, duration_s: int = 3600, **kw) -> RoleSession:
    # real STS session tokens are long base64 blobs starting with "IQoJb3JpZ2luX2Vj"
    token = "IQoJb3JpZ2luX2Vj" + b64(rng, rng.randint(600, 760))
    secret = b64(rng, 30)[:40]
    return RoleSession(role, aws_key_id(rng, "ASIA"), session_name, ts, ts + duration_s * 1_000_000, token, secret, **kw)


@dataclass(eq=False)
class GcpServiceAccount:
    name: str
    project: str
    unique_id: str
    keys: list[tuple[str, int]] = field(default_factory=list)  # (key id, created)

    @property
    def email(self) -> str:
        return f"{self.name}@{self.project}.iam.gserviceaccount.com"

    def key_name(self, key_id: str) -> str:
        return f"//iam.googleapis.com/projects/{self.project}/serviceAccounts/{self.email}/keys/{key_id}"


@dataclass(eq=False)
class AzureApp:
    name: str
    app_id: str
    sp_id: str  # service principal object id
    app_object_id: str  # application object id
    keys: list[tuple[str, int, str]] = field(default_factory=list)  # (keyId, created, display name)
    retired: dict[str, int] = field(default_factory=dict)  # keyId → removed at

    def key_at(self, ts: int, *, exclude: tuple[str, ...] = ()) -> str:
        live = [k for k, created, _ in self.keys
                if created <= ts and k not in exclude and (k not in self.retired or ts < self.retired[k])]
        return live[-1] if live else self.keys[0][0]


@dataclass
class CloudWorld:
    prod: str
    backup: str
    oidc_provider: str
    users: dict[str, IamUser]
    irsa: dict[str, Role]
    node_role: Role
    cluster_role: Role
    sso_role: dict[str, Role]
    gcp_project: str
    gcp_project_number: str
    gcp: dict[str, GcpServiceAccount]
    tenant: str
    subscription: str
    apps: dict[str, AzureApp]
    legacy_etl_retired: int = 0


def _account(rng: random.Random) -> str:
    return str(rng.randint(100000000000, 999999999999))


def build_cloud(world: World) -> CloudWorld:
    rng = world.rng("cloud")
    prod, backup = _account(rng), _account(rng)
    oidc = f"arn:aws:iam::{prod}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/{world.oidc_id}"

    def user(name: str, account: str, created_days_ago: float) -> IamUser:
        u = IamUser(name, account, aws_key_id(rng, "AIDA"))
        u.keys.append(AccessKey(aws_key_id(rng, "AKIA"), world.start - int(created_days_ago * DAY)))
        return u

    users = {
        "ci-deployer": user("ci-deployer", prod, 210),
        "backup-agent": user("backup-agent", backup, 400),
        "weekly-report": user("weekly-report", backup, 300),
        "legacy-etl": user("legacy-etl", backup, 800),
    }
    rot = world.changes["aws_key_rotation"]
    ci = users["ci-deployer"]
    ci.keys.append(AccessKey(aws_key_id(rng, "AKIA"), rot))
    ci.keys[0].active_until = rot + int(rng.uniform(20, 60) * 60_000_000)  # after the pipeline secret was updated
    irsa = {key: Role(name, prod, aws_key_id(rng, "AROA")) for key, (name, *_rest) in catalog.IRSA_ROLES.items()}
    gcp_project = "acme-data-prod"
    gcp = {}
    for name, keyed in (("etl-pipeline", True), ("orders-sync", False), ("terraform-ci", True),
                        ("terraform-runner", False), ("billing-export", True)):
        sa = GcpServiceAccount(name, gcp_project, str(rng.randint(10**20, 10**21 - 1)))
        if keyed:
            sa.keys.append((hex_id(rng, 40), world.start - int(rng.uniform(60, 400) * DAY)))
        gcp[name] = sa
    apps = {}
    for name in ("gha-deploy", "monitor-exporter", "vm-backup"):
        app = AzureApp(name, uuid4(rng), uuid4(rng), uuid4(rng))
        app.keys.append((uuid4(rng), world.start - int(rng.uniform(30, 300) * DAY), f"{name}-secret"))
        apps[name] = app
    mon = apps["monitor-exporter"]
    azure_rot = world.changes["azure_secret_rotation"]
    mon.keys.append((uuid4(rng), azure_rot, "rotated-" + mixed_alnum(rng, 4).lower()))
    mon.retired[mon.keys[0][0]] = azure_rot + DAY
    return CloudWorld(
        prod=prod, backup=backup, oidc_provider=oidc, users=users, irsa=irsa,
        node_role=Role(catalog.NODE_ROLE, prod, aws_key_id(rng, "AROA")),
        cluster_role=Role(catalog.CLUSTER_ROLE, prod, aws_key_id(rng, "AROA")),
        sso_role={prod: Role(catalog.SSO_ROLE, prod, aws_key_id(rng, "AROA")),
                  backup: Role(catalog.SSO_ROLE, backup, aws_key_id(rng, "AROA"))},
        gcp_project=gcp_project, gcp_project_number=str(rng.randint(10**11, 10**12 - 1)), gcp=gcp,
        tenant=uuid4(rng), subscription=uuid4(rng), apps=apps,
        legacy_etl_retired=world.start + min(3, max(1, world.days // 4)) * DAY - 2 * HOUR,
    )
