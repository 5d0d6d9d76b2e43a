"""The statistics of ``generations compare`` (pure)."""

from __future__ import annotations

from infrastructure.generations.comparison import MISSING, Comparison, Side, delta_statistics


def test_deltas_levels_flips_and_largest_changes() -> None:
    comparison = Comparison("a", "b")
    for n in range(30):
        comparison.add(f"t/s{n}", Side(0.5, "competent", False), Side(0.5 + n / 100, "x", False))
    comparison.add("t/risky", Side(0.6, "competent", False), Side(0.4, "developing", True))
    comparison.add("t/saved", Side(0.4, "developing", True), Side(0.6, "competent", False))
    comparison.add("t/new", None, Side(0.9, "expert", False))

    document = comparison.to_document()
    assert document["students"] == 33
    assert document["levels"]["competent"]["x"] == 30
    assert document["levels"][MISSING]["expert"] == 1
    assert document["at_risk"]["became"] == ["t/risky"]
    assert document["at_risk"]["no_longer"] == ["t/saved"]
    largest = document["largest_changes"]
    assert len(largest) == 20
    assert largest[0]["student"] == "t/s29" and largest[0]["delta"] == 0.29
    assert {"t/risky", "t/saved"} <= {c["student"] for c in largest}
    assert abs(largest[-1]["delta"]) <= abs(largest[0]["delta"])


def test_percentiles_are_nearest_rank_of_signed_deltas() -> None:
    stats = delta_statistics([0.1 * n for n in range(1, 21)] + [-3.0])
    assert stats["count"] == 21
    assert stats["p50"] == 0.1 * 10
    assert stats["p95"] == 0.1 * 19
    assert stats["max"] == 0.1 * 20
    assert stats["max_abs"] == 3.0
    assert delta_statistics([])["count"] == 0
