"""Tag listing against real pagination (crane pages by n/last without Link headers) and hostile answers
(scripted through the fault proxy: Link headers, loops, huge lists, bad names, other hosts)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cacheinspect.errors import CacheInspectError, MalformedContentError, RegistryError, SizeLimitError
from cacheinspect.registry.client import RegistryClient
from cacheinspect.registry.options import RegistryOptions
from cacheinspect.registry.reference import parse_reference
from cacheinspect.registryops.remote import TagList, list_tags
from tests.registryops.conftest import CraneRegistry
from tests.registryops.helpers import cli
from tests.support.faultproxy import FaultProxy, Rule

EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def _walk(host: str, repo: str, **kw: int) -> TagList:
    async def go() -> TagList:
        async with RegistryClient(RegistryOptions(retries=0)) as c:
            return await list_tags(c, parse_reference(f"{host}/{repo}"), **kw)

    return asyncio.run(go())


def test_crane_pages_by_n_and_last(crane_registry: CraneRegistry) -> None:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2},
            "layers": [],
        }
    ).encode()
    names = [f"t{i:02d}" for i in range(7)]
    with httpx.Client(base_url=crane_registry.url) as c:
        c.post(f"/v2/pages/x/blobs/uploads/?digest={EMPTY}", content=b"{}").raise_for_status()
        for t in names:
            c.put(
                f"/v2/pages/x/manifests/{t}",
                content=manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            ).raise_for_status()
        first = c.get("/v2/pages/x/tags/list", params={"n": 3})
        assert len(first.json()["tags"]) == 3 and "link" not in first.headers  # crane: n/last, no Link
    lst = _walk(crane_registry.host, "pages/x", page_size=3)
    assert lst.tags == names
    assert lst.pages == 3


def _page(rule_proxy: FaultProxy, tags: object, link: str | None = None, times: int | None = None) -> None:
    headers = {"Link": link} if link else {}
    body = json.dumps({"name": "h/x", "tags": tags}).encode()
    rule_proxy.add(
        Rule(
            "respond",
            r"/v2/h/x/tags/list$",
            "GET",
            times,
            status=200,
            headers=headers,
            body=body,
        )
    )


def _scripted(rule_proxy: FaultProxy, pages: list[tuple[object, str | None]]) -> None:
    """Answer the tag list calls in order with *pages* (tags, Link header)."""
    for tags, link in pages:
        _page(rule_proxy, tags, link, times=1)


def test_link_header_pagination(rule_proxy: FaultProxy) -> None:
    _scripted(
        rule_proxy,
        [
            (["a", "b"], '</v2/h/x/tags/list?n=2&last=b>; rel="next"'),
            (["c", "d"], f'<http://{rule_proxy.host}/v2/h/x/tags/list?n=2&last=d>; rel="next"'),
            (["e"], None),
        ],
    )
    lst = _walk(rule_proxy.host, "h/x", page_size=2)
    assert lst.tags == ["a", "b", "c", "d", "e"]
    assert [r.query for r in rule_proxy.requests if r.path.endswith("tags/list")] == [
        "n=2",
        "n=2&last=b",
        "n=2&last=d",
    ]


def test_pagination_loop_is_an_error(rule_proxy: FaultProxy) -> None:
    _page(rule_proxy, ["a", "b"], '</v2/h/x/tags/list?n=2&last=b>; rel="next"')
    with pytest.raises(RegistryError, match="pagination loops"):
        _walk(rule_proxy.host, "h/x", page_size=2)
    assert len([r for r in rule_proxy.requests if r.path.endswith("tags/list")]) == 2


@pytest.mark.parametrize(
    "link",
    [
        "garbage without brackets",
        '<http://127.0.0.2:1/v2/h/x/tags/list?last=b>; rel="next"',  # another host
        '</v2/other/repo/tags/list?last=b>; rel="next"',  # outside the tag list
        "<" + "a" * 5000 + '>; rel="next"',
    ],
)
def test_bad_link_headers_are_one_clear_error(rule_proxy: FaultProxy, link: str) -> None:
    _page(rule_proxy, ["a"], link)
    with pytest.raises(CacheInspectError) as e:
        _walk(rule_proxy.host, "h/x", page_size=1)
    assert "\n" not in e.value.message
    assert not [r for r in rule_proxy.requests if r.listener != "proxy"]  # nothing went elsewhere


def test_endless_pagination_hits_the_page_cap(rule_proxy: FaultProxy) -> None:
    # every page is new (a fresh tag and a fresh next link): only the page cap stops it
    for i in range(30):
        _page(rule_proxy, [f"t{i}"], f'</v2/h/x/tags/list?n=1&last=t{i}>; rel="next"', times=1)
    with pytest.raises(SizeLimitError, match="more than 20 pages"):
        _walk(rule_proxy.host, "h/x", page_size=1, max_pages=20)


def test_huge_tag_list_hits_the_tag_cap(rule_proxy: FaultProxy) -> None:
    _page(rule_proxy, [f"t{i}" for i in range(50_000)])
    with pytest.raises(SizeLimitError, match="more than 10000 tags"):
        _walk(rule_proxy.host, "h/x", max_tags=10_000)


def test_invalid_tag_names_are_skipped_and_counted(rule_proxy: FaultProxy) -> None:
    _page(rule_proxy, ["ok", "bad\nname", "../x", 7, None, "-dash", "x" * 200, "fine.1"])
    lst = _walk(rule_proxy.host, "h/x")
    assert lst.tags == ["ok", "fine.1"]
    assert lst.invalid == 6


@pytest.mark.parametrize("body", [b"not json", b'{"tags": "a"}', b"[1,2]", b'{"tags": {"a": 1}}'])
def test_malformed_tag_lists(rule_proxy: FaultProxy, body: bytes) -> None:
    rule_proxy.add(Rule("respond", r"/v2/h/x/tags/list$", "GET", status=200, body=body))
    with pytest.raises(MalformedContentError):
        _walk(rule_proxy.host, "h/x")


def test_cli_ls_on_a_hostile_tag_list_is_one_error_line(rule_proxy: FaultProxy) -> None:
    _page(rule_proxy, ["a\x1b[31m"], "garbage\x1b]0;x\x07")
    p = cli(["registry", "ls", f"{rule_proxy.host}/h/x"])
    assert p.returncode == 5
    assert p.stderr.count("error:") == 1 and "\x1b" not in p.stderr


def test_next_links_that_bring_no_new_tag_stop_at_once(rule_proxy: FaultProxy) -> None:
    """Fresh next links over the same tags: not 100000 requests up to the page cap, one clear error."""
    for i in range(30):
        _page(rule_proxy, ["a"], f'</v2/h/x/tags/list?n=1&last=a{i}>; rel="next"', times=1)
    with pytest.raises(RegistryError, match="no new tag"):
        _walk(rule_proxy.host, "h/x", page_size=1)
    assert len([r for r in rule_proxy.requests if r.path.endswith("tags/list")]) == 2
