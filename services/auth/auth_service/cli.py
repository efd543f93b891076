"""Container entry point (``auth_service.cli:main``)."""

from auth_service.main import create_app
from common.jwt_tokens import key_loader
from common.runner import load_settings_or_exit, serve


def main() -> None:
    keys = key_loader(require_signing=True, require_public=True)
    settings = load_settings_or_exit("auth", keys)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
