"""The wrap-up report model, its Slack blocks, and the rates chart."""

from __future__ import annotations

import io
import json
import re
import struct
from datetime import UTC, datetime, timedelta

import pytest

from bot.chart import CHART_RATES, build_rates_figure, chart_bars, render_rates_chart
from bot.rates import Counts, Verdict
from bot.messages.report import UNAVAILABLE, WrapupReport, build_wrapup_report
from tests.unit.test_rates import ROUND_1, ROUND_2, counts

COLLECTED = datetime(2025, 10, 2, 11, 15, tzinfo=UTC)
NOW = COLLECTED + timedelta(hours=2, minutes=5)
ZONE = "Europe/London"
NAME = "Client Letter Automation"

# Round 2's 255 hard and 8 soft bounces; 153 hard (60%) at one corporate domain.
BOUNCES_2 = ([(f"person{i}@BigCorp.example", "hard") for i in range(153)]
             + [(f"user{i}@mail{i % 7}.example", "hard") for i in range(102)]
             + [(f"soft{i}@mail{i % 3}.example", "soft") for i in range(8)])


def report_round_2(**overrides) -> WrapupReport:
    args = dict(campaign=NAME, round_number=2, counts=ROUND_2, collected_at=COLLECTED, earlier=[(1, ROUND_1)],
                bounces=BOUNCES_2, zone=ZONE, now=NOW)
    args.update(overrides)
    return build_wrapup_report(**args)


def all_block_text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def check_slack_limits(blocks: list[dict]) -> None:
    assert 1 <= len(blocks) <= 50
    json.dumps(blocks)  # serialisable as it is
    for block in blocks:
        assert block["type"] in ("header", "section", "context", "divider")
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in fields)
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


# --- round 2 with round 1 before it ---------------------------------------------------

def test_report_of_round_2_has_counts_rates_verdict_and_comparison():
    report = report_round_2()
    assert report.available and report.unavailable_note is None
    assert "Recipients: 1,000" in report.counts_lines
    assert "Processed: 994 (delivered + hard + soft bounces)" in report.counts_lines
    assert "Delivered: 731" in report.counts_lines
    assert "Bounced: 263 (255 hard, 8 soft)" in report.counts_lines
    assert "Blocked: 6 (never attempted, not a bounce)" in report.counts_lines
    assert "Unique opens: 543" in report.counts_lines and "Unique clicks: 36" in report.counts_lines

    rates = {line.name: line for line in report.rate_lines}
    assert rates["delivery"].text == "Delivery: 73.5% (731 of 994 processed)"
    assert rates["bounce"].text == "Bounce: 26.5% (263 of 994 processed)"
    assert rates["hard"].text == "Hard bounce: 25.7% (255 of 994 processed)"
    assert rates["blocked"].text == "Blocked: 0.6% (6 of 1,000 recipients)"
    assert rates["open"].text == "Open: 74.3% (543 of 731 delivered)"
    assert rates["click"].text == "Click: 4.9% (36 of 731 delivered)"

    assert report.verdict is Verdict.CRITICAL
    assert report.verdict_text == "critical: bounce 26.5% > 5% and delivery 73.5% < 90%"

    [line] = report.comparison_lines
    assert line.round_number == 1
    assert line.comparison["delivery"].shown == "-1.6 pp"
    assert line.comparison["bounce"].shown == "+1.6 pp"
    assert line.comparison["open"].shown == "-12.2 pp"
    assert line.text.startswith("vs round 1: Delivery -1.6 pp (75.1% → 73.5%), Bounce +1.6 pp (24.9% → 26.5%)")
    assert "Hard bounce +1.0 pp (24.7% → 25.7%)" in line.text
    assert "Click -1.9 pp (6.8% → 4.9%)" in line.text
    assert "0.0 pp (" not in line.text.replace("±0.0 pp (0.5%", "").replace("±0.0 pp (0.0%", "")


def test_report_names_a_dominant_domain():
    report = report_round_2()
    assert report.bounce_domains is not None
    assert report.bounce_domains.dominant.domain == "bigcorp.example"
    assert report.bounce_domain_lines[0] == "bigcorp.example: 153 (153 hard, 0 soft)"
    assert report.dominant_domain_warning == (
        "bigcorp.example holds 153 of 255 hard bounces (60.0%), more than half: "
        "check that domain before the next round")
    assert "bigcorp.example holds 153 of 255 hard bounces" in all_block_text(report.to_blocks())
    assert "bigcorp.example holds 153 of 255 hard bounces" in report.text


