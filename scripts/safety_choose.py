"""Choose the danger detector and its thresholds on the development split only.

    .venv/bin/python scripts/safety_choose.py [--variant NAME ...] [--show-errors LOCALE]

For each variant it trains on the packs' examples, scores the development split of
tests/safety_eval/, and picks the lowest thresholds that keep false alarms on the development
negatives within a margin of the targets (emergency ≤ 2.5 %, check-in ≤ 11 %), then prints the
recall they give. The final split is never read here: docs/safety.md reports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.content.library import ContentLibrary  # noqa: E402
from bot.safety import detector as detector_module  # noqa: E402
from bot.safety.evaluation import load_eval_sets, near_duplicates, split_of  # noqa: E402
from bot.safety.examples import detector_examples  # noqa: E402
from bot.safety.layer import SafetyLayer, bare_entry  # noqa: E402
from bot.settings import load_settings  # noqa: E402

EMERGENCY_MARGIN = 0.025
CHECK_IN_MARGIN = 0.11


def lowest_threshold(negative_scores: np.ndarray, share: float) -> float:
    """The lowest threshold at which at most ``share`` of the negatives reach it."""
    if len(negative_scores) == 0:
        return 0.5
    ordered = np.sort(negative_scores)[::-1]
    allowed = int(np.floor(share * len(ordered)))
    return float(ordered[allowed] + 1e-6) if allowed < len(ordered) else 0.0


def remember_embeddings() -> None:
    """Embed each text once per run, whichever variant asks (variants share the texts)."""
    original = detector_module.embed
    known: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, original(missing), strict=True))
        return np.stack([known[t] for t in texts])

    detector_module.embed = embed  # type: ignore[assignment]


def choose(scores: np.ndarray, lexicon: np.ndarray, danger: np.ndarray,
           masks: dict[str, np.ndarray], highest_floor: float) -> tuple[float, float, float]:
    """The thresholds with the best emergency recall (then overall recall) whose false alarms
    stay within the margins in every locale. The lexicon floor stays at or below
    ``highest_floor``, so that every shipped danger example stays an emergency."""
    grid = np.array([*np.round(np.arange(0.02, 0.99, 0.02), 2), 0.99, 0.995, 0.999])
    best: tuple[float, float, tuple[float, float, float]] | None = None
    for floor in (0.0, *np.round(np.arange(0.005, 0.2, 0.005), 3), *grid):
        if floor > highest_floor:
            break
        for emergency in grid:
            urgent = (lexicon & (scores >= floor)) | (scores >= emergency)
            if any(urgent[m & ~danger].mean() > EMERGENCY_MARGIN for m in masks.values()):
                continue
            for check_in in grid[grid <= emergency]:
                unsure = ~urgent & (scores >= check_in)
                if any(unsure[m & ~danger].mean() > CHECK_IN_MARGIN for m in masks.values()):
                    continue
                worst_urgent = min(urgent[m & danger].mean() for m in masks.values())
                worst_any = min((urgent | unsure)[m & danger].mean() for m in masks.values())
                key = (worst_urgent, worst_any, (emergency, check_in, floor))
                if best is None or key[:2] > best[:2]:
                    best = key
                break  # the lowest check-in threshold that fits is the best one
    assert best is not None, "no thresholds keep false alarms within the margins"
    return best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c", type=float, action="append", help="regularisation (repeatable)")
    parser.add_argument("--ngram-weight", type=float, action="append",
                        help="weight of the n-gram model beside sentence embeddings (1: none)")
    parser.add_argument("--hard-weight", type=float, action="append",
                        help="weight of the packs' hard negatives in training (repeatable)")
    parser.add_argument("--show-errors", metavar="LOCALE")
    args = parser.parse_args()
    remember_embeddings()
    settings = load_settings(ROOT)
    library = ContentLibrary.load(settings)
    examples = detector_examples(library)
    messages, problems = load_eval_sets(ROOT / "tests" / "safety_eval")
    assert not problems.items, problems.items
    repeated = {id(m) for m, _ in near_duplicates(messages, [e.text for e in examples])}
    dev = [m for m in messages if split_of(m.text) == "dev" and id(m) not in repeated]
    print(f"trained on {len(examples)}; development messages {len(dev)} "
          f"({len(repeated)} near-duplicates left out)")
    variants = [(c, w, h) for c in args.c or [4.0] for w in args.ngram_weight or [1.0]
                for h in args.hard_weight or [1.0]]
    for c, weight, hard in variants:
        detector = detector_module.DangerDetector.train(examples, "", c=c, ngram_weight=weight,
                                                        hard_weight=hard)
        layer = SafetyLayer(library, detector)
        scores = np.array([detector.score(m.text) for m in dev])
        lexicon = np.array([layer.check(m.text, m.locale) is not None for m in dev])
        danger = np.array([m.danger for m in dev])
        negatives = ~danger
        locales = sorted({m.locale for m in dev})
        masks = {loc: np.array([m.locale == loc for m in dev]) for loc in locales}
        shipped = [t for lex in library.lexicons.values() for t in
                   (*lex.words, *lex.phrases, *lex.misspellings, *lex.emoji,
                    *lex.examples.danger)]
        shipped += [e.text for e in examples if e.danger and e.writer is None]
        # A bare lexicon entry is an emergency whatever its score; the others that the
        # lexicons catch need the floor.
        hits = [(t, layer.check(t)) for t in shipped]
        highest_floor = min(detector.score(t) for t, hit in hits
                            if hit is not None and not bare_entry(t, hit))
        emergency, check_in, floor = choose(scores, lexicon, danger, masks, highest_floor)
        print(f"\nC={c}, n-gram weight {weight}, hard negatives ×{hard}: lexicon false alarms "
              f"{lexicon[negatives].mean():.1%}; emergency from {emergency:.3f}, check-in "
              f"from {check_in:.3f}, lexicon floor {floor:.3f}")
        for locale in sorted({m.locale for m in dev}):
            mine = np.array([m.locale == locale for m in dev])
            is_emergency = (lexicon & (scores >= floor)) | (scores >= emergency)
            is_any = is_emergency | (scores >= check_in)
            d, n = mine & danger, mine & negatives
            print(f"  {locale:<8} emergency {is_emergency[d].mean():6.1%}  any "
                  f"{is_any[d].mean():6.1%}  | false emergency {is_emergency[n].mean():5.1%}"
                  f"  false check-in {(is_any & ~is_emergency)[n].mean():5.1%}   "
                  f"(lexicon alone: recall {lexicon[d].mean():5.1%}, false "
                  f"{lexicon[n].mean():5.1%})")
            if args.show_errors == locale:
                for m, s, hit, e, a in zip(dev, scores, lexicon, is_emergency, is_any,
                                           strict=True):
                    if m.locale != locale:
                        continue
                    if m.danger and not a:
                        print(f"    MISS {s:.2f} {m.label}: {m.text[:140]}")
                    elif not m.danger and e:
                        print(f"    FALSE {'lex' if hit else f'{s:.2f}'} {m.label}: "
                              f"{m.text[:140]}")


if __name__ == "__main__":
    main()
