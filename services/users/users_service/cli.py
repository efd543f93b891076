"""Container entry point (``users_service.cli:main``)."""

from common.jwt_tokens import key_loader
from common.runner import load_settings_or_exit, serve
from users_service.main import create_app


def main() -> None:
    settings = load_settings_or_exit("users", key_loader(require_public=True))
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
