"""The oracles: what a correct TCP stack does, checked on what the target did.

Every :class:`Violation` names the oracle it trips (:data:`ORACLES`) and a
short ``rule`` by which findings are told apart:

- ``crash``: the target raised (in process) or its service died;
- ``liveness``: after a sequence, a fresh connection to the service did not
  complete and echo;
- ``integrity``: the attacked connection delivered bytes the peer never sent
  (an injected payload got into the stream), or, when nothing injected could
  legitimately end or cut it, not every byte the peer sent, in order;
- ``rfc5961``: an in-window but inexact RST or an in-window SYN in a
  synchronized state got no challenge ACK or moved the connection (§3.2,
  §4.2); an exact RST did not end it (§3.2); an ACK of data never sent or
  too old was not dropped with an ACK (§5.2);
- ``rfc9293``: an unacceptable segment got no ACK, or a RST got an answer
  (§3.10.7.4 first check); a segment for no connection did not get the
  §3.10.7.1 RST (nor one for a listener the §3.10.7.2 RST); a FIN
  retransmitted into TIME-WAIT was not ACKed (§3.10.7.4 eighth check); SYN
  and FIN did not take one sequence number each (§3.4);
- ``resources``: the target's connections, or the memory reachable from it,
  did not return to their baseline once every connection closed.

:data:`DEVIATIONS` are documented, intended differences from the RFCs that a
campaign can be told to accept instead of reporting them again and again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence

from fastseg.codec import unpack
from fastseg.live.attacks import Attack
from fastseg.segment import Flags, Segment
from fastseg.seq import seq_add

__all__ = ["DEVIATIONS", "ORACLES", "Violation", "check_answer", "shape"]

ORACLES = ("crash", "liveness", "integrity", "rfc5961", "rfc9293", "resources")

#: name -> the intended difference it stands for.
DEVIATIONS = {
    "challenge-ack-limit": "challenge ACKs, and the ACKs RFC 5961 §5.2 asks for, may be missing: "
                           "they are rate limited (RFC 5961 §7; Linux's tcp_challenge_ack_limit "
                           "and tcp_invalid_ratelimit, counted in TcpExt.TCPACKSkippedChallenge)",
    "invalid-ack-limit": "the ACK answering an unacceptable segment may be missing: Linux sends at "
                         "most one per socket every net.ipv4.tcp_invalid_ratelimit (500 ms; "
                         "TcpExt.TCPACKSkippedSeq and TCPACKSkippedPAWS count the rest)",
    "paws-silent": "a segment that PAWS rejects may be dropped without an ACK (RFC 7323 §5.3 "
                   "asks for the ACK, some stacks rate-limit it)",
}

_ACK, _RST, _SYN = int(Flags.ACK), int(Flags.RST), int(Flags.SYN)
#: The kinds whose expectations RFC 5961 sets; the others' are RFC 9293's.
_RFC5961 = frozenset(("rst_exact", "rst_in_window", "syn_in_window", "ack_unsent", "ack_too_old"))


@dataclass(frozen=True)
class Violation:
    """One broken rule: the oracle, a short rule name and what happened."""

    oracle: str
    rule: str
    message: str


def _is_ack(segment: Segment) -> bool:
    flags = int(segment.flags)
    return bool(flags & _ACK) and not flags & (_RST | _SYN)


def shape(answers: Sequence[Segment], before: Optional[str], after: Optional[str]) -> str:
    """The answer shape of a step: the flags of what the target answered and any state change."""
    text = " ".join(repr(Flags(int(s.flags))).replace("<Flags.", "").split(":")[0].rstrip(">")
                    for s in answers) or "silent"
    if before != after:
        text += f" ({before or 'none'} -> {after or 'none'})"
    return text


def _reset(sent: Segment, answers: Sequence[Segment]) -> Optional[str]:
    """What is wrong with the answers to a segment for no connection (§3.10.7.1), or None."""
    flags = int(sent.flags)
    if flags & _RST:
        return "a RST for no connection was answered" if answers else None
    if flags & _ACK:
        want_seq, want_ack, want_flags = sent.ack, None, _RST
    else:
        want_seq, want_ack, want_flags = 0, seq_add(sent.seq, sent.seg_len), _RST | _ACK
    resets = [s for s in answers if int(s.flags) & _RST]
    if not resets:
        return "a segment for no connection got no RST"
    reset = resets[0]
    if reset.seq != want_seq or int(reset.flags) & (_RST | _ACK) != want_flags \
            or (want_ack is not None and reset.ack != want_ack):
        return (f"RST seq={reset.seq} ack={reset.ack} flags={Flags(int(reset.flags))!r}, not "
                f"seq={want_seq} ack={want_ack} as RFC 9293 §3.10.7.1 has it")
    return None


def check_answer(attack: Attack, answers: Sequence[Segment], before: Optional[str],
                 after: Optional[str], deviations: FrozenSet[str]) -> List[Violation]:
    """The violations of one step: the attack, the target's answers at once, the state before and after."""
    kind = attack.kind
    oracle = "rfc5961" if kind in _RFC5961 else "rfc9293"
    found: List[Violation] = []
    expect = attack.expect
    if "closes" in expect and after is not None:
        found.append(Violation(oracle, f"{kind}: connection kept",
                               f"{attack.description} left the connection in {after}"))
    if "keeps_state" in expect and after != before:
        found.append(Violation(oracle, f"{kind}: state changed", f"{attack.description} moved the "
                               f"connection from {before} to {after or 'none'}"))
    acked = any(_is_ack(s) for s in answers)
    if "challenge_ack" in expect and not acked and "challenge-ack-limit" not in deviations:
        found.append(Violation(oracle, f"{kind}: no challenge ACK", f"{attack.description} got no "
                               f"challenge ACK (answers: {shape(answers, None, None)})"))
    limited = (kind == "stale_timestamp" and "paws-silent" in deviations) or \
        (kind in _RFC5961 and "challenge-ack-limit" in deviations) or \
        (kind not in _RFC5961 and "invalid-ack-limit" in deviations)
    if "ack" in expect and not acked and not limited:
        found.append(Violation(oracle, f"{kind}: not ACKed",
                               f"{attack.description} was not answered with an ACK "
                               f"(answers: {shape(answers, None, None)})"))
    if "no_answer" in expect and answers:
        found.append(Violation("rfc9293", f"{kind}: RST answered",
                               f"{attack.description} was answered ({shape(answers, None, None)}); "
                               "a RST never is"))
    if "reset" in expect:
        wrong = _reset(unpack(attack.data, strict=False), answers)
        if wrong is not None:
            rule = f"{kind}: {wrong.split(' seq=')[0]}"
            found.append(Violation("rfc9293", rule, f"{attack.description}: {wrong}"))
    if "syn_ack" in expect:
        sent = unpack(attack.data, strict=False)
        syn_acks = [s for s in answers if int(s.flags) & (_SYN | _ACK) == _SYN | _ACK]
        if syn_acks and syn_acks[0].ack != seq_add(sent.seq, 1):
            found.append(Violation("rfc9293", "SYN takes one sequence number",
                                   f"SYN,ACK acknowledges {syn_acks[0].ack}, not the SYN's {sent.seq} + 1"))
    return found
