"""Findings: the JSON record, the pcap of the whole exchange, the minimised reproducer, replay.

A finding is written as ``finding-N.json`` (oracle, rule, state, message,
the sequence, the minimised sequence, the campaign and trial seeds, the
target, the accepted deviations), ``finding-N.pcap`` (every datagram of the
trial that tripped the oracle, both ways, on the trial's virtual clock;
raw IP, which Wireshark opens) and ``finding-N-min.pcap`` (the same for the
minimised sequence).  :func:`replay` runs the minimised sequence again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, FrozenSet, List, Sequence, Tuple

from fastseg.capture import write_pcap
from fastseg.errors import FastsegError
from fastseg.live.exchange import LINKTYPE
from fastseg.live.oracles import ORACLES, Violation
from fastseg.live.states import KINDS
from fastseg.live.target import Factory
from fastseg.live.trial import Step, TrialResult, run_trial

__all__ = ["Finding", "FindingError", "load", "minimise", "replay", "write"]

#: The JSON record's format, for readers of older records.
FORMAT = 1


class FindingError(FastsegError):
    """A finding record that cannot be read."""


@dataclass
class Finding:
    """One tripped oracle: where, how, and how to trip it again."""

    oracle: str
    rule: str
    state: str
    message: str
    steps: List[Step]
    minimised: List[Step]
    seed: str
    trial_seed: str
    target: str
    deviations: List[str] = field(default_factory=list)
    descriptions: List[str] = field(default_factory=list)
    files: List[str] = field(default_factory=list)

    def record(self) -> Dict[str, Any]:
        """The JSON record."""
        out = asdict(self)
        out["format"] = FORMAT
        out["steps"] = [list(step) for step in self.steps]
        out["minimised"] = [list(step) for step in self.minimised]
        return out


def trips(result: TrialResult, violation: Violation) -> bool:
    """Whether a trial tripped the same oracle by the same rule."""
    return any(v.oracle == violation.oracle and v.rule == violation.rule for v in result.violations)


def minimise(factory: Factory, state: str, steps: Sequence[Step], seed: str, violation: Violation,
             deviations: FrozenSet[str]) -> Tuple[List[Step], TrialResult]:
    """Drop steps one at a time while the trial still trips ``violation``'s oracle and rule."""
    kept = list(steps)
    last = run_trial(factory, state, kept, seed, deviations)
    position = 0
    while position < len(kept):
        shorter = kept[:position] + kept[position + 1:]
        result = run_trial(factory, state, shorter, seed, deviations)
        if trips(result, violation):
            kept, last = shorter, result
        else:
            position += 1
    return kept, last


def write(directory: str, number: int, finding: Finding, full: TrialResult, small: TrialResult) -> None:
    """Write the finding's JSON record and its two pcaps into ``directory``."""
    stem = os.path.join(directory, f"finding-{number}")
    finding.files = [f"{stem}.json", f"{stem}.pcap", f"{stem}-min.pcap"]
    write_pcap(f"{stem}.pcap", full.frames, linktype=LINKTYPE)
    write_pcap(f"{stem}-min.pcap", small.frames, linktype=LINKTYPE)
    with open(f"{stem}.json", "w", encoding="utf-8") as file:
        json.dump(finding.record(), file, indent=2)
        file.write("\n")


def _steps(value: Any, what: str) -> List[Step]:
    if not isinstance(value, list) or not all(
            isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) and type(s[1]) is int
            for s in value):
        raise FindingError(f"{what} is not a list of [kind, index] pairs")
    return [(kind, index) for kind, index in value]


def load(path: str) -> Finding:
    """Read a finding record; FindingError when it is not one."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FindingError(f"{path}: not a finding record ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FindingError(f"{path}: not a finding record of format {FORMAT}")
    text = ("oracle", "rule", "state", "message", "seed", "trial_seed", "target")
    if not all(isinstance(data.get(name), str) for name in text):
        raise FindingError(f"{path}: a finding record needs text fields {', '.join(text)}")
    if data["oracle"] not in ORACLES or data["state"] not in KINDS:
        raise FindingError(f"{path}: unknown oracle {data['oracle']!r} or state {data['state']!r}")
    deviations = data.get("deviations", [])
    if not isinstance(deviations, list) or not all(isinstance(d, str) for d in deviations):
        raise FindingError(f"{path}: deviations is not a list of names")
    return Finding(data["oracle"], data["rule"], data["state"], data["message"],
                   _steps(data.get("steps"), f"{path}: steps"),
                   _steps(data.get("minimised"), f"{path}: minimised"), data["seed"],
                   data["trial_seed"], data["target"], deviations)


def replay(finding: Finding, factory: Factory) -> Tuple[bool, TrialResult]:
    """Run the finding's minimised sequence again: (whether it still trips the oracle, the trial)."""
    result = run_trial(factory, finding.state, finding.minimised, finding.trial_seed,
                       frozenset(finding.deviations))
    return trips(result, Violation(finding.oracle, finding.rule, finding.message)), result
