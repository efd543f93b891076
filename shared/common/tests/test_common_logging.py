import json
import logging
import logging.config

from common.logging_json import JsonFormatter, configure_logging, uvicorn_log_config


def _record(name="app", msg="hello %s", args=("world",), **extra):
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_formats_one_json_object_with_extras():
    line = JsonFormatter("waste").format(_record(job_id="j1", duration_ms=1.5))
    payload = json.loads(line)
    assert "\n" not in line
    assert payload["message"] == "hello world"
    assert payload["level"] == "INFO"
    assert payload["logger"] == "app"
    assert payload["service"] == "waste"
    assert payload["ts"].endswith("+00:00")
    assert payload["job_id"] == "j1"
    assert payload["duration_ms"] == 1.5


def test_exception_is_included():
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = _record(msg="failed", args=())
        record.exc_info = sys.exc_info()
    payload = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad" in payload["exc_info"]


def test_unserialisable_extra_falls_back_to_str():
    payload = json.loads(JsonFormatter().format(_record(obj=object())))
    assert payload["obj"].startswith("<object object")


def test_uvicorn_access_args_become_fields():
    record = _record(
        name="uvicorn.access",
        msg='%s - "%s %s HTTP/%s" %d',
        args=("1.2.3.4:5", "GET", "/x", "1.1", 200),
    )
    payload = json.loads(JsonFormatter("s").format(record))
    assert (payload["method"], payload["path"], payload["status"]) == ("GET", "/x", 200)


def test_uvicorn_config_is_valid_dictconfig(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(uvicorn_log_config("auth", "INFO"))
        logging.getLogger("uvicorn.error").info("started")
        out = capsys.readouterr().out.strip().splitlines()[-1]
        assert json.loads(out)["service"] == "auth"
        configure_logging("users", "debug")
        logging.getLogger("x").debug("dbg")
        assert json.loads(capsys.readouterr().out)["service"] == "users"
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