def test_no_dominant_domain_when_none_has_more_than_half():
    spread = [(f"p{i}@d{i % 4}.example", "hard") for i in range(255)]
    report = report_round_2(bounces=spread)
    assert report.dominant_domain_warning is None
    assert [line.split(":")[0] for line in report.bounce_domain_lines[:4]] == [
        "d0.example", "d1.example", "d2.example", "d3.example"]
    assert report.bounce_domain_lines[4:] == ("details for 255 of 263 bounces",)


def test_bounce_list_covering_part_of_the_bounces_says_so():
    report = report_round_2(bounces=BOUNCES_2[:100])
    assert "details for 100 of 263 bounces" in report.bounce_domain_lines
    # 100 listed at bigcorp.example are not more than half of Mailjet's 255 hard bounces
    assert report.dominant_domain_warning is None


def test_bounce_details_missing_or_empty():
    assert report_round_2(bounces=None).bounce_domain_lines == (
        "no bounce details were read (Mailjet counts 263 bounces)",)
    assert report_round_2(bounces=[]).bounce_domain_lines == (
        "no bounce details received yet (Mailjet counts 263 bounces)",)
    clean = counts(recipients=100, delivered=100, opened=10)
    assert build_wrapup_report(NAME, 1, clean, COLLECTED, [], [], ZONE, now=NOW).bounce_domain_lines == ("no bounces",)


def test_data_age_shows_when_the_numbers_were_read():
    report = report_round_2()
    assert report.data_age == "Numbers read from Mailjet 2 h 5 min ago, at Thu 2 Oct 2025 12:15 BST (11:15 UTC)"
    assert report.data_age in report.text
    assert "2 h 5 min ago" in report.to_blocks()[-1]["elements"][0]["text"]
    assert "less than a minute ago" in report_round_2(now=COLLECTED + timedelta(seconds=20)).data_age
    assert "1 d 3 h ago" in report_round_2(now=COLLECTED + timedelta(days=1, hours=3, minutes=9)).data_age


def test_times_must_be_aware():
    with pytest.raises(ValueError):
        report_round_2(collected_at=datetime(2025, 10, 2, 11, 15))
    with pytest.raises(ValueError):
        report_round_2(now=datetime(2025, 10, 2, 13, 20))


def test_every_earlier_round_is_compared():
    round_3 = counts(recipients=1000, delivered=980, hard=15, soft=5, opened=400, clicked=40, unsub=2)
    report = build_wrapup_report(NAME, 3, round_3, COLLECTED, [(2, ROUND_2), (1, ROUND_1)], None, ZONE, now=NOW)
    assert [line.round_number for line in report.comparison_lines] == [1, 2]
    assert report.comparison_lines[0].text.startswith("vs round 1: Delivery +22.9 pp (75.1% → 98.0%)")
    assert report.comparison_lines[1].text.startswith("vs round 2: Delivery +24.5 pp (73.5% → 98.0%)")
    assert report.comparison_lines[0].comparison["delivery"].pp == pytest.approx(
        100 * (980 / 1000 - 731 / 973), abs=1e-9)
    assert report.verdict is Verdict.HEALTHY  # bounce exactly 2%
    assert report.verdict_text == "healthy: bounce 2.0% ≤ 2% and delivery 98.0% ≥ 95%"
    blocks = all_block_text(report.to_blocks())
    assert "vs round 1: Delivery +22.9 pp" in blocks and "vs round 2: Delivery +24.5 pp" in blocks


def test_earlier_round_without_numbers_is_said_not_guessed():
    report = report_round_2(earlier=[(1, None)])
    [line] = report.comparison_lines
    assert line.comparison is None
    assert line.text == "vs round 1: no numbers for round 1, nothing to compare"
    nothing = counts(recipients=1000, blocked=1000)
    [line] = report_round_2(earlier=[(1, nothing)]).comparison_lines
    assert "Delivery — (— → 73.5%)" in line.text
    assert "Blocked -99.4 pp (100.0% → 0.6%)" in line.text


def test_first_round_has_no_comparison():
    report = build_wrapup_report(NAME, 1, ROUND_1, COLLECTED, [], None, ZONE, now=NOW)
    assert report.comparison_lines == ()
    assert "Compared with earlier rounds" not in report.text
    assert report.verdict_text == "critical: bounce 24.9% > 5% and delivery 75.1% < 90%"


