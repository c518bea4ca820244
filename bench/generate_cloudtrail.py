"""Deterministic generator of realistic CloudTrail records, one a line (a CloudWatch Logs or
Lake export, `jq -c '.Records[]'`), for the bulk-path benchmark and its equivalence tests.

Mix: mostly read-only calls (Describe/Get/List) from assumed roles and services, S3 object
reads and writes, some console sign-ins (a few failing), STS AssumeRole, IAM changes, denied
calls, and a few Insights events and EventBridge wrappers (which take the per-record path).
Records are ~1.2 KB like real ones: userIdentity with sessionContext, tlsDetails, resources.

    python bench/generate_cloudtrail.py OUT [--records N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson

ACCOUNT = "111122223333"
REGIONS = ["us-east-1", "us-east-1", "eu-west-1", "us-west-2"]
ROLES = ["ci-deployer", "ReadOnlyAudit", "AWSReservedSSO_Admin_8f2e", "lambda-exec", "eks-nodes"]
USERS = ["alice", "bob", "carol", "breakglass", "svc-backup"]
READS = [("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "DescribeSecurityGroups"),
         ("s3.amazonaws.com", "ListBuckets"), ("iam.amazonaws.com", "GetRole"),
         ("kms.amazonaws.com", "Decrypt"), ("sts.amazonaws.com", "GetCallerIdentity"),
         ("secretsmanager.amazonaws.com", "GetSecretValue"), ("logs.amazonaws.com", "DescribeLogGroups"),
         ("cloudtrail.amazonaws.com", "LookupEvents"), ("lambda.amazonaws.com", "ListFunctions20150331")]
WRITES = [("iam.amazonaws.com", "CreateUser", "userName"), ("iam.amazonaws.com", "DeleteUser", "userName"),
          ("iam.amazonaws.com", "AttachUserPolicy", "userName"), ("iam.amazonaws.com", "AddUserToGroup", "userName"),
          ("iam.amazonaws.com", "CreateAccessKey", "userName"), ("iam.amazonaws.com", "PutRolePolicy", "roleName"),
          ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "groupId"),
          ("ec2.amazonaws.com", "RunInstances", None), ("cloudtrail.amazonaws.com", "StopLogging", "name"),
          ("s3.amazonaws.com", "PutBucketPolicy", "bucketName")]
AGENTS = ["aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/ec2.describe-instances",
          "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0",
          "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
          "console.amazonaws.com", "AWS Internal"]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(["ec2.amazonaws.com", "lambda.amazonaws.com", "AWS Internal"])
    if rng.random() < 0.03:
        return f"2001:db8:{rng.randint(0, 0xffff):x}::{rng.randint(1, 0xffff):x}"
    return f"{rng.choice([52, 54, 198, 203, 81])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _identity(rng: random.Random, when: str) -> dict:
    pick = rng.random()
    if pick < 0.55:
        role = rng.choice(ROLES)
        session = rng.choice(["i-0a1b2c3d4e5f", "botocore-session-1711", "alice@example.com", "gh-actions-run-4242"])
        return {"type": "AssumedRole", "principalId": f"AROA{rng.randint(10**15, 10**16 - 1)}:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
                "accessKeyId": f"ASIA{rng.randint(10**15, 10**16 - 1)}",
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                                     "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                     "accountId": ACCOUNT, "userName": role},
                                   "webIdFederationData": {},
                                   "attributes": {"creationDate": when, "mfaAuthenticated": rng.choice(["false", "true"])}}}
    if pick < 0.8:
        user = rng.choice(USERS)
        return {"type": "IAMUser", "principalId": f"AIDA{rng.randint(10**15, 10**16 - 1)}",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accountId": ACCOUNT,
                "accessKeyId": f"AKIA{rng.randint(10**15, 10**16 - 1)}", "userName": user,
                "sessionContext": {"attributes": {"creationDate": when, "mfaAuthenticated": "false"}}}
    if pick < 0.97:
        service = rng.choice(["ec2.amazonaws.com", "autoscaling.amazonaws.com", "config.amazonaws.com"])
        return {"type": "AWSService", "invokedBy": service}
    return {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT,
            "accessKeyId": ""}


def record(rng: random.Random, when: datetime) -> dict:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    identity = _identity(rng, stamp)
    region = rng.choice(REGIONS)
    rec: dict = {"eventVersion": "1.09", "userIdentity": identity, "eventTime": stamp}
    pick = rng.random()
    params: dict | None = None
    response: dict | None = None
    resources = None
    read_only = True
    if pick < 0.6:
        source, name = rng.choice(READS)
        params = {"instancesSet": {"items": [{"instanceId": f"i-{rng.randint(0, 16**12):012x}"}]},
                  "filterSet": {}} if name.startswith("Describe") else ({"secretId": "prod/db/password"}
                                                                        if name == "GetSecretValue" else None)
    elif pick < 0.8:
        source, name = "s3.amazonaws.com", rng.choice(["GetObject", "GetObject", "PutObject", "HeadObject"])
        bucket, key = rng.choice(["prod-backups", "app-logs", "hr-exports"]), f"2026/03/{rng.randint(1, 31):02d}/part-{rng.randint(0, 999)}.gz"
        params = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": key}
        resources = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                     {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
        read_only = name != "PutObject"
    elif pick < 0.88:
        source, name = "sts.amazonaws.com", "AssumeRole"
        role = rng.choice(ROLES)
        params = {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "roleSessionName": f"session-{rng.randint(1, 999)}",
                  "durationSeconds": 3600}
        response = {"credentials": {"accessKeyId": f"ASIA{rng.randint(10**15, 10**16 - 1)}",
                                    "expiration": "Mar 1, 2026, 1:00:00 AM", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE"}}
        resources = [{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": params["roleArn"]}]
        read_only = True
    elif pick < 0.93:
        source, name = "signin.amazonaws.com", "ConsoleLogin"
        failed = rng.random() < 0.2
        response = {"ConsoleLogin": "Failure" if failed else "Success"}
        rec["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/console/home",
                                      "MobileVersion": "No", "MFAUsed": rng.choice(["Yes", "No"])}
        if failed:
            rec["errorMessage"] = "Failed authentication"
        read_only = False
    else:
        source, name, key_name = rng.choice(WRITES)
        params = {key_name: rng.choice(USERS + ROLES)} if key_name else {"instanceType": "t3.micro", "maxCount": 1}
        if name == "AttachUserPolicy":
            params["policyArn"] = "arn:aws:iam::aws:policy/AdministratorAccess"
        read_only = False
    if rng.random() < 0.04:
        rec["errorCode"] = rng.choice(["AccessDenied", "Client.UnauthorizedOperation", "ThrottlingException"])
        rec["errorMessage"] = f"User: {identity.get('arn', 'unknown')} is not authorized to perform: {name}"
    rec.update({
        "eventSource": source, "eventName": name, "awsRegion": region, "sourceIPAddress": _ip(rng),
        "userAgent": rng.choice(AGENTS), "requestParameters": params, "responseElements": response,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128))), "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
        "readOnly": read_only, "eventType": "AwsConsoleSignIn" if name == "ConsoleLogin" else "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com"},
    })
    if resources:
        rec["resources"] = resources
    return rec


def _special(rng: random.Random, when: datetime) -> dict:
    """Shapes the bulk path hands to the per-record path: Insights events, EventBridge wrappers."""
    if rng.random() < 0.5:
        return {"eventVersion": "1.07", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "awsRegion": "us-east-1",
                "eventID": str(uuid.UUID(int=rng.getrandbits(128))), "eventType": "AwsCloudTrailInsight",
                "recipientAccountId": ACCOUNT, "sharedEventID": str(uuid.UUID(int=rng.getrandbits(128))),
                "insightDetails": {"state": rng.choice(["Start", "End"]), "eventSource": "iam.amazonaws.com",
                                   "eventName": "CreateUser", "insightType": "ApiCallRateInsight"},
                "eventCategory": "Insight"}
    return {"version": "0", "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "account": ACCOUNT,
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1", "resources": [],
            "detail": record(rng, when)}


def lines(count: int, seed: int = 7, start: datetime | None = None) -> Iterator[str]:
    rng = random.Random(seed)
    when = start or datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(count):
        when += timedelta(milliseconds=rng.randint(1, 180))
        rec = _special(rng, when) if rng.random() < 0.002 else record(rng, when)
        yield orjson.dumps(rec).decode()


def write(path: str, count: int, seed: int = 7) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for line in lines(count, seed):
            f.write(line + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    write(args.out, args.records, args.seed)
