"""Live, stateful fuzzing of TCP stacks: ``fastseg fuzz live`` (see :mod:`fastseg.live.campaign`)."""
