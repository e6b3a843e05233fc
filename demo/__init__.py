"""`make demo` (`python -m demo`): the whole system on one machine, with tasks whose outcomes are known."""
