"""The demo's chapter registry: one numbering, the rules printed as the scenario has always read."""

from __future__ import annotations

from streams.demo.chapters import CHAPTERS, Chapter, headings


async def _nothing(stage: object) -> None:
    return None


def test_the_rules_number_the_chapters_in_order() -> None:
    assert headings(CHAPTERS) == [
        "1. normal load on the dedicated lanes",
        "2. anisora lane fails (capacity): fallback to the shared lane",
        "3. burst beyond the shared queue limit; 4. critical preempts background",
        None,
        "5. anisora lane recovers: back to dedicated",
        "6. bad input is refused with a reason; a CUDA OOM is retried one step lower",
        "7. admission dies: the standby takes over, the waiting client is answered",
        "8. the broker goes away: the gateway refuses, and never fails open",
    ]


def test_a_chain_of_joined_chapters_shares_one_rule() -> None:
    chain = [Chapter("a", _nothing, joins_next=True), Chapter("b", _nothing, joins_next=True),
             Chapter("c", _nothing), Chapter("d", _nothing, joins_next=True)]
    assert headings(chain) == ["1. a; 2. b; 3. c", None, None, "4. d"]


def test_every_chapter_has_its_own_function() -> None:
    plays = [chapter.play for chapter in CHAPTERS]
    assert len(set(plays)) == len(plays)
