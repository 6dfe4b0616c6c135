"""Template descriptions and the OpenAI-compatible backend against a local HTTP server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flash_training.data.llm_text import LlmTextBackend, LlmTextConfig, LlmTextError
from flash_training.data.text import ContactSummary, describe_grasp

FINGERS = ("index", "middle", "ring", "thumb")


def test_three_levels_follow_the_contacts():
    summary = ContactSummary("mug", FINGERS, ("handle", "body", None, "handle"))
    text = describe_grasp(summary, "procedural/mug_000|leap|3")
    assert set(text) == {"low", "mid", "high"} and len(set(text.values())) == 3
    assert "handle" in text["mid"] and "three fingers" in text["mid"] and "thumb included" in text["mid"]
    # The low level places every finger: the two on the handle, the one on the body, the idle one.
    assert "the index finger and the thumb on the handle" in text["low"]
    assert "the middle finger on the body" in text["low"] and "keep the ring finger off" in text["low"]
    assert describe_grasp(summary, "procedural/mug_000|leap|3") == text  # deterministic


def test_no_part_is_named_that_no_finger_touches():
    summary = ContactSummary("knife", FINGERS, ("handle", "handle", "handle", "handle"))
    for row in range(20):
        text = describe_grasp(summary, f"k|allegro|{row}")
        assert all("blade" not in t for t in text.values())
    assert "without touching" in describe_grasp(ContactSummary("box", FINGERS, (None,) * 4), "x")["high"]
    with pytest.raises(ValueError, match="finger"):
        ContactSummary("box", FINGERS, (None,))


class FakeChatServer(ThreadingHTTPServer):
    """Answers /v1/chat/completions; the first `failures` requests get HTTP 503."""

    def __init__(self, failures: int):
        super().__init__(("127.0.0.1", 0), FakeChatHandler)
        self.failures, self.requests = failures, []


class FakeChatHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, dict(self.headers), body))
        if len(self.server.requests) <= self.server.failures:
            self.send_response(503)
            self.end_headers()
            return
        contacts = json.loads(body["messages"][1]["content"])["finger_contacts"]
        answer = {"low": f"fingers: {contacts}", "mid": "mid text", "high": "high text"}
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": json.dumps(answer)}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = FakeChatServer(failures=2)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_llm_backend_retries_caches_and_sends_a_schema(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FLASH_TEST_KEY", "secret-123")
    config = LlmTextConfig(
        base_url=f"http://127.0.0.1:{server.server_port}/v1",
        api_key_env="FLASH_TEST_KEY",
        backoff_s=0.01,
        cache=str(tmp_path),
    )
    backend = LlmTextBackend(config)
    summary = ContactSummary("mug", FINGERS, ("handle", None, None, "handle"))
    text = backend.describe(summary, ("body", "handle"))
    assert text["mid"] == "mid text" and "'ring': 'no contact'" in text["low"]
    assert len(server.requests) == 3  # two 503s, then the answer
    path, headers, body = server.requests[-1]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer secret-123"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["low", "mid", "high"]

    assert backend.describe(summary, ("body", "handle")) == text
    assert len(server.requests) == 3  # answered from the disk cache


def test_llm_backend_gives_up_with_a_clear_error(server, tmp_path):
    server.failures = 100
    backend = LlmTextBackend(
        LlmTextConfig(
            base_url=f"http://127.0.0.1:{server.server_port}/v1", max_retries=2, backoff_s=0.01, cache=str(tmp_path)
        )
    )
    with pytest.raises(LlmTextError, match="failed 3 times"):
        backend.describe(ContactSummary("mug", FINGERS, ("body",) * 4), ("body",))
    with pytest.raises(ValueError, match="off unless"):
        LlmTextBackend(LlmTextConfig(base_url=""))
