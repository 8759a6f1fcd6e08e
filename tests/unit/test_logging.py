"""JSON log lines carry the request id of the request being served."""

from __future__ import annotations

import json
import logging

import pytest

from api.context import request_id_var
from api.logging import configure_logging


def test_log_lines_are_json_with_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_logs=True)
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("geocommerce.test").info("hello", extra={"status": 201})
    finally:
        request_id_var.reset(token)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello"
    assert record["request_id"] == "req-42"
    assert record["status"] == 201
    assert record["level"] == "INFO"