def test_numbers_still_moving():
    moving = Counts(**{**ROUND_2.__dict__, "queued": 12, "deferred": 3})
    report = report_round_2(counts=moving)
    assert report.still_moving_note == ("Numbers still moving: 12 queued and 3 deferred when read; "
                                        "the rates and the verdict can still change.")
    assert report.still_moving_note in report.text
    assert "12 queued and 3 deferred" in all_block_text(report.to_blocks())
    assert report_round_2().still_moving_note is None


def test_nothing_processed_gives_no_data_verdict_and_dashes():
    report = build_wrapup_report(NAME, 1, counts(recipients=500, queued=500), COLLECTED, [(0, ROUND_1)], None,
                                 ZONE, now=NOW)
    assert report.verdict is Verdict.NO_DATA
    assert report.verdict_text == "no data: no messages processed yet, so there is no verdict"
    assert all(line.shown == "—" for line in report.rate_lines if line.name != "blocked")
    [blocked] = [line.text for line in report.rate_lines if line.name == "blocked"]
    assert blocked == "Blocked: 0.0% (0 of 500 recipients)"
    assert report.still_moving_note is not None


def test_inconsistent_counts_are_flagged():
    odd = Counts(**{**ROUND_2.__dict__, "opened": 800})
    report = report_round_2(counts=odd)
    assert report.notes == ("unique opens (800) exceed delivered (731)",)
    assert "unique opens (800) exceed delivered (731)" in all_block_text(report.to_blocks())


# --- Mailjet could not be read --------------------------------------------------------

def test_without_counts_no_numbers_are_shown():
    report = report_round_2(counts=None)
    assert not report.available
    assert report.unavailable_note == UNAVAILABLE == (
        "Mailjet could not be read; no numbers are shown (nothing is estimated)")
    assert report.verdict is Verdict.NO_DATA
    assert report.counts_lines == report.rate_lines == report.comparison_lines == report.bounce_domain_lines == ()
    assert report.dominant_domain_warning is None and report.still_moving_note is None
    assert report.data_age == "Mailjet reading tried 2 h 5 min ago, at Thu 2 Oct 2025 12:15 BST (11:15 UTC)"
    blocks = report.to_blocks()
    check_slack_limits(blocks)
    for shown in (all_block_text(blocks), report.text):
        assert UNAVAILABLE in shown
        assert "%" not in shown and " pp" not in shown
        assert not re.search(r"\b(731|994|1,000|263|255)\b", shown)
        # the only digits are the round number and the time it was tried
        digits = re.sub(r"Thu 2 Oct 2025 12:15 BST \(11:15 UTC\)|2 h 5 min|round 2", "", shown)
        assert not re.search(r"\d", digits.replace("section 6", ""))


def test_without_counts_and_without_a_time():
    report = build_wrapup_report(NAME, 2, None, None, [(1, ROUND_1)], None, ZONE, now=NOW)
    assert report.data_age == "Mailjet was not read"
    assert report.unavailable_note == UNAVAILABLE


# --- Slack blocks ---------------------------------------------------------------------

def test_blocks_of_round_2():
    report = report_round_2()
    blocks = report.to_blocks()
    check_slack_limits(blocks)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Client Letter Automation: round 2 wrap-up"
    text = all_block_text(blocks)
    for expected in ("Verdict: critical", "26.5% (263 of 994 processed)", "-1.6 pp", "+1.6 pp",
                     "bigcorp.example", "*Counts*", "*Rates*", "1,000"):
        assert expected in text, expected
    assert blocks[-1]["type"] == "context"
    counts_block = next(b for b in blocks if b.get("text", {}).get("text") == "*Counts*")
    assert len(counts_block["fields"]) == 10


def test_blocks_stay_within_slack_limits_for_long_inputs():
    long_name = "A <very> & long campaign name " * 20
    earlier = [(n, ROUND_1 if n % 2 else ROUND_2) for n in range(1, 1000)]
    bounces = [(f"u{i}@domain{i}.example", "hard") for i in range(5000)]
    report = build_wrapup_report(long_name, 1000, ROUND_2, COLLECTED, earlier, bounces, ZONE, now=NOW, top_domains=1000)
    blocks = report.to_blocks()
    check_slack_limits(blocks)
    assert len(report.comparison_lines) == 999  # the model keeps every comparison; blocks are capped
    text = all_block_text(blocks)
    assert "More comparison lines than fit in one Slack message: the rest is in the message text" in text
    assert "More bounce domain lines than fit" in text
    assert "vs round 1:" in text and "vs round 999:" in report.text
    assert len(blocks) == 50 and blocks[-1]["type"] == "context"


