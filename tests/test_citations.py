"""Tests for the citation registry (nanobridge.citations)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge import citations
from nanobridge.citations import (
    CitationRegistryError,
    Reference,
    UnknownCitationError,
    all_references,
    cite,
    collect_citations,
    find_citation_keys,
    get_reference,
    load_reference_files,
    validate_citation_keys,
)
from nanobridge.domain import catalogs

KNOWN = sorted(all_references())


# ---- registry -------------------------------------------------------------------------------


def test_registry_loads_domain_references() -> None:
    refs = all_references()
    for key in ("ICRP107", "Phillips2014", "Lin2016_gold_mouse", "Knobloch2018", "Assumed"):
        assert key in refs
        assert isinstance(refs[key], Reference)
        assert refs[key].key == key
    assert list(refs) == sorted(refs)


def test_formatted_is_one_line_with_the_parts() -> None:
    ref = get_reference("Lin2016_gold_mouse")
    text = ref.formatted()
    assert "\n" not in text
    assert text.startswith("Lin Z, Monteiro-Riviere NA, Riviere JE (2016).")
    assert "Nanotoxicology 10(2):162-172." in text
    assert text.endswith("doi:10.3109/17435390.2015.1027314")
    assert str(ref) == text


def test_formatted_book_without_journal_uses_publisher() -> None:
    text = get_reference("ICRP23").formatted()
    assert "Pergamon Press" in text
    assert "(1975)" in text


def test_unknown_key_is_a_keyerror_with_suggestions() -> None:
    with pytest.raises(UnknownCitationError) as info:
        get_reference("Phillips2041")
    err = info.value
    assert isinstance(err, KeyError)
    assert err.key == "Phillips2041"
    assert "Phillips2014" in err.suggestions
    assert "'Phillips2041'" in str(err)
    assert "did you mean 'Phillips2014'" in str(err)


def test_unknown_key_case_insensitive_suggestion() -> None:
    with pytest.raises(UnknownCitationError) as info:
        get_reference("icrp107")
    assert info.value.suggestions[0] == "ICRP107"


def test_reference_file_problems_are_reported() -> None:
    bad = "Foo2020:\n  authors: A\n  year: nineteen\n  title: T\n  colour: red\n"
    with pytest.raises(CitationRegistryError) as info:
        load_reference_files([("bad.yaml", bad)])
    message = str(info.value)
    assert "bad.yaml" in message
    assert "Foo2020.year" in message
    assert "Foo2020.colour" in message


def test_duplicate_key_within_a_file_is_rejected() -> None:
    text = "A2000: {authors: a, year: 2000, title: t}\nA2000: {authors: b, year: 2001, title: u}\n"
    with pytest.raises(CitationRegistryError, match="duplicate key"):
        load_reference_files([("dup.yaml", text)])


def test_same_key_in_two_files_needs_same_doi() -> None:
    a = "K2000: {authors: a, year: 2000, title: t, doi: 10.1/x}\n"
    same = "K2000: {authors: a b, year: 2000, title: t., doi: 'https://doi.org/10.1/X'}\n"
    other = "K2000: {authors: a, year: 2000, title: t, doi: 10.1/y}\n"
    merged = load_reference_files([("a.yaml", a), ("b.yaml", same)])
    assert merged["K2000"].authors == "a"  # first file wins
    with pytest.raises(CitationRegistryError, match="defined twice"):
        load_reference_files([("a.yaml", a), ("c.yaml", other)])


def test_doi_prefix_is_stripped() -> None:
    ref = Reference(key="X", authors="A", year=2000, title="T", doi="https://doi.org/10.1/abc")
    assert ref.doi == "10.1/abc"


# ---- packaged data --------------------------------------------------------------------------


def test_every_citation_key_in_packaged_data_resolves() -> None:
    assert validate_citation_keys() == []


def test_every_catalog_citation_resolves() -> None:
    loaders = (
        catalogs.materials,
        catalogs.radionuclides,
        catalogs.fluorophores,
        catalogs.contrast_elements,
        catalogs.species_catalog,
    )
    seen = 0
    for load in loaders:
        for entry in load().values():
            for key in entry.citation_keys():
                assert get_reference(key).key == key
                seen += 1
    assert seen > 40


def test_assumed_entries_say_so() -> None:
    """Entries citing the 'Assumed' pseudo-reference must be flagged and explained."""
    for load in (catalogs.materials, catalogs.fluorophores, catalogs.species_catalog):
        for entry in load().values():
            if "Assumed" in entry.citation_keys():
                assert entry.assumed, entry.key
                assert entry.note, entry.key


def test_find_citation_keys_walks_nested_data() -> None:
    data = {
        "a": {"citation": "X1", "value_nm": 3},
        "b": [{"citations": ["X2", "X3"]}, {"density_citation": "X4"}],
        "c": {"citation_keys": {"k": "X5"}},
    }
    found = dict(find_citation_keys(data))
    assert found == {
        "a.citation": "X1",
        "b[0].citations[0]": "X2",
        "b[0].citations[1]": "X3",
        "b[1].density_citation": "X4",
        "c.citation_keys.k": "X5",
    }


def test_validate_reports_unknown_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    real = citations.find_citation_keys

    def with_a_bad_key(data: object, path: str = "") -> list[tuple[str, str]]:
        return [*real(data, path), ("injected", "NoSuchRef1999")]

    monkeypatch.setattr(citations, "find_citation_keys", with_a_bad_key)
    problems = validate_citation_keys(strict=False)
    assert problems and all("NoSuchRef1999" in p for p in problems)
    with pytest.raises(CitationRegistryError, match="NoSuchRef1999"):
        validate_citation_keys()


# ---- cite / collect_citations ---------------------------------------------------------------


def test_cite_outside_a_collector_only_validates() -> None:
    assert cite("Lin2016_gold_mouse") == ("Lin2016_gold_mouse",)
    with pytest.raises(UnknownCitationError):
        cite("Lin2016_gold_mouse", "Nope0000")


def test_unknown_key_records_nothing() -> None:
    with collect_citations() as used, pytest.raises(UnknownCitationError):
        cite("Lin2016_gold_mouse", "Nope0000")
    assert used.keys == ()


def test_collector_is_ordered_and_unique() -> None:
    with collect_citations() as used:
        cite("Lin2016_gold_mouse", "ICRP107")
        cite("Lin2016_gold_mouse")
        cite("Phillips2014", "ICRP107")
    assert used.keys == ("Lin2016_gold_mouse", "ICRP107", "Phillips2014")
    assert [r.key for r in used.references()] == list(used.keys)
    assert len(used) == 3 and "ICRP107" in used and "Brown1997" not in used
    assert used.formatted()[0].startswith("Lin Z")


def test_same_work_under_two_keys_is_listed_once() -> None:
    same = [
        (k, r)
        for k, r in all_references().items()
        if r.doi and any(o.doi == r.doi and o.key != k for o in all_references().values())
    ]
    if not same:
        pytest.skip("no work is registered under two keys")
    key, ref = same[0]
    other = next(o.key for o in all_references().values() if o.doi == ref.doi and o.key != key)
    with collect_citations() as used:
        cite(key, other, "ICRP107")
    assert used.keys == (key, other, "ICRP107")
    assert [r.key for r in used.references()] == [key, "ICRP107"]


def test_collectors_nest() -> None:
    with collect_citations() as outer:
        cite("Lin2016_gold_mouse")
        with collect_citations() as inner:
            cite("ICRP107")
            with collect_citations() as innermost:
                cite("Phillips2014")
        cite("Knobloch2018")
    cite("Chen2017")  # after all collectors closed: recorded nowhere
    assert outer.keys == ("Lin2016_gold_mouse", "ICRP107", "Phillips2014", "Knobloch2018")
    assert inner.keys == ("ICRP107", "Phillips2014")
    assert innermost.keys == ("Phillips2014",)


def test_threads_have_separate_collectors() -> None:
    barrier = threading.Barrier(2)
    results: dict[str, tuple[str, ...]] = {}

    def work(name: str, keys: list[str]) -> None:
        with collect_citations() as used:
            for key in keys:
                barrier.wait(timeout=5)  # interleave the two threads key by key
                cite(key)
        results[name] = used.keys

    a = threading.Thread(target=work, args=("a", ["Lin2016_gold_mouse", "ICRP107", "Chen2017"]))
    b = threading.Thread(target=work, args=("b", ["Phillips2014", "Yuan2004", "Malins2022"]))
    with collect_citations() as main:
        a.start()
        b.start()
        a.join()
        b.join()
    assert results == {
        "a": ("Lin2016_gold_mouse", "ICRP107", "Chen2017"),
        "b": ("Phillips2014", "Yuan2004", "Malins2022"),
    }
    assert main.keys == ()  # fresh threads do not inherit the caller's collector


def test_bound_work_in_a_thread_pool_records_into_the_caller() -> None:
    keys = KNOWN[:40]
    with collect_citations() as outer, collect_citations() as used:
        task = used.bind(lambda k: cite(k))
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(task, keys * 25))
    assert sorted(used.keys) == sorted(keys)
    assert sorted(outer.keys) == sorted(keys)  # nesting holds across threads


def test_copy_context_run_records_into_the_caller() -> None:
    with collect_citations() as used:
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(ctx.run, cite, "Workman2010").result()
    assert used.keys == ("Workman2010",)


def test_asyncio_tasks_have_separate_collectors() -> None:
    async def job(key: str) -> tuple[str, ...]:
        with collect_citations() as used:
            cite(key)
            await asyncio.sleep(0)
            cite(key)
        return used.keys

    async def main() -> list[tuple[str, ...]]:
        return list(await asyncio.gather(job("Lin2016_gold_mouse"), job("ICRP107")))

    assert asyncio.run(main()) == [("Lin2016_gold_mouse",), ("ICRP107",)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(KNOWN), max_size=30))
def test_collector_keeps_first_occurrence_order(keys: list[str]) -> None:
    with collect_citations() as used:
        for key in keys:
            cite(key)
    assert used.keys == tuple(dict.fromkeys(keys))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12))
def test_get_reference_either_finds_or_raises(key: str) -> None:
    if key in all_references():
        assert get_reference(key).key == key
    else:
        with pytest.raises(UnknownCitationError) as info:
            get_reference(key)
        assert repr(key) in str(info.value)
