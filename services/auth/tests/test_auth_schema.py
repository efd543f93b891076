"""Property-based API test: no generated request may cause a 5xx."""

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from auth_service.main import create_app
from common.jwt_tokens import SigningKey
from common.settings import Settings

# Schemathesis needs the schema at collection time, so the app (and its
# database) is built at import; the directory is removed at interpreter exit.
_TMP = tempfile.TemporaryDirectory(prefix="auth-schema-")
APP = create_app(
    Settings(
        service_name="auth",
        database_path=f"{_TMP.name}/auth.db",
        jwt_signing_key=SigningKey.generate(),
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,  # keep Hypothesis from writing .hypothesis/ into the repo
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, response.text