def test_text_is_escaped_for_slack():
    report = report_round_2(campaign="<!channel> Q&A", bounces=[("x@<!here>.example", "hard")] * 3)
    text = all_block_text(report.to_blocks()[1:])  # every mrkdwn block
    assert "<!here>" not in text and "&lt;!here&gt;.example" in text
    assert "<!channel>" not in report.text and "&lt;!channel&gt; Q&amp;A" in report.text
    # the header is plain text, shown as typed
    assert report.to_blocks()[0]["text"]["text"] == "<!channel> Q&A: round 2 wrap-up"


def test_text_fallback_has_everything():
    text = report_round_2().text
    for expected in ("round 2 wrap-up", "Verdict: critical", "Recipients: 1,000",
                     "Delivery: 73.5% (731 of 994 processed)",
                     "vs round 1: Delivery -1.6 pp", "bigcorp.example: 153", "Numbers read from Mailjet"):
        assert expected in text, expected


# --- chart ----------------------------------------------------------------------------

def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_chart_is_a_small_png(n: int):
    rounds = [(i, ROUND_1 if i % 2 else ROUND_2) for i in range(1, n + 1)]
    data = render_rates_chart(rounds, f"{NAME}: rates")
    assert data.startswith(b"\x89PNG")
    assert len(data) < 200_000
    width, height = png_size(data)
    assert (width, height) == (800, 450)
    assert data.endswith(b"IEND\xaeB`\x82")
    assert render_rates_chart(rounds, f"{NAME}: rates") == data  # deterministic


def test_chart_draws_every_rate_of_every_round():
    bars = chart_bars([(2, ROUND_2), (1, ROUND_1)])
    assert [(b.round_number, b.rate, b.shown) for b in bars] == [
        (1, "delivery", "75.1%"), (1, "bounce", "24.9%"), (1, "open", "86.5%"), (1, "click", "6.8%"),
        (2, "delivery", "73.5%"), (2, "bounce", "26.5%"), (2, "open", "74.3%"), (2, "click", "4.9%"),
    ]
    assert bars[0].percent == pytest.approx(100 * 731 / 973, abs=1e-9)


def test_chart_leaves_out_rates_without_data():
    all_bounced = counts(recipients=10, hard=10)            # no delivered: no open or click rate
    nothing = counts(recipients=10, blocked=10)             # nothing processed: no rate at all
    rounds = [(1, ROUND_1), (2, all_bounced), (3, nothing), (4, None)]
    bars = chart_bars(rounds)
    assert [(b.round_number, b.rate) for b in bars] == [
        (1, "delivery"), (1, "bounce"), (1, "open"), (1, "click"), (2, "delivery"), (2, "bounce"),
    ]
    assert [b.percent for b in bars if b.round_number == 2] == [0.0, 100.0]  # a real 0% is drawn
    figure = build_rates_figure(rounds, "rates")
    [axes] = figure.axes
    drawn = [patch.get_height() for container in axes.containers for patch in container]
    assert len(drawn) == len(bars) == 6
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert labels == ["Round 1", "Round 2", "Round 3\n(no data)", "Round 4\n(no data)"]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        f"{name.capitalize()} rate" for name in CHART_RATES]
    data = render_rates_chart(rounds, "rates")
    assert data.startswith(b"\x89PNG") and len(data) < 200_000


def test_chart_with_no_rounds_and_odd_titles():
    assert render_rates_chart([], "nothing yet").startswith(b"\x89PNG")
    data = render_rates_chart([(1, ROUND_1)], "costs $5 and $6 <b>")  # no mathtext surprises
    assert data.startswith(b"\x89PNG")
    io.BytesIO(data)


def test_chart_renders_the_same_from_several_threads():
    from concurrent.futures import ThreadPoolExecutor

    rounds = [(1, ROUND_1), (2, ROUND_2)]
    reference = render_rates_chart(rounds, "threads")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: render_rates_chart(rounds, "threads"), range(8)))
    assert all(result == reference for result in results)
