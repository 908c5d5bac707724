"""Azure diagnostic-settings records: activity log (Administrative), Entra service-principal
sign-ins and Entra audit logs, as Event Hub / storage exports deliver them.

A service principal signs in with a client secret (the sign-in record names the secret's key id,
never its value) and receives a token; the activity records of the calls made with that token
carry its claims (appid, the token's `uti`, issue and expiry times). Writes are logged twice,
when they start and when they finish, under one correlation id.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson

from .cloud_world import AzureApp
from .rand import b64, hex_id, uuid4
from .sinks import Output
from .timefmt import US, iso_7, iso_offset
from .world import World

ARM = ("Windows Azure Service Management API", "797f4846-ba00-4fd7-ba43-dac1f8f63013")
GRAPH = ("Microsoft Graph", "00000003-0000-0000-c000-000000000000")
LOG_ANALYTICS = ("Log Analytics API", "ca7f3f0b-7d91-482c-8e09-c5d840d0eac5")
STORAGE = ("Azure Storage", "e406a681-f3d4-42a8-90b6-c2b029497af1")

# rough IP geolocation of the address blocks this world uses (first octets → place)
_GEO = {
    "4": ("US", "Boydton", "Virginia", 36.67, -78.39), "13": ("US", "Des Moines", "Iowa", 41.6, -93.6),
    "20": ("US", "Boydton", "Virginia", 36.67, -78.39), "40": ("US", "San Antonio", "Texas", 29.42, -98.49),
    "52": ("US", "Ashburn", "Virginia", 39.04, -77.49), "172": ("US", "Des Moines", "Iowa", 41.6, -93.6),
    "3": ("US", "Ashburn", "Virginia", 39.04, -77.49), "44": ("US", "Ashburn", "Virginia", 39.04, -77.49),
    "54": ("US", "Ashburn", "Virginia", 39.04, -77.49), "34": ("US", "Council Bluffs", "Iowa", 41.26, -95.86),
    "185": ("DE", "Brandenburg", "Brandenburg", 52.41, 12.53), "192": ("NL", "Amsterdam", "Noord-Holland", 52.37, 4.9),
    "109": ("AT", "Vienna", "Wien", 48.21, 16.37), "45": ("US", "Piscataway", "New Jersey", 40.55, -74.46),
    "159": ("SG", "Singapore", "Singapore", 1.29, 103.85), "164": ("DE", "Frankfurt am Main", "Hessen", 50.11, 8.68),
    "149": ("JP", "Tokyo", "Tokyo", 35.69, 139.69), "5": ("DE", "Falkenstein", "Sachsen", 50.48, 12.37),
    "95": ("FI", "Helsinki", "Uusimaa", 60.17, 24.94), "51": ("FR", "Gravelines", "Hauts-de-France", 50.99, 2.13),
    "139": ("IN", "Bengaluru", "Karnataka", 12.97, 77.59), "73": ("US", "Chicago", "Illinois", 41.88, -87.63),
    "98": ("US", "Seattle", "Washington", 47.61, -122.33), "86": ("GB", "London", "England", 51.51, -0.13),
    "92": ("GB", "Manchester", "England", 53.48, -2.24), "24": ("US", "Miami", "Florida", 25.76, -80.19),
    "79": ("RU", "Moscow", "Moscow", 55.76, 37.62), "187": ("BR", "Sao Paulo", "Sao Paulo", -23.55, -46.63),
    "18": ("US", "Ashburn", "Virginia", 39.04, -77.49), "35": ("US", "The Dalles", "Oregon", 45.6, -121.18),
}
_DEFAULT_GEO = ("DE", "Frankfurt am Main", "Hessen", 50.11, 8.68)


def geo(ip: str) -> tuple[str, str, str, float, float]:
    return _GEO.get(ip.split(".", 1)[0], _DEFAULT_GEO)


class SpToken:
    """An access token a service principal received at sign-in."""

    __slots__ = ("app", "key_id", "uti", "iat", "exp", "resource", "_claims")

    def __init__(self, app: AzureApp, key_id: str, uti: str, iat: int, exp: int, resource: str):
        self.app, self.key_id, self.uti, self.iat, self.exp, self.resource = app, key_id, uti, iat, exp, resource
        self._claims: dict | None = None


class AzureLogs:
    def __init__(self, world: World, out: Output):
        self.world, self.out, self.sink = world, out, out.azure
        cloud = world.cloud
        self.tenant, self.sub = cloud.tenant, cloud.subscription
        self.r_signin = ("insights-logs-serviceprincipalsigninlogs", f"tenantId={self.tenant}")
        self.r_audit = ("insights-logs-auditlogs", f"tenantId={self.tenant}")
        self.r_activity = ("insights-activity-logs", f"resourceId=/SUBSCRIPTIONS/{self.sub.upper()}")

    def _emit(self, ts: int, record: dict, route: tuple, token_id: str | None) -> None:
        self.sink.add(ts, orjson.dumps(record), route)
        self.out.note("azure", ts, token_id)

    def signin(self, rng: random.Random, ts: int, app: AzureApp, key_id: str | None, ip: str,
               resource: tuple[str, str] = ARM, error: int = 0) -> SpToken | None:
        country, city, state, lat, lon = geo(ip)
        corr = uuid4(rng)
        uti = base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()
        props: dict[str, Any] = {
            "id": uuid4(rng), "createdDateTime": iso_offset(ts), "userId": None, "appId": app.app_id, "ipAddress": ip,
            "status": {"errorCode": error} if not error else {"errorCode": error, "failureReason": "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app."},
            "location": {"city": city, "state": state, "countryOrRegion": country,
                         "geoCoordinates": {"latitude": lat, "longitude": lon}},
            "correlationId": corr, "conditionalAccessStatus": "notApplied", "appliedConditionalAccessPolicies": [],
            "isInteractive": False, "tokenIssuerType": "AzureAD",
            "authenticationProcessingDetails": [{"key": "Azure AD App Authentication Library",
                                                 "value": "Family: MSAL Library: MSAL.Python 1.26.0 Platform: Python"}],
            "processingTimeInMilliseconds": rng.randint(20, 180), "riskDetail": "none", "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "none", "riskState": "none", "resourceDisplayName": resource[0],
            "resourceId": resource[1], "servicePrincipalName": app.name, "servicePrincipalId": app.sp_id,
            "flaggedForReview": False, "isTenantRestricted": False, "crossTenantAccessType": "none",
        }
        if key_id and not error:
            props["servicePrincipalCredentialKeyId"] = key_id
            props["clientCredentialType"] = "clientSecret"
            props["uniqueTokenIdentifier"] = uti
        props["incomingTokenType"] = "none"
        props["authenticationProtocol"] = "none"
        record = {
            "time": iso_7(ts), "resourceId": f"/tenants/{self.tenant}/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity", "operationVersion": "1.0", "category": "ServicePrincipalSignInLogs",
            "tenantId": self.tenant, "resultType": str(error), "resultSignature": "None", "durationMs": 0,
            "callerIpAddress": ip, "correlationId": corr, "Level": 4, "location": country, "properties": props,
        }
        self._emit(ts, record, self.r_signin, key_id if (key_id and not error) else f"app:{app.app_id}")
        if error:
            return None
        return SpToken(app, key_id or "", uti, ts, ts + 3599 * US, resource[1])

    def claims(self, rng: random.Random, token: SpToken) -> dict:
        if token._claims is None:
            app, t = token.app, self.tenant
            token._claims = {
                "aud": "https://management.core.windows.net/", "iss": f"https://sts.windows.net/{t}/",
                "iat": str(token.iat // US - 300), "nbf": str(token.iat // US - 300), "exp": str(token.exp // US),
                "aio": b64(rng, 42), "appid": app.app_id, "appidacr": "1",
                "http://schemas.microsoft.com/identity/claims/identityprovider": f"https://sts.windows.net/{t}/",
                "idtyp": "app", "http://schemas.microsoft.com/identity/claims/objectidentifier": app.sp_id,
                "rh": "0.A" + b64(rng, 45, urlsafe=True) + ".",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": app.sp_id,
                "http://schemas.microsoft.com/identity/claims/tenantid": t, "uti": token.uti, "ver": "1.0",
                "xms_tcdt": "1580734516",
            }
        return token._claims

    def activity(self, rng: random.Random, ts: int, token: SpToken, ip: str, operation: str, resource_id: str, *,
                 role: str, scope: str, result: str = "Success", status: str = "OK", correlation: str | None = None,
                 duration_ms: int = 0) -> str:
        corr = correlation or uuid4(rng)
        signature = {"Start": "Started.", "Accept": f"Accepted.{status}", "Success": f"Succeeded.{status}",
                     "Failure": f"Failed.{status}"}[result]
        app = token.app
        record = {
            "time": iso_7(ts), "resourceId": resource_id.upper(), "operationName": operation.upper(),
            "category": "Administrative", "resultType": result, "resultSignature": signature, "durationMs": duration_ms,
            "callerIpAddress": ip, "correlationId": corr,
            "identity": {
                "authorization": {"scope": resource_id, "action": operation, "evidence": {
                    "role": role, "roleAssignmentScope": scope, "roleAssignmentId": hex_id(rng, 32),
                    "roleDefinitionId": "b24988ac618042a0ab8820f7382dd24c" if role == "Contributor" else hex_id(rng, 32),
                    "principalId": app.sp_id, "principalType": "ServicePrincipal"}},
                "claims": self.claims(rng, token),
            },
            "level": "Information" if result != "Failure" else "Error", "location": "global",
            "properties": {"statusCode": status if result != "Start" else None, "serviceRequestId": uuid4(rng) if result != "Start" else None,
                           "eventCategory": "Administrative", "entity": resource_id, "message": operation,
                           "hierarchy": f"{self.tenant}/{self.sub}"},
        }
        self._emit(ts, record, self.r_activity, f"app:{app.app_id}")
        return corr

    def write(self, rng: random.Random, ts: int, token: SpToken, ip: str, operation: str, resource_id: str, *,
              role: str, scope: str, status: str = "OK", accept: bool = False) -> int:
        """A write or action as the activity log shows it: a Start record, then the outcome."""
        corr = self.activity(rng, ts, token, ip, operation, resource_id, role=role, scope=scope, result="Start")
        done = ts + int(rng.uniform(0.3, 4) * US)
        if accept:
            self.activity(rng, done, token, ip, operation, resource_id, role=role, scope=scope, result="Accept",
                          status="Created", correlation=corr)
            done += int(rng.uniform(20, 150) * US)
        self.activity(rng, done, token, ip, operation, resource_id, role=role, scope=scope, result="Success",
                      status=status, correlation=corr, duration_ms=(done - ts) // 1000)
        return done

    def app_secret_change(self, rng: random.Random, ts: int, app: AzureApp, old_keys: list[tuple[str, str]],
                          new_keys: list[tuple[str, str]], ip: str, initiated_by: dict, ua: str) -> None:
        """Entra audit: 'Update application – Certificates and secrets management '."""
        def describe(keys: list[tuple[str, str]]) -> str:
            return orjson.dumps([f"[KeyIdentifier={k},KeyType=Password,KeyUsage=Verify,DisplayName={n}]" for k, n in keys]).decode()

        op = "Update application – Certificates and secrets management "
        corr = uuid4(rng)
        props = {
            "id": f"Directory_{corr}_{hex_id(rng, 5).upper()}_{rng.randint(10**8, 10**9)}", "category": "ApplicationManagement",
            "correlationId": corr, "result": "success", "resultReason": "", "activityDisplayName": op,
            "activityDateTime": iso_offset(ts), "loggedByService": "Core Directory", "operationType": "Update",
            "initiatedBy": initiated_by,
            "targetResources": [{"id": app.app_object_id, "displayName": app.name, "type": "Application",
                                 "modifiedProperties": [
                                     {"displayName": "KeyDescription", "oldValue": describe(old_keys), "newValue": describe(new_keys)},
                                     {"displayName": "Included Updated Properties", "oldValue": None, "newValue": '"KeyDescription"'}],
                                 "administrativeUnits": []}],
            "additionalDetails": [{"key": "User-Agent", "value": ua}, {"key": "AppId", "value": app.app_id}],
        }
        record = {
            "time": iso_7(ts), "resourceId": f"/tenants/{self.tenant}/providers/Microsoft.aadiam", "operationName": op,
            "operationVersion": "1.0", "category": "AuditLogs", "tenantId": self.tenant, "resultSignature": "None",
            "durationMs": 0, "callerIpAddress": ip, "correlationId": corr, "Level": 4, "properties": props,
        }
        actor = initiated_by.get("user", {}).get("userPrincipalName")
        token = f"user:{actor}" if actor else f"app:{initiated_by.get('app', {}).get('appId')}"
        self._emit(ts, record, self.r_audit, token)
