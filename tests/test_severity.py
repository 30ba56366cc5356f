"""One severity scale (pipeline/severity.py): flag rules, the store's queue, the call page,
the QA sample, the alert digest and the nightly report rank a severity the same way, and
configs keep accepting the older words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from callqa.pipeline.batch import run_batch
from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.store.db import Store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"


def test_config_words_map_onto_the_one_scale():
    config = load_config(overrides={"flags": {"escalation": {"severity": " Major "},
                                              "long_silence": {"severity": "minor"},
                                              "forbidden_phrase": {"severity": "critical"}},
                                    "sampling": {"flagged_min_severity": "minor"},
                                    "alerts": {"min_severity": "MAJOR"}})
    flags = config.section("flags")
    assert flags.get("escalation").severity == "high"
    assert flags.get("long_silence").severity == "low"
    assert flags.get("forbidden_phrase").severity == "critical"
    assert config.section("sampling").flagged_min_severity == "low"
    assert config.section("alerts").min_severity == "high"
    assert load_config(overrides={"alerts": {"min_severity": 3}}).section("alerts").min_severity == 3


@pytest.mark.parametrize("overrides, key", [
    ({"flags": {"escalation": {"severity": "urgent"}}}, "flags"),
    ({"sampling": {"flagged_min_severity": "urgent"}}, "sampling.flagged_min_severity"),
    ({"alerts": {"min_severity": "urgent"}}, "alerts.min_severity"),
])
def test_an_unknown_severity_word_fails_at_load_listing_the_scale(tmp_path, overrides, key):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(overrides))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.file == str(path) and e.value.key.startswith(key)
    assert "urgent" in e.value.problem and "critical" in e.value.problem and "major = high" in e.value.problem


def test_a_critical_flag_comes_first_in_the_result_queue_call_page_digest_and_report(tmp_path):
    """escalation raised to `critical` (above forbidden_phrase's `high`): every place that
    orders flags puts it first, and a `major` threshold (= high) keeps both."""
    from callqa.pipeline.people.nightly_report import report_context
    from callqa.pipeline.qa.alerts import AlertsConfig, build_digest
    from callqa.users import User
    from callqa.web.views import QueueFilters, build_call_page, build_queue

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"flags": {"escalation": {"severity": "critical"}}}))
    box = tmp_path / "inbox"
    box.mkdir()
    shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)
    summary = run_batch([box], tmp_path / "store", cfg, report=False)
    store, config = Store(tmp_path / "store"), load_config(cfg)
    call_id = "en_bad_inbound_tx"
    result = store.get(call_id)
    assert result["flags"][0]["id"] == "escalation" and result["flags"][0]["severity"] == "critical"
    assert {"escalation", "forbidden_phrase"} <= {f["id"] for f in result["flags"]}

    queue = store.flags(call_id=call_id)
    assert queue[0]["flag_id"] == "escalation" and queue[0]["severity_rank"] > queue[1]["severity_rank"]
    [row] = build_queue(store, User("a", "admin"), QueueFilters(), 50).rows
    assert row.severity == "critical"

    page = build_call_page(result, config, "en", lambda k, **kw: k)
    assert [f["id"] for f in page.flags][:2] == ["escalation", "forbidden_phrase"]

    digest = build_digest(store, summary, AlertsConfig.model_validate({"min_severity": "major"}), config)
    assert [f["flag_id"] for f in digest.high_severity_flags] == ["escalation", "forbidden_phrase"]

    report = report_context(store, summary, config)
    assert [f["flag_id"] for f in report["flags"]][:2] == ["escalation", "forbidden_phrase"]
