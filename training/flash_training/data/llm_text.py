"""Optional grasp descriptions from any OpenAI-compatible chat endpoint, with structured JSON output.

Off by default: the build uses the deterministic templates of `text.py` unless an `LlmTextConfig` with a
`base_url` is given. Answers are cached on disk by a hash of the request, so a resumed or repeated build asks
the endpoint once per grasp; transient failures (connection errors, HTTP 429 and 5xx) are retried with
exponential backoff. Only the standard library talks to the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flash_core.utils.cache import cache_dir
from flash_training.data.text import ContactSummary

LEVELS = ("low", "mid", "high")
SYSTEM_PROMPT = (
    "You describe robot-hand grasps for a language-conditioned grasping data set. Given the object category, "
    "its parts and which part each finger touches, write three instructions a person could give: 'high' states "
    "the goal, 'mid' names the part and roughly how the hand holds it, 'low' says where every finger goes. "
    "Only mention parts that the listed contacts touch."
)
RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {level: {"type": "string"} for level in LEVELS},
    "required": list(LEVELS),
    "additionalProperties": False,
}


class LlmTextError(RuntimeError):
    """The endpoint failed after all retries or answered something that is not the requested JSON."""


@dataclass(frozen=True)
class LlmTextConfig:
    base_url: str  # e.g. "http://127.0.0.1:8000/v1"; "/chat/completions" is appended
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the key (may be unset)
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0  # first wait; doubles after each failed try
    temperature: float = 0.7
    cache: str | None = None  # folder for cached answers; None: the FLASH cache under llm_text/


class LlmTextBackend:
    def __init__(self, config: LlmTextConfig) -> None:
        if not config.base_url:
            raise ValueError(
                "LlmTextConfig.base_url is empty: the LLM text backend is off unless an endpoint is configured"
            )
        self.config = config
        self.cache_folder = Path(config.cache) if config.cache else cache_dir("llm_text")
        self.cache_folder.mkdir(parents=True, exist_ok=True)

    def describe(self, summary: ContactSummary, part_names: tuple[str, ...]) -> dict[str, str]:
        """Three descriptions {"low", "mid", "high"} for one grasp, from the cache when asked before."""
        payload = self._payload(summary, part_names)
        key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        cached = self.cache_folder / f"{key}.json"
        if cached.exists():
            return json.loads(cached.read_text())
        answer = self._parse(self._post(payload))
        tmp = cached.with_name(f".{key}.tmp")
        tmp.write_text(json.dumps(answer))
        os.replace(tmp, cached)
        return answer

    def _payload(self, summary: ContactSummary, part_names: tuple[str, ...]) -> dict[str, Any]:
        contacts = {
            finger: part or "no contact"
            for finger, part in zip(summary.finger_names, summary.finger_parts, strict=False)
        }
        user = json.dumps({"object": summary.category, "parts": list(part_names), "finger_contacts": contacts})
        return {
            "model": self.config.model,
            "temperature": self.config.temperature,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "grasp_descriptions", "strict": True, "schema": RESPONSE_SCHEMA},
            },
        }

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = json.dumps(payload).encode()
        wait_s, last_error = self.config.backoff_s, ""
        for attempt in range(self.config.max_retries + 1):
            try:
                request = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:  # the request itself is wrong: retrying cannot help
                    raise LlmTextError(f"{url} refused the request: HTTP {exc.code} {exc.read()[:300]!r}") from exc
                last_error = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = str(exc)
            if attempt < self.config.max_retries:
                time.sleep(wait_s)
                wait_s *= 2
        raise LlmTextError(f"{url} failed {self.config.max_retries + 1} times; last error: {last_error}")

    @staticmethod
    def _parse(response: dict[str, Any]) -> dict[str, str]:
        try:
            answer = json.loads(response["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
            raise LlmTextError(
                f"the endpoint's answer is not a chat completion with JSON content: {str(response)[:300]}"
            ) from exc
        if not isinstance(answer, dict) or not all(
            isinstance(answer.get(level), str) and answer[level].strip() for level in LEVELS
        ):
            raise LlmTextError(f"the answer lacks non-empty strings for {LEVELS}: {answer}")
        return {level: answer[level].strip() for level in LEVELS}
