"""A turn without text (speech the ASR wrote no word for, kept so the call's turn-taking and talk
time see it) reads as such on the call page, in the reader's language, never as an empty line."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

PASSWORD = "correct horse 42"
HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, sign_in):
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB
    from callqa.web import create_app

    root = tmp_path_factory.mktemp("web_untranscribed")
    config = load_config()
    turns = [{"speaker": "operator", "start": 0.5, "end": 3.0, "text": "Good morning, how can I help you?"},
             {"speaker": "client", "start": 3.4, "end": 6.2, "text": ""},
             {"speaker": "operator", "start": 6.6, "end": 9.0, "text": "Of course, let me check that for you."}]
    src = root / "garbled.json"
    src.write_text(json.dumps({"call_id": "garbled", "language": "en", "operator_id": "op-1", "team": "blue",
                               "turns": turns}), encoding="utf-8")
    data = process_call(src, config).serialize()
    assert [t["text"] for t in data["transcript"]["turns"]][1] == ""
    store = Store(root / "store")
    store.save(data)
    UserDB(store.path).add("sam", "supervisor", PASSWORD, ("blue",))
    c = sign_in(TestClient(create_app(store.path, config)), "sam", PASSWORD)
    return c


@pytest.mark.parametrize("lang, said", [("en", "(speech without recognised words)"),
                                        ("ru", "(речь без распознанных слов)")])
def test_a_turn_without_words_says_so(client, lang, said):
    page = client.get(f"/calls/garbled?lang={lang}", headers=HTML).text
    items = re.findall(r'<li class="turn (\w+)"[^>]*>(.*?)</li>', page, flags=re.S)
    texts = [(cls, re.sub(r"<[^>]+>", " ", body)) for cls, body in items]
    assert len(texts) == 3
    assert texts[1][0] == "client" and said in texts[1][1]
    assert said not in texts[0][1] and "Good morning" in texts[0][1]
