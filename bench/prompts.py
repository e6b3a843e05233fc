"""Prompts per second for large, realistic tasks at the default 8,000-character budget, one process.

Two cases: a large task whose prompt fits the budget (one render), and a larger one that goes
over it, so the budget cuts sections (several renders). Templates are compiled once, before timing.
Run: `.venv/bin/python -m bench.prompts [--seconds S]`; records the figures in bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.results import record
from devstack import ROOT
from models.prompt import PromptInput, PromptResult
from models.task import TaskContext
from prompts.engine import PromptGenerator

EXAMPLES = ROOT / "examples"


def large_prompt_input(extra_files: int) -> PromptInput:
    """The example feature task grown to a big one, with the example context and `extra_files` more files."""
    task = json.loads((EXAMPLES / "tasks" / "feature.json").read_text(encoding="utf-8"))
    task["description"] = " ".join([task["description"]] * 6)
    task["requirements"] += [f"Audit log entry for every share change, kind {i}" for i in range(10)]
    task["acceptance_criteria"] += [f"Integration test {i} covers the sharing matrix row {i}" for i in range(8)]
    task["metadata"]["user_stories"] += [f"As an admin, I want report {i} so that I can audit sharing" for i in range(6)]
    context = TaskContext.model_validate_json((EXAMPLES / "context.json").read_text(encoding="utf-8"))
    context.codebase_context.file_structure += [f"src/modules/module_{i}/index.ts" for i in range(extra_files)]
    return PromptInput(task=task, context=context, previous_failures=["Checks failed: lint (no-unused-vars in src/routes/tasks.ts)"])


CASES = {
    "within budget": large_prompt_input(extra_files=12),
    "over budget": large_prompt_input(extra_files=40),
}


def measure(generator: PromptGenerator, prompt: PromptInput, seconds: float) -> tuple[float, PromptResult]:
    """Prompts rendered per second over about `seconds`, and one of the results."""
    result = generator.generate(prompt)  # compiles the templates: not part of the measurement
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            generator.generate(prompt)
        count += 50
    return count / elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    generator = PromptGenerator()
    print(f"{'prompts':<14} {'per second':>10} {'chars':>6}  cut sections")
    rates = {}
    for name, prompt in CASES.items():
        per_second, result = measure(generator, prompt, args.seconds)
        rates[name] = round(per_second)
        cuts = ", ".join(result.metadata.truncated_sections) or "-"
        print(f"{name:<14} {per_second:>10,.0f} {result.metadata.size_chars:>6}  {cuts}")
    record("prompts", {"per_s": rates["within budget"], "over_budget_per_s": rates["over budget"], "budget": 8000})


if __name__ == "__main__":
    main()
