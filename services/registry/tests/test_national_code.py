"""The national investment project code: format, normalisation, uniqueness, search, gap list."""

from __future__ import annotations

import itertools
import secrets

import pytest

from steward.registry.projects.national_code import normalise
from steward.registry.testing import Registry, Tree, create_project

_seq = itertools.count(1)


def fresh_code(region: str = "510107") -> str:
    """A well-formed code no other test uses (the session shares one database)."""
    return f"2026-{region}-47-03-{next(_seq):02d}{secrets.token_hex(2).upper()}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-510107-47-03-000123", "2020-510107-47-03-000123"),
        ("20205101074703000123", "2020-510107-47-03-000123"),
        (" 2021-000000-01-02-a1b2c3 ", "2021-000000-01-02-A1B2C3"),
    ],
)
def test_accepted_spellings_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2020-510107-47-03-00012",  # 23 characters
        "2020-5101074-7-03-000123",  # segments 4-7-1-2-6
        "2020510107-47-03-000123",  # some dashes only
        "1899-510107-47-03-000123",  # year
        "2020-990107-47-03-000123",  # no such province
        "2020-510107-47-00-000123",  # project type 00
        "2020-51O107-47-03-000123",  # letter O in the region
        "2020-510107-47-03-00012$",
    ],
)
def test_malformed_codes_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise(raw)


async def test_register_update_unique_and_search(registry: Registry, tree: Tree) -> None:
    d = tree.districts[0]
    code = fresh_code()
    r = await create_project(registry, d, name="国码项目", national_code=code.replace("-", "").lower())
    assert r.status_code == 201, r.text
    project = r.json()
    assert project["national_code"] == code  # stored normalised

    taken = await create_project(registry, d, national_code=code)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "national_code_taken"
    bad = await create_project(registry, d, national_code="2020-510107-47-03")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"

    other = (await create_project(registry, d, name="另一个")).json()
    assert other["national_code"] is None
    clash = await registry.http.patch(
        f"/v1/projects/{other['id']}", json={"national_code": code}, headers=registry.auth(d, "dispatcher")
    )
    assert clash.status_code == 409
    second = fresh_code()
    ok = await registry.http.patch(
        f"/v1/projects/{other['id']}", json={"national_code": second}, headers=registry.auth(d, "dispatcher")
    )
    assert ok.status_code == 200 and ok.json()["national_code"] == second
    # setting the same code on its own project again is not a clash
    same = await registry.http.patch(
        f"/v1/projects/{project['id']}", json={"national_code": code}, headers=registry.auth(d, "dispatcher")
    )
    assert same.status_code == 200

    headers = registry.auth(tree.city, "dispatcher")
    exact = await registry.http.get(
        "/v1/projects", params={"tenant": tree.city, "national_code": code.replace("-", "")}, headers=headers
    )
    assert [p["id"] for p in exact.json()["items"]] == [project["id"]]
    partial = await registry.http.get(
        "/v1/projects", params={"tenant": tree.city, "q": code[-6:].lower()}, headers=headers
    )
    assert [p["id"] for p in partial.json()["items"]] == [project["id"]]
    # a sibling district does not find it
    sibling = await registry.http.get(
        "/v1/projects",
        params={"national_code": code},
        headers=registry.auth(tree.districts[1], "dispatcher"),
    )
    assert sibling.json()["items"] == []


async def test_gap_list_names_projects_past_preparing_without_a_code(registry: Registry, tree: Tree) -> None:
    d = tree.districts[1]
    headers = registry.auth(d, "dispatcher")

    async def make(name: str, stage: str, **extra: str) -> str:
        r = await create_project(registry, d, name=name, stage=stage, **extra)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    early = await make("洽谈中", "negotiating")
    signed = await make("已签约", "signed")
    preparing = await make("前期无码", "preparing")
    building = await make("在建无码", "new_start")
    coded = await make("前期有码", "preparing", national_code=fresh_code())
    paused = await make("停缓建无码", "continuing")
    r = await registry.http.post(
        f"/v1/projects/{paused}/transitions",
        json={"to_stage": "suspended", "reason": "资金"},
        headers=headers,
    )
    assert r.status_code == 200, r.text

    gaps = await registry.http.get("/v1/projects/gaps/national-code", params={"tenant": d}, headers=headers)
    assert gaps.status_code == 200, gaps.text
    ids = {p["id"] for p in gaps.json()["items"]}
    assert ids == {preparing, building, paused}
    assert not ids & {early, signed, coded}

    # moving the signed project into 前期 makes it a gap; giving it a code clears it
    await registry.http.post(
        f"/v1/projects/{signed}/transitions",
        json={"to_stage": "preparing", "reason": "立项"},
        headers=headers,
    )
    await registry.http.patch(
        f"/v1/projects/{preparing}", json={"national_code": fresh_code()}, headers=headers
    )
    page1 = await registry.http.get(
        "/v1/projects/gaps/national-code", params={"tenant": d, "limit": 2}, headers=headers
    )
    body = page1.json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    page2 = await registry.http.get(
        "/v1/projects/gaps/national-code",
        params={"tenant": d, "limit": 2, "cursor": body["next_cursor"]},
        headers=headers,
    )
    ids = {p["id"] for p in body["items"] + page2.json()["items"]}
    assert ids == {signed, building, paused}
    # the city sees its districts' gaps; a sibling district none of them
    city = await registry.http.get(
        "/v1/projects/gaps/national-code",
        params={"tenant": tree.city},
        headers=registry.auth(tree.city, "dispatcher"),
    )
    assert ids <= {p["id"] for p in city.json()["items"]}
    sib = await registry.http.get(
        "/v1/projects/gaps/national-code", headers=registry.auth(tree.districts[0], "dispatcher")
    )
    assert not ids & {p["id"] for p in sib.json()["items"]}
