"""Property-based API test: no generated request may cause a 5xx."""

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from common.jwt_tokens import SigningKey, issue_token
from common.settings import Settings
from users_service.main import create_app

KEY = SigningKey.generate()
# A valid token, so generated requests get past auth and reach the handlers.
HEADERS = {"Authorization": f"Bearer {issue_token('schemathesis', KEY)}"}

# Schemathesis needs the schema at collection time, so the app (and its
# database) is built at import; the directory is removed at interpreter exit.
_TMP = tempfile.TemporaryDirectory(prefix="users-schema-")
APP = create_app(
    Settings(
        service_name="users",
        database_path=f"{_TMP.name}/users.db",
        jwt_public_keys=KEY.public_keys(),
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case):
    response = case.call(headers=HEADERS)
    assert response.status_code < 500, response.text
