"""api.info_memo: leaves kept by the identity of the infos, two generations, a bounded pool."""

from __future__ import annotations

from devagent.api.info_memo import InfoMemo, MemoPool


class Info:
    """A stand-in kernel info (equal by value, distinct by identity)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Info) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


def test_kept_by_identity_not_by_value() -> None:
    memo = InfoMemo()
    memo.turn("snap1")
    a = Info("x")
    memo.put((a, None), ("x",))
    assert memo.get((a, None)) == ("x",)
    assert memo.get((Info("x"), None)) is None  # an equal but new info is a miss


def test_two_generations_then_forgotten() -> None:
    memo = InfoMemo()
    a, b = Info("a"), Info("b")
    memo.turn("s1")
    memo.put((a,), (1,))
    memo.put((b,), (2,))
    memo.turn("s2")
    assert memo.get((a,)) == (1,)  # from the previous generation, carried into this one
    memo.turn("s3")
    assert memo.get((a,)) == (1,)
    assert memo.get((b,)) is None  # not asked for on s2: gone
    memo.turn("s3")  # the same snapshot again changes nothing
    assert memo.get((a,)) == (1,)


def test_the_pool_empties_the_least_recent_memos() -> None:
    pool = MemoPool(size=2)
    memos = [pool.memo() for _ in range(3)]
    info = Info("a")
    for i, memo in enumerate(memos):
        memo.turn(f"s{i}")
        memo.put((info,), (i,))
    assert memos[0].get((info,)) is None  # the oldest was cleared when the third turned
    assert memos[1].get((info,)) == (1,)
    assert memos[2].get((info,)) == (2,)
