"""AWS CloudTrail records (eventVersion 1.09), for management and S3 data events.

`CloudTrail.call` writes one API call made with a credential: the identity block comes from the
credential (IAM user key, role session), the request parameters from a small catalogue of the
operations this world uses, shaped like the real ones. STS responses that hand out credentials
carry the session token (and, as some trails and forwarders do, the secret key) in
`responseElements.credentials`: the normalizer must drop those fields.
"""

from __future__ import annotations

import random
from typing import Any, Callable

import orjson

from .rand import aws_s3_request_id, b64, hex_id, uuid4
from .sinks import Output
from .timefmt import iso_seconds
from .world import World

Params = Callable[[random.Random, dict], Any]

_S3_ADDITIONAL = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                  "AuthenticationMethod": "AuthHeader"}
_TLS = {}


def _tls(host: str) -> dict:
    t = _TLS.get(host)
    if t is None:
        t = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host}
        _TLS[host] = t
    return t


def _instance(rng: random.Random, c: dict) -> str:
    return c.get("instance") or "i-0" + hex_id(rng, 16)


# (source, name) → (readOnly, params builder); S3 object-level calls are data events (see call()).
OPS: dict[tuple[str, str], tuple[bool, Params]] = {
    ("ec2", "DescribeInstances"): (True, lambda r, c: {"instancesSet": {"items": [{"instanceId": _instance(r, c)}]}, "filterSet": {}}),
    ("ec2", "DescribeVolumes"): (True, lambda r, c: {"volumeSet": {}, "filterSet": {"items": [{"name": "tag:ebs.csi.aws.com/cluster", "valueSet": {"items": [{"value": "true"}]}}]}, "maxResults": 500}),
    ("ec2", "DescribeAvailabilityZones"): (True, lambda r, c: {"availabilityZoneSet": {}, "availabilityZoneIdSet": {}}),
    ("ec2", "DescribeSnapshots"): (True, lambda r, c: {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "filterSet": {}}),
    ("ec2", "DescribeRegions"): (True, lambda r, c: {"regionSet": {}, "allRegions": False}),
    ("ec2", "DescribeSecurityGroups"): (True, lambda r, c: {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
    ("ec2", "DescribeNetworkInterfaces"): (True, lambda r, c: {"networkInterfaceIdSet": {}, "filterSet": {"items": [{"name": "attachment.instance-id", "valueSet": {"items": [{"value": _instance(r, c)}]}}]}}),
    ("ec2", "AssignPrivateIpAddresses"): (False, lambda r, c: {"networkInterfaceId": "eni-0" + hex_id(r, 16), "secondaryPrivateIpAddressCount": 1}),
    ("ec2", "UnassignPrivateIpAddresses"): (False, lambda r, c: {"networkInterfaceId": "eni-0" + hex_id(r, 16), "privateIpAddressesSet": {}}),
    ("ec2", "CreateNetworkInterfacePermission"): (False, lambda r, c: {"networkInterfaceId": "eni-0" + hex_id(r, 16), "permission": "INSTANCE-ATTACH"}),
    ("ec2", "CreateTags"): (False, lambda r, c: {"resourcesSet": {"items": [{"resourceId": "vol-0" + hex_id(r, 16)}]}, "tagSet": {"items": [{"key": "kubernetes.io/created-for/pvc/name", "value": "data"}]}}),
    ("ec2", "CreateVolume"): (False, lambda r, c: {"size": r.choice((10, 20, 50)), "zone": r.choice(("us-east-1a", "us-east-1b")), "volumeType": "gp3", "encrypted": True}),
    ("ec2", "AttachVolume"): (False, lambda r, c: {"volumeId": "vol-0" + hex_id(r, 16), "instanceId": _instance(r, c), "device": "/dev/xvdaa"}),
    ("ec2", "DetachVolume"): (False, lambda r, c: {"volumeId": "vol-0" + hex_id(r, 16), "instanceId": _instance(r, c), "force": False}),
    ("route53", "ListHostedZones"): (True, lambda r, c: None),
    ("route53", "ListResourceRecordSets"): (True, lambda r, c: {"hostedZoneId": c.get("zone", "Z0871232ZJH5X8K6Q4UW")}),
    ("route53", "ChangeResourceRecordSets"): (False, lambda r, c: {"hostedZoneId": c.get("zone", "Z0871232ZJH5X8K6Q4UW"), "changeBatch": {"changes": [{"action": "UPSERT", "resourceRecordSet": {"name": "shop.acme.example.", "type": "A"}}]}}),
    ("kms", "Decrypt"): (True, lambda r, c: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{c.get('bucket', 'acme-ledger-exports')}"}}),
    ("kms", "GenerateDataKey"): (True, lambda r, c: {"keyId": "alias/ledger-exports", "keySpec": "AES_256", "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{c.get('bucket', 'acme-ledger-exports')}"}}),
    ("secretsmanager", "GetSecretValue"): (True, lambda r, c: {"secretId": c.get("secret", "payments/ledger/db")}),
    ("sts", "GetCallerIdentity"): (True, lambda r, c: None),
    ("s3", "ListBuckets"): (True, lambda r, c: {"Host": "s3.amazonaws.com"}),
    ("iam", "ListRoles"): (True, lambda r, c: None),
    ("iam", "ListUsers"): (True, lambda r, c: None),
    ("iam", "ListPolicies"): (True, lambda r, c: {"scope": "Local", "onlyAttached": False}),
    ("iam", "GetUser"): (True, lambda r, c: None),
    ("iam", "ListAccessKeys"): (True, lambda r, c: {"userName": c.get("user")} if c.get("user") else None),
    ("iam", "ListAttachedRolePolicies"): (True, lambda r, c: {"roleName": c.get("role", "payments-ledger")}),
    ("iam", "ListAttachedUserPolicies"): (True, lambda r, c: {"userName": c.get("user", "ci-deployer")}),
    ("iam", "GetAccountAuthorizationDetails"): (True, lambda r, c: None),
    ("iam", "CreateUser"): (False, lambda r, c: {"userName": c["user"]}),
    ("iam", "CreateAccessKey"): (False, lambda r, c: {"userName": c["user"]}),
    ("iam", "AttachUserPolicy"): (False, lambda r, c: {"userName": c["user"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("iam", "UpdateAccessKey"): (False, lambda r, c: {"accessKeyId": c["key"], "status": "Inactive", "userName": c["user"]}),
    ("iam", "DeleteAccessKey"): (False, lambda r, c: {"accessKeyId": c["key"], "userName": c["user"]}),
    ("ecr", "GetAuthorizationToken"): (True, lambda r, c: None),
    ("ecr", "BatchCheckLayerAvailability"): (True, lambda r, c: {"repositoryName": c.get("repo", "payments-api"), "layerDigests": [f"sha256:{hex_id(r, 64)}"]}),
    ("ecr", "InitiateLayerUpload"): (False, lambda r, c: {"repositoryName": c.get("repo", "payments-api")}),
    ("ecr", "UploadLayerPart"): (False, lambda r, c: {"repositoryName": c.get("repo", "payments-api"), "uploadId": uuid4(r), "partFirstByte": 0, "partLastByte": r.randint(10**5, 10**8)}),
    ("ecr", "CompleteLayerUpload"): (False, lambda r, c: {"repositoryName": c.get("repo", "payments-api"), "uploadId": uuid4(r), "layerDigests": [f"sha256:{hex_id(r, 64)}"]}),
    ("ecr", "PutImage"): (False, lambda r, c: {"repositoryName": c.get("repo", "payments-api"), "imageTag": c.get("tag", "v1"), "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json"}),
    ("ecr", "BatchGetImage"): (True, lambda r, c: {"repositoryName": c.get("repo", "payments-api"), "imageIds": [{"imageTag": c.get("tag", "v1")}], "acceptedMediaTypes": ["application/vnd.docker.distribution.manifest.v2+json"]}),
    ("ecr", "GetDownloadUrlForLayer"): (True, lambda r, c: {"repositoryName": c.get("repo", "payments-api"), "layerDigest": f"sha256:{hex_id(r, 64)}"}),
    ("eks", "DescribeCluster"): (True, lambda r, c: {"name": c.get("cluster", "prod-use1")}),
    ("eks", "ListClusters"): (True, lambda r, c: None),
    ("monitoring", "GetMetricData"): (True, lambda r, c: {"startTime": "", "endTime": "", "metricDataQueries": []}),
    ("athena", "StartQueryExecution"): (False, lambda r, c: {"queryString": "SELECT region, sum(amount) FROM orders_weekly GROUP BY 1", "workGroup": "reporting"}),
    ("athena", "GetQueryExecution"): (True, lambda r, c: {"queryExecutionId": uuid4(r)}),
    ("athena", "GetQueryResults"): (True, lambda r, c: {"queryExecutionId": uuid4(r), "maxResults": 1000}),
    ("glue", "GetTable"): (True, lambda r, c: {"databaseName": "reporting", "name": "orders_weekly"}),
}

_DATA = {"GetObject", "PutObject", "HeadObject", "DeleteObject", "ListObjects", "CreateMultipartUpload",
         "UploadPart", "CompleteMultipartUpload"}
_HOSTS = {"route53": "route53.amazonaws.com", "iam": "iam.amazonaws.com", "sts": "sts.us-east-1.amazonaws.com",
          "s3": "s3.amazonaws.com"}
_API_VERSION = {"ecr": "2015-09-21"}


def denial(service: str, action: str, arn: str, resource: str = "*") -> tuple[str, str]:
    if service == "ec2":
        return ("Client.UnauthorizedOperation",
                f"You are not authorized to perform this operation. User: {arn} is not authorized to perform: "
                f"ec2:{action} because no identity-based policy allows the ec2:{action} action")
    code = "AccessDeniedException" if service in ("kms", "secretsmanager", "ecr", "athena", "glue", "eks") else "AccessDenied"
    return code, (f"User: {arn} is not authorized to perform: {service}:{action} on resource: {resource} "
                  f"because no identity-based policy allows the {service}:{action} action")


def token_of(identity: dict) -> str | None:
    """The credential a record is attributed to (the normalizer's convention without a key)."""
    key = identity.get("accessKeyId")
    if key:
        return key
    kind = identity.get("type")
    if kind == "AWSService":
        return f"service:{identity.get('invokedBy')}"
    if kind == "WebIdentityUser":
        return f"web-identity:{identity.get('userName')}"
    if kind == "SAMLUser":
        return f"SAMLUser:{identity.get('userName')}"
    return None


class CloudTrail:
    def __init__(self, world: World, out: Output):
        self.world, self.out, self.sink = world, out, out.aws
        self.secret_values: list[str] = []  # session tokens / secret keys written into responses

    def emit(self, ts: int, account: str, record: dict, token_id: str | None, region: str = "us-east-1") -> None:
        self.sink.add(ts, orjson.dumps(record), (account, region))
        self.out.note("aws", ts, token_id)

    def call(self, rng: random.Random, ts: int, identity: dict, service: str, name: str, ip: str, ua: str, *,
             account: str, region: str = "us-east-1", ctx: dict | None = None, params: Any = None,
             response: Any = None, error: tuple[str, str] | None = None, resources: list | None = None,
             read_only: bool | None = None, console: bool = False, event_type: str = "AwsApiCall") -> None:
        ctx = ctx or {}
        data = service == "s3" and name in _DATA
        if data:
            bucket, key = ctx.get("bucket", "acme-data"), ctx.get("key", "")
            ro = name in ("GetObject", "HeadObject", "ListObjects")
            host = f"{bucket}.s3.{region}.amazonaws.com"
            if params is None:
                params = {"bucketName": bucket, "Host": host}
                if name == "ListObjects":
                    params.update({"list-type": "2", "prefix": ctx.get("prefix", ""), "encoding-type": "url"})
                else:
                    params["key"] = key
                    if name == "UploadPart":
                        params.update({"partNumber": str(ctx.get("part", 1)), "uploadId": ctx.get("upload", b64(rng, 48, urlsafe=True))})
            if resources is None:
                resources = [{"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
                if name != "ListObjects":
                    resources.insert(0, {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
        else:
            ro, builder = OPS.get((service, name), (name.startswith(("Describe", "List", "Get")), None))
            if params is None and builder is not None:
                params = builder(rng, ctx)
            host = _HOSTS.get(service, f"{service}.{region}.amazonaws.com")
        if read_only is not None:
            ro = read_only
        rec: dict[str, Any] = {
            "eventVersion": "1.09", "userIdentity": identity, "eventTime": iso_seconds(ts),
            "eventSource": f"{service}.amazonaws.com", "eventName": name, "awsRegion": region,
            "sourceIPAddress": ip, "userAgent": ua,
        }
        if error:
            rec["errorCode"], rec["errorMessage"] = error
        rec["requestParameters"] = params
        rec["responseElements"] = None if (error or response is None) else response
        if data:
            extra = dict(_S3_ADDITIONAL)
            extra["bytesTransferredIn"] = ctx.get("bytes", 0) if name in ("PutObject", "UploadPart") else 0
            extra["x-amz-id-2"] = b64(rng, 48)
            if name == "GetObject":
                extra["bytesTransferredOut"] = ctx.get("bytes", rng.randint(2000, 4_000_000))
            rec["additionalEventData"] = extra
            rec["requestID"] = aws_s3_request_id(rng)
        else:
            rec["requestID"] = uuid4(rng)
        rec["eventID"] = uuid4(rng)
        rec["readOnly"] = ro
        if resources:
            rec["resources"] = resources
        rec["eventType"] = event_type
        if service in _API_VERSION:
            rec["apiVersion"] = _API_VERSION[service]
        rec["managementEvent"] = not data
        rec["recipientAccountId"] = account
        rec["eventCategory"] = "Data" if data else "Management"
        if "." in ip or ":" in ip:
            rec["tlsDetails"] = _tls(host)
        if console:
            rec["sessionCredentialFromConsole"] = "true"
        self.emit(ts, account, rec, token_of(identity), region)

    def credentials(self, session, *, with_secret: bool = True) -> dict:
        from .timefmt import cloudtrail_expiration

        creds = {"accessKeyId": session.key_id, "sessionToken": session.session_token}
        if with_secret:
            creds["secretAccessKey"] = session.secret
            self.secret_values.append(session.secret)
        creds["expiration"] = cloudtrail_expiration(session.expires)
        self.secret_values.append(session.session_token)
        return creds
