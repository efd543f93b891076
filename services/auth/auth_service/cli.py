"""Container entry point (``auth_service.cli:main``)."""

from auth_service.main import create_app
from common.runner import load_settings_or_exit, serve


def main() -> None:
    settings = load_settings_or_exit(
        "auth", require_signing_key=True, require_public_keys=True
    )
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
