"""Operator users (`callqa users add NAME --role operator --operator-id ID`): tied to one
operator id, they see that operator's calls and nothing of a whole team."""

from __future__ import annotations

import io
import json

import pytest


def test_users_cli_adds_an_operator_tied_to_an_operator_id(tmp_path, monkeypatch, capsys):
    from callqa.cli import main
    from callqa.users import UserDB

    monkeypatch.setattr("sys.stdin", io.StringIO("operator-pass-1\n"))
    assert main(["users", "add", "olga", "--role", "operator", "--operator-id", "op-b1",
                 "--store", str(tmp_path), "--password-stdin"]) == 0
    assert "operator id: op-b1" in capsys.readouterr().out
    user = UserDB(tmp_path).authenticate("olga", "operator-pass-1")
    assert user.role == "operator" and user.operator_id == "op-b1" and user.teams == ()
    assert json.loads((tmp_path / "users.json").read_text())["users"]["olga"]["operator_id"] == "op-b1"
    assert main(["users", "list", "--store", str(tmp_path)]) == 0
    assert "olga\toperator\toperator op-b1" in capsys.readouterr().out
    # an operator without the operator id is refused, naming the users file
    monkeypatch.setattr("sys.stdin", io.StringIO("operator-pass-1\n"))
    assert main(["users", "add", "omar", "--role", "operator", "--store", str(tmp_path), "--password-stdin"]) == 1
    err = capsys.readouterr().err
    assert "needs --operator-id" in err and "users.json" in err
    assert UserDB(tmp_path).get("omar") is None


def test_operator_id_rules(tmp_path):
    from callqa.users import UserDB, UserError

    db = UserDB(tmp_path)
    with pytest.raises(UserError, match="--team does not apply"):
        db.add("omar", "operator", "long-enough-1", ["blue"], operator_id="op-b2")
    with pytest.raises(UserError, match="for operators only"):
        db.add("sam", "supervisor", "long-enough-1", ["blue"], operator_id="op-b2")
    db.add("omar", "operator", "long-enough-1", operator_id=" op-b2 ")
    assert db.get("omar").operator_id == "op-b2"
    assert db.update("omar", operator_id="op-b3").operator_id == "op-b3"
    # becoming a supervisor drops the operator id; becoming an operator again needs one
    assert db.update("omar", role="supervisor", teams=["blue"]).operator_id is None
    with pytest.raises(UserError, match="needs --operator-id"):
        db.update("omar", role="operator", teams=[])
    assert db.update("omar", role="operator", teams=[], operator_id="op-b2").operator_id == "op-b2"
    with pytest.raises(UserError, match="--team does not apply"):  # `callqa users teams omar --team blue`
        db.update("omar", teams=["blue"])
    assert db.get("omar").teams == ()


def test_an_operator_sees_only_their_own_calls():
    from callqa.users import User

    olga = User("olga", "operator", operator_id="op-b1")
    assert olga.can_see_call("blue", "op-b1") and olga.can_see_call(None, "op-b1")
    assert not olga.can_see_call("blue", "op-b2") and not olga.can_see_call("blue", None)
    assert not olga.can_see_team("blue") and not olga.sees_all
    assert olga.can("dispute") and not any(olga.can(p) for p in ("override", "flag_decision", "review", "library",
                                                                 "export", "team_view", "dispute_decision"))
    nobody = User("x", "operator")  # a damaged entry without an operator id sees nothing
    assert not nobody.can_see_call("blue", None) and not nobody.can_see_call("blue", "op-b1")
    sam = User("sam", "supervisor", ("blue",))
    assert sam.can_see_call("blue", "op-b1") and not sam.can_see_call("red", "op-r1")
    assert sam.can("dispute_decision") and not sam.can("dispute")
    assert not User("tia", "trainer").can("dispute_decision") and User("tia", "trainer").can_see_call("red", "x")
