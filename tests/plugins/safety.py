"""Nothing in the test run may reach a cloud endpoint: loopback-only AWS settings for every test."""

from __future__ import annotations

import os

import pytest

TEST_KEY_ID = "testing"
TEST_SECRET = "testing"

SAFE_ENV = {
    "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": TEST_SECRET,
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # aws-sdk (icechunk, boto3): never ask IMDS
    "AWS_METADATA_ENDPOINT": "http://127.0.0.1:9",  # obstore: IMDS attempts go to a dead loopback port
}


def _scrub() -> None:
    for key in list(os.environ):
        if key.startswith("AWS_") or key.startswith("GOOGLE_") or key.startswith("AZURE_"):
            del os.environ[key]
    os.environ.update(SAFE_ENV)


# Applied at import time too, so session fixtures (servers, clients) created before any
# function-scoped fixture already see the safe environment.
_scrub()


@pytest.fixture(autouse=True)
def _loopback_only_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("AWS_", "GOOGLE_", "AZURE_")) and key not in SAFE_ENV:
            monkeypatch.delenv(key, raising=False)
    for key, value in SAFE_ENV.items():
        monkeypatch.setenv(key, value)
