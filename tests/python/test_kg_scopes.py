"""The knowledge graph scoped by user, over the wire (issue 23, item 3): kg.add,
kg.query, kg.delete and kg.entities take an optional `user` ("" or absent = the
shared graph); two users with an entity of the same name never see each other's
facts; shared facts are seen by both; scopes survive a restart; a `user` that
is not a string is refused naming the field."""
from __future__ import annotations

from harness import Daemon


def said(reply):
    assert reply["ok"], reply
    return [(f["subject"], f["relation"], f["object"], f["user"]) for f in reply["facts"]]


def test_two_users_and_the_shared_graph_over_the_wire(make_daemon):
    d = make_daemon("synthesis.learn=false").start()
    r = d.request
    assert r({"op": "kg.add", "user": "alice", "triples": [["Kari", "lives in", "Bergen"],
                                                           ["Kari", "alias", "Kaja"]]})["added"] == 1
    assert r({"op": "kg.add", "user": "bob", "triples": [["Kari", "lives in", "Oslo"],
                                                         ["Kari", "works at", "Equinor"]]})["added"] == 2
    assert r({"op": "kg.add", "triples": [["Kari", "born in", "Tromsø"]]})["added"] == 1  # shared
    assert r({"op": "kg.add", "user": "", "triples": [["Oslo", "capital of", "Norway"]]})["added"] == 1

    alice = said(r({"op": "kg.query", "entity": "Kari", "user": "alice"}))
    assert alice == [("Kari", "lives in", "Bergen", "alice"), ("Kari", "born in", "Tromsø", "")]
    bob = said(r({"op": "kg.query", "entity": "kari", "user": "bob", "depth": 2}))
    assert set(bob) == {("Kari", "lives in", "Oslo", "bob"), ("Kari", "works at", "Equinor", "bob"),
                        ("Kari", "born in", "Tromsø", "")}
    assert said(r({"op": "kg.query", "entity": "Kari"})) == [("Kari", "born in", "Tromsø", "")]
    assert said(r({"op": "kg.query", "entity": "Kari", "user": "carol"})) == [("Kari", "born in", "Tromsø", "")]
    # bob's Oslo is not the shared Oslo; alice sees the shared one only
    assert said(r({"op": "kg.query", "entity": "Oslo", "user": "alice"})) == [("Oslo", "capital of", "Norway", "")]
    # alice's alias is hers
    assert r({"op": "kg.query", "entity": "Kaja", "user": "bob"})["error"]["code"] == "not_found"
    assert len(said(r({"op": "kg.query", "entity": "Kaja", "user": "alice"}))) == 1

    ents = r({"op": "kg.entities", "user": "alice", "prefix": "ka"})["entities"]
    assert [(e["name"], e["user"]) for e in ents] == [("Kari", "alice"), ("Kari", "")]
    assert ents[0]["aliases"] == ["Kaja"]
    assert {e["user"] for e in r({"op": "kg.entities"})["entities"]} == {""}

    # deletes stay in their scope
    no = r({"op": "kg.delete", "user": "alice", "triple": ["Kari", "lives in", "Oslo"]})
    assert no["error"]["code"] == "not_found"
    assert r({"op": "kg.delete", "user": "bob", "triple": ["Kari", "works at", "Equinor"]})["deleted"] == 1
    assert r({"op": "kg.delete", "user": "alice", "entity": "Kaja"})["deleted"] == 2
    assert said(r({"op": "kg.query", "entity": "Kari", "user": "alice"})) == [("Kari", "born in", "Tromsø", "")]
    assert said(r({"op": "kg.query", "entity": "Kari", "user": "bob"})) == [
        ("Kari", "lives in", "Oslo", "bob"), ("Kari", "born in", "Tromsø", "")]

    # a restart keeps every scope
    base = d.base
    assert d.stop() == 0
    d2 = make_daemon("synthesis.learn=false", base=base).start()
    assert said(d2.request({"op": "kg.query", "entity": "Kari", "user": "bob"})) == [
        ("Kari", "lives in", "Oslo", "bob"), ("Kari", "born in", "Tromsø", "")]
    assert said(d2.request({"op": "kg.query", "entity": "Kari", "user": "alice"})) == [
        ("Kari", "born in", "Tromsø", "")]


def test_a_user_that_is_not_a_string_or_not_utf8_is_refused(make_daemon):
    d = make_daemon("synthesis.learn=false").start()
    r = d.request
    for body in ({"op": "kg.add", "triples": [["a", "b", "c"]]}, {"op": "kg.query", "entity": "a"},
                 {"op": "kg.delete", "entity": "a"}, {"op": "kg.entities"}):
        for bad in (5, ["alice"], {"u": 1}, True):
            e = r({**body, "user": bad})
            assert e["error"]["code"] == "bad_request", (body, bad, e)
            assert e["error"]["message"].startswith("user:"), e
    # nothing was added by the refused kg.add
    assert r({"op": "kg.entities"})["entities"] == []
    # A user that is not UTF-8 cannot reach synthesis: the wire refuses the frame whole
    # (raw bytes; an escaped lone surrogate); kg_* refuse it too (test_kg_scopes.cpp).
    raw = b'{"v":1,"id":"x","op":"kg.add","user":"al\xffice","triples":[["a","b","c"]]}'
    assert d.send_raw(raw)["error"]["code"] == "bad_json"
    esc = b'{"v":1,"id":"x","op":"kg.add","user":"al\\udc80ice","triples":[["a","b","c"]]}'
    assert d.send_raw(esc)["error"]["code"] == "bad_json"
    assert r({"op": "kg.entities"})["entities"] == []
    assert r({"op": "ping"})["ok"]
