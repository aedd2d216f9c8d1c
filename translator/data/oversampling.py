"""Repeating short training pairs, so greetings and one-word answers are learned.

In Tatoeba's spa-eng a greeting such as "Hola." -> "Hi." is one pair in 114,000:
two epochs show it to the model twice, and the model turns it into whatever its
target-side language model likes.  Short pairs are cheap (a few tokens each), so
showing every pair of at most ``max_words`` source words ``repeats`` times per epoch
costs little time.  Only the training split is repeated; validation and test are
untouched, so the scores stay comparable.
"""

from __future__ import annotations

from collections.abc import Sequence


def repeat_short_pairs(
    pairs: Sequence[tuple[str, str]], max_words: int, repeats: int
) -> list[tuple[str, str]]:
    """``pairs`` with every pair whose source has at most ``max_words``
    whitespace-separated words appearing ``repeats`` times (its copies follow it);
    ``max_words <= 0`` or ``repeats <= 1`` returns the pairs unchanged.

    >>> repeat_short_pairs([("Hola.", "Hi."), ("Me llamo Tom.", "My name is Tom.")], 1, 3)
    [('Hola.', 'Hi.'), ('Hola.', 'Hi.'), ('Hola.', 'Hi.'), ('Me llamo Tom.', 'My name is Tom.')]
    """
    if max_words <= 0 or repeats <= 1:
        return list(pairs)
    out: list[tuple[str, str]] = []
    for pair in pairs:
        out.extend([pair] * (repeats if len(pair[0].split()) <= max_words else 1))
    return out
