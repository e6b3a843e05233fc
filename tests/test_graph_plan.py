"""The graph's rules on their own (models.graph): over random DAGs and random outcomes, no task starts before
every task it depends on has merged, the parallel limit holds, and every task is accounted for at the end:
merged, ended unmerged, or blocked behind a dependency that did not merge."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from models.graph import SATISFIED, UNMERGED, GraphInput, GraphPlan, NodeState, find_cycle
from models.task import Task


@st.composite
def dags(draw: st.DrawFn) -> tuple[GraphInput, dict[str, NodeState]]:
    """A random DAG (edges only to earlier tasks, shuffled), each task's outcome when it runs, a parallel limit."""
    count = draw(st.integers(1, 25))
    ids = [f"t{index}" for index in range(count)]
    tasks = [
        Task(id=task_id, title=task_id, priority=draw(st.integers(1, 5)), depends_on=draw(st.lists(st.sampled_from(ids[:index]), unique=True)) if index else [])
        for index, task_id in enumerate(ids)
    ]
    order = draw(st.permutations(tasks))
    outcomes = {task_id: draw(st.sampled_from([NodeState.MERGED] * 4 + [NodeState.CLOSED, NodeState.FAILED])) for task_id in ids}
    graph = GraphInput(graph_id="g", tasks=list(order), max_parallel=draw(st.none() | st.integers(1, 4)))
    return graph, outcomes


@settings(max_examples=200, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_tasks_start_only_after_their_dependencies_merged_and_every_task_is_accounted_for(drawn, random):
    graph, outcomes = drawn
    plan = GraphPlan.start(graph)
    started: list[str] = []
    while True:
        plan.settle()
        for node in plan.ready():
            # Every dependency has merged by the time a task starts.
            assert all(plan.node(d).state in SATISFIED for d in node.depends_on), (node.task_id, node.depends_on)
            node.state = NodeState.RUNNING
            started.append(node.task_id)
        running = [node for node in plan.nodes if node.state is NodeState.RUNNING]
        assert graph.max_parallel is None or len(running) <= graph.max_parallel
        if plan.stuck():
            break
        finished = random.choice(running)
        finished.state = outcomes[finished.task_id]

    assert len(started) == len(set(started)), "no task started twice"
    for node in plan.nodes:
        assert node.state in SATISFIED | UNMERGED | {NodeState.BLOCKED}, node
        if node.state is NodeState.BLOCKED:
            # Blocked only behind something that will not merge.
            assert any(plan.node(d).state in UNMERGED | {NodeState.BLOCKED} for d in node.depends_on), node
            assert node.reason.startswith("blocked: ")
        else:
            assert node.task_id in started


def test_ready_tasks_start_by_priority_then_in_file_order():
    tasks = [Task(id="low", title="l", priority=5), Task(id="first", title="f", priority=2), Task(id="second", title="s", priority=2)]
    plan = GraphPlan.start(GraphInput(graph_id="g", tasks=tasks, max_parallel=2))
    assert [node.task_id for node in plan.ready()] == ["first", "second"]


def test_a_retried_dependency_unblocks_its_dependents_and_a_skipped_one_lets_them_start():
    tasks = [Task(id="a", title="a"), Task(id="b", title="b", depends_on=["a"]), Task(id="c", title="c", depends_on=["b"])]
    plan = GraphPlan.start(GraphInput(graph_id="g", tasks=tasks))
    plan.node("a").state = NodeState.CLOSED
    plan.settle()
    assert [(n.state, n.reason) for n in plan.nodes[1:]] == [(NodeState.BLOCKED, "blocked: a ended closed"), (NodeState.BLOCKED, "blocked: b is blocked")]
    assert plan.stuck()
    plan.node("a").state = NodeState.WAITING
    plan.settle()
    assert [n.state for n in plan.nodes] == [NodeState.WAITING] * 3 and [n.task_id for n in plan.ready()] == ["a"]
    plan.node("a").state = NodeState.SKIPPED
    assert [n.task_id for n in plan.ready()] == ["b"]


def test_tasks_outside_the_graph_can_be_done_already_or_never():
    tasks = [Task(id="x", title="x", depends_on=["done"]), Task(id="y", title="y", depends_on=["deferred"])]
    plan = GraphPlan.start(GraphInput(graph_id="g", tasks=tasks, satisfied=["done"], unavailable={"deferred": "is deferred in Task Master"}))
    plan.settle()
    assert [n.task_id for n in plan.ready()] == ["x"]
    assert plan.node("y").reason == "blocked: deferred is deferred in Task Master"


@pytest.mark.parametrize(
    ("tasks", "said"),
    [
        ([{"id": "a", "title": "a", "depends_on": ["b"]}, {"id": "b", "title": "b", "depends_on": ["a"]}], "dependency cycle: a -> b -> a"),
        ([{"id": "a", "title": "a", "depends_on": ["a"]}], "task 'a' depends on itself"),
        ([{"id": "a", "title": "a", "depends_on": ["z"]}], "task 'a' depends on unknown task 'z'"),
        ([{"id": "a", "title": "a"}, {"id": "a", "title": "again"}], "duplicate task id 'a'"),
        ([{"title": "no id"}], "task 0 ('no id') has no id"),
    ],
)
def test_what_is_no_graph_is_refused_with_its_reason(tasks, said):
    with pytest.raises(ValidationError, match=said.replace("(", r"\(").replace(")", r"\)")):
        GraphInput.model_validate({"graph_id": "g", "tasks": tasks})


def test_a_cycle_is_found_however_long():
    edges = {f"n{i}": [f"n{i + 1}"] for i in range(300)} | {"n300": ["n0"]}
    cycle = find_cycle(edges)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 302
    assert find_cycle({f"n{i}": [f"n{j}" for j in range(i)] for i in range(50)}) is None
