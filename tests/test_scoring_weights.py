"""Role weights adjust the competency map's weights per indicator: an indicator
added to the map keeps its weight for every role, including roles that override
other weights of the same competency."""

from __future__ import annotations

import pytest
from test_indicators import by_id, good_call, scored

from callqa.pipeline.scoring.competency import indicator_weights
from callqa.pipeline.config import load_config


@pytest.fixture()
def extended(tmp_path):
    user = tmp_path / "customer.yaml"
    user.write_text("competency_map:\n  competencies:\n    product_knowledge:\n      indicators: {commitment: 1.5}\n",
                    encoding="utf-8")
    return load_config(user)


def test_an_indicator_added_to_the_map_keeps_its_weight_for_every_role(extended):
    roles = list(extended.section("roles").root)
    assert "support" in roles  # support overrides product_knowledge's weights
    for role in roles:
        w = indicator_weights(extended, role)["product_knowledge"]
        assert w["commitment"] == 1.5, role
    # the role's own overrides still apply on top of the map
    assert indicator_weights(extended, "support")["product_knowledge"]["glossary_use"] == 3


@pytest.mark.parametrize("role", ["inbound", "support"])
def test_the_added_indicator_is_used_in_the_score(extended, role):
    comps = by_id(scored(good_call(role=role), extended)["competencies"])
    assert "commitment" in comps["product_knowledge"]["indicators"]
