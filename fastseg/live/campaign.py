"""A campaign: trials in every state, a corpus kept by coverage, findings minimised and written.

The schedule first runs each attack kind once in each state it applies to
(so every state is reached and every check made early), then draws
sequences: most often a corpus entry changed a little (a step's index
changed, a step added, dropped or replaced), otherwise a fresh one.  A
sequence joins the corpus when its trial produced a coverage point not seen
before: a (state, attack kind, answer shape) triple, the shape being the
flags the target answered with and any state change.  Trial *i* has the
seed ``"SEED:i"``, so for in-process targets a campaign of ``iterations``
trials is the same every time.

Each finding is one (oracle, state, rule) triple, reported once; its
sequence is minimised by dropping steps while the same oracle still trips
by the same rule.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple

from fastseg.live.findings import Finding, minimise, write
from fastseg.live.states import KINDS, STATES
from fastseg.live.target import Factory
from fastseg.live.trial import Point, Step, run_trial

__all__ = ["MAX_STEPS", "Campaign", "Report"]

#: The most steps a sequence holds.
MAX_STEPS = 6
#: How often a drawn sequence comes from the corpus rather than afresh.
_FROM_CORPUS = 0.6
#: Step indexes are drawn below this.
_INDEXES = 1 << 20


@dataclass
class Report:
    """What a campaign did: sequences run, states reached, coverage, corpus and findings."""

    target: str
    seed: str
    sequences: int = 0
    seconds: float = 0.0
    reached: Dict[str, int] = field(default_factory=dict)
    coverage: Set[Point] = field(default_factory=set)
    corpus: List[Tuple[str, List[Step]]] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)

    @property
    def states(self) -> List[str]:
        """The states reached at least once, in :data:`STATES` order."""
        return [state for state in STATES if self.reached.get(state)]

    def record(self) -> Dict[str, Any]:
        """The report as one JSON-ready document."""
        return {
            "target": self.target, "seed": self.seed, "sequences": self.sequences,
            "seconds": round(self.seconds, 3),
            "states": {state: self.reached.get(state, 0) for state in STATES},
            "coverage": [list(point) for point in sorted(self.coverage)],
            "corpus": len(self.corpus),
            "findings": [finding.record() for finding in self.findings],
        }


class Campaign:
    """Fuzz the targets ``factory`` makes; ``target`` is how the command line named it."""

    def __init__(self, factory: Factory, *, target: str = "fastseg", seed: str = "0",
                 deviations: FrozenSet[str] = frozenset(), directory: Optional[str] = None) -> None:
        self.factory = factory
        self.deviations = deviations
        self.directory = directory
        self.report = Report(target, seed)
        self._rng = random.Random(f"fastseg.live.campaign:{seed}")
        self._plan = [(state, [(kind, 0)]) for state in STATES for kind in KINDS[state]]
        self._found: Set[Tuple[str, str, str]] = set()

    def _draw(self, number: int) -> Tuple[str, List[Step]]:
        if number < len(self._plan):
            return self._plan[number]
        rng = self._rng
        corpus = self.report.corpus
        if corpus and rng.random() < _FROM_CORPUS:
            state, steps = rng.choice(corpus)
            steps = list(steps)
            kinds = KINDS[state]
            change = rng.randrange(4)
            place = rng.randrange(len(steps))
            if change == 0:
                steps[place] = (steps[place][0], rng.randrange(_INDEXES))
            elif change == 1 and len(steps) < MAX_STEPS:
                steps.insert(place, (rng.choice(kinds), rng.randrange(_INDEXES)))
            elif change == 2 and len(steps) > 1:
                del steps[place]
            else:
                steps[place] = (rng.choice(kinds), rng.randrange(_INDEXES))
            return state, steps
        state = rng.choice(STATES)
        return state, [(rng.choice(KINDS[state]), rng.randrange(_INDEXES))
                       for _ in range(rng.randint(1, 3))]

    def step(self) -> None:
        """Run the next trial and take in what it found."""
        report = self.report
        number = report.sequences
        state, steps = self._draw(number)
        trial_seed = f"{report.seed}:{number}"
        result = run_trial(self.factory, state, steps, trial_seed, self.deviations)
        report.sequences += 1
        if result.reached:
            report.reached[state] = report.reached.get(state, 0) + 1
        new = result.coverage - report.coverage
        if new:
            report.coverage |= new
            report.corpus.append((state, steps))
        for violation in result.violations:
            key = (violation.oracle, state, violation.rule)
            if key in self._found:
                continue
            self._found.add(key)
            kept, small = minimise(self.factory, state, steps, trial_seed, violation, self.deviations)
            finding = Finding(violation.oracle, violation.rule, state, violation.message, list(steps), kept,
                              report.seed, trial_seed, report.target, sorted(self.deviations),
                              small.descriptions)
            if self.directory is not None:
                write(self.directory, len(report.findings) + 1, finding, result, small)
            report.findings.append(finding)

    def run(self, *, iterations: Optional[int] = None, seconds: Optional[float] = None,
            progress: Optional[Callable[[Report], None]] = None) -> Report:
        """Run trials until ``iterations`` ran or ``seconds`` passed (one of them is needed)."""
        if iterations is None and seconds is None:
            raise ValueError("a campaign needs iterations or seconds")
        start = time.monotonic()
        deadline = None if seconds is None else start + seconds
        while iterations is None or self.report.sequences < iterations:
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.step()
            self.report.seconds = time.monotonic() - start
            if progress is not None:
                progress(self.report)
        return self.report
