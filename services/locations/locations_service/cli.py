"""Container entry point (``locations_service.cli:main``)."""

from common.runner import load_settings_or_exit, serve
from locations_service.main import create_app


def main() -> None:
    settings = load_settings_or_exit("locations")
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
