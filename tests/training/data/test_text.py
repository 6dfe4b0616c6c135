"""Template descriptions and the OpenAI-compatible backend against a local HTTP server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flash_training.data.llm_text import LlmTextBackend, LlmTextConfig, LlmTextError
from flash_training.data.text import ContactSummary, describe_grasp, paraphrase_grasp

FINGERS = ("index", "middle", "ring", "thumb")


def test_three_levels_follow_the_contacts_in_every_wording():
    summary = ContactSummary("mug", FINGERS, ("handle", "body", None, "handle"), ("body", "handle"))
    wordings = paraphrase_grasp(summary, "procedural/mug_000|leap|3", 4)
    assert set(wordings) == {"low", "mid", "high"}
    for level, texts in wordings.items():
        assert len(texts) == len(set(texts)) == 4, level  # four distinct wordings per level
    for mid in wordings["mid"]:
        assert "handle" in mid and "three fingers" in mid and "thumb included" in mid
    for high in wordings["high"]:
        assert "handle" in high and "body" not in high  # the goal names the part held, not the other one
    # The low level places every finger: the two on the handle, the one on the body, the idle one.
    for low in wordings["low"]:
        assert "the index finger and the thumb" in low and "the middle finger" in low and "ring finger" in low
        assert low.index("the index finger and the thumb") < low.index("ring finger")
        on_handle = ("the index finger and the thumb on the handle", "the handle with the index finger and the thumb")
        assert any(phrase in low for phrase in on_handle), low
    text = describe_grasp(summary, "procedural/mug_000|leap|3")
    assert text == {level: texts[0] for level, texts in wordings.items()}  # the main wording comes first
    assert paraphrase_grasp(summary, "procedural/mug_000|leap|3", 4) == wordings  # deterministic
    assert paraphrase_grasp(summary, "procedural/mug_000|leap|4", 4) != wordings  # the key seeds the order
    with pytest.raises(ValueError, match="count"):
        paraphrase_grasp(summary, "k", 0)


def test_single_part_objects_get_goals_without_parts():
    summary = ContactSummary("banana", FINGERS, ("body",) * 4, ("body",))
    highs = paraphrase_grasp(summary, "ycb/011_banana|leap|0", 10)["high"]
    assert len(highs) == 5 and all("banana" in h and "body" not in h for h in highs)


def test_no_part_is_named_that_no_finger_touches():
    summary = ContactSummary("knife", FINGERS, ("handle", "handle", "handle", "handle"), ("handle", "blade"))
    for row in range(20):
        for texts in paraphrase_grasp(summary, f"k|allegro|{row}", 4).values():
            assert all("blade" not in t for t in texts)
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
